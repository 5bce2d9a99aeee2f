"""``pay refund``: money going back to a payer, booked off what is owed to them.

What may go back is ``books.refund_due``: the confirmed money no promise is kept for (an
overpaid surplus; all of it on an expired, invalid or cancelled request), less refunds
already made. A keys wallet signs the refund itself and sends it through the chain
backend (change to a fresh wallet address, the mining fee on the operator:
``expenses:fees:mining``). A descriptor wallet holds no keys: the operator sends the
refund from the wallet that does and records it here with its ``--txid`` and the fee
that wallet paid (``--fee-sats``), so the books still match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudlease.core import books, clock
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.core.lifecycle import with_refund
from cloudlease.ledger.session import Ledger
from cloudlease.model import PaymentRequest, Transfer, TransferKind, TransferStatus
from cloudlease.ops.context import Context

_TXID = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Refund:
    """What ``pay refund`` did: the transfer (None for a dry run), the request after it,
    what is still due, and the signed transaction (a dry run shows it)."""

    transfer: Transfer | None
    request: PaymentRequest
    due_after: int
    raw_hex: str | None
    sent: bool


def refund(ctx: Context, request_id: str, *, to: str | None = None, sats: int | None = None,
           fee_rate: str | None = None, txid: str | None = None, fee_sats: int | None = None,
           dry_run: bool = False) -> Refund:
    settings = ctx.settings
    ledger = ctx.read()
    req = ledger.request(request_id)
    tenant = _payer(ledger, req)
    to = _destination(ctx, ledger, req, tenant, to)
    amount = _amount(req, sats)
    if settings.wallet_kind != "keys":
        return _record(ctx, req, tenant, to, amount, txid, fee_sats, dry_run)
    if txid is not None or fee_sats is not None:
        raise BadValue("the keys wallet signs and sends refunds itself: --txid and "
                       "--fee-sats are for a descriptor wallet's refund made elsewhere")
    return _send(ctx, req, tenant, to, amount, fee_rate, dry_run)


def _payer(ledger: Ledger, req: PaymentRequest) -> str | None:
    lease = ledger.leases.get(req.lease) if req.lease else None
    return lease.tenant if lease is not None else req.tenant


def _destination(ctx: Context, ledger: Ledger, req: PaymentRequest, tenant: str | None,
                 to: str | None) -> str:
    from cloudlease.bitcoin.address import validate_address

    if to is None:
        record = ledger.tenants.get(tenant) if tenant else None
        if record is None or not record.refund_address:
            raise BadValue(f"give --to ADDRESS: {req.id}'s payer has no refund address on "
                           "file")
        to = record.refund_address
    return validate_address(to.strip(), ctx.settings.network)


def _amount(req: PaymentRequest, sats: int | None) -> int:
    due = books.refund_due(req)
    if due <= 0:
        raise Conflict(f"nothing to refund on {req.id}: {_why_nothing(req)}")
    if sats is None:
        return due
    if sats <= 0:
        raise BadValue(f"--sats must be a positive whole number, got {sats}")
    if sats > due:
        raise Conflict(f"only {due:,} sat can go back on {req.id}, not {sats:,}")
    return sats


def _why_nothing(req: PaymentRequest) -> str:
    if req.refunded_sats:
        return f"{req.refunded_sats:,} sat already went back"
    if req.confirmed_sats == 0:
        return "no confirmed payment reached it"
    return (f"it is {req.status.value} and its {req.confirmed_sats:,} sat pay for what it "
            "asked")


def _reserve(req_id: str, sats: int):
    def reserve(ledger: Ledger) -> None:
        req = ledger.request(req_id)
        due = books.refund_due(req)
        if sats > due:  # another refund got there first
            raise Conflict(f"only {due:,} sat can go back on {req.id} now, not {sats:,}")
        ledger.requests[req.id] = with_refund(req.replace(
            refunded_sats=req.refunded_sats + sats))
    return reserve


def _send(ctx: Context, req: PaymentRequest, tenant: str | None, to: str, amount: int,
          fee_rate: str | None, dry_run: bool) -> Refund:
    from cloudlease.bitcoin.backends import make_backend
    from cloudlease.bitcoin.keystore import KeyStore
    from cloudlease.bitcoin.spend import pay_transaction
    from cloudlease.ops.books import wallet_addresses
    from cloudlease.ops.transfers import _refund_release, retry_pending, send
    from cloudlease.ops.wallet import parse_fee_rate

    settings = ctx.settings
    rate = parse_fee_rate(fee_rate, settings.network)
    addresses = wallet_addresses(ctx.read())
    backend = make_backend(settings, ctx.home)
    try:
        if not dry_run:
            retry_pending(ctx, backend)
        utxos = [u for found in backend.unspent(addresses).values() for u in found]
        store = KeyStore(ctx.home.keys)
        with ctx.transaction(f"pay refund {req.id}: change key"):
            change, _ = store.new_key(settings.network)  # under the lock rents take
        store.load()
        keys = [store.wif_for(a) for a in sorted({u.address for u in utxos})]
        spend = pay_transaction(keys, utxos, to=to, sats=amount, change_address=change,
                                fee_rate=rate, network=settings.network, prefer=[req.address])
        if dry_run:
            return Refund(None, req, books.refund_due(req), spend.raw_hex, False)
        if spend.change_address:
            backend.watch([spend.change_address])  # a node must know it before it is paid
        t = Transfer(id="T-0", kind=TransferKind.REFUND, status=TransferStatus.PENDING,
                     created_at=clock.now(), txid=spend.txid, to_address=to, sats=amount,
                     fee_sats=spend.fee_sats, input_sats=spend.input_sats,
                     inputs=spend.inputs, change_address=spend.change_address,
                     change_sats=spend.change_sats, request=req.id, tenant=tenant,
                     raw_hex=spend.raw_hex)
        t = send(ctx, backend, t, reserve=_reserve(req.id, amount),
                 release=_refund_release(t))
    finally:
        getattr(backend, "close", lambda: None)()
    after = ctx.read().request(req.id)
    return Refund(t, after, books.refund_due(after), spend.raw_hex, True)


def _record(ctx: Context, req: PaymentRequest, tenant: str | None, to: str, amount: int,
            txid: str | None, fee_sats: int | None, dry_run: bool) -> Refund:
    if txid is None:
        raise BadValue("a descriptor wallet holds no keys here: send the refund from the "
                       "wallet that does, then record it with --txid TXID --fee-sats N")
    txid = txid.strip().lower()
    if not _TXID.match(txid):
        raise BadValue(f"--txid must be a transaction id (64 hex digits), got {txid!r}")
    if fee_sats is None:
        raise BadValue("give --fee-sats: the mining fee your wallet paid for the refund "
                       "(0 if it came out of the amount sent)")
    if fee_sats < 0:
        raise BadValue(f"--fee-sats must not be negative, got {fee_sats}")
    t = Transfer(id="T-0", kind=TransferKind.REFUND, status=TransferStatus.SENT,
                 created_at=clock.now(), txid=txid, to_address=to, sats=amount,
                 fee_sats=fee_sats, request=req.id, tenant=tenant, recorded=True)
    if dry_run:
        return Refund(None, req, books.refund_due(req), None, False)
    with ctx.transaction(f"pay refund {req.id}") as ledger:
        if ledger.transfers.recorded(txid, req.id):
            raise Conflict(f"refund {txid} of {req.id} is already recorded")
        _reserve(req.id, amount)(ledger)
        t = t.replace(id=ledger.next_id("transfer"))
        ledger.transfers[t.id] = t
        after = ledger.requests[req.id]
    return Refund(t, after, books.refund_due(after), None, True)
