"""``wallet sweep``: move what the keys wallet received to an address of the operator's.

The keys wallet is the quick start: its private keys sit on the server. A sweep gathers
every unspent output paying one of its addresses (the backend says which are unspent),
signs one transaction to ``--to`` with embit (bit cannot sign native segwit inputs), and
hands it to the chain backend. ``--dry-run`` signs and shows it without broadcasting.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cloudlease import clock
from cloudlease.context import Context
from cloudlease.errors import BadValue


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


def sweep(ctx: Context, to: str, fee_rate: str | None = None, *, dry_run: bool = False
          ) -> Sweep:
    from cloudlease.bitcoin.address import validate_address
    from cloudlease.bitcoin.backends import make_backend
    from cloudlease.bitcoin.keystore import KeyStore, sweep_transaction

    settings = ctx.settings
    if settings.wallet_kind != "keys":
        raise BadValue("a descriptor wallet holds no keys here: sweep it from the wallet that "
                       "holds its private keys")
    to = validate_address(to.strip(), settings.network)
    if fee_rate is None:
        if settings.network != "regtest":
            raise BadValue("give --fee-rate (sat/vB): check the current rate first")
        rate = Decimal(2)
    else:
        from cloudlease.validate import number

        rate = number(fee_rate, "--fee-rate", low=1, high=100_000,
                      expect="a fee rate of at least 1 sat/vB (at most 100000)")
    ledger = ctx.read()
    addresses = sorted({r.address for r in ledger.requests.where(
        "wallet = 'keys' AND paid_sats > 0")})
    if not addresses:
        raise BadValue("nothing to sweep: no keys-wallet address has received a payment")
    backend = make_backend(settings, ctx.home)
    try:
        utxos = [u for found in backend.unspent(addresses).values() for u in found]
        if not utxos:
            raise BadValue("nothing to sweep: every output received was already spent")
        store = KeyStore(ctx.home.keys).load()
        keys = [store.wif_for(a) for a in sorted({u.address for u in utxos})]
        raw = sweep_transaction(keys, to, rate, utxos, network=settings.network)
        from embit.transaction import Transaction

        tx = Transaction.from_string(raw)
        total_in = sum(u.sats for u in utxos)
        total_out = sum(o.value for o in tx.vout)
        txid = None if dry_run else backend.broadcast(raw)
    finally:
        getattr(backend, "close", lambda: None)()
    result = Sweep(txid or tx.txid().hex(), raw, len(utxos), total_in, total_out,
                   total_in - total_out, to, not dry_run)
    if not dry_run:
        import json

        from cloudlease.model import Meta

        with ctx.transaction(f"wallet sweep {result.txid}") as led:
            led.meta["last_sweep"] = Meta(key="last_sweep", value=json.dumps(
                {"txid": result.txid, "to": to, "at": clock.now().isoformat(),
                 "sats": total_out, "inputs": len(utxos)}, sort_keys=True))
    return result
