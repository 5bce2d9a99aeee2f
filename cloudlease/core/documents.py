"""Invoices as data for people: the JSON shape, the printable document, Markdown (pure).

A document is what the customer (or their accountant) reads, so it carries no internal
words: no record ids (``D-3``, ``P-7``, ``L-2``), no status flags (``late``,
``reorged``, ``accepted``), no ``(operator name not set)`` placeholders (issuing
refuses instead). Each line names what paid it (a Bitcoin transaction id or a Lightning
payment hash); times are in the operator's time zone, written as a person writes them,
with the zone named. The operator's JSON (``invoice show --json``) keeps every internal
field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cloudlease.core import tax
from cloudlease.core.errors import BadValue
from cloudlease.core.invoices import signed_btc, totals
from cloudlease.core.periods import _iso, human_day, human_span, human_time, month_name
from cloudlease.model import Invoice

TITLES = {"invoice": "Invoice", "credit_note": "Credit note",
          "statement": "Anonymous sales statement", "contributions": "Contribution statement"}
METHODS = {"onchain": "Bitcoin transaction", "lightning": "Lightning payment hash"}


def view(inv: Invoice) -> dict[str, Any]:
    """The JSON shape of an invoice (``invoice show --json``, ``invoice list --json``)."""
    txids = sorted({t for line in inv.lines for t in line.get("txids", ())})
    title = TITLES.get(inv.kind, inv.kind)
    return {
        "id": inv.id, "number": inv.number, "kind": inv.kind, "status": inv.status,
        "title": f"{title} {inv.number}" if inv.number else f"Draft {title.lower()} {inv.id}",
        "tenant": inv.tenant, "period": inv.period, "created_at": _iso(inv.created_at),
        "issued_at": _iso(inv.issued_at), "content_sha256": inv.content_sha256,
        "voided_at": _iso(inv.voided_at), "void_reason": inv.void_reason,
        "credit_note_for": inv.credit_note_for, "total_sats": inv.total_sats,
        "lines": [dict(line) for line in inv.lines], "totals": totals(inv.lines),
        "txids": txids, "seller": dict(inv.seller), "buyer": dict(inv.buyer),
        "tax": dict(inv.tax),
    }


def document(inv: Invoice, *, seller: Mapping[str, Any], buyer: Mapping[str, Any],
             treatment: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Everything a printed document shows. ``seller``, ``buyer`` and ``treatment`` are
    the frozen ones of an issued document, or what issuing a draft would freeze now."""
    doc = view(inv)
    doc["seller"], doc["buyer"], doc["tax"] = dict(seller), dict(buyer), dict(treatment)
    doc["timezone"] = tz.key
    for line in doc["lines"]:
        show: dict[str, Any] = {"btc": signed_btc(int(line["sats"]))}
        if "rate" in line:
            show["rate"] = f"{Decimal(line['rate']):,} {line.get('currency', '')}/BTC"
        when = line.get("settled_at")
        show["date"] = human_day(when, tz) if when else _day_text(line["date"])
        if "starts_at" in line and "ends_at" in line:
            covers = human_span(line["starts_at"], line["ends_at"], tz)
            day = f"{show['date']}, "  # the date column says the day already
            show["covers"] = covers[len(day):] if covers.startswith(day) and \
                show["date"] not in covers[len(day):] else covers
        show["paid_by"] = [{"label": METHODS.get(p["method"], p["method"]), "ref": p["ref"]}
                           for p in _refs(line)]
        line["display"] = show
    doc["display"] = {
        "period": month_name(doc["period"]),
        "issued": human_day(doc["issued_at"], tz) if doc["issued_at"] else None,
        "voided": human_time(doc["voided_at"], tz) if doc["voided_at"] else None,
        "for": "Sales to" if doc["kind"] == "statement" else "Bill to",
    }
    doc["notes"] = notes(doc)
    return doc


def _refs(line: Mapping[str, Any]) -> list[Mapping[str, str]]:
    """``paid_by``, or the txids of a document issued before lines carried ``paid_by``."""
    if "paid_by" in line:
        return list(line["paid_by"])
    return [{"method": "onchain", "ref": t} for t in line.get("txids", ())]


def _day_text(day: str) -> str:
    from datetime import date

    d = date.fromisoformat(day)
    return f"{d.day} {d:%b %Y}"


def notes(doc: Mapping[str, Any]) -> list[str]:
    """The sentences under the lines: VAT, fiat, rounding, payment."""
    out: list[str] = []
    t = doc["totals"]
    kind = doc["kind"] if doc["kind"] != "credit_note" else _credited_kind(doc)
    if kind in ("invoice", "statement") and doc["tax"].get("note"):
        out.append(doc["tax"]["note"])
    if t["tax"]:
        out.append("VAT is computed once on the total and shared over the lines (largest "
                   "remainder), so every line's net and VAT add up to what was paid.")
    if t["fiat"] and not t["fiat_complete"]:
        n = t["lines_without_fiat"]
        out.append(f"No total in fiat: {n} line{'s' if n != 1 else ''} had a price in "
                   "bitcoin with no exchange rate locked, so a fiat total would leave "
                   f"{'them' if n != 1 else 'it'} out.")
    elif t["lines_without_fiat"] and not t["fiat"]:  # all in sats: say why, as promised
        out.append("No total in fiat: the prices were in bitcoin, with no exchange rate "
                   "locked for these payments.")
    if t["fiat"]:
        out.append("Fiat amounts use the exchange rate locked when each payment was "
                   "requested, rounded once per line to the currency's smallest unit (half "
                   "to even); totals are sums of the rounded lines.")
    if kind == "contributions":
        out.append("Contributions to a pool are not sales and carry no VAT. Consideration "
                   "earned as an investor is owed to you and shown as a credit.")
    if kind == "statement":
        out.append("Anonymous sales are summed per day and plan; every payment and its "
                   "transaction is listed in the books ('cloudlease export').")
    elif kind == "invoice" and doc["kind"] != "credit_note":
        out.append("Paid in full in bitcoin: each line names the payment that paid it.")
    terms = doc["seller"].get("payment_terms")
    if terms and kind == "invoice":
        out.append(f"Payment terms: {terms}")
    return out


def _credited_kind(doc: Mapping[str, Any]) -> str:
    kinds = {line["kind"] for line in doc["lines"]}
    if "sales" in kinds:
        return "statement"
    return "contributions" if kinds and kinds <= {"investment", "donation", "payout"} \
        else "invoice"


def seller_details(settings: Any) -> dict[str, Any]:
    """``[operator]`` as a document freezes it."""
    vat_id = getattr(settings, "operator_vat_id", "")
    try:  # written as DE123456789 when it has a plausible shape (issue checks it)
        vat_id = tax.normalize_vat_id(vat_id, settings.operator_country or None) \
            if vat_id else vat_id
    except BadValue:
        pass
    return _clean({
        "name": settings.operator_name.strip(),
        "address_lines": [x.strip() for x in settings.operator_address.splitlines()
                          if x.strip()],
        "vat_id": vat_id,
        "country": getattr(settings, "operator_country", ""),
        "email": getattr(settings, "operator_email", ""),
        "payment_terms": getattr(settings, "payment_terms", ""),
        "timezone": getattr(settings, "operator_timezone", "UTC") or "UTC"})


def buyer_details(tenant: Any, name: str | None) -> dict[str, Any]:
    """A tenant's billing details as a document freezes them (``tenant`` None: the
    anonymous-sales statement, or a tenant record that is gone)."""
    if tenant is None:
        return {"name": name or "Anonymous customers"}
    return _clean({"name": tenant.billing_name or tenant.name,
                   "address_lines": list(tenant.address), "country": tenant.country or "",
                   "vat_id": tenant.vat_id or "", "email": tenant.email or ""})


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in ("", None, [])}


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _amount(sats: int, fiat: str | None, currency: str | None) -> str:
    return f"{sats:,} sat" + (f" ({fiat} {currency})" if fiat is not None else "")


def _party(label: str, p: Mapping[str, Any]) -> list[str]:
    out = [f"**{label}:** {_md(p.get('name', ''))}"]
    out += [f"  {_md(x)}" for x in p.get("address_lines", ())]
    if p.get("country"):
        out.append(f"  {p['country']}")
    if p.get("vat_id"):
        out.append(f"  VAT id {_md(p['vat_id'])}")
    if p.get("email"):
        out.append(f"  {_md(p['email'])}")
    return [line + "  " for line in out] + [""]


def to_markdown(doc: Mapping[str, Any]) -> str:
    show = doc["display"]
    out = [f"# {_md(doc['title'])}", ""]
    if doc["status"] == "void":
        out += [f"**VOID** since {show['voided']}: {_md(doc['void_reason'])}", ""]
    if doc.get("credit_note_for"):
        out += [f"Cancels {doc['credit_note_for']}.", ""]
    out += [f"Period: {show['period']} (times in {_md(doc['timezone'])})  ",
            f"Issued: {show['issued'] or 'not yet (draft)'}", ""]
    out += _party("From", doc["seller"]) + _party(show["for"], doc["buyer"])
    taxed = bool(doc["totals"]["tax"])
    head = "| date | description | net | VAT | amount |" if taxed else \
        "| date | description | amount |"
    out += [head, "|---|---|--:|--:|--:|" if taxed else "|---|---|--:|"]
    for line in doc["lines"]:
        s = line["display"]
        what = _md(line["description"])
        if "covers" in s:
            what += f"<br>{_md(s['covers'])}"
        for p in s["paid_by"]:
            what += f"<br>{p['label']} `{p['ref']}`"
        cur = line.get("currency")
        gross = _amount(int(line["sats"]), line.get("fiat"), cur)
        if taxed:
            net = _amount(int(line["net_sats"]), line.get("net_fiat"), cur) \
                if "net_sats" in line else ""
            vat = _amount(int(line["tax_sats"]), line.get("tax_fiat"), cur) \
                if "tax_sats" in line else ""
            out.append(f"| {s['date']} | {what} | {net} | {vat} | {gross} |")
        else:
            out.append(f"| {s['date']} | {what} | {gross} |")
    out += [""] + [f"**{label}:** {sats}" + (f" ({fiat})" if fiat else "") + "  "
                   for label, sats, fiat in total_rows(doc)] + [""]
    out += [f"- {_md(n)}" for n in doc["notes"]]
    if doc.get("content_sha256"):
        out += ["", f"Content SHA-256: `{doc['content_sha256']}`"]
    return "\n".join(out) + "\n"


def total_rows(doc: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    """(label, sats, fiat or None) rows under the lines: net and VAT, or subtotals per
    kind of a contribution statement, then the total (fiat only when every line has it)
    and the total in BTC."""
    t = doc["totals"]
    cur, fiat = next(iter(t["fiat"].items()), (None, None))
    fiat = f"{fiat} {cur}" if fiat is not None and t["fiat_complete"] else None
    rows: list[tuple[str, str, str | None]] = []
    if t["tax"]:
        x = t["tax"]
        cur_x = x.get("currency")
        rows.append(("Net", f"{x['net_sats']:,} sat",
                     f"{x['net_fiat']} {cur_x}" if "net_fiat" in x else None))
        rows.append((f"VAT {doc['tax'].get('rate', '')} %", f"{x['tax_sats']:,} sat",
                     f"{x['tax_fiat']} {cur_x}" if "tax_fiat" in x else None))
    elif doc["tax"].get("kind") == tax.REVERSE_CHARGE:
        rows.append(("VAT", "0 sat", "reverse charge"))
    if len(t["by_kind"]) > 1 and doc["kind"] in ("contributions", "credit_note"):
        words = {"investment": "Investments", "donation": "Donations",
                 "payout": "Consideration earned", "lease": "Rentals",
                 "extension": "Extensions", "sales": "Sales"}
        rows += [(words.get(k, k), f"{v:,} sat", None) for k, v in t["by_kind"].items()]
    rows.append(("Total", f"{t['sats']:,} sat", fiat))
    rows.append(("Total in bitcoin", f"{t['btc']} BTC", None))
    return rows
