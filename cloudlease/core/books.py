"""The books: journal entries, accounts, and what makes them reconcile with the chain (pure).

Every sat that reaches the receiving wallet is booked when it arrives, and every sat that
leaves it is booked when it leaves, so ``assets:bitcoin`` is what the wallet holds on
the chain: what its addresses received (mempool included, replaced transactions never)
minus what sweeps and refunds spent. Accounts (hledger names; beancount capitalises each
component, as it must):

- ``assets:bitcoin``: the receiving wallet (on-chain); ``assets:lightning``: the
  Lightning node's balance from Lightning payments.
- ``assets:swept``: what ``wallet sweep`` moved to the operator's own address.
- ``income:leases``: rentals (gross; the VAT of issued invoices moves to
  ``liabilities:vat``); ``income:donations``.
- ``liabilities:investors:<tenant>:principal`` and ``...:consideration``, against
  ``expenses:consideration``: what the operator owes investors.
- ``liabilities:prepayments``: money on a request still open (a partial payment, or one
  waiting for confirmations): it becomes income when the request settles.
- ``liabilities:overpayments``: the surplus over what a settled request asked.
- ``liabilities:refunds``: money for a request that was not honoured (expired, paid
  late and not accepted, invalid, cancelled): all of it is owed back.
- ``liabilities:vat``: VAT on issued invoices (reversed by their credit notes).
- ``expenses:fees:mining``: the mining fees of sweeps and refunds.

An export is a snapshot: money held on a request that is still open is a prepayment
until the request settles, and the next export books its settlement instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cloudlease.core.periods import iso, last_day, local_day, period_bounds
from cloudlease.model import (
    Invoice,
    PaymentRequest,
    RequestFlag,
    RequestStatus,
    Transfer,
    TransferKind,
    TransferStatus,
)

COMMODITY = "SAT"
BITCOIN = ("assets", "bitcoin")
LIGHTNING = ("assets", "lightning")
SWEPT = ("assets", "swept")
LEASES = ("income", "leases")
DONATIONS = ("income", "donations")
PREPAID = ("liabilities", "prepayments")
OVERPAID = ("liabilities", "overpayments")
REFUNDS = ("liabilities", "refunds")
VAT = ("liabilities", "vat")
CONSIDERATION = ("expenses", "consideration")
MINING_FEES = ("expenses", "fees", "mining")


@dataclass(frozen=True)
class Entry:
    """One balanced journal entry.

    Attributes:
        date: local day, ``YYYY-MM-DD``.
        at: when it happened (UTC), for ordering.
        id: the record it comes from (``P-3``, ``C-2``, ``pool/2026-03``, ``T-1``,
            ``INV-2026-0001``).
        kind: ``payment``, ``receipt`` (money on a request that did not settle),
            ``contribution``, ``payout``, ``sweep``, ``refund`` or ``vat``.
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


def balanced(postings: list[tuple[tuple[str, ...], int]]
             ) -> tuple[tuple[tuple[str, ...], int], ...]:
    out = tuple([(a, s) for a, s in postings if s])
    if sum([s for _, s in out]) != 0:  # pragma: no cover - a bug, never data
        raise AssertionError(f"unbalanced entry: {out}")
    return out


# -- what is owed on a request ----------------------------------------------------------
def honoured(req: PaymentRequest) -> bool:
    """Settled and delivered: its money (up to the amount) is earned."""
    return req.status == RequestStatus.SETTLED and RequestFlag.UNHONOURED not in req.flags


def received_sats(req: PaymentRequest) -> int:
    """What reached the request: its address on-chain (mempool included; replacements
    never) and its invoice over Lightning."""
    return req.paid_sats + req.ln_paid_msat // 1000


def receipts(req: PaymentRequest, total: int) -> list[tuple[tuple[str, ...], int]]:
    """Where ``total`` received for ``req`` sits: what came over Lightning on
    ``assets:lightning``, the rest in the on-chain wallet, so that ``assets:bitcoin``
    stays what the chain holds."""
    ln = req.ln_paid_msat // 1000
    return [(BITCOIN, total - ln), (LIGHTNING, ln)]


def owed_account(req: PaymentRequest) -> tuple[str, ...]:
    """The liability holding a request's money that is not (or not yet) earned."""
    if honoured(req):
        return OVERPAID
    if req.status in (RequestStatus.NEW, RequestStatus.PROCESSING):
        return PREPAID
    return REFUNDS


def refund_due(req: PaymentRequest) -> int:
    """Sats that may still go back to the payer: the money no promise is kept for
    (``lifecycle.refund_owed``: an overpaid surplus; everything on an expired, invalid,
    cancelled or unhonoured request), minus refunds already made."""
    from cloudlease.core.lifecycle import refund_owed

    return max(0, refund_owed(req) - req.refunded_sats)


# -- entries ----------------------------------------------------------------------------
def receipt(req: PaymentRequest, tenant: str | None, tz: ZoneInfo) -> Entry | None:
    """Money on a request that did not settle (or settled but is not honoured): held as
    a prepayment while open, owed back once closed."""
    paid = received_sats(req)
    if paid <= 0:
        return None
    when = req.seen_at or req.created_at
    account = owed_account(req)
    what = {PREPAID: "held until it settles", REFUNDS: "owed back"}.get(account, "owed back")
    meta: dict[str, Any] = {"request": req.id, "status": str(req.status),
                            "seen_at": iso(when)}
    if req.lease:
        meta["lease"] = req.lease
    if tenant:
        meta["tenant"] = tenant
    if req.closed_reason:
        meta["reason"] = req.closed_reason
    meta["txids"] = list(req.references)
    return Entry(local_day(when, tz), when, req.id, "receipt", tenant or "anonymous",
                 f"payment to {req.id} ({req.status}), {what}",
                 balanced([*receipts(req, paid), (account, -paid)]), meta)


def transfer(t: Transfer, req: PaymentRequest | None, tz: ZoneInfo) -> Entry:
    """A sweep (to ``assets:swept``) or a refund (off the request's liability); the
    wallet gives up what it sent plus the mining fee, and keeps any change."""
    out = t.sats + t.fee_sats
    if t.kind == TransferKind.SWEEP:
        to = SWEPT
        text = f"sweep to {t.to_address}"
    else:
        to = owed_account(req) if req is not None else REFUNDS
        text = f"refund of {t.request or '?'} to {t.to_address}"
    meta: dict[str, Any] = {"transfer": t.id, "txid": t.txid, "to": t.to_address,
                            "fee_sats": str(t.fee_sats)}
    if t.request:
        meta["request"] = t.request
    if t.tenant:
        meta["tenant"] = t.tenant
    if t.inputs:
        meta["inputs"] = list(t.inputs)
    if t.change_address:
        meta["change"] = f"{t.change_sats} sat to {t.change_address}"
    if t.recorded:
        meta["recorded"] = "sent outside cloudlease"
    if t.status == TransferStatus.PENDING:
        meta["status"] = "pending"
    return Entry(local_day(t.created_at, tz), t.created_at, t.id, str(t.kind),
                 t.tenant or "operator", text,
                 balanced([(to, t.sats), (MINING_FEES, t.fee_sats), (BITCOIN, -out)]), meta)


def vat(inv: Invoice, tz: ZoneInfo) -> Entry | None:
    """The VAT of an issued invoice (or statement) leaves ``income:leases`` for
    ``liabilities:vat``, dated the last day of its period, so it falls in the same VAT
    period as the payments; a credit note reverses it on the day it was issued."""
    sats = sum(int(line.get("tax_sats", 0)) for line in inv.lines)
    if not sats or inv.number is None or inv.issued_at is None:
        return None
    if inv.kind == "credit_note":
        when, day = inv.issued_at, local_day(inv.issued_at, tz)
    else:
        when, day = period_bounds(inv.period, tz)[1], last_day(inv.period)
    meta: dict[str, Any] = {"invoice": inv.number, "rate": str(inv.tax.get("rate", "")),
                            "country": str(inv.tax.get("country", ""))}
    fiat = [Decimal(x["tax_fiat"]) for x in inv.lines if "tax_fiat" in x]
    if fiat and len(fiat) == sum(1 for x in inv.lines if "tax_sats" in x):
        meta["vat_fiat"] = f"{format(sum(fiat, Decimal(0)), 'f')} " \
                           f"{next(x['currency'] for x in inv.lines if 'tax_fiat' in x)}"
    return Entry(day, when, inv.number, "vat", inv.buyer.get("name") or inv.tenant or
                 "anonymous", f"VAT on {inv.number}",
                 balanced([(LEASES, sats), (VAT, -sats)]), meta)


# -- prices -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    """The price of one sat on a day: the rate locked for a settled payment."""

    date: str
    per_sat: Decimal
    currency: str


def prices(requests: Iterable[PaymentRequest], tz: ZoneInfo) -> list[Price]:
    """One price per settlement with a locked rate (fiat per BTC ÷ 10⁸), oldest first;
    repeats of the same day and price are dropped."""
    seen: dict[tuple[str, Decimal, str], datetime] = {}
    for req in requests:
        if req.status == RequestStatus.SETTLED and req.settled_at is not None and \
                req.rate is not None and req.currency:
            key = (local_day(req.settled_at, tz), req.rate.scaleb(-8).normalize(),
                   req.currency)
            seen.setdefault(key, req.settled_at)
    return [Price(d, p, c) for (d, p, c), _ in sorted(seen.items(), key=lambda kv: kv[1])]


def price_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def known_requests(transfers: Iterable[Transfer]) -> list[str]:
    return sorted({t.request for t in transfers if t.request})


def by_id(items: Iterable[Any]) -> Mapping[str, Any]:
    return {x.id: x for x in items}
