"""``cloudlease export``: the books of a period, read through indexes.

What an export loads: settled payments in the period (by settlement time), money seen on
requests that did not settle (by when it was first seen), contributions and payouts,
sweeps and refunds (by when they were made, with the requests they refund), and issued
invoices whose VAT is booked in the period. Without a period it reports on everything.
"""

from __future__ import annotations

from typing import Any

from cloudlease.core import books, clock, exports, invoices
from cloudlease.core.errors import BadValue
from cloudlease.ledger.session import Ledger
from cloudlease.ops.context import Context
from cloudlease.ops.invoicing import ALL, read_history, timezone


def export(ctx: Context, fmt: str, period: str | None = None) -> tuple[str, int]:
    """Journal text in ``fmt`` and how many entries it holds."""
    if fmt not in exports.FORMATS:
        raise BadValue(f"unknown format {fmt!r} (one of {', '.join(exports.FORMATS)})")
    tz = timezone(ctx)
    window = None
    if period is not None:
        period = invoices.check_period(period, tz, clock.now())
        window = invoices.period_bounds(period, tz)
    ledger = ctx.read()
    hist = read_history(ledger, window, ALL)
    unsettled = ledger.requests.unsettled_with_money(window)
    transfers = ledger.transfers.not_failed(window)
    refunded = ledger.requests.many(t.request for t in transfers if t.request)
    leases = {**hist.leases, **ledger.leases.many(r.lease for r in unsettled if r.lease)}
    entries = exports.build_entries(
        tz, requests=hist.requests.values(), leases=leases,
        contributions=ledger.contributions.all(), payouts=ledger.payouts.all(),
        period=period, unsettled=unsettled, transfers=transfers,
        transfer_requests=refunded, invoices=_taxed_invoices(ledger, period, window))
    text = exports.render(fmt, entries, period=period, timezone=tz.key,
                          tenants=[t.name for t in ledger.tenants.all()],
                          prices=books.prices(hist.requests.values(), tz))
    return text, len(entries)


def _taxed_invoices(ledger: Ledger, period: str | None, window: Any) -> list[Any]:
    """Issued documents whose VAT may fall in the period: the period's own (voided ones
    too: their credit notes reverse them) and credit notes issued in it."""
    return ledger.invoices.taxed(period, window)


def wallet_addresses(ledger: Ledger) -> list[str]:
    """Every address of the keys wallet that may hold money: those of requests that were
    paid, and the change addresses of refunds."""
    paid = {r.address for r in ledger.requests.paid_to_keys_wallet()}
    return sorted(paid | ledger.transfers.change_addresses())
