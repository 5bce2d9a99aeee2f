"""``cloudlease init`` and ``cloudlease verify``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cloudlease.cli.common import STATE, Result, YesOpt, command, confirm, ctx
from cloudlease.core.errors import ExitCode


def init(
    network: Annotated[str, typer.Option(
        help="mainnet, testnet, testnet4, signet or regtest.",
        metavar="[mainnet|testnet|testnet4|signet|regtest]")] = "regtest",
    currency: Annotated[str, typer.Option(help="Fiat currency for prices.",
                                          metavar="<code>")] = "USD",
    descriptor: Annotated[str | None, typer.Option(
        help="Watch-only output descriptor for receiving addresses.")] = None,
    xpub: Annotated[str | None, typer.Option(
        help="Watch-only xpub/ypub/zpub/tpub/upub/vpub instead of a descriptor.")] = None,
    backend: Annotated[str | None, typer.Option(
        help="devchain, esplora or bitcoind (default: devchain on regtest, else esplora).",
        metavar="[devchain|esplora|bitcoind]")
    ] = None,
    esplora_url: Annotated[list[str] | None, typer.Option(
        help="Esplora base URL; repeat to give fallbacks.", metavar="<url>")] = None,
    rpc_url: Annotated[str | None, typer.Option(help="bitcoind JSON-RPC URL.",
                                                metavar="<url>")] = None,
    fixed_rate: Annotated[str | None, typer.Option(
        help="Fixed fiat-per-BTC rate to price fiat plans with.", metavar="<decimal>")] = None,
    force: Annotated[bool, typer.Option(
        help="Start an existing home afresh (refused unless its ledger is provably empty).")
    ] = False,
    ledger_url: Annotated[str | None, typer.Option(
        "--ledger-url", help="A postgresql:// URL: keep the ledger there, shared by several "
        "hosts (a second host attaches to it). Default: ledger.db in the home.",
        metavar="<url>")] = None,
    lightning: Annotated[str | None, typer.Option(
        "--lightning", metavar="[none|devchain|electrum|lnd]",
        help="Lightning node: none, devchain (simulated, regtest), electrum or lnd (default: "
        "devchain on regtest with the devchain backend, else none).")] = None,
    ln_url: Annotated[str | None, typer.Option(
        "--ln-url", help="electrum: http://user:password@host:port; lnd: https://host:8080.",
        metavar="<url>")] = None,
    ln_macaroon: Annotated[str | None, typer.Option(
        "--ln-macaroon", metavar="PATH", help="lnd: an invoice macaroon file (mode 0600).")
    ] = None,
    ln_tls_cert: Annotated[str | None, typer.Option(
        "--ln-tls-cert", metavar="PATH", help="lnd: the node's tls.cert, pinned.")] = None,
    yes: YesOpt = False,
) -> Result:
    """Create a cloudlease home: config.toml (yours to edit) and an empty ledger.

    --force starts an existing home afresh only when its ledger is provably empty, and
    asks first at a terminal (--yes elsewhere).

    Example: cloudlease init --network testnet --xpub vpub5Y...
    """
    import os

    from cloudlease.ops.context import default_home
    from cloudlease.ops.home import check_reinit, holds_home
    from cloudlease.ops.home import init as do_init

    path = Path(STATE.home or os.environ.get("CLOUDLEASE_HOME") or default_home()).expanduser()
    if force and holds_home(path):
        check_reinit(path)  # refuse before asking
        confirm(f"Start {path} afresh? Its config.toml is rewritten and its (empty) ledger "
                "made anew.", yes, f"init --force on {path}")
    res = do_init(path, network=network, currency=currency,
                  descriptor=descriptor, xpub=xpub, backend=backend, esplora_urls=esplora_url,
                  rpc_url=rpc_url, fixed_rate=fixed_rate, force=force, ledger_url=ledger_url,
                  lock_timeout=STATE.lock_timeout or 5.0, lightning=lightning, ln_url=ln_url,
                  ln_macaroon=ln_macaroon, ln_tls_cert=ln_tls_cert)
    return Result({"home": res.home, "network": res.network, "wallet": res.wallet,
                   "backend": res.backend, "lightning": res.lightning,
                   "starter_plan": res.starter_plan,
                   "ledger": res.ledger, "ledger_id": res.ledger_id,
                   "attached": res.attached}, "init")


def verify(full: Annotated[bool, typer.Option(
        "--full", help="Walk the whole audit chain and hash every row, not only what "
        "changed since the last clean run.")] = False) -> Result:
    """Check the ledger against its audit chain and its invariants.

    Exit 5 if anything is wrong. A clean run records a checkpoint; the next run starts
    from there (--full: from the start).

    Example: cloudlease verify --full
    """
    from cloudlease.ops.verify import verify as do_verify

    report = do_verify(ctx(), full=full)
    data = {"ok": report.ok, "problems": report.problems, "notes": report.notes,
            "full": report.full, "engine": report.engine,
            "audit_entries": report.audit_entries, "checked_from": report.checked_from,
            "rows_checked": report.rows_checked, "leases": report.leases,
            "head_hash": report.head_hash}
    return Result(data, "verify", exit_code=0 if report.ok else int(ExitCode.LEDGER))


def register(root: typer.Typer) -> None:
    command(root, "init")(init)
    command(root, "verify")(verify)
