"""``cloudlease wallet show``: addresses handed out and what they received."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudlease.cli.common import STATE, Result, YesOpt, command, confirm, ctx
from cloudlease.core.errors import BadValue

app = typer.Typer(help="The receiving wallet.", no_args_is_help=True)


@command(app, "show")
def show(reveal: Annotated[bool, typer.Option(
        help="Also print the private keys of a keys wallet (asks to confirm).")] = False,
         yes: Annotated[bool, typer.Option("--yes", help="Confirm --reveal without asking.")
                        ] = False) -> Result:
    """Addresses handed out and what each received; never keys unless asked.

    --reveal prints a keys wallet's private keys: it asks first at a terminal and needs
    --yes anywhere else.

    Example: cloudlease wallet show
    """
    from cloudlease.ops import wallet

    c = ctx()
    data, notes = wallet.show(c)
    if reveal:
        if c.settings.wallet_kind != "keys":
            raise BadValue("a descriptor wallet holds no private keys to reveal")
        if STATE.json_mode:
            raise BadValue("--reveal never prints keys as JSON; run it without --json")
        confirm("Print private keys to this terminal?", yes,
                "printing private keys (--reveal)")
        data["keys"] = wallet.reveal(c)
    return Result(data, "wallet", notes=notes)


@command(app, "sweep")
def sweep(
    to: Annotated[str, typer.Option("--to", help="Your address to move the funds to.",
                                    metavar="<address>")],
    fee_rate: Annotated[str | None, typer.Option(
        help="Fee rate in sat/vB (default 2 on regtest; required elsewhere).",
        metavar="<decimal>")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Sign and show; do not send.")
                       ] = False,
    yes: YesOpt = False,
) -> Result:
    """Move everything the keys wallet received to one address (RBF-enabled).

    Asks first at a terminal (showing amount and fee); needs --yes elsewhere. --dry-run
    signs and shows the transaction without sending it.

    Example: cloudlease wallet sweep --to bcrt1q... --fee-rate 2 --yes
    """
    from cloudlease.ops.wallet import sweep as do_sweep

    c = ctx()
    if not dry_run and not yes:  # sign first: what would refuse anyway does, and the
        plan = do_sweep(c, to, fee_rate, dry_run=True)  # question shows what is sent
        confirm(f"Send {plan.output_sats:,} sat to {plan.to} (fee {plan.fee_sats:,} sat, "
                f"{plan.inputs} output(s))?", yes, "sending a sweep")
    s = do_sweep(c, to, fee_rate, dry_run=dry_run)
    return Result({"txid": s.txid, "to": s.to, "inputs": s.inputs, "input_sats": s.input_sats,
                   "output_sats": s.output_sats, "fee_sats": s.fee_sats,
                   "broadcast": s.broadcast, "raw_hex": s.raw_hex,
                   "transfer": s.transfer}, "sweep")
