"""Invoices, credit notes and anonymous-sales statements (pure: records in, records out).

- Periods are calendar months in the operator's time zone: ``2026-03`` in
  ``America/New_York`` runs from 2026-03-01 00:00 EST (05:00 UTC) to 2026-04-01 00:00 EDT
  (04:00 UTC). Local midnights are converted to UTC with zoneinfo, so a month that spans a
  daylight-saving change is 743 or 745 hours long, as it really is.
- Lines are plain tables of strings and integers (TOML has no null; fiat and rates are
  decimal strings so that they round-trip exactly): ``kind`` (``lease``, ``extension``,
  ``investment``, ``donation``, ``payout``), ``ref``, ``date``, ``description``, ``sats``
  and, when known, ``lease``, ``plan``, ``hours``, ``starts_at``, ``ends_at``,
  ``settled_at``, ``fiat``, ``currency``, ``rate``, ``rate_source``, ``txids``, ``flags``.
  The anonymous-sales statement has one ``sales`` line per day and plan instead.
- Signs: what the tenant paid (rentals, contributions) is positive; consideration the
  tenant earned as an investor (a payout share) is a negative credit line. A credit note
  repeats the lines of the invoice it cancels with every amount negated.
- Rounding: each line's fiat amount is rounded once, to the currency's minor unit, half
  to even; a fiat total is the sum of the rounded lines, never a conversion of the sats
  total. A line without a locked rate (a plan priced in sats, a payout) has no fiat.
- Numbers: ``INV-YYYY-NNNN`` for invoices, ``STM-YYYY-NNNN`` for statements (YYYY is the
  year of issue in the operator's zone), each from its own gapless ledger counter and
  assigned only at issue; a credit note is numbered after its invoice
  (``INV-2026-0007-CN``). A number is never reused, even when its invoice is voided.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloudlease.errors import BadValue, LedgerError
from cloudlease.model import Contribution, Invoice, InvoiceStatus, Lease, PaymentRequest, Payout
from cloudlease.money import btc_text, sats_to_fiat

_NUMBER = re.compile(r"^(INV|STM)-(\d{4})-(\d{4,})$")
SERIES = {"invoice": "INV", "statement": "STM"}
LEASE_PURPOSES = ("rent", "extend")
_ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "CLP", "ISK", "VND", "UGX", "XAF", "XOF", "PYG"}


# -- periods and time zones -----------------------------------------------------------
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LedgerError(f"config.toml: operator.timezone {name!r} is not a known time zone "
                          "(e.g. UTC, Europe/Berlin, America/New_York)",
                          code="config_invalid") from None


def parse_period(text: str) -> str:
    from cloudlease.clock import parse_period as parse

    return parse(text)


def period_bounds(period: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period as [start, end) in UTC: local midnights of the 1st, converted."""
    year, month = int(period[:4]), int(period[5:7])
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(*nxt, 1, tzinfo=tz).astimezone(UTC)
    return start, end


def check_period(period: str, tz: ZoneInfo, now: datetime) -> str:
    """A well-formed period that has begun (the current month is allowed, so far)."""
    period = parse_period(period)
    start, _ = period_bounds(period, tz)
    if start > now:
        raise BadValue(f"period {period} is in the future (it is {local_day(now, tz)} in "
                       f"{tz.key})")
    return period


def local_day(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).date().isoformat()


def last_day(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    first_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return (first_next - timedelta(days=1)).isoformat()


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else iso(when)


def rate_text(rate: Decimal) -> str:
    """A rate without trailing zeros: ``100000.0`` → ``100000``."""
    return format(rate.normalize(), "f")


# -- money on lines -------------------------------------------------------------------
def minor_units(currency: str | None) -> int:
    return 0 if currency in _ZERO_DECIMAL_CURRENCIES else 2


def round_fiat(amount: Decimal, currency: str | None) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)


def _fiat_fields(sats: int, req: PaymentRequest | None, price: Decimal | None = None
                 ) -> dict[str, Any]:
    """fiat/currency/rate for a line: ``price`` (the locked fiat price) when given, else
    ``sats`` converted at the request's locked rate; nothing without a rate."""
    if req is None or req.rate is None or not req.currency:
        return {}
    fiat = (round_fiat(price, req.currency) if price is not None
            else sats_to_fiat(sats, req.rate, minor_units(req.currency)))
    out = {"fiat": format(fiat, "f"), "currency": req.currency, "rate": rate_text(req.rate)}
    if req.rate_source:
        out["rate_source"] = req.rate_source
    return out


# -- lines ----------------------------------------------------------------------------
def coverage(lease: Lease, settled: Iterable[tuple[datetime, str, int]]
             ) -> dict[str, tuple[datetime, datetime]]:
    """The hours each settled payment of a lease covers: the lease runs from its start for
    its paid hours, consumed in settlement order (first payment, then extensions)."""
    out: dict[str, tuple[datetime, datetime]] = {}
    if lease.starts_at is None:
        return out
    at = lease.starts_at
    for _, rid, hours in sorted(settled):
        out[rid] = (at, at + timedelta(hours=hours))
        at += timedelta(hours=hours)
    return out


def lease_line(req: PaymentRequest, lease: Lease | None, covers: tuple[datetime, datetime] | None,
               tz: ZoneInfo) -> dict[str, Any]:
    assert req.settled_at is not None
    sats = req.amount_sats - req.invest_sats
    hours = req.hours or 0
    plan = lease.plan if lease else "?"
    kind = "extension" if req.purpose == "extend" else "lease"
    more = "more " if kind == "extension" else ""
    line: dict[str, Any] = {
        "kind": kind, "ref": req.id, "date": local_day(req.settled_at, tz),
        "description": f"{hours} {more}h of {plan}, lease {req.lease}",
        "sats": sats, "lease": req.lease or "", "plan": plan, "hours": hours,
        "settled_at": iso(req.settled_at),
    }
    if covers is not None:
        line["starts_at"], line["ends_at"] = iso(covers[0]), iso(covers[1])
    line.update(_fiat_fields(sats, req, req.fiat_amount))
    line["txids"] = list(req.references)
    if req.flags:
        line["flags"] = list(req.flags)
    return line


def contribution_line(c: Contribution, req: PaymentRequest | None, tz: ZoneInfo
                      ) -> dict[str, Any]:
    assert c.settled_at is not None
    what = "investment in" if c.kind == "investment" else "donation to"
    line: dict[str, Any] = {
        "kind": str(c.kind), "ref": c.id, "date": local_day(c.settled_at, tz),
        "description": f"{what} pool {c.pool}" + (" (top-up)" if c.topup else ""),
        "sats": c.amount_sats, "pool": c.pool, "settled_at": iso(c.settled_at),
    }
    line.update(_fiat_fields(c.amount_sats, req))
    line["txids"] = list(req.references) if req else []
    return line


def build_lines(tenant: str | None, period: str, tz: ZoneInfo, *,
                requests: Iterable[PaymentRequest], leases: Mapping[str, Lease],
                covers: Mapping[str, tuple[datetime, datetime]],
                contributions: Iterable[Contribution], payouts: Iterable[Payout],
                request_by_id: Mapping[str, PaymentRequest]) -> list[dict[str, Any]]:
    """The lines of ``tenant``'s invoice (``None``: the anonymous-sales statement) for
    ``period``: settled lease payments, contributions and payout credits in the period."""
    start, end = period_bounds(period, tz)
    lines: list[tuple[tuple, dict[str, Any]]] = []
    backed = {c.request for c in contributions if c.status == "settled" and c.request}
    for req in requests:
        if req.status != "settled" or req.settled_at is None or req.purpose not in \
                LEASE_PURPOSES or not start <= req.settled_at < end:
            continue
        lease = leases.get(req.lease or "")
        if (lease.tenant if lease else req.tenant) != tenant:
            continue
        lines.append(((req.settled_at, 0, req.id),
                      lease_line(req, lease, covers.get(req.id), tz)))
        if req.invest_sats and req.id not in backed and tenant is not None:
            # an investment paid with a rental but with no contribution record (yet)
            line = {"kind": "investment", "ref": req.id, "date": local_day(req.settled_at, tz),
                    "description": f"investment paid with lease {req.lease}",
                    "sats": req.invest_sats, "settled_at": iso(req.settled_at),
                    **_fiat_fields(req.invest_sats, req), "txids": list(req.references)}
            lines.append(((req.settled_at, 1, req.id), line))
    if tenant is not None:
        for c in contributions:
            if c.tenant == tenant and c.status == "settled" and c.settled_at is not None \
                    and start <= c.settled_at < end:
                lines.append(((c.settled_at, 2, c.id),
                              contribution_line(c, request_by_id.get(c.request or ""), tz)))
        for p in payouts:
            share = p.shares.get(tenant, 0)
            if p.period == period and share:
                lines.append(((end - timedelta(seconds=1), 3, p.id), {
                    "kind": "payout", "ref": p.id, "date": last_day(period),
                    "description": f"consideration earned in pool {p.pool}, {p.period} "
                                   f"({p.consideration})",
                    "sats": -share, "pool": p.pool}))
    lines.sort(key=lambda item: (item[0][0], item[0][1], _ref_key(item[0][2])))
    out = [line for _, line in lines]
    return out if tenant is not None else sales_lines(out)


def sales_lines(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The anonymous-sales statement sums payments per day and plan: anonymous buyers need
    no per-payment lines, and a busy month would otherwise put thousands of lines in the
    hot ledger. Each payment's fiat is still rounded on its own before it is added."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines:
        g = groups.setdefault((line["date"], line["plan"]), {
            "kind": "sales", "ref": f"{line['date']} {line['plan']}", "date": line["date"],
            "plan": line["plan"], "sats": 0, "hours": 0, "payments": 0, "extensions": 0,
            "fiat": Decimal(0), "currency": line.get("currency"), "with_fiat": 0})
        g["sats"] += int(line["sats"])
        g["hours"] += int(line.get("hours", 0))
        g["payments"] += 1
        g["extensions"] += line["kind"] == "extension"
        if "fiat" in line and line.get("currency") == g["currency"]:
            g["fiat"] += Decimal(line["fiat"])
            g["with_fiat"] += 1
    out = []
    for (_, plan), g in sorted(groups.items()):
        n, ext = g["payments"], g["extensions"]
        g["description"] = (f"{n} payment{'s' if n != 1 else ''} for {g['hours']} h of {plan}"
                            + (f" ({ext} extension{'s' if ext != 1 else ''})" if ext else ""))
        if g.pop("with_fiat") and g["currency"]:
            g["fiat"] = format(g["fiat"], "f")
        else:
            del g["fiat"], g["currency"]
        out.append(g)
    return out


def _ref_key(ref: str) -> tuple[int, str]:
    digits = ref.rpartition("-")[2]
    return (int(digits) if digits.isdigit() else -1, ref)


def credit_lines(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lines of a credit note: the invoice's lines with every amount negated."""
    out = []
    for line in lines:
        new = dict(line)
        new["sats"] = -int(line["sats"])
        if "fiat" in line:
            new["fiat"] = format(-Decimal(line["fiat"]), "f")
        out.append(new)
    return out


def totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sats total, fiat totals per currency (sums of the rounded lines), subtotals by kind."""
    sats = 0
    fiat: dict[str, Decimal] = {}
    by_kind: dict[str, int] = {}
    without = 0
    for line in lines:
        sats += int(line["sats"])
        by_kind[line["kind"]] = by_kind.get(line["kind"], 0) + int(line["sats"])
        if "fiat" in line:
            fiat[line["currency"]] = fiat.get(line["currency"], Decimal(0)) + Decimal(line["fiat"])
        else:
            without += 1
    return {"sats": sats, "btc": btc_text(sats) if sats >= 0 else "-" + btc_text(-sats),
            "fiat": {k: format(v, "f") for k, v in sorted(fiat.items())},
            "lines_without_fiat": without, "by_kind": by_kind}


# -- numbering and integrity ----------------------------------------------------------
def counter_key(kind: str, year: int) -> str:
    return f"{kind}_{year}"


def make_number(kind: str, year: int, n: int) -> str:
    return f"{SERIES[kind]}-{year}-{n:04d}"


def credit_note_number(number: str) -> str:
    return f"{number}-CN"


def content_sha256(inv: Invoice) -> str:
    """SHA-256 of what an issued document says (not its later void status)."""
    body = {"id": inv.id, "kind": inv.kind, "number": inv.number, "tenant": inv.tenant,
            "period": inv.period, "issued_at": inv.issued_at, "lines": list(inv.lines),
            "total_sats": inv.total_sats, "credit_note_for": inv.credit_note_for}
    text = json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def invoice_problems(all_invoices: Iterable[Invoice], counters: Mapping[str, int]
                     ) -> list[str]:
    """What is wrong with the ledger's invoices (for ``verify``): an issued document whose
    content no longer matches its hash, totals that are not the sum of the lines, numbers
    that repeat or leave a gap in their series, and broken credit-note links."""
    problems: list[str] = []
    numbers: dict[str, str] = {}
    series: dict[tuple[str, int], set[int]] = {}
    all_invoices = list(all_invoices)
    by_number = {inv.number: inv for inv in all_invoices if inv.number}
    for inv in sorted(all_invoices, key=lambda i: _ref_key(i.id)):
        name = f"invoice {inv.id}" + (f" ({inv.number})" if inv.number else "")
        try:
            line_sum = sum(int(line["sats"]) for line in inv.lines)
        except (KeyError, TypeError, ValueError):
            problems.append(f"{name} has a line without a whole number of sats")
            line_sum = None
        if line_sum is not None and line_sum != inv.total_sats:
            problems.append(f"{name} total {inv.total_sats} sat is not the sum of its lines "
                            f"({line_sum} sat)")
        if inv.status == InvoiceStatus.DRAFT:
            if inv.number or inv.content_sha256:
                problems.append(f"{name} is a draft but carries a number or content hash")
            continue
        if not inv.number or inv.issued_at is None or not inv.content_sha256:
            problems.append(f"{name} is {inv.status.value} without a number, issue time or "
                            "content hash")
            continue
        if content_sha256(inv) != inv.content_sha256:
            problems.append(f"{name} was changed after it was issued (content hash differs)")
        if inv.number in numbers:
            problems.append(f"number {inv.number} is used by both {numbers[inv.number]} and "
                            f"{inv.id}")
        numbers[inv.number] = inv.id
        if inv.kind == "credit_note":
            orig = by_number.get(inv.credit_note_for or "")
            if orig is None or inv.number != credit_note_number(orig.number or ""):
                problems.append(f"credit note {inv.number} does not refer to an invoice "
                                f"({inv.credit_note_for!r})")
            elif orig.status != InvoiceStatus.VOID:
                problems.append(f"credit note {inv.number} cancels {orig.number}, which is not "
                                "void")
            continue
        m = _NUMBER.match(inv.number)
        if not m or m.group(1) != SERIES.get(inv.kind):
            problems.append(f"{name} has a malformed number")
            continue
        series.setdefault((inv.kind, int(m.group(2))), set()).add(int(m.group(3)))
        if inv.status == InvoiceStatus.VOID and credit_note_number(inv.number) not in by_number:
            problems.append(f"{name} is void but has no credit note")
    for key in counters:
        kind, _, year = key.partition("_")
        if kind in SERIES and year.isdigit():
            series.setdefault((kind, int(year)), set())
    for (kind, year), used in sorted(series.items()):
        counter = counters.get(counter_key(kind, year), 0)
        if used and max(used) > counter:
            problems.append(f"{kind} counter for {year} is {counter} but "
                            f"{make_number(kind, year, max(used))} exists")
        missing = sorted(set(range(1, counter + 1)) - used)
        if missing:
            problems.append(f"{len(missing)} {kind} number(s) of {year} missing (gapless "
                            f"numbering broken), e.g. {make_number(kind, year, missing[0])}")
    return problems


# -- rendering data -------------------------------------------------------------------
_TITLES = {"invoice": "Invoice", "credit_note": "Credit note",
           "statement": "Anonymous sales statement"}


def view(inv: Invoice) -> dict[str, Any]:
    """The JSON shape of an invoice (``invoice show --json``)."""
    txids = sorted({t for line in inv.lines for t in line.get("txids", ())})
    title = _TITLES.get(inv.kind, inv.kind)
    return {
        "id": inv.id, "number": inv.number, "kind": inv.kind, "status": inv.status,
        "title": f"{title} {inv.number}" if inv.number else f"Draft {title.lower()} {inv.id}",
        "tenant": inv.tenant, "period": inv.period, "created_at": _iso(inv.created_at),
        "issued_at": _iso(inv.issued_at), "content_sha256": inv.content_sha256,
        "voided_at": _iso(inv.voided_at), "void_reason": inv.void_reason,
        "credit_note_for": inv.credit_note_for, "total_sats": inv.total_sats,
        "lines": [dict(line) for line in inv.lines], "totals": totals(inv.lines),
        "txids": txids,
    }


def document(inv: Invoice, *, seller_name: str, seller_address: str,
             buyer_email: str | None, timezone: str) -> dict[str, Any]:
    """Everything a printed invoice shows: the invoice, who sells, who buys."""
    doc = view(inv)
    doc["seller"] = {"name": seller_name or "(operator name not set: [operator] name in "
                     "config.toml)", "address_lines": [x for x in seller_address.splitlines()
                                                       if x.strip()]}
    doc["buyer"] = {"name": inv.tenant or "Anonymous customers", "email": buyer_email}
    doc["timezone"] = timezone
    for line in doc["lines"]:
        line["btc"] = btc_text(line["sats"]) if line["sats"] >= 0 else \
            "-" + btc_text(-line["sats"])
        if "starts_at" in line and "ends_at" in line:
            start, end = (x.replace("T", " ").replace(":00Z", "") for x in
                          (line["starts_at"], line["ends_at"]))
            line["covers"] = f"{start} → {end[11:] if end[:10] == start[:10] else end} UTC"
    return doc


def _md(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Mapping[str, Any]) -> str:
    out = [f"# {_md(doc['title'])}", ""]
    if doc["status"] == "void":
        out += [f"**VOID** since {doc['voided_at']}: {_md(doc['void_reason'])}", ""]
    if doc.get("credit_note_for"):
        out += [f"Cancels invoice {doc['credit_note_for']}.", ""]
    seller = doc["seller"]
    out += [f"- From: {_md(seller['name'])}"
            + "".join(f", {_md(x)}" for x in seller["address_lines"]),
            f"- To: {_md(doc['buyer']['name'])}"
            + (f" <{_md(doc['buyer']['email'])}>" if doc["buyer"].get("email") else ""),
            f"- Period: {doc['period']} ({_md(doc['timezone'])})",
            f"- Issued: {doc['issued_at'] or 'not yet (draft)'}", "",
            "| date | description | ref | sats | BTC | fiat |", "|---|---|---|--:|--:|--:|"]
    for line in doc["lines"]:
        fiat = f"{line['fiat']} {line['currency']}" if "fiat" in line else ""
        out.append(f"| {line['date']} | {_md(line['description'])} | {line['ref']} | "
                   f"{line['sats']:,} | {line['btc']} | {fiat} |")
    t = doc["totals"]
    fiat_total = ", ".join(f"{v} {k}" for k, v in t["fiat"].items()) or "-"
    out += ["", f"**Total: {t['sats']:,} sat ({t['btc']} BTC); {fiat_total}**"]
    if t["lines_without_fiat"] and t["fiat"]:
        out.append(f"(the fiat total leaves out {t['lines_without_fiat']} line(s) with no "
                   "locked exchange rate)")
    if doc["txids"]:
        out += ["", "Payment transactions:", ""] + [f"- `{x}`" for x in doc["txids"]]
    if doc.get("content_sha256"):
        out += ["", f"Content SHA-256: `{doc['content_sha256']}`"]
    return "\n".join(out) + "\n"
