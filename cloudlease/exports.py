"""Accounting exports: journal entries as CSV, hledger, beancount or JSON text (pure).

One entry per event, every entry balanced to the sat, amounts in the commodity ``SAT``:

- a settled payment: ``assets:bitcoin`` receives what arrived on-chain and
  ``assets:lightning`` what arrived over Lightning (its payment hash stands where a txid
  would); the rental part goes to
  ``income:leases``, an investment paid with it to
  ``liabilities:investors:<tenant>:principal`` (the operator owes consideration on it), a
  donation to ``income:donations``, an overpayment to ``liabilities:overpayments`` (owed
  back to the payer);
- a contribution whose payment is not among the exported payments: the same postings on
  its own;
- a payout (one month's consideration of a pool): ``expenses:consideration`` against
  ``liabilities:investors:<tenant>:consideration`` for each investor's share, dated the
  last day of its month.

Dates are local days in the operator's time zone (as invoice periods are); the exact UTC
time, request, lease, tenant, fiat at the locked rate and the txids are metadata.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cloudlease.invoices import (
    LEASE_PURPOSES,
    iso,
    last_day,
    local_day,
    period_bounds,
    rate_text,
)
from cloudlease.model import Contribution, Lease, PaymentRequest, Payout

COMMODITY = "SAT"
FORMATS = ("csv", "hledger", "beancount", "json")
BITCOIN = ("assets", "bitcoin")
LIGHTNING = ("assets", "lightning")
LEASES = ("income", "leases")
DONATIONS = ("income", "donations")
OVERPAID = ("liabilities", "overpayments")
CONSIDERATION = ("expenses", "consideration")


@dataclass(frozen=True)
class Entry:
    """One balanced journal entry.

    Attributes:
        date: local day, ``YYYY-MM-DD``.
        at: when it happened (UTC), for ordering.
        id: the record it comes from (``P-3``, ``C-2``, ``pool/2026-03``).
        kind: ``payment``, ``contribution`` or ``payout``.
        payee: who paid or is owed (a tenant, or ``anonymous``).
        description: one line.
        postings: (account components, sats); they sum to zero.
        meta: string or list-of-strings metadata.
    """

    date: str
    at: datetime
    id: str
    kind: str
    payee: str
    description: str
    postings: tuple[tuple[tuple[str, ...], int], ...]
    meta: dict[str, Any] = field(default_factory=dict)


def investor(tenant: str | None, what: str) -> tuple[str, ...]:
    return ("liabilities", "investors", tenant or "unknown", what)


def build_entries(tz: ZoneInfo, *, requests: Iterable[PaymentRequest],
                  leases: Mapping[str, Lease], contributions: Iterable[Contribution],
                  payouts: Iterable[Payout], period: str | None = None) -> list[Entry]:
    """Entries for every settled payment, contribution and payout (in ``period`` when
    given), oldest first."""
    window = period_bounds(period, tz) if period else None

    def inside(when: datetime | None) -> bool:
        return when is not None and (window is None or window[0] <= when < window[1])

    contributions = [c for c in contributions if c.status == "settled"]
    by_request: dict[str, list[Contribution]] = {}
    for c in contributions:
        if c.request:
            by_request.setdefault(c.request, []).append(c)
    entries: list[Entry] = []
    paid_ids = set()
    for req in requests:
        if req.status != "settled" or not inside(req.settled_at):
            continue
        paid_ids.add(req.id)
        entries.append(_payment(req, leases.get(req.lease or ""), by_request.get(req.id, []),
                                tz))
    for c in contributions:
        if c.request not in paid_ids and inside(c.settled_at):
            entries.append(_contribution(c, tz))
    for p in payouts:
        if period is None or p.period == period:
            entry = _payout(p, tz)
            if entry is not None:
                entries.append(entry)
    entries.sort(key=lambda e: (e.date, e.at, _num(e.id), e.id))
    return entries


def _num(ref: str) -> int:
    digits = ref.rpartition("-")[2]
    return int(digits) if digits.isdigit() else -1


def _payment(req: PaymentRequest, lease: Lease | None, contribs: list[Contribution],
             tz: ZoneInfo) -> Entry:
    assert req.settled_at is not None
    tenant = lease.tenant if lease is not None else req.tenant
    ln_sats = req.ln_paid_msat // 1000
    onchain = max(req.amount_sats - ln_sats, req.paid_sats) if ln_sats < req.amount_sats \
        else req.paid_sats
    received = onchain + ln_sats
    postings: list[tuple[tuple[str, ...], int]] = [(BITCOIN, onchain), (LIGHTNING, ln_sats)]
    rest = req.amount_sats
    for c in contribs:
        account = investor(c.tenant, "principal") if c.kind == "investment" else DONATIONS
        postings.append((account, -c.amount_sats))
        rest -= c.amount_sats
    if req.purpose in LEASE_PURPOSES:
        invest = 0 if contribs else min(req.invest_sats, rest)
        if invest:
            postings.append((investor(tenant, "principal"), -invest))
        postings.append((LEASES, -(rest - invest)))
    elif req.purpose == "donate":
        postings.append((DONATIONS, -rest))
    else:  # invest, topup
        postings.append((investor(tenant, "principal"), -rest))
    if received > req.amount_sats:
        postings.append((OVERPAID, -(received - req.amount_sats)))
    if req.purpose in LEASE_PURPOSES:
        plan = lease.plan if lease else "?"
        more = "more " if req.purpose == "extend" else ""
        text = f"lease {req.lease}: {req.hours or 0} {more}h of {plan}"
    else:
        what = {"invest": "investment in", "donate": "donation to",
                "topup": "top-up investment in"}.get(req.purpose, f"{req.purpose} for")
        text = f"{what} pool {req.pool or '?'}"
    meta: dict[str, Any] = {"request": req.id, "settled_at": iso(req.settled_at),
                            "purpose": req.purpose}
    if req.lease:
        meta["lease"] = req.lease
    if tenant:
        meta["tenant"] = tenant
    if contribs:
        meta["contributions"] = [c.id for c in contribs]
    if req.fiat_amount is not None and req.currency:
        meta["fiat"] = f"{format(req.fiat_amount, 'f')} {req.currency}"
    if req.rate is not None:
        meta["rate"] = rate_text(req.rate)
        meta["rate_source"] = req.rate_source or ""
    if req.flags:
        meta["flags"] = list(req.flags)
    meta["txids"] = list(req.references)
    return Entry(local_day(req.settled_at, tz), req.settled_at, req.id, "payment",
                 tenant or "anonymous", text, _clean(postings), meta)


def _contribution(c: Contribution, tz: ZoneInfo) -> Entry:
    assert c.settled_at is not None
    account = investor(c.tenant, "principal") if c.kind == "investment" else DONATIONS
    meta = {"contribution": c.id, "settled_at": iso(c.settled_at), "pool": c.pool}
    if c.request:
        meta["request"] = c.request
    return Entry(local_day(c.settled_at, tz), c.settled_at, c.id, "contribution", c.tenant,
                 f"{c.kind} in pool {c.pool}", _clean([(BITCOIN, c.amount_sats),
                                                       (account, -c.amount_sats)]), meta)


def _payout(p: Payout, tz: ZoneInfo) -> Entry | None:
    shares = [(t, s) for t, s in sorted(p.shares.items()) if s]
    if not shares:
        return None
    postings = [(CONSIDERATION, sum(s for _, s in shares))]
    postings += [(investor(t, "consideration"), -s) for t, s in shares]
    _, end = period_bounds(p.period, tz)
    meta = {"payout": p.id, "pool": p.pool, "period": p.period,
            "consideration": str(p.consideration), "recorded_at": iso(p.created_at)}
    return Entry(last_day(p.period), end, p.id, "payout", f"investors of {p.pool}",
                 f"consideration for {p.period} in pool {p.pool}", _clean(postings), meta)


def _clean(postings: list[tuple[tuple[str, ...], int]]
           ) -> tuple[tuple[tuple[str, ...], int], ...]:
    out = tuple([(a, s) for a, s in postings if s])
    if sum([s for _, s in out]) != 0:  # pragma: no cover - a bug, never data
        raise AssertionError(f"unbalanced entry: {out}")
    return out


# -- account names --------------------------------------------------------------------
_COMPONENT_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


def tenant_components(names: Iterable[str]) -> dict[str, str]:
    """A stable account component per tenant name, valid in hledger and beancount
    (``[A-Z0-9][A-Za-z0-9-]*``): the name with its first letter upper-cased; when the name
    has other characters (replaced by ``-``) or two names would come out the same, a short
    hash of the name is appended, so a tenant's account never depends on the period."""
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
    text = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-") or "X"
    return text[0].upper() + text[1:]


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
              tenants: Iterable[str] = ()) -> str:
    names, accounts = _accounts(entries, "hledger", tenants)
    out = [f"; {_one_line(title)}", "; amounts in satoshis", "",
           f"commodity 1. {COMMODITY}", ""]
    out += [f"account {a}" for a in accounts] + [""]
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
                 tenants: Iterable[str] = ()) -> str:
    names, accounts = _accounts(entries, "beancount", tenants)
    out = [f"option \"title\" {_bean_str(title)}", f'option "operating_currency" "{COMMODITY}"',
           "", f"2009-01-03 commodity {COMMODITY}", '  name: "satoshi (1e-8 BTC)"', ""]
    opened = min((e.date for e in entries), default=None)
    out += [f"{opened} open {a} {COMMODITY}" for a in accounts] + [""]
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
            tenants: Iterable[str] = ()) -> str:
    """One JSON document, one entry per line (valid JSON that diffs and greps well)."""
    names, accounts = _accounts(entries, "hledger", tenants)
    head = {"format": "cloudlease-journal", "version": 1, "commodity": COMMODITY,
            "period": period, "timezone": timezone, "accounts": accounts}
    dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    rows = [dump({"date": e.date, "id": e.id, "kind": e.kind, "payee": e.payee,
                  "description": e.description,
                  "postings": [{"account": names[a], "sats": s} for a, s in e.postings],
                  "meta": e.meta}) for e in entries]
    return (dump(head)[:-1] + ',"entries":[' + ("\n" if rows else "") + ",\n".join(rows)
            + "\n]}\n")


def render(fmt: str, entries: list[Entry], *, period: str | None, timezone: str,
           tenants: Iterable[str] = ()) -> str:
    """``tenants``: every tenant name the ledger knows, so that account names do not
    depend on which tenants a period happens to hold."""
    title = "cloudlease export" + (f" for {period}" if period else "") + f" ({timezone})"
    tenants = list(tenants)
    if fmt == "hledger":
        return to_hledger(entries, title=title, tenants=tenants)
    if fmt == "beancount":
        return to_beancount(entries, title=title, tenants=tenants)
    if fmt == "csv":
        return to_csv(entries, tenants=tenants)
    return to_json(entries, period=period, timezone=timezone, tenants=tenants)
