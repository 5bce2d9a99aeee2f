"""Accounting exports: the journal entries of a period (pure). The accounts and the
entries for receipts, sweeps, refunds and VAT are in ``books.py``; the writers (hledger,
beancount, CSV, JSON) in ``journals.py``.

One entry per event, every entry balanced to the sat, amounts in the commodity ``SAT``:

- a settled payment: ``assets:bitcoin`` receives what arrived on-chain and
  ``assets:lightning`` what arrived over Lightning (its payment hash stands where a txid
  would); the rental part goes to
  ``income:leases``, an investment paid with it to
  ``liabilities:investors:<tenant>:principal`` (the operator owes consideration on it), a
  donation to ``income:donations``, an overpayment to ``liabilities:overpayments`` (owed
  back to the payer);
- money on a request that did not settle: ``liabilities:prepayments`` while it is open,
  ``liabilities:refunds`` once it closed (``books.receipt``);
- a contribution whose payment is not among the exported payments: the same postings on
  its own;
- a payout (one month's consideration of a pool): ``expenses:consideration`` against
  ``liabilities:investors:<tenant>:consideration`` for each investor's share, dated the
  last day of its month;
- a sweep or a refund, with its mining fee (``books.transfer``); the VAT of an issued
  invoice (``books.vat``).

Dates are local days in the operator's time zone (as invoice periods are); the exact UTC
time, request, lease, tenant, fiat at the locked rate and the txids are metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cloudlease.core import books, prorate
from cloudlease.core.books import (  # noqa: F401 - re-exported
    BITCOIN,
    COMMODITY,
    CONSIDERATION,
    DONATIONS,
    LEASES,
    LIGHTNING,
    OVERPAID,
    Entry,
)
from cloudlease.core.invoices import (
    LEASE_PURPOSES,
    iso,
    last_day,
    local_day,
    period_bounds,
    rate_text,
)
from cloudlease.model import Contribution, Invoice, Lease, PaymentRequest, Payout, Transfer


def investor(tenant: str | None, what: str) -> tuple[str, ...]:
    return ("liabilities", "investors", tenant or "unknown", what)


def build_entries(tz: ZoneInfo, *, requests: Iterable[PaymentRequest],
                  leases: Mapping[str, Lease], contributions: Iterable[Contribution],
                  payouts: Iterable[Payout], period: str | None = None,
                  unsettled: Iterable[PaymentRequest] = (),
                  transfers: Iterable[Transfer] = (),
                  transfer_requests: Mapping[str, PaymentRequest] | None = None,
                  invoices: Iterable[Invoice] = ()) -> list[Entry]:
    """Entries for every settled payment, contribution and payout, money on requests
    that did not settle (``unsettled``), sweeps and refunds (``transfers``, with the
    requests they refund) and the VAT of issued ``invoices`` (in ``period`` when given),
    oldest first."""
    window = _Window(period_bounds(period, tz) if period else None)
    contributions = [c for c in contributions if c.status == "settled"]
    entries, paid_ids = _payments(requests, leases, contributions, window, tz)
    entries += _receipts(unsettled, leases, window, tz)
    entries += _transfers(transfers, transfer_requests or {}, window, tz)
    entries += _vat(invoices, window, tz)
    entries += [_contribution(c, tz) for c in contributions  # not paid with a request above
                if c.request not in paid_ids and window.inside(c.settled_at)]
    entries += _payouts(payouts, period, tz)
    entries.sort(key=lambda e: (e.date, e.at, _num(e.id), e.id))
    return entries


class _Window:
    """The period exported, as UTC bounds (None: everything)."""

    def __init__(self, bounds: tuple[datetime, datetime] | None) -> None:
        self.bounds = bounds

    def inside(self, when: datetime | None) -> bool:
        return when is not None and (self.bounds is None
                                     or self.bounds[0] <= when < self.bounds[1])

    def holds_end(self, when: datetime) -> bool:
        """An entry dated at a period's end (VAT) belongs to that period."""
        return self.bounds is None or self.inside(when - _SECOND)


def _payments(requests: Iterable[PaymentRequest], leases: Mapping[str, Lease],
              contributions: list[Contribution], window: _Window, tz: ZoneInfo
              ) -> tuple[list[Entry], set[str]]:
    """The settled requests of the window: a payment entry for each honoured one (with the
    contributions it paid for), a receipt for one owed back in full; and the ids paid."""
    by_request: dict[str, list[Contribution]] = {}
    for c in contributions:
        if c.request:
            by_request.setdefault(c.request, []).append(c)
    entries: list[Entry] = []
    paid_ids = set()
    for req in requests:
        if req.status != "settled" or not window.inside(req.settled_at):
            continue
        lease = leases.get(req.lease or "")
        if not books.honoured(req):  # settled, but owed back in full
            entry = books.receipt(req, lease.tenant if lease else req.tenant, tz)
            if entry is not None:
                entries.append(entry)
            continue
        paid_ids.add(req.id)
        entries.append(_payment(req, lease, by_request.get(req.id, []), tz))
    return entries, paid_ids


def _receipts(unsettled: Iterable[PaymentRequest], leases: Mapping[str, Lease],
              window: _Window, tz: ZoneInfo) -> list[Entry]:
    """Money on requests that did not settle, first seen in the window."""
    entries = []
    for req in unsettled:
        lease = leases.get(req.lease or "")
        if req.status != "settled" and window.inside(req.seen_at or req.created_at):
            entry = books.receipt(req, lease.tenant if lease else req.tenant, tz)
            if entry is not None:
                entries.append(entry)
    return entries


def _transfers(transfers: Iterable[Transfer], requests: Mapping[str, PaymentRequest],
               window: _Window, tz: ZoneInfo) -> list[Entry]:
    """Sweeps and refunds made in the window (a failed one sent nothing)."""
    return [books.transfer(t, requests.get(t.request or ""), tz) for t in transfers
            if t.status != "failed" and window.inside(t.created_at)]


def _vat(invoices: Iterable[Invoice], window: _Window, tz: ZoneInfo) -> list[Entry]:
    """The VAT of issued documents, dated in the window."""
    entries = (books.vat(inv, tz) for inv in invoices)
    return [e for e in entries if e is not None and window.holds_end(e.at)]


def _payouts(payouts: Iterable[Payout], period: str | None, tz: ZoneInfo) -> list[Entry]:
    """The payouts of the period (every one without a period), those that pay anyone."""
    entries = (_payout(p, tz) for p in payouts if period is None or p.period == period)
    return [e for e in entries if e is not None]


_SECOND = timedelta(seconds=1)  # an entry dated at a period's end belongs to that period


def _num(ref: str) -> int:
    digits = ref.rpartition("-")[2]
    return int(digits) if digits.isdigit() else -1


def _payment(req: PaymentRequest, lease: Lease | None, contribs: list[Contribution],
             tz: ZoneInfo) -> Entry:
    assert req.settled_at is not None
    tenant = lease.tenant if lease is not None else req.tenant
    received = max(req.amount_sats, books.received_sats(req))
    postings = books.receipts(req, received) + _credits(req, tenant, contribs)
    if received > req.amount_sats:
        postings.append((OVERPAID, -(received - req.amount_sats)))
    return Entry(local_day(req.settled_at, tz), req.settled_at, req.id, "payment",
                 tenant or "anonymous", _payment_text(req, lease),
                 books.balanced(postings), _payment_meta(req, tenant, contribs))


def _credits(req: PaymentRequest, tenant: str | None, contribs: list[Contribution]
             ) -> list[tuple[tuple[str, ...], int]]:
    """Where the amount goes: the contributions it paid for, then the rest by purpose
    (a rental's investment part to the investor, the rental to income)."""
    postings: list[tuple[tuple[str, ...], int]] = []
    rest = req.amount_sats
    for c in contribs:
        account = investor(c.tenant, "principal") if c.kind == "investment" else DONATIONS
        postings.append((account, -c.amount_sats))
        rest -= c.amount_sats
    if req.purpose in LEASE_PURPOSES:
        invest = 0 if contribs else min(req.invest_sats, rest)
        if invest:
            postings.append((investor(tenant, "principal"), -invest))
        postings += prorate.income_postings(req, rest - invest)
    elif req.purpose == "donate":
        postings.append((DONATIONS, -rest))
    else:  # invest, topup
        postings.append((investor(tenant, "principal"), -rest))
    return postings


def _payment_text(req: PaymentRequest, lease: Lease | None) -> str:
    if req.purpose in LEASE_PURPOSES:
        plan = lease.plan if lease else "?"
        more = "more " if req.purpose == "extend" else ""
        hours, odd = divmod(req.bought_minutes, 60)
        if odd:
            return f"lease {req.lease}: {prorate.duration(req.bought_minutes)} {more}of {plan}"
        return f"lease {req.lease}: {hours} {more}h of {plan}"
    what = {"invest": "investment in", "donate": "donation to",
            "topup": "top-up investment in"}.get(req.purpose, f"{req.purpose} for")
    return f"{what} pool {req.pool or '?'}"


def _payment_meta(req: PaymentRequest, tenant: str | None, contribs: list[Contribution]
                  ) -> dict[str, Any]:
    assert req.settled_at is not None
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
    return meta


def _contribution(c: Contribution, tz: ZoneInfo) -> Entry:
    assert c.settled_at is not None
    account = investor(c.tenant, "principal") if c.kind == "investment" else DONATIONS
    meta = {"contribution": c.id, "settled_at": iso(c.settled_at), "pool": c.pool}
    if c.request:
        meta["request"] = c.request
    return Entry(local_day(c.settled_at, tz), c.settled_at, c.id, "contribution", c.tenant,
                 f"{c.kind} in pool {c.pool}", books.balanced([(BITCOIN, c.amount_sats),
                                                               (account, -c.amount_sats)]),
                 meta)


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
                 f"consideration for {p.period} in pool {p.pool}", books.balanced(postings), meta)


from cloudlease.core.journals import (  # noqa: E402,F401 - the writers, re-exported
    CSV_COLUMNS,
    FORMATS,
    render,
    tenant_components,
)
