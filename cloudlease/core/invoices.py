"""Invoices, contribution statements, credit notes and anonymous-sales statements (pure:
records in, records out). Documents for people are built in ``documents.py``; VAT in
``tax.py``.

- Periods are calendar months in the operator's time zone: ``2026-03`` in
  ``America/New_York`` runs from 2026-03-01 00:00 EST (05:00 UTC) to 2026-04-01 00:00 EDT
  (04:00 UTC). Local midnights are converted to UTC with zoneinfo, so a month that spans a
  daylight-saving change is 743 or 745 hours long, as it really is.
- A tenant's month gives up to two documents. The **invoice** (``INV-YYYY-NNNN``) lists
  what they rented: one line per settled rental or extension. The **contribution
  statement** (``CST-YYYY-NNNN``, its own series) lists what they put into pools
  (investments, donations) and the consideration they earned as an investor (a negative
  credit line). Contributions are not sales: they never enter an invoice's total or its
  VAT. Anonymous rentals go on the anonymous-sales **statement** (``STM-YYYY-NNNN``), one
  line per day and plan.
- Lines are plain tables of strings and integers (fiat and rates are decimal strings so
  that they round-trip exactly): ``kind`` (``lease``, ``extension``, ``investment``,
  ``donation``, ``payout``, ``sales``), ``ref``, ``date``, ``description`` (words for the
  customer: no internal ids or flags), ``sats`` and, when known, ``lease``, ``plan``,
  ``hours``, ``starts_at``, ``ends_at``, ``settled_at``, ``fiat``, ``currency``, ``rate``,
  ``rate_source``, ``txids``, ``paid_by`` (what paid it: ``{"method": "onchain", "ref":
  txid}`` or ``{"method": "lightning", "ref": payment hash}``), ``flags`` (for the
  operator's JSON only), and the VAT fields of ``tax.apply``.
- Rounding: each line's fiat amount is rounded once, to the currency's minor unit, half
  to even; a fiat total is the sum of the rounded lines, never a conversion of the sats
  total, and is given only when every line has fiat (a line without a locked rate, e.g.
  a plan priced in sats, has none; the document then says why there is no fiat total).
  VAT is computed on the total and split over the lines (``tax.py``).
- Numbers, content hashes and what ``verify`` checks of them: ``numbering.py``.
- At issue the seller's details (``[operator]``), the buyer's billing details and the VAT
  treatment are frozen into the document and covered by its content hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cloudlease.core.money import btc_text, sats_to_fiat
from cloudlease.core.numbering import (  # noqa: F401 - re-exported: callers know them from here
    SERIES,
    _ref_key,
    content_sha256,
    counter_key,
    credit_note_number,
    invoice_problems,
    make_number,
)
from cloudlease.core.periods import (  # noqa: F401 - re-exported: callers know them from here
    _iso,
    check_period,
    iso,
    last_day,
    local_day,
    month_name,
    parse_period,
    period_bounds,
    rate_text,
    zone,
)
from cloudlease.model import Contribution, Lease, PaymentRequest, Payout

CONTRIBUTION_KINDS = frozenset({"investment", "donation", "payout"})
LEASE_PURPOSES = ("rent", "extend")
_ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "CLP", "ISK", "VND", "UGX", "XAF", "XOF", "PYG"}


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
    """The time each settled payment of a lease covers: the lease runs from its start for
    its paid minutes, consumed in settlement order (first payment, then extensions).
    ``settled``: (settled_at, request id, minutes it bought)."""
    out: dict[str, tuple[datetime, datetime]] = {}
    if lease.starts_at is None:
        return out
    at = lease.starts_at
    for _, rid, minutes in sorted(settled):  # minutes bought (ops: bought_minutes)
        out[rid] = (at, at + timedelta(minutes=minutes))
        at += timedelta(minutes=minutes)
    return out


def payment_refs(req: PaymentRequest | None) -> list[dict[str, str]]:
    """What paid a request, as the payer can find it in their wallet: each on-chain
    transaction id, and the payment hash of a Lightning payment."""
    if req is None:
        return []
    refs = [{"method": "onchain", "ref": txid} for txid in req.txids]
    if req.ln_payment_hash and (req.ln_settled_at is not None or req.ln_paid_msat):
        refs.append({"method": "lightning", "ref": req.ln_payment_hash})
    return refs


CONSIDERATION_WORDS = {"revenue_share": "revenue share", "ownership": "ownership share",
                       "fixed_return": "fixed return"}


def lease_line(req: PaymentRequest, lease: Lease | None, covers: tuple[datetime, datetime] | None,
               tz: ZoneInfo) -> dict[str, Any]:
    assert req.settled_at is not None
    from cloudlease.core.prorate import income_sats, words

    sats = income_sats(req) - req.invest_sats  # the time's price: credit used in, kept out
    minutes = req.bought_minutes
    hours = minutes // 60
    plan = lease.plan if lease else "compute"
    kind = "extension" if req.purpose == "extend" else "lease"
    bought = words(minutes, more=kind == "extension")
    description = (f"Extension: {bought} of {plan}" if kind == "extension"
                   else f"Rental: {bought} of {plan}")
    line: dict[str, Any] = {
        "kind": kind, "ref": req.id, "date": local_day(req.settled_at, tz),
        "description": description,
        "sats": sats, "lease": req.lease or "", "plan": plan, "hours": hours,
        "minutes": minutes, "settled_at": iso(req.settled_at),
    }
    if req.credit_used_sats or req.credit_kept_sats:
        line["credit_used_sats"] = req.credit_used_sats or 0
        line["credit_kept_sats"] = req.credit_kept_sats or 0
    if covers is not None:
        line["starts_at"], line["ends_at"] = iso(covers[0]), iso(covers[1])
    line.update(_fiat_fields(sats, req, req.fiat_amount))
    line["txids"] = list(req.references)
    line["paid_by"] = payment_refs(req)
    if req.flags:
        line["flags"] = list(req.flags)
    return line


def contribution_line(c: Contribution, req: PaymentRequest | None, tz: ZoneInfo
                      ) -> dict[str, Any]:
    assert c.settled_at is not None
    what = "Investment in" if c.kind == "investment" else "Donation to"
    line: dict[str, Any] = {
        "kind": str(c.kind), "ref": c.id, "date": local_day(c.settled_at, tz),
        "description": f"{what} pool {c.pool}" + (" (top-up)" if c.topup else ""),
        "sats": c.amount_sats, "pool": c.pool, "settled_at": iso(c.settled_at),
    }
    line.update(_fiat_fields(c.amount_sats, req))
    line["txids"] = list(req.references) if req else []
    line["paid_by"] = payment_refs(req)
    return line


def payout_line(p: Payout, tenant: str, period: str, end: datetime) -> dict[str, Any]:
    month = month_name(period)
    words = CONSIDERATION_WORDS.get(str(p.consideration), str(p.consideration))
    return {"kind": "payout", "ref": p.id, "date": last_day(period),
            "description": f"Consideration earned in pool {p.pool}, {month} ({words})",
            "sats": -p.shares[tenant], "pool": p.pool, "settled_at": iso(end)}


def build_lines(tenant: str | None, period: str, tz: ZoneInfo, *,
                requests: Iterable[PaymentRequest], leases: Mapping[str, Lease],
                covers: Mapping[str, tuple[datetime, datetime]],
                contributions: Iterable[Contribution], payouts: Iterable[Payout],
                request_by_id: Mapping[str, PaymentRequest],
                kind: str = "invoice") -> list[dict[str, Any]]:
    """The lines of ``tenant``'s document of ``kind`` for ``period``: ``invoice``, their
    settled rentals and extensions; ``contributions``, their contributions and payout
    credits. ``tenant`` None: the anonymous-sales statement (rentals summed per day)."""
    bounds = period_bounds(period, tz)
    rentals = _rentals(tenant, requests, leases, bounds)
    lines: list[tuple[tuple, dict[str, Any]]]
    if kind != "contributions":
        lines = [((req.settled_at, 0, req.id), lease_line(req, lease, covers.get(req.id), tz))
                 for req, lease in rentals]
    elif tenant is None:
        lines = []  # anonymous buyers have no contribution statement
    else:
        lines = _contribution_lines(tenant, period, bounds, rentals, contributions, payouts,
                                    request_by_id, tz)
    lines.sort(key=lambda item: (item[0][0], item[0][1], _ref_key(item[0][2])))
    out = [line for _, line in lines]
    return out if tenant is not None else sales_lines(out)


def _rentals(tenant: str | None, requests: Iterable[PaymentRequest],
             leases: Mapping[str, Lease], bounds: tuple[datetime, datetime]
             ) -> Iterator[tuple[PaymentRequest, Lease | None]]:
    """``tenant``'s rentals and extensions settled in the period, each with its lease."""
    start, end = bounds
    for req in requests:
        if req.status != "settled" or req.settled_at is None or req.purpose not in \
                LEASE_PURPOSES or not start <= req.settled_at < end:
            continue
        lease = leases.get(req.lease or "")
        if (lease.tenant if lease else req.tenant) == tenant:
            yield req, lease


def _contribution_lines(tenant: str, period: str, bounds: tuple[datetime, datetime],
                        rentals: Iterable[tuple[PaymentRequest, Lease | None]],
                        contributions: Iterable[Contribution], payouts: Iterable[Payout],
                        request_by_id: Mapping[str, PaymentRequest], tz: ZoneInfo
                        ) -> list[tuple[tuple, dict[str, Any]]]:
    """A contribution statement's lines, with their sort keys: investments paid with a
    rental that have no contribution record (yet), the tenant's settled contributions of
    the period, and the consideration their pools paid them for it (credits)."""
    end = bounds[1]
    backed = {c.request for c in contributions if c.status == "settled" and c.request}
    lines = [((req.settled_at, 1, req.id), _rental_investment_line(req, tz))
             for req, _ in rentals if req.invest_sats and req.id not in backed]
    lines += [((c.settled_at, 2, c.id),
               contribution_line(c, request_by_id.get(c.request or ""), tz))
              for c in contributions if c.tenant == tenant and _settled_in(c, bounds)]
    lines += [((end - timedelta(seconds=1), 3, p.id), payout_line(p, tenant, period, end))
              for p in payouts if p.period == period and p.shares.get(tenant, 0)]
    return lines


def _settled_in(c: Contribution, bounds: tuple[datetime, datetime]) -> bool:
    return c.status == "settled" and c.settled_at is not None and \
        bounds[0] <= c.settled_at < bounds[1]


def _rental_investment_line(req: PaymentRequest, tz: ZoneInfo) -> dict[str, Any]:
    assert req.settled_at is not None
    return {"kind": "investment", "ref": req.id, "date": local_day(req.settled_at, tz),
            "description": "Investment paid together with a rental",
            "sats": req.invest_sats, "settled_at": iso(req.settled_at),
            **_fiat_fields(req.invest_sats, req), "txids": list(req.references),
            "paid_by": payment_refs(req)}


def sales_lines(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The anonymous-sales statement sums payments per day and plan: anonymous buyers need
    no per-payment lines, and a busy month would otherwise put thousands of lines in the
    hot ledger. Each payment's fiat is still rounded on its own before it is added; a
    group's fiat is given only when every payment in it has fiat."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for line in lines:
        g = groups.setdefault((line["date"], line["plan"]), {
            "kind": "sales", "ref": f"{line['date']} {line['plan']}", "date": line["date"],
            "plan": line["plan"], "sats": 0, "minutes": 0, "payments": 0, "extensions": 0,
            "fiat": Decimal(0), "currency": line.get("currency"), "with_fiat": 0})
        g["sats"] += int(line["sats"])
        g["minutes"] += int(line.get("minutes", int(line.get("hours", 0)) * 60))
        g["payments"] += 1
        g["extensions"] += line["kind"] == "extension"
        if "fiat" in line and line.get("currency") == g["currency"]:
            g["fiat"] += Decimal(line["fiat"])
            g["with_fiat"] += 1
    from cloudlease.core.prorate import words

    out = []
    for (_, plan), g in sorted(groups.items()):
        n, ext = g["payments"], g["extensions"]
        g["hours"] = g["minutes"] // 60
        g["description"] = (f"{n} payment{'s' if n != 1 else ''} for {words(g['minutes'])} "
                            f"of {plan}"
                            + (f" ({ext} extension{'s' if ext != 1 else ''})" if ext else ""))
        if g.pop("with_fiat") == n and g["currency"]:
            g["fiat"] = format(g["fiat"], "f")
        else:
            del g["fiat"], g["currency"]
        out.append(g)
    return out


def credit_lines(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The lines of a credit note: the invoice's lines with every amount (VAT included)
    negated."""
    from cloudlease.core import tax

    out = []
    for line in lines:
        new = tax.negate(line)
        new["sats"] = -int(line["sats"])
        if "fiat" in line:
            new["fiat"] = format(-Decimal(line["fiat"]), "f")
        out.append(new)
    return out


def totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sats total, fiat totals per currency (sums of the rounded lines), subtotals by kind,
    and net/VAT/gross when the lines carry VAT. ``fiat_complete`` is False when a line has
    no fiat: a fiat total would leave it out, so documents show none."""
    from cloudlease.core import tax

    lines = list(lines)
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
    return {"sats": sats, "btc": signed_btc(sats),
            "fiat": {k: format(v, "f") for k, v in sorted(fiat.items())},
            "lines_without_fiat": without,
            "fiat_complete": without == 0 and len(fiat) <= 1, "by_kind": by_kind,
            "tax": tax.totals(lines)}


def signed_btc(sats: int) -> str:
    return btc_text(sats) if sats >= 0 else "-" + btc_text(-sats)
