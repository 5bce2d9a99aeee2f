"""Journal writers: entries as hledger, beancount, CSV or JSON text (pure).

Account names follow one case convention: lower case in hledger, CSV and JSON
(``liabilities:investors:alice:principal``); beancount, which requires each component to
start with a capital letter or a digit, gets the same names with each component's first
letter capitalised (``Liabilities:Investors:Alice:Principal``). Price directives (``P``
for hledger, ``price`` for beancount) give the rate locked for each settlement, so fiat
income can be reported (``hledger bal -V income``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from typing import Any

from cloudlease.core.books import COMMODITY, Entry, Price, price_text

FORMATS = ("csv", "hledger", "beancount", "json")


# -- account names --------------------------------------------------------------------
_COMPONENT_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


def tenant_components(names: Iterable[str]) -> dict[str, str]:
    """A stable account component per tenant name, in the accounts' one case convention
    (lower case, ``[a-z0-9][a-z0-9-]*``; beancount then capitalises its first letter as
    it does every component): the name in lower case; when the name has other characters
    (replaced by ``-``) or two names would come out the same, a short hash of the name is
    appended, so a tenant's account never depends on the period."""
    names = sorted(set(names))
    base = {n: _sanitize(n) for n in names}
    clash: dict[str, int] = {}
    for b in base.values():
        clash[b] = clash.get(b, 0) + 1
    out = {}
    for n, b in base.items():
        if not _COMPONENT_OK.match(n) or clash[b] > 1:
            b = f"{b}-{hashlib.sha256(n.encode()).hexdigest()[:6]}"
        out[n] = b
    return out


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-").lower() or "x"


def _accounts(entries: list[Entry], style: str, known: Iterable[str] = ()
              ) -> tuple[dict[tuple[str, ...], str], list[str]]:
    tenants = tenant_components([*known, *(a[2] for e in entries for a, _ in e.postings
                                           if a[:2] == ("liabilities", "investors"))])
    names: dict[tuple[str, ...], str] = {}
    for e in entries:
        for account, _ in e.postings:
            if account in names:
                continue
            parts = list(account)
            if parts[:2] == ["liabilities", "investors"]:
                parts[2] = tenants[parts[2]]
            if style == "beancount":
                parts = [p[0].upper() + p[1:] for p in parts]
            names[account] = ":".join(parts)
    return names, sorted(set(names.values()))


# -- writers --------------------------------------------------------------------------
def _one_line(text: str, banned: str = "") -> str:
    text = str(text)
    if text.isprintable() and "  " not in text and text == text.strip() and \
            all(ch not in text for ch in banned):
        return text  # the usual case: ids, times, amounts
    text = " ".join(text.split())
    for ch in banned:
        text = text.replace(ch, " ")
    return text


def _meta_text(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


def to_hledger(entries: list[Entry], *, title: str = "cloudlease export",
              tenants: Iterable[str] = (), prices: Iterable[Price] = ()) -> str:
    names, accounts = _accounts(entries, "hledger", tenants)
    prices = list(prices)
    out = [f"; {_one_line(title)}", "; amounts in satoshis", "",
           f"commodity 1. {COMMODITY}"]
    out += [f"commodity 1.00 {c}" for c in sorted({p.currency for p in prices})] + [""]
    out += [f"account {a}" for a in accounts] + [""]
    if prices:  # the rate locked for each settlement, for fiat reports (hledger -V)
        out += [f"P {p.date} {COMMODITY} {price_text(p.per_sat)} {p.currency}"
                for p in prices] + [""]
    for e in entries:
        out.append(f"{e.date} * ({e.id}) {_one_line(e.payee, ';|')} | "
                   f"{_one_line(e.description, ';|')}")
        for key, value in e.meta.items():
            values = value if key == "txids" else [_meta_text(value)]
            tag = "txid" if key == "txids" else key
            for v in values:  # one tag per line: a tag value ends at a comma
                out.append(f"    ; {tag}: {_one_line(v, ',')}")
        for account, sats in e.postings:
            out.append(f"    {names[account]:<48}  {sats:>16} {COMMODITY}")
        out.append("")
    return "\n".join(out)


def _bean_str(text: str) -> str:
    text = _one_line(text)
    if "\\" in text or '"' in text:
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_beancount(entries: list[Entry], *, title: str = "cloudlease export",
                 tenants: Iterable[str] = (), prices: Iterable[Price] = ()) -> str:
    names, accounts = _accounts(entries, "beancount", tenants)
    prices = list(prices)
    out = [f"option \"title\" {_bean_str(title)}", f'option "operating_currency" "{COMMODITY}"',
           "", f"2009-01-03 commodity {COMMODITY}", '  name: "satoshi (1e-8 BTC)"']
    out += [f"2009-01-03 commodity {c}" for c in sorted({p.currency for p in prices})] + [""]
    opened = min((e.date for e in entries), default=None)
    out += [f"{opened} open {a} {COMMODITY}" for a in accounts] + [""]
    if prices:  # the rate locked for each settlement, for fiat reports
        out += [f"{p.date} price {COMMODITY} {price_text(p.per_sat)} {p.currency}"
                for p in prices] + [""]
    for e in entries:
        out.append(f"{e.date} * {_bean_str(e.payee)} {_bean_str(e.description)}")
        out.append(f"  id: {_bean_str(e.id)}")
        for key, value in e.meta.items():
            out.append(f"  {key.replace('_', '-')}: {_bean_str(_meta_text(value))}")
        for account, sats in e.postings:
            out.append(f"  {names[account]:<50}  {sats:>16} {COMMODITY}")
        out.append("")
    return "\n".join(out)


CSV_COLUMNS = ("date", "entry", "kind", "payee", "description", "account", "amount",
               "commodity", "tenant", "lease", "request", "settled_at", "fiat", "rate",
               "txids")


def to_csv(entries: list[Entry], *, tenants: Iterable[str] = ()) -> str:
    """One row per posting (a general-ledger listing); hledger account names."""
    names, _ = _accounts(entries, "hledger", tenants)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in entries:
        m = e.meta
        for account, sats in e.postings:
            w.writerow([e.date, e.id, e.kind, e.payee, e.description, names[account], sats,
                        COMMODITY, m.get("tenant", ""), m.get("lease", ""),
                        m.get("request", ""), m.get("settled_at", ""), m.get("fiat", ""),
                        m.get("rate", ""), " ".join(m.get("txids", []))])
    return buf.getvalue()


def to_json(entries: list[Entry], *, period: str | None, timezone: str,
            tenants: Iterable[str] = (), prices: Iterable[Price] = ()) -> str:
    """One JSON document, one entry per line (valid JSON that diffs and greps well)."""
    names, accounts = _accounts(entries, "hledger", tenants)
    head = {"format": "cloudlease-journal", "version": 1, "commodity": COMMODITY,
            "period": period, "timezone": timezone, "accounts": accounts,
            "prices": [{"date": p.date, "commodity": COMMODITY,
                        "price": price_text(p.per_sat), "currency": p.currency}
                       for p in prices]}
    dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    rows = [dump({"date": e.date, "id": e.id, "kind": e.kind, "payee": e.payee,
                  "description": e.description,
                  "postings": [{"account": names[a], "sats": s} for a, s in e.postings],
                  "meta": e.meta}) for e in entries]
    return (dump(head)[:-1] + ',"entries":[' + ("\n" if rows else "") + ",\n".join(rows)
            + "\n]}\n")


def render(fmt: str, entries: list[Entry], *, period: str | None, timezone: str,
           tenants: Iterable[str] = (), prices: Iterable[Price] = ()) -> str:
    """``tenants``: every tenant name the ledger knows, so that account names do not
    depend on which tenants a period happens to hold; ``prices``: price directives."""
    title = "cloudlease export" + (f" for {period}" if period else "") + f" ({timezone})"
    tenants, prices = list(tenants), list(prices)
    if fmt == "hledger":
        return to_hledger(entries, title=title, tenants=tenants, prices=prices)
    if fmt == "beancount":
        return to_beancount(entries, title=title, tenants=tenants, prices=prices)
    if fmt == "csv":
        return to_csv(entries, tenants=tenants)
    return to_json(entries, period=period, timezone=timezone, tenants=tenants,
                   prices=prices)
