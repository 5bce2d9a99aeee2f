"""``cloudlease devchain pay|ln-pay|mine|reorg|replace|serve``: the simulated regtest chain
and its simulated Lightning node (``ops/devchain.py``)."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudlease.cli.common import STATE, Result, command, ctx
from cloudlease.core.errors import BadValue

app = typer.Typer(help="The simulated regtest chain, for demos, CI and fault drills.",
                  no_args_is_help=True)


def _own_chain(c) -> list[str]:
    """On a shared ledger, say that the simulated chain and node are this host's alone."""
    if not c.ledger_url:
        return []
    return ["the simulated chain and Lightning node are this host's own (devchain.json): "
            "the other hosts on the shared ledger never see this payment; tick here"]


def _sats(text: str | None) -> int | None:
    if text is None:
        return None
    from cloudlease.core.money import parse_amount

    value = parse_amount(text, what="--sats")
    if not isinstance(value, int):
        raise BadValue("--sats takes sats or BTC, not fiat")
    return value


@command(app, "pay")
def pay(
    target: Annotated[str, typer.Argument(metavar="ADDRESS|REQUEST",
                                          help="An address, or a request id to pay in full.")],
    sats: Annotated[str | None, typer.Option(help="Amount (default: what the request still "
                                             "needs).", metavar="<amount>")] = None,
    rbf: Annotated[bool, typer.Option(help="Signal replace-by-fee.")] = False,
) -> Result:
    """Pay an address or a payment request (a mempool transaction).

    Example: cloudlease devchain pay P-1 --sats 500
    """
    from cloudlease.ops import devchain

    c = ctx()
    devchain.ensure(c)
    txid, address, amount = devchain.pay(c, target, _sats(sats), rbf=rbf)
    return Result({"txid": txid, "address": address, "sats": amount, "rbf": rbf,
                   "message": f"[simulated] sent {amount:,} sat to {address} in {txid}"},
                  notes=_own_chain(c))


@command(app, "ln-pay")
def ln_pay(
    target: Annotated[str, typer.Argument(
        metavar="REQUEST|BOLT11", help="A request id (its invoice), an invoice or its hash.")],
    msat: Annotated[int | None, typer.Option(
        help="Pay this many msat (default: the invoice's amount; the node refuses less, or "
        "more than twice it).")] = None,
) -> Result:
    """Pay an invoice of the simulated Lightning node, as a customer's wallet would.

    It refuses an expired, cancelled or paid invoice, or a wrong amount, as a real node
    does.

    Example: cloudlease devchain ln-pay P-1
    """
    from cloudlease.ops import devchain

    c = ctx()
    paid = devchain.ln_pay(c, target, msat)
    return Result({"payment_hash": paid.payment_hash, "paid_msat": paid.amount_paid_msat,
                   "settled_at": paid.settled_at, "preimage": paid.preimage,
                   "message": f"[simulated] paid {paid.amount_paid_msat:,} msat over Lightning "
                              f"(payment hash {paid.payment_hash[:16]}…, preimage "
                              f"{paid.preimage})"}, notes=_own_chain(c))


@command(app, "mine")
def mine(blocks: Annotated[int, typer.Argument(help="Blocks to mine.", min=1, max=10_000)] = 1
         ) -> Result:
    """Mine blocks (the first takes every mempool transaction).

    Example: cloudlease devchain mine 6
    """
    from cloudlease.ops import devchain

    hashes, height = devchain.mine(ctx(), blocks)
    return Result({"blocks": hashes, "height": height,
                   "message": f"[simulated] mined {len(hashes)} block(s); height {height}"})


@command(app, "reorg")
def reorg(depth: Annotated[int, typer.Argument(help="Blocks to disconnect.", min=1)] = 1
          ) -> Result:
    """Disconnect the last blocks; their transactions return to the mempool.

    Example: cloudlease devchain reorg 1
    """
    from cloudlease.ops import devchain

    gone, height = devchain.reorg(ctx(), depth)
    return Result({"disconnected": gone, "height": height,
                   "message": f"[simulated] disconnected {len(gone)} block(s); height {height}"})


@command(app, "replace")
def replace(
    txid: Annotated[str, typer.Argument(help="An unconfirmed transaction.")],
    sats: Annotated[str | None, typer.Option(help="Pay this much instead.",
                                             metavar="<amount>")] = None,
    to: Annotated[str | None, typer.Option(help="Pay this address instead.",
                                           metavar="<address>")] = None,
) -> Result:
    """Replace an unconfirmed transaction (RBF / double-spend drill).

    Example: cloudlease devchain replace TXID --sats 1000
    """
    from cloudlease.ops import devchain

    if (sats is None) == (to is None):
        raise BadValue("give exactly one of --sats and --to")
    c = ctx()
    devchain.ensure(c)
    new = devchain.replace(c, txid, sats=_sats(sats), to=to)
    return Result({"replaced": txid, "txid": new,
                   "message": f"[simulated] {txid} replaced by {new}"})


@command(app, "serve")
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 picks a free one).",
                                      min=0, max=65535)] = 3002,
    host: Annotated[str, typer.Option(help="Loopback address to bind.")] = "127.0.0.1",
) -> Result:
    """Answer the Esplora API for the simulated chain on loopback.

    Runs until Ctrl-C.

    Example: cloudlease devchain serve --port 3002
    """
    import sys

    from cloudlease.ops import devchain

    server = devchain.server(ctx(), host=host, port=port)
    line = f"[simulated] Esplora API for the devchain at {server.url}\n"
    (sys.stderr if STATE.json_mode else sys.stdout).write(line)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return Result({"url": server.url, "message": "stopped"})
