"""Shell completion of values: plans, tenants, pools, lease and request ids, events,
invoices, and the fixed choices (``--method``, ``--format``, ``--status``...).

Each parameter gets a completer by its name (and its command), attached when the command
is built (``attach``). Names and ids come from the ledger through ``ops.completion``: a
read, never the writer lock, never a home created, and nothing printed on failure (a
missing home or a broken ledger completes nothing). Fixed choices cost no ledger at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# fixed choices by option name (and, where it differs, by command)
CHOICES: dict[str, tuple[str, ...]] = {
    "method": ("onchain", "lightning", "both"),
    "kind": ("investment", "donation"),
    "consideration": ("revenue_share", "ownership", "fixed_return"),
    "network": ("mainnet", "testnet", "testnet4", "signet", "regtest"),
    "backend": ("devchain", "esplora", "bitcoind"),
    "lightning": ("none", "devchain", "electrum", "lnd"),
}
FORMATS: dict[str, tuple[str, ...]] = {
    "export": ("csv", "hledger", "beancount", "json"),
    "show": ("table", "json", "md", "html"),  # invoice show
    "dump": ("toml", "json"),  # ledger dump
}
STATUSES: dict[str, tuple[str, ...]] = {
    "lease": ("awaiting_payment", "active", "suspended", "ended", "expired", "cancelled"),
    "pay": ("new", "processing", "settled", "expired", "invalid"),
}
# ledger values: (parameter name, command) → what (command None: any command)
VALUES: dict[tuple[str, str | None], str] = {
    ("plan", None): "plans", ("tenant", None): "tenants", ("pool", None): "pools",
    ("lease_id", None): "leases", ("lease", None): "leases", ("request_id", None): "requests",
    ("ids", "check"): "requests", ("target", "pay"): "requests", ("target", "ln-pay"): "requests",
    ("event_id", None): "events", ("ref", None): "invoices",
}
NAMED = {"tenant": "tenants", "pool": "pools"}  # NAME arguments of these groups


def _fixed(values: tuple[str, ...]) -> Callable:
    def complete(ctx: Any, param: Any, incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


def _from_ledger(what: str) -> Callable:
    def complete(ctx: Any, param: Any, incomplete: str) -> list[str]:
        try:
            from cloudlease.ops.completion import values

            return values(_home(ctx), what, incomplete)
        except Exception:  # completion never fails aloud  # noqa: BLE001
            return []

    return complete


def _home(ctx: Any) -> str | None:
    """--home from the command line (this command's or the root's), else None (then
    $CLOUDLEASE_HOME or the default home, if it exists)."""
    while ctx is not None:
        home = ctx.params.get("home_opt") or ctx.params.get("home")
        if home:
            return str(home)
        ctx = ctx.parent
    return None


def completer(group: str | None, command: str, param: str) -> Callable | None:
    if param == "status" and group in STATUSES:
        return _fixed(STATUSES[group])
    if param == "fmt":
        return _fixed(FORMATS.get(command, ()))
    if param in CHOICES:
        return _fixed(CHOICES[param])
    what = VALUES.get((param, command)) or VALUES.get((param, None))
    if what is None and param == "name" and group in NAMED and command != "add":
        what = NAMED[group]
    return _from_ledger(what) if what else None


def attach(command: Any, group: str | None = None) -> None:
    """Give every parameter under ``command`` its completer (where there is one)."""
    subs = getattr(command, "commands", {})
    for param in getattr(command, "params", ()):
        fn = completer(group, command.name or "", param.name or "")
        if fn is not None and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = fn
    for name, sub in subs.items():
        attach(sub, command.name if subs else group)
        sub.name = sub.name or name
