"""``wallet sweep``: move what the keys wallet received to an address of the operator's.

The keys wallet is the quick start: its private keys sit on the server. A sweep gathers
every unspent output paying one of its addresses (those of paid requests and the change
of refunds; the backend says which are unspent), signs one transaction to ``--to`` with
embit (bit cannot sign native segwit inputs), records it (a ``Transfer``: txid, inputs,
output, fee; booked to ``assets:swept`` and ``expenses:fees:mining``) and hands it to the
chain backend. ``--dry-run`` signs and shows it without recording or broadcasting.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudlease.core import clock
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.model import Transfer, TransferKind, TransferStatus
from cloudlease.ops.context import Context


@dataclass
class Sweep:
    txid: str | None
    raw_hex: str
    inputs: int
    input_sats: int
    output_sats: int
    fee_sats: int
    to: str
    broadcast: bool
    transfer: str | None = None  # the Transfer record that books it


def show(ctx: Context) -> tuple[dict[str, Any], list[str]]:
    """What ``wallet show`` reports, and notes for the operator: the wallet, every address
    handed out (oldest first) with what it received, the gap-limit exposure of a descriptor
    wallet, and the keystore's health. Never a key (``reveal`` gives those)."""
    from cloudlease.bitcoin.keyfile import health
    from cloudlease.ops.payment_requests import gap_warning, unpaid_tail

    ledger = ctx.read()
    s = ctx.settings
    rows = [{"address": r.address, "request": r.id, "lease": r.lease, "status": r.status,
             "amount_sats": r.amount_sats, "received_sats": r.paid_sats,
             "index": r.address_index}
            for r in ledger.requests.with_address()]
    data = {"kind": s.wallet_kind, "network": s.network,
            "descriptor": s.descriptor or None,
            "next_index": ledger.counter("address_index") if s.wallet_kind == "descriptor"
            else None,
            "gap_limit": s.gap_limit, "unpaid_in_a_row": unpaid_tail(ledger),
            "received_sats": sum(r["received_sats"] for r in rows), "addresses": rows}
    data["keystore"] = health(ctx.home.keys, expected=s.wallet_kind == "keys" and bool(rows))
    notes = [w for w in [gap_warning(ctx, ledger, exact=True), data["keystore"]["problem"]]
             if w]
    return data, notes


def reveal(ctx: Context) -> list[dict[str, str]]:
    """The private keys of a keys wallet: ``{address, wif}`` for each. Faces must ask the
    operator first and never put them in machine-readable output."""
    if ctx.settings.wallet_kind != "keys":
        raise BadValue("a descriptor wallet holds no private keys to reveal")
    from cloudlease.bitcoin.keystore import KeyStore

    store = KeyStore(ctx.home.keys).load()
    return [{"address": a, "wif": store.wif_for(a)} for a in store.addresses()]


def parse_fee_rate(fee_rate: str | None, network: str) -> Decimal:
    """``--fee-rate`` in sat/vB: required off regtest (2 there by default)."""
    if fee_rate is None:
        if network != "regtest":
            raise BadValue("give --fee-rate (sat/vB): check the current rate first")
        return Decimal(2)
    from cloudlease.core.validate import number

    return number(fee_rate, "--fee-rate", low=1, high=100_000,
                  expect="a fee rate of at least 1 sat/vB (at most 100000)")


def sweep(ctx: Context, to: str, fee_rate: str | None = None, *, dry_run: bool = False
          ) -> Sweep:
    from cloudlease.bitcoin.address import validate_address
    from cloudlease.bitcoin.backends import make_backend
    from cloudlease.bitcoin.keystore import KeyStore
    from cloudlease.bitcoin.sweep import sweep_transaction

    settings = ctx.settings
    if settings.wallet_kind != "keys":
        raise BadValue("a descriptor wallet holds no keys here: sweep it from the wallet that "
                       "holds its private keys")
    to = validate_address(to.strip(), settings.network)
    rate = parse_fee_rate(fee_rate, settings.network)
    from cloudlease.ops.books import wallet_addresses
    from cloudlease.ops.transfers import retry_pending, send

    addresses = wallet_addresses(ctx.read())
    if not addresses:
        raise Conflict("nothing to sweep: no keys-wallet address has received a payment")
    backend = make_backend(settings, ctx.home)
    try:
        if not dry_run:
            retry_pending(ctx, backend)
        utxos = [u for found in backend.unspent(addresses).values() for u in found]
        if not utxos:
            raise Conflict("nothing to sweep: every output received was already spent")
        store = KeyStore(ctx.home.keys).load()
        keys = [store.wif_for(a) for a in sorted({u.address for u in utxos})]
        raw = sweep_transaction(keys, to, rate, utxos, network=settings.network)
        from embit.transaction import Transaction

        tx = Transaction.from_string(raw)
        total_in = sum(u.sats for u in utxos)
        total_out = sum(o.value for o in tx.vout)
        txid = tx.txid().hex()
        transfer = None
        if not dry_run:
            transfer = send(ctx, backend, Transfer(
                id="T-0", kind=TransferKind.SWEEP, status=TransferStatus.PENDING,
                created_at=clock.now(), txid=txid, to_address=to, sats=total_out,
                fee_sats=total_in - total_out, input_sats=total_in,
                inputs=tuple(f"{u.txid}:{u.vout}" for u in utxos), raw_hex=raw))
    finally:
        getattr(backend, "close", lambda: None)()
    return Sweep(txid, raw, len(utxos), total_in, total_out, total_in - total_out, to,
                 not dry_run, transfer.id if transfer else None)
