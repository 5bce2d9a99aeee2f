"""The ``cloudlease`` app: global options and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cloudlease import __version__
from cloudlease.cli import admin, devchain, invoice, lease, pay, plan, pool, tenant, wallet
from cloudlease.cli.common import STATE, HomeOpt, JsonOpt, LockOpt, RootGroup

app = typer.Typer(
    name="cloudlease",
    cls=RootGroup,  # usage errors as one line or the JSON error document, exit 2
    help="Rent out compute by the hour for Bitcoin.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cloudlease {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    home: HomeOpt = None,
    json_out: JsonOpt = False,
    lock_timeout: LockOpt = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Rent out compute by the hour for Bitcoin: price, request, verify, activate."""
    STATE.reset(home=Path(home) if home else None, json_mode=json_out,
                lock_timeout=lock_timeout)


app.add_typer(tenant.app, name="tenant")
app.add_typer(plan.app, name="plan")
app.add_typer(lease.app, name="lease")
app.add_typer(pool.app, name="pool")
app.add_typer(pay.app, name="pay")
app.add_typer(invoice.app, name="invoice")
app.add_typer(wallet.app, name="wallet")
app.add_typer(devchain.app, name="devchain")
lease.register_top_level(app)
admin.register(app)
pay.register(app)
pool.register(app)
invoice.register(app)
