"""The tables of config.toml and the settings objects they become: one class per table,
one line per key (see ``cloudlease.config.schema`` for how they are declared and read).
``[lightning]`` and ``[provision]`` are declared beside the code that knows them best
(``config/lightning.py``, ``config/provision.py``) and joined here.

``Settings`` is the whole file: ``settings.payment.confirmations``,
``settings.lightning.backend``, ``settings.provision.state_dir``... The flat names that
older code reads (``settings.confirmations``, ``settings.lightning_url``) are read-only
aliases of the nested keys (``alias``), not keys of their own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from decimal import Decimal

from cloudlease.config.checks import (
    boolean,
    choice,
    command,
    country,
    currency,
    email,
    members,
    pattern,
    percent,
    positive_decimal,
    seconds,
    secret,
    text,
    timezone,
    url,
    url_list,
    whole,
)
from cloudlease.config.lightning import LightningSettings
from cloudlease.config.provision import ProvisionSettings
from cloudlease.config.registry import CHAIN_BACKENDS
from cloudlease.config.schema import (
    REQUIRED,
    Checking,
    Section,
    alias,
    array,
    entries,
    setting,
    table,
)
from cloudlease.config.serve import ServeSettings
from cloudlease.core.clock import seconds as as_float
from cloudlease.core.money import MAX_RATE, MAX_SATS

NETWORKS = ("mainnet", "testnet", "testnet4", "signet", "regtest")
BACKENDS = CHAIN_BACKENDS.names()
HOOK_EVENTS = ("lease_active", "lease_ended", "lease_expired", "payment_processing",
               "pool_low_funds", "pool_throttled", "pool_restored", "provision_ready",
               "provision_failed", "payment_refund_due", "renewal_failed")
RATE_SOURCES = ("fixed", "live")
WALLET_KINDS = ("keys", "descriptor")


class OperatorSettings(Section):
    """``[operator]``: the seller on invoices."""

    name: str = setting(text(200), "", "shown on invoices (frozen into each one at issue)")
    address: str = setting(text(1000, multiline=True), "", "may span lines")
    vat_id: str = setting(pattern(r"[A-Za-z0-9][A-Za-z0-9 .+*-]{1,31}",
                                  "a VAT id such as DE123456789"), "", "e.g. DE123456789")
    country: str = setting(country(), "", "ISO 3166 alpha-2, e.g. DE")
    email: str = setting(email(), "")
    payment_terms: str = setting(text(500, multiline=True), "Due on receipt.")
    timezone: str = setting(timezone(), "UTC", "invoice periods and export dates")


class PaymentSettings(Section):
    """``[payment]``: the payment window and the speed policy."""

    expiry_minutes: int = setting(whole(1, 7 * 24 * 60), 15,
                                  "payment window; the exchange rate is locked for this long")
    monitoring_hours: int = setting(whole(1, 90 * 24), 24, "a seen payment must confirm "
                                    "within this, or the request is invalid")
    confirmations: int = setting(whole(0, 100), 1, "0 high, 1 medium, 2 low-medium, 6 low")
    zero_conf_max_sats: int = setting(whole(0, MAX_SATS), 0, "accept unconfirmed payments up "
                                      "to this (never RBF-signalling ones)")
    # pay as you go (core/prorate.py): what money that does not fit the request buys
    underpaid: str = setting(choice("wait", "prorate"), "wait",
                             "wait (a short request expires, money owed back) | prorate")
    late: str = setting(choice("accept", "prorate"), "accept",
                        "accept (you decide: pay accept) | prorate")
    overpaid: str = setting(choice("refund", "prorate"), "refund",
                            "refund (the surplus is owed back) | prorate")


class RenewalSettings(Section):
    """``[renewal]``: auto-renewal through the tenant's own wallet (Nostr Wallet Connect,
    ``ops/renewals.py``), by tick and serve."""

    before_minutes: int = setting(whole(1, 7 * 24 * 60), 15,
                                  "ask the wallet to pay the next period this long before the end")
    timeout_seconds: Decimal = setting(seconds(), Decimal(30),
                                       "the wallet's answer must come within this")
    allow_loopback_relay: bool = setting(boolean(), False,
                                         "ws:// relays on this machine (demos, tests); else "
                                         "wss:// only")


class RatesSettings(Section):
    """``[rates]``: how a fiat price becomes sats."""

    source: str = setting(choice(*RATE_SOURCES), "fixed", "fixed | live")
    fixed: Decimal | None = setting(positive_decimal(MAX_RATE), None,
                                    "fiat per BTC when source = \"fixed\"")
    timeout_seconds: Decimal = setting(seconds(), Decimal(5), "for a live rate")


class WalletSettings(Section):
    """``[wallet]``: where receive addresses come from."""

    kind: str = setting(choice(*WALLET_KINDS), "keys",
                        "descriptor (watch-only, recommended) | keys (quick start)")
    descriptor: str = setting(text(4000), "", "a watch-only output descriptor or xpub")
    gap_limit: int = setting(whole(1, 10_000), 20, "unpaid addresses in a row before a warning")

    def problems(self, check: Checking) -> Iterator[tuple[str, str]]:
        if self.kind == "descriptor" and not self.descriptor.strip():
            yield "descriptor", ('is empty but wallet.kind = "descriptor"; give the '
                                 "watch-only descriptor or xpub")
        elif self.descriptor.strip() and check.network is not None:
            from cloudlease.core.descriptors import problem

            found = problem(self.descriptor, check.network)
            if found:
                yield "descriptor", found


class BackendSettings(Section):
    """``[backend]``: the chain backend that watches for payments."""

    kind: str = setting(choice(*BACKENDS), "devchain",
                        "devchain (simulated, regtest only) | esplora | bitcoind")
    esplora_urls: tuple[str, ...] = setting(url_list("http", "https"), (),
                                            "Esplora base URLs, tried in turn")
    rpc_url: str = setting(url("http", "https"), "", "bitcoind's JSON-RPC URL", secret=True)
    rpc_cookie_file: str = setting(text(1024), "", "instead of user:pass in the URL")
    rpc_wallet: str = setting(text(200, blank=False), "cloudlease-watch")
    timeout_seconds: Decimal = setting(seconds(), Decimal(10))

    def problems(self, check: Checking) -> Iterator[tuple[str, str]]:
        if self.kind == "esplora" and not self.esplora_urls:
            yield "esplora_urls", ('is empty but backend.kind = "esplora"; give at least '
                                   "one base URL")
        if self.kind == "devchain" and check.network not in (None, "regtest"):
            yield "kind", (f"devchain is a simulated regtest chain; this home is on "
                           f"{check.network} (use esplora or bitcoind)")


class HooksSettings(Section, Mapping[str, str]):
    """``[hooks]``: a command per event, and their timeout. The table is also the mapping
    of the events that have a command to it (``"lease_active" in settings.hooks``)."""

    timeout_seconds: Decimal = setting(seconds(), Decimal(10), "for each hook command")
    commands: dict[str, str] = entries(command(), names=HOOK_EVENTS, inline=True,
                                       doc="event = command")

    def __getitem__(self, event: str) -> str:
        return self.commands[event]

    def __iter__(self) -> Iterator[str]:
        return iter(self.commands)

    def __len__(self) -> int:
        return len(self.commands)


class TaxSettings(Section):
    """``[tax]``: VAT by the customer's country."""

    reverse_charge: bool = setting(boolean(), True, "B2B customers with a VAT id in another "
                                   "country: reverse charge")
    rates: dict[str, Decimal] = entries(percent(), key_check=country(empty=False),
                                        doc="country code = percent, e.g. [tax.rates] DE = 19")


class LedgerSettings(Section):
    """``[ledger]``: where the ledger lives."""

    url: str = setting(url("postgresql", "postgres", host_required=False), "",
                       '"" = ledger.db in this home; postgresql://... shares one ledger',
                       secret=True)
    id: str = setting(pattern(r"^([0-9a-f]{32})?$", "the ledger id init wrote (32 hex "
                              "digits)"), "", "the ledger this home belongs to")


class Webhook(Section):
    """One ``[[webhooks]]`` endpoint.

    Attributes:
        url: https (or http to this machine) endpoint that receives the events.
        secret: the HMAC-SHA256 key (at least 16 characters); never shown.
        events: the event names it receives (default: all of ``HOOK_EVENTS``).
        timeout_seconds: seconds for one delivery (Decimal; a float only at the socket).
    """

    url: str = setting(url("https", "http", loopback_http=True, empty=False), REQUIRED,
                       "https, or http only to 127.0.0.1 / ::1", secret=True)
    secret: str = setting(secret(16), REQUIRED, "at least 16 characters", secret=True)
    events: tuple[str, ...] = setting(members(HOOK_EVENTS, "events"), HOOK_EVENTS,
                                      "default: every event")
    timeout_seconds: Decimal = setting(seconds(), Decimal(10))

    @property
    def timeout(self) -> Decimal:
        return self.timeout_seconds


class Settings(Section):
    """All of config.toml, checked (see the module doc; each table's class says what its
    keys mean). Keys holding a credential are left out of ``repr``."""

    network: str = setting(choice(*NETWORKS), "regtest", "fixed at init")
    currency: str = setting(currency(), "USD", "fiat currency for prices, rates and invoices")
    operator: OperatorSettings = table(OperatorSettings)
    payment: PaymentSettings = table(PaymentSettings)
    rates: RatesSettings = table(RatesSettings)
    wallet: WalletSettings = table(WalletSettings)
    backend: BackendSettings = table(BackendSettings)
    hooks: HooksSettings = table(HooksSettings)
    tax: TaxSettings = table(TaxSettings)
    ledger: LedgerSettings = table(LedgerSettings)
    lightning: LightningSettings = table(LightningSettings)
    provision: ProvisionSettings = table(ProvisionSettings)
    serve: ServeSettings = table(ServeSettings)
    renewal: RenewalSettings = table(RenewalSettings)
    webhooks: tuple[Webhook, ...] = array(Webhook)

    # the flat names older code reads: aliases of the keys above, not keys of their own
    operator_name = alias("operator.name")
    operator_address = alias("operator.address")
    operator_timezone = alias("operator.timezone")
    operator_vat_id = alias("operator.vat_id")
    operator_country = alias("operator.country")
    operator_email = alias("operator.email")
    payment_terms = alias("operator.payment_terms")
    expiry_minutes = alias("payment.expiry_minutes")
    monitoring_hours = alias("payment.monitoring_hours")
    confirmations = alias("payment.confirmations")
    zero_conf_max_sats = alias("payment.zero_conf_max_sats")
    underpaid = alias("payment.underpaid")
    late = alias("payment.late")
    overpaid = alias("payment.overpaid")
    renewal_before_minutes = alias("renewal.before_minutes")
    renewal_timeout = alias("renewal.timeout_seconds")
    renewal_loopback = alias("renewal.allow_loopback_relay")
    rate_source = alias("rates.source")
    fixed_rate = alias("rates.fixed")
    rate_timeout = alias("rates.timeout_seconds", as_float)
    wallet_kind = alias("wallet.kind")
    descriptor = alias("wallet.descriptor")
    gap_limit = alias("wallet.gap_limit")
    esplora_urls = alias("backend.esplora_urls")
    rpc_url = alias("backend.rpc_url")
    rpc_cookie_file = alias("backend.rpc_cookie_file")
    rpc_wallet = alias("backend.rpc_wallet")
    backend_timeout = alias("backend.timeout_seconds", as_float)
    hook_timeout = alias("hooks.timeout_seconds", as_float)
    tax_rates = alias("tax.rates")
    tax_reverse_charge = alias("tax.reverse_charge")
    ledger_url = alias("ledger.url")
    ledger_id = alias("ledger.id")
    lightning_backend = alias("lightning.backend")
    lightning_url = alias("lightning.url")
    lightning_macaroon = alias("lightning.macaroon")
    lightning_tls_cert = alias("lightning.tls_cert")
    lightning_timeout = alias("lightning.timeout_seconds")

    @property
    def effective_rpc_url(self) -> str:
        return os.environ.get("CLOUDLEASE_RPC_URL") or self.backend.rpc_url

    @property
    def effective_ledger_url(self) -> str:
        """``CLOUDLEASE_LEDGER_URL`` if set, else ``[ledger] url`` ("" = SQLite in the
        home). The variable is checked as strictly as the file."""
        from cloudlease.config.checks import Bad
        from cloudlease.core.errors import LedgerError

        env = os.environ.get("CLOUDLEASE_LEDGER_URL")
        if env:
            try:
                LedgerSettings.url.check(env)
            except Bad as exc:
                raise LedgerError(f"CLOUDLEASE_LEDGER_URL: {exc}",
                                  code="config_invalid") from None
            return env
        return self.ledger.url

