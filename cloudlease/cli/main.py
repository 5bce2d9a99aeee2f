"""The ``cloudlease`` app: global options, and the commands, loaded when asked for.

A cron job runs one command; building all forty of them (importing their modules and
turning their signatures into Click parameters) would cost it more than the command
itself. So the root group knows only the command names and where each lives, and
imports a module when its command is asked for (``--help`` and completion ask for all).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudlease import __version__
from cloudlease.cli.common import STATE, HomeOpt, JsonOpt, LockOpt, RootGroup, harden
from cloudlease.cli.complete import attach
from cloudlease.cli.helpfmt import HelpContext, plain_help

# name → (module, what): a Typer sub-app (``app``) or the function that registers the
# module's top-level commands on a Typer
GROUPS = {
    "tenant": "cloudlease.cli.tenant",
    "plan": "cloudlease.cli.plan",
    "lease": "cloudlease.cli.lease",
    "pool": "cloudlease.cli.pool",
    "pay": "cloudlease.cli.pay",
    "invoice": "cloudlease.cli.invoice",
    "wallet": "cloudlease.cli.wallet",
    "devchain": "cloudlease.cli.devchain",
    "ledger": "cloudlease.cli.ledger",
    "hooks": "cloudlease.cli.hooks",
}
TOP_LEVEL = {
    "init": ("cloudlease.cli.admin", "register"),
    "verify": ("cloudlease.cli.admin", "register"),
    "rent": ("cloudlease.cli.lease", "register_top_level"),
    "tick": ("cloudlease.cli.pay", "register"),
    "watch": ("cloudlease.cli.pay", "register"),
    "risk": ("cloudlease.cli.pool", "register"),
    "payout": ("cloudlease.cli.pool", "register"),
    "export": ("cloudlease.cli.invoice", "register"),
    "serve": ("cloudlease.cli.serve", "register"),
}


class LazyRoot(RootGroup):
    """The root group: commands are imported and built on first use."""

    context_class = HelpContext  # --help wraps between words only (cli/helpfmt.py)

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted({*GROUPS, *TOP_LEVEL, *self.commands})

    def get_command(self, ctx: Any, name: str) -> Any:
        if name not in self.commands:
            command = _load(name)
            if command is None:
                return None
            harden(command)
            plain_help(command)
            attach(command)  # completion of values (cli/complete.py)
            self.commands[name] = command
        return self.commands[name]


def _load(name: str) -> Any:
    from typer.main import get_command

    if name in GROUPS:
        sub = importlib.import_module(GROUPS[name]).app
        command = get_command(sub)
        command.name = name
        return command
    if name in TOP_LEVEL:
        module, register = TOP_LEVEL[name]
        holder = typer.Typer()
        getattr(importlib.import_module(module), register)(holder)
        for info in holder.registered_commands:
            if info.name == name:
                lone = typer.Typer()
                lone.registered_commands.append(info)
                return get_command(lone)
    return None


app = typer.Typer(
    name="cloudlease",
    cls=LazyRoot,  # usage errors as one line or the JSON error document, exit 2
    help="Rent out compute by the hour for Bitcoin.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion: the root's only
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # Click's help, whole words (cli/helpfmt.py), not Rich's table
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
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Rent out compute by the hour for Bitcoin: price, request, verify, activate."""
    STATE.reset(home=Path(home) if home else None, json_mode=json_out,
                lock_timeout=lock_timeout)
