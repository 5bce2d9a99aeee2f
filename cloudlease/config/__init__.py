"""``config.toml``: the operator's settings. Written once at ``init`` from a commented
template and never rewritten by the tool; read and checked whole on every command.

The file must be a regular file (not a symbolic link, a directory or a FIFO) of at most
1 MiB, UTF-8 TOML that fits ``config_schema.SCHEMA`` exactly. Because its hooks are
commands that cloudlease runs, it must not be writable by others; because it may hold
credentials (an RPC or Lightning URL with a password, a webhook secret, a ledger URL with a
password), it must not be readable by others while it does: ``chmod 600`` (``init`` writes
it 0600 through ``write_new``).
"""

from __future__ import annotations

import difflib
import os
import stat
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudlease.config import schema
from cloudlease.config.lightning import LightningSettings
from cloudlease.config.lightning import parse_section as check_lightning
from cloudlease.config.schema import BACKENDS, HOOK_EVENTS, NETWORKS
from cloudlease.config.serve import ServeSettings
from cloudlease.config.template import DEFAULT_ESPLORA, render_template
from cloudlease.core.clock import seconds
from cloudlease.core.errors import BadValue, LedgerError

if TYPE_CHECKING:
    from cloudlease.config.provision import ProvisionSettings

__all__ = ["BACKENDS", "DEFAULT_ESPLORA", "HOOK_EVENTS", "NETWORKS", "Settings", "Webhook",
           "check_network", "load", "parse", "render_template", "write_new"]

MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Webhook:
    """One ``[[webhooks]]`` endpoint.

    Attributes:
        url: https (or http to this machine) endpoint that receives the events.
        secret: the HMAC-SHA256 key (at least 16 characters); never shown.
        events: the event names it receives (default: all of ``HOOK_EVENTS``).
        timeout: seconds for one delivery (Decimal; a float only at the socket).
    """

    url: str
    secret: str = field(repr=False)
    events: tuple[str, ...] = HOOK_EVENTS
    timeout: Decimal = Decimal(10)


@dataclass(frozen=True)
class Settings:
    """Checked settings from config.toml (see the template for what each means).

    Timeouts that existed before are float seconds (``rate_timeout``, ``backend_timeout``,
    ``hook_timeout``); the newer ones are ``Decimal`` seconds, turned into a float only at
    the socket or subprocess call. Fields holding a credential are left out of ``repr``.
    """

    network: str
    currency: str = "USD"
    operator_name: str = ""
    operator_address: str = ""
    operator_timezone: str = "UTC"
    operator_vat_id: str = ""
    operator_country: str = ""
    operator_email: str = ""
    payment_terms: str = "Due on receipt."
    expiry_minutes: int = 15
    monitoring_hours: int = 24
    confirmations: int = 1
    zero_conf_max_sats: int = 0
    underpaid: str = "wait"  # [payment] pay as you go: wait | prorate
    late: str = "accept"  # accept | prorate
    overpaid: str = "refund"  # refund | prorate
    rate_source: str = "fixed"
    fixed_rate: Decimal | None = None
    rate_timeout: float = 5.0  # seconds (time, never money)
    wallet_kind: str = "keys"
    descriptor: str = ""
    gap_limit: int = 20
    backend: str = "devchain"
    esplora_urls: tuple[str, ...] = ()
    rpc_url: str = field(default="", repr=False)
    rpc_cookie_file: str = ""
    rpc_wallet: str = "cloudlease-watch"
    backend_timeout: float = 10.0
    hooks: dict[str, str] = field(default_factory=dict)
    hook_timeout: float = 10.0
    tax_rates: dict[str, Decimal] = field(default_factory=dict)  # country → percent
    tax_reverse_charge: bool = True
    ledger_url: str = field(default="", repr=False)
    ledger_id: str = ""
    lightning_backend: str = "none"
    lightning_url: str = field(default="", repr=False)
    lightning_macaroon: str = ""
    lightning_tls_cert: str = ""
    lightning_timeout: Decimal = Decimal(10)
    provision: ProvisionSettings | None = None  # [provision]; None: driver "none"
    webhooks: tuple[Webhook, ...] = ()
    serve: ServeSettings = field(default_factory=ServeSettings)  # [serve]: cloudlease serve
    renewal_before_minutes: int = 15  # [renewal]: NWC auto-renewal
    renewal_timeout: Decimal = Decimal(30)
    renewal_loopback: bool = False  # ws:// relays on this machine (tests, demos)

    @property
    def lightning(self) -> LightningSettings:
        """``[lightning]`` as the Lightning backends take it (``cloudlease.lightning``)."""
        return LightningSettings(backend=self.lightning_backend, url=self.lightning_url,
                                 macaroon=self.lightning_macaroon,
                                 tls_cert=self.lightning_tls_cert,
                                 timeout_seconds=self.lightning_timeout)

    @property
    def effective_rpc_url(self) -> str:
        return os.environ.get("CLOUDLEASE_RPC_URL") or self.rpc_url

    @property
    def effective_ledger_url(self) -> str:
        """``CLOUDLEASE_LEDGER_URL`` if set, else ``[ledger] url`` ("" = SQLite in the
        home). The variable is checked as strictly as the file."""
        env = os.environ.get("CLOUDLEASE_LEDGER_URL")
        if env:
            try:
                schema.SCHEMA["ledger"]["url"].check(env)
            except schema.Bad as exc:
                raise LedgerError(f"CLOUDLEASE_LEDGER_URL: {exc}",
                                  code="config_invalid") from None
            return env
        return self.ledger_url


def load(path: Path) -> Settings:
    """Read and check ``path`` whole (``LedgerError``, exit 5, naming file and key)."""
    where = str(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise LedgerError(f"no config at {path} (run 'cloudlease init')",
                          code="config_missing") from None
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}", code="config_invalid") \
            from None
    _check_kind(path, info)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}", code="config_invalid") \
            from None
    try:
        info = os.fstat(fd)
        _check_kind(path, info)  # the file opened is the file checked
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise LedgerError(f"{path} is larger than {MAX_BYTES // 1024} KiB; it cannot be a "
                          "cloudlease config", code="config_invalid")
    try:
        raw = tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise LedgerError(f"{path} is not UTF-8 text", code="config_invalid") from None
    except tomllib.TOMLDecodeError as exc:
        raise LedgerError(f"{path} is not valid TOML: {exc}", code="config_invalid") from None
    settings = parse(raw, where)
    _check_mode(path, info, settings)
    return settings


def _check_kind(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise LedgerError(f"{path} is a symbolic link; cloudlease refuses it (a link lets "
                          "someone else swap the settings): put the file itself there",
                          code="config_invalid")
    if stat.S_ISDIR(info.st_mode):
        raise LedgerError(f"{path} is a directory, not a config file", code="config_invalid")
    if not stat.S_ISREG(info.st_mode):
        raise LedgerError(f"{path} is not a regular file", code="config_invalid")


def credentials(settings: Settings) -> list[str]:
    """Which settings hold a credential (by key), for the permission check."""
    from cloudlease.net import parse_url

    found = []
    for key, value, schemes in (
            ("backend.rpc_url", settings.rpc_url, ("http", "https")),
            ("lightning.url", settings.lightning_url, ("http", "https")),
            ("ledger.url", settings.ledger_url, ("postgresql", "postgres"))):
        if value and parse_url(value, schemes=schemes, host_required=False).password:
            found.append(key)
    for i, hook in enumerate(settings.webhooks, 1):
        found.append(f"webhooks[{i}].secret")
        if parse_url(hook.url, schemes=("http", "https")).password:
            found.append(f"webhooks[{i}].url")
    return found


def _check_mode(path: Path, info: os.stat_result, settings: Settings) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise LedgerError(f"{path} is writable by others (mode {mode:04o}) and names commands "
                          f"that cloudlease runs; run chmod 600 {path}", code="config_unsafe")
    held = credentials(settings) if mode & 0o044 else []
    if held:
        raise LedgerError(f"{path} holds a credential ({', '.join(held)}) but others can "
                          f"read it (mode {mode:04o}); run chmod 600 {path}",
                          code="config_unsafe")


def write_new(path: Path, text: str) -> None:
    """Write a new config (``init``): atomically, mode 0600, never through a symlink."""
    from cloudlease.files.fsio import atomic_write

    if path.is_symlink():
        raise LedgerError(f"{path} is a symbolic link; cloudlease refuses it",
                          code="config_invalid")
    atomic_write(path, text.encode("utf-8"), mode=0o600)


class _Reader:
    """Walks the raw TOML against the schema, raising on the first problem."""

    def __init__(self, raw: dict[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def fail(self, name: str, problem: str) -> LedgerError:
        return LedgerError(f"{self.where}:{name}: {problem}", code="config_invalid")

    def unknown(self, name: str, known: list[str], kind: str) -> LedgerError:
        key = name.rpartition(".")[2]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return self.fail(name, f"unknown {kind} ({hint}allowed: {', '.join(known)})")

    def tables(self) -> None:
        top = schema.SCHEMA[""]
        known = [*top, *(t for t in schema.SCHEMA if t), *schema.ARRAYS]
        for name, value in self.raw.items():
            if name in top:
                continue
            if name in schema.ARRAYS:
                if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                    raise self.fail(name, f"expected an array of tables ([[{name}]])")
                continue
            if name not in schema.SCHEMA:
                raise self.unknown(name, known, "table or key")
            if not isinstance(value, dict):
                raise self.fail(name, f"got {schema.shown(value)}; expected a table "
                                      f"([{name}])")

    def table(self, table: str, keys: dict[str, schema.Key], src: dict[str, Any],
              prefix: str) -> dict[str, Any]:
        for key in src:
            if key not in keys:
                raise self.unknown(f"{prefix}{key}", list(keys), "key")
        out = {}
        for key, spec in keys.items():
            if key not in src:
                out[key] = spec.default
                continue
            try:
                out[key] = spec.check(src[key])
            except schema.Bad as exc:
                raise self.fail(f"{prefix}{key}", str(exc)) from None
        return out

    def get(self, table: str) -> dict[str, Any]:
        src = self.raw if table == "" else self.raw.get(table, {})
        if table == "":
            src = {k: v for k, v in src.items() if k in schema.SCHEMA[""]}
        return self.table(table, schema.SCHEMA[table], src, f"{table}." if table else "")


def parse(raw: dict[str, Any], where: str = "config.toml") -> Settings:
    """Settings from parsed TOML, checked whole against ``config_schema``."""
    r = _Reader(raw, where)
    r.tables()
    top, op, pay, rates, wallet = (r.get(t) for t in ("", "operator", "payment", "rates",
                                                       "wallet"))
    backend, hooks, tax, ledger = (r.get(t) for t in ("backend", "hooks", "tax", "ledger"))
    renewal = r.get("renewal")
    ln = r.get("lightning")
    tax_rates = _tax_rates(r, tax["rates"])
    webhooks = tuple(_webhook(r, item, i) for i, item in
                     enumerate(raw.get("webhooks", []), 1))
    if wallet["kind"] == "descriptor" and not wallet["descriptor"].strip():
        raise r.fail("wallet.descriptor", 'is empty but wallet.kind = "descriptor"; give '
                                          "the watch-only descriptor or xpub")
    if backend["kind"] == "esplora" and not backend["esplora_urls"]:
        raise r.fail("backend.esplora_urls", 'is empty but backend.kind = "esplora"; give '
                                             "at least one base URL")
    if ln["backend"] in ("electrum", "lnd") and not ln["url"]:
        raise r.fail("lightning.url", f'is empty but lightning.backend = "{ln["backend"]}"')
    if ln["backend"] == "lnd" and not ln["macaroon"]:
        raise r.fail("lightning.macaroon", 'is empty but lightning.backend = "lnd" (give the '
                                           "invoice macaroon's path)")
    # what only the Lightning code knows: devchain is regtest only, lnd is https with a
    # pinned tls_cert, an electrum URL carries the daemon's RPC user and password
    check_lightning(raw.get("lightning"), where, top["network"])
    return Settings(
        network=top["network"],
        currency=top["currency"],
        operator_name=op["name"],
        operator_address=op["address"],
        operator_timezone=op["timezone"],
        operator_vat_id=op["vat_id"],
        operator_country=op["country"],
        operator_email=op["email"],
        payment_terms=op["payment_terms"],
        expiry_minutes=pay["expiry_minutes"],
        monitoring_hours=pay["monitoring_hours"],
        confirmations=pay["confirmations"],
        zero_conf_max_sats=pay["zero_conf_max_sats"],
        underpaid=pay["underpaid"],
        late=pay["late"],
        overpaid=pay["overpaid"],
        rate_source=rates["source"],
        fixed_rate=rates["fixed"] if rates["fixed"] != "" else None,
        rate_timeout=seconds(rates["timeout_seconds"]),
        wallet_kind=wallet["kind"],
        descriptor=wallet["descriptor"],
        gap_limit=wallet["gap_limit"],
        backend=backend["kind"],
        esplora_urls=tuple(backend["esplora_urls"]),
        rpc_url=backend["rpc_url"],
        rpc_cookie_file=backend["rpc_cookie_file"],
        rpc_wallet=backend["rpc_wallet"],
        backend_timeout=seconds(backend["timeout_seconds"]),
        hooks={e: hooks[e] for e in HOOK_EVENTS if hooks[e] is not None},
        hook_timeout=seconds(hooks["timeout_seconds"]),
        tax_rates=tax_rates,
        tax_reverse_charge=tax["reverse_charge"],
        ledger_url=ledger["url"],
        ledger_id=ledger["id"],
        lightning_backend=ln["backend"],
        lightning_url=ln["url"],
        lightning_macaroon=ln["macaroon"],
        lightning_tls_cert=ln["tls_cert"],
        lightning_timeout=ln["timeout_seconds"],
        provision=_provision(raw, where),
        webhooks=webhooks,
        serve=ServeSettings(**r.get("serve")),
        renewal_before_minutes=renewal["before_minutes"],
        renewal_timeout=renewal["timeout_seconds"],
        renewal_loopback=renewal["allow_loopback_relay"],
    )


def _provision(raw: dict[str, Any], where: str) -> ProvisionSettings:
    """``[provision]`` is checked by the provisioning package itself: every key its
    drivers read, with their defaults (``cloudlease/config/provision.py``)."""
    from cloudlease.config.provision import parse_section

    return parse_section(raw.get("provision"), where)


def _tax_rates(r: _Reader, value: Any) -> dict[str, Decimal]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise r.fail("tax.rates", f"got {schema.shown(value)}; expected a table of country "
                                  'code = percent (e.g. [tax.rates] DE = 19)')
    check_country, check_percent = schema.country(), schema.percent()
    out = {}
    for code, pct in value.items():
        try:
            if not code:
                raise schema.Bad("expected a country code")
            check_country(code)
        except schema.Bad as exc:
            raise r.fail(f"tax.rates.{code}", str(exc)) from None
        try:
            out[code] = check_percent(pct)
        except schema.Bad as exc:
            raise r.fail(f"tax.rates.{code}", str(exc)) from None
    return out


def _webhook(r: _Reader, item: dict[str, Any], i: int) -> Webhook:
    prefix = f"webhooks[{i}]."
    values = r.table("webhooks", schema.WEBHOOK, item, prefix)
    for key in ("url", "secret"):
        if values[key] is None:
            raise r.fail(f"{prefix}{key}", "is required")
    return Webhook(url=values["url"], secret=values["secret"], events=tuple(values["events"]),
                   timeout=values["timeout_seconds"])


def check_network(name: str) -> str:
    if name not in NETWORKS:
        raise BadValue(f"unknown network {name!r} (choose {', '.join(NETWORKS)})")
    return name
