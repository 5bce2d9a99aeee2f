"""The simulated regtest chain and its simulated Lightning node, for demos, CI and fault
drills (``cloudlease devchain ...``): pay a request or an address, pay an invoice, mine,
reorg, replace a transaction, and serve the Esplora API on loopback.

Only a home on regtest has a devchain (``BadValue``, exit 2, otherwise); the chain is
``devchain.json`` in the home and the node ``devchain-ln.json``. Nothing here touches the
ledger but to read the request a payment is aimed at: the next ``tick`` sees the money as
it would see a real chain's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudlease.core.errors import BadValue
from cloudlease.ops.context import Context

if TYPE_CHECKING:
    from cloudlease.bitcoin.devchain import Devchain
    from cloudlease.model.lightning import LnStatus


def ensure(ctx: Context) -> None:
    """Refuse a home that is not on regtest: only regtest is simulated."""
    if ctx.settings.network != "regtest":
        raise BadValue(f"devchain simulates regtest only; this home is on {ctx.settings.network}")


def chain(ctx: Context) -> Devchain:
    """The home's simulated chain (regtest homes only)."""
    ensure(ctx)
    from cloudlease.bitcoin.devchain import Devchain

    return Devchain(ctx.home.devchain)


def _is_request(target: str) -> bool:
    """A request id, or an attempt at one (``P-3``, ``P3``, ``p--3``, ``3``: read strictly,
    so a wrong form is told the right one); never a regtest address (bcrt1, m, n, 2)."""
    t = target.strip()
    return t[:1] in ("P", "p") or t.isdigit()


def pay(ctx: Context, target: str, sats: int | None = None, *, rbf: bool = False
        ) -> tuple[str, str, int]:
    """Pay a request (``P-3``: its address, by default what it still needs) or an address
    (``sats`` required) with a mempool transaction; returns (txid, address, sats)."""
    from cloudlease.bitcoin.address import validate_address

    dev = chain(ctx)
    if _is_request(target):
        req = ctx.read().request(target)
        address = req.address
        if address is None:
            raise BadValue(f"request {req.id} is paid over Lightning only (it has no address): "
                           f"cloudlease devchain ln-pay {req.id}")
        if sats is None:
            sats = max(req.amount_sats - req.paid_sats, 1)
    else:
        address = validate_address(target, "regtest")
        if sats is None:
            raise BadValue("paying an address needs --sats")
    return dev.pay(address, sats, rbf=rbf), address, sats


def ln_pay(ctx: Context, target: str, msat: int | None = None) -> LnStatus:
    """Pay an invoice of the simulated node (a request's, or a BOLT11 invoice or payment
    hash) as a customer's wallet would; refused as a real node refuses (expired,
    cancelled, already paid, a wrong amount)."""
    ensure(ctx)
    backend = ctx.settings.lightning.backend
    if backend != "devchain":
        raise BadValue(f"this home's Lightning backend is {backend}, not the simulated node: "
                       "pay with a real Lightning wallet")
    invoice = target
    if _is_request(target):
        req = ctx.read().request(target)
        if not req.ln_invoice:
            raise BadValue(f"request {req.id} has no Lightning invoice (it was made with "
                           "--method onchain): cloudlease devchain pay " + req.id)
        invoice = req.ln_invoice
    from cloudlease.lightning.devnode import DevNode

    return DevNode(ctx.home.path / "devchain-ln.json").pay(invoice, amount_msat=msat)


def mine(ctx: Context, blocks: int = 1) -> tuple[list[str], int]:
    """Mine blocks (the first takes every mempool transaction); (block hashes, height)."""
    dev = chain(ctx)
    hashes = dev.mine(blocks)
    return hashes, dev.tip_height()


def reorg(ctx: Context, depth: int = 1) -> tuple[list[str], int]:
    """Disconnect the last blocks (their transactions go back to the mempool);
    (disconnected hashes, height)."""
    dev = chain(ctx)
    gone = dev.reorg(depth)
    return gone, dev.tip_height()


def replace(ctx: Context, txid: str, *, sats: int | None = None, to: str | None = None
            ) -> str:
    """Replace an unconfirmed transaction, paying ``sats`` instead or paying ``to`` (one
    of them); returns the new txid."""
    if (sats is None) == (to is None):
        raise BadValue("give exactly one of --sats and --to")
    from cloudlease.bitcoin.address import validate_address

    dev = chain(ctx)
    return dev.replace(txid, sats=sats, to=validate_address(to, "regtest") if to else None)


def server(ctx: Context, *, host: str = "127.0.0.1", port: int = 0) -> Any:
    """An Esplora API server for the chain, bound on a loopback ``host`` (port 0: a free
    one; see ``server.url``), not yet serving: call ``serve_forever()``, then
    ``server_close()``."""
    ensure(ctx)
    from cloudlease.bitcoin.devserver import serve

    return serve(ctx.home.devchain, host=host, port=port)
