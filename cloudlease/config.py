"""``config.toml``: the operator's settings. Written once at ``init`` from a commented
template and never rewritten by the tool; read and checked on every command."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloudlease.errors import BadValue, LedgerError

NETWORKS = ("mainnet", "testnet", "testnet4", "signet", "regtest")
BACKENDS = ("devchain", "esplora", "bitcoind")
HOOK_EVENTS = ("lease_active", "lease_ended", "lease_expired", "payment_processing",
               "pool_low_funds", "pool_throttled", "pool_restored")
DEFAULT_ESPLORA = {
    "mainnet": ["https://blockstream.info/api", "https://mempool.space/api"],
    "testnet": ["https://blockstream.info/testnet/api", "https://mempool.space/testnet/api"],
    "testnet4": ["https://mempool.space/testnet4/api"],
    "signet": ["https://mempool.space/signet/api", "https://blockstream.info/signet/api"],
    "regtest": ["http://127.0.0.1:3002"],
}


@dataclass(frozen=True)
class Settings:
    """Checked settings from config.toml (see the template for what each means)."""

    network: str
    currency: str = "USD"
    operator_name: str = ""
    operator_address: str = ""
    operator_timezone: str = "UTC"
    expiry_minutes: int = 15
    monitoring_hours: int = 24
    confirmations: int = 1
    zero_conf_max_sats: int = 0
    rate_source: str = "fixed"
    fixed_rate: Decimal | None = None
    rate_timeout: float = 5.0  # seconds (time, never money)
    wallet_kind: str = "keys"
    descriptor: str = ""
    gap_limit: int = 20
    backend: str = "devchain"
    esplora_urls: tuple[str, ...] = ()
    rpc_url: str = ""
    rpc_cookie_file: str = ""
    rpc_wallet: str = "cloudlease-watch"
    backend_timeout: float = 10.0
    hooks: dict[str, str] = field(default_factory=dict)
    hook_timeout: float = 10.0
    ledger_url: str = ""
    ledger_id: str = ""

    @property
    def effective_rpc_url(self) -> str:
        return os.environ.get("CLOUDLEASE_RPC_URL") or self.rpc_url

    @property
    def effective_ledger_url(self) -> str:
        return os.environ.get("CLOUDLEASE_LEDGER_URL") or self.ledger_url


def render_template(*, network: str, currency: str = "USD", wallet_kind: str = "keys",
                    descriptor: str = "", backend: str = "devchain",
                    esplora_urls: list[str] | None = None, rpc_url: str = "",
                    fixed_rate: str = "", ledger_url: str = "", ledger_id: str = "") -> str:
    """The commented config.toml written by ``init``."""
    import tomli_w

    def q(value: Any) -> str:
        return tomli_w.dumps({"v": value})[4:].strip()

    urls = esplora_urls or DEFAULT_ESPLORA[network]
    rate_source = "fixed" if fixed_rate or network == "regtest" else "live"
    fixed_rate = fixed_rate or ("100000" if network == "regtest" else "")
    return f"""\
# cloudlease configuration. This file is yours: cloudlease wrote it once at `init`
# and never rewrites it. Edit it by hand; `cloudlease verify` checks it.

network = {q(network)}          # fixed at init: mainnet | testnet | testnet4 | signet | regtest
currency = {q(currency)}            # fiat currency for prices, rates and invoices

[operator]
name = ""                   # shown on invoices
address = ""
timezone = "UTC"            # invoice periods and export dates: calendar months in this zone

[payment]
expiry_minutes = 15         # payment window; the exchange rate is locked for this long
monitoring_hours = 24       # a seen payment must confirm within this, or the request is invalid
confirmations = 1           # speed policy: 0 high, 1 medium, 2 low-medium, 6 low
zero_conf_max_sats = 0      # accept unconfirmed payments up to this (never RBF-signalling ones)

[rates]
source = {q(rate_source)}          # fixed | live (live asks BitPay, then blockchain.info)
fixed = {q(fixed_rate)}           # {currency} per BTC when source = "fixed"
timeout_seconds = 5

[wallet]
kind = {q(wallet_kind)}              # descriptor (watch-only, recommended) | keys (quick start)
descriptor = {q(descriptor)}
gap_limit = 20

[backend]
kind = {q(backend)}          # devchain (simulated, regtest only) | esplora | bitcoind
esplora_urls = {q(urls)}
rpc_url = {q(rpc_url)}    # http://user:pass@127.0.0.1:8332 (CLOUDLEASE_RPC_URL overrides)
rpc_cookie_file = ""         # instead of user:pass in the URL
rpc_wallet = "cloudlease-watch"
timeout_seconds = 10

[ledger]
# "" keeps the ledger in this home (ledger.db); a postgresql:// URL shares one ledger
# between several hosts (CLOUDLEASE_LEDGER_URL overrides it)
url = {q(ledger_url)}
id = {q(ledger_id)}   # the ledger this home belongs to (checked on every command)

[hooks]
timeout_seconds = 10
# Commands run on events, with the event as JSON on stdin. For example:
# lease_active = "/usr/local/bin/provision-vm"
# lease_ended = "/usr/local/bin/teardown-vm"
"""


def load(path: Path) -> Settings:
    try:
        raw = tomllib.loads(path.read_text("utf-8"), parse_float=Decimal)
    except FileNotFoundError:
        raise LedgerError(f"no config at {path} (run 'cloudlease init')",
                          code="config_missing") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise LedgerError(f"{path} is not valid TOML: {exc}", code="config_invalid") from None
    return parse(raw, str(path))


def parse(raw: dict[str, Any], where: str = "config.toml") -> Settings:
    def get(table: str | None, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        src = raw if table is None else raw.get(table, {})
        if not isinstance(src, dict):
            raise LedgerError(f"{where}: [{table}] must be a table", code="config_invalid")
        value = src.get(key, default)
        if isinstance(kind, tuple) and Decimal in kind and type(value) is int:
            value = Decimal(value)
        if not isinstance(value, kind) or (type(value) is bool and kind is int):
            name = f"{table}.{key}" if table else key
            raise LedgerError(f"{where}: {name} has the wrong type", code="config_invalid")
        return value

    network = get(None, "network", str, "regtest")
    if network not in NETWORKS:
        raise LedgerError(f"{where}: network {network!r} is not one of {', '.join(NETWORKS)}",
                          code="config_invalid")
    backend = get("backend", "kind", str, "devchain")
    if backend not in BACKENDS:
        raise LedgerError(f"{where}: backend.kind {backend!r} is not one of "
                          f"{', '.join(BACKENDS)}", code="config_invalid")
    confirmations = get("payment", "confirmations", int, 1)
    if not 0 <= confirmations <= 100:
        raise LedgerError(f"{where}: payment.confirmations must be 0..100", code="config_invalid")
    fixed = get("rates", "fixed", (str, Decimal), "")
    fixed_rate = None
    if fixed not in ("", None):
        try:
            fixed_rate = Decimal(str(fixed))
        except ArithmeticError:
            fixed_rate = None
        if fixed_rate is None or not fixed_rate.is_finite() or fixed_rate <= 0:
            raise LedgerError(f"{where}: rates.fixed must be a positive number",
                              code="config_invalid")
    hooks_raw = raw.get("hooks", {})
    hooks = {k: v for k, v in hooks_raw.items() if k in HOOK_EVENTS and isinstance(v, str) and v}
    unknown = [k for k in hooks_raw if k not in HOOK_EVENTS and k != "timeout_seconds"]
    if unknown:
        raise LedgerError(f"{where}: unknown hook event {unknown[0]!r} (events: "
                          f"{', '.join(HOOK_EVENTS)})", code="config_invalid")
    timezone = get("operator", "timezone", str, "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise LedgerError(f"{where}: operator.timezone {timezone!r} is not a known time zone "
                          "(e.g. UTC, Europe/Berlin)", code="config_invalid") from None
    wallet_kind = get("wallet", "kind", str, "keys")
    if wallet_kind not in ("keys", "descriptor"):
        raise LedgerError(f"{where}: wallet.kind must be keys or descriptor",
                          code="config_invalid")
    return Settings(
        network=network,
        currency=get(None, "currency", str, "USD").upper(),
        operator_name=get("operator", "name", str, ""),
        operator_address=get("operator", "address", str, ""),
        operator_timezone=timezone,
        expiry_minutes=_positive(get("payment", "expiry_minutes", int, 15), where,
                                 "payment.expiry_minutes"),
        monitoring_hours=_positive(get("payment", "monitoring_hours", int, 24), where,
                                   "payment.monitoring_hours"),
        confirmations=confirmations,
        zero_conf_max_sats=get("payment", "zero_conf_max_sats", int, 0),
        rate_source=get("rates", "source", str, "fixed"),
        fixed_rate=fixed_rate,
        rate_timeout=_seconds(get("rates", "timeout_seconds", (int, Decimal), Decimal(5)),
                              where, "rates.timeout_seconds"),
        wallet_kind=wallet_kind,
        descriptor=get("wallet", "descriptor", str, ""),
        gap_limit=get("wallet", "gap_limit", int, 20),
        backend=backend,
        esplora_urls=tuple(get("backend", "esplora_urls", list, [])),
        rpc_url=get("backend", "rpc_url", str, ""),
        rpc_cookie_file=get("backend", "rpc_cookie_file", str, ""),
        rpc_wallet=get("backend", "rpc_wallet", str, "cloudlease-watch"),
        backend_timeout=_seconds(get("backend", "timeout_seconds", (int, Decimal),
                                     Decimal(10)), where, "backend.timeout_seconds"),
        hooks=hooks,
        hook_timeout=_seconds(get("hooks", "timeout_seconds", (int, Decimal), Decimal(10)),
                              where, "hooks.timeout_seconds"),
        ledger_url=get("ledger", "url", str, ""),
        ledger_id=get("ledger", "id", str, ""),
    )


def _seconds(value: Decimal, where: str, name: str) -> float:
    """A timeout in seconds: the one place config turns a number into a float (sockets
    and subprocess want one); durations, never money."""
    if not value.is_finite() or not 0 < value <= 3600:
        raise LedgerError(f"{where}: {name} must be from 0 to 3600 seconds",
                          code="config_invalid")
    return float(value)


def _positive(value: int, where: str, name: str) -> int:
    if value <= 0:
        raise LedgerError(f"{where}: {name} must be positive", code="config_invalid")
    return value


def check_network(name: str) -> str:
    if name not in NETWORKS:
        raise BadValue(f"unknown network {name!r} (choose {', '.join(NETWORKS)})")
    return name
