"""The commented ``config.toml`` that ``init`` writes (``config.render_template``)."""

from __future__ import annotations

from typing import Any

DEFAULT_ESPLORA = {
    "mainnet": ["https://blockstream.info/api", "https://mempool.space/api"],
    "testnet": ["https://blockstream.info/testnet/api", "https://mempool.space/testnet/api"],
    "testnet4": ["https://mempool.space/testnet4/api"],
    "signet": ["https://mempool.space/signet/api", "https://blockstream.info/signet/api"],
    "regtest": ["http://127.0.0.1:3002"],
}


def render_template(*, network: str, currency: str = "USD", wallet_kind: str = "keys",
                    descriptor: str = "", backend: str = "devchain",
                    esplora_urls: list[str] | None = None, rpc_url: str = "",
                    fixed_rate: str = "", ledger_url: str = "", ledger_id: str = "",
                    lightning: Any = None) -> str:
    """The commented config.toml written by ``init`` (``lightning``: the
    ``LightningSettings`` chosen with ``init --lightning``; default none)."""
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
name = ""                   # shown on invoices (frozen into each one at issue)
address = ""                # may span lines (a multi-line TOML string)
vat_id = ""                 # e.g. DE123456789
country = ""                # ISO 3166 alpha-2, e.g. DE
email = ""
payment_terms = "Due on receipt."
timezone = "UTC"            # invoice periods and export dates: calendar months in this zone

[payment]
expiry_minutes = 15         # payment window; the exchange rate is locked for this long
monitoring_hours = 24       # a seen payment must confirm within this, or the request is invalid
confirmations = 1           # speed policy: 0 high, 1 medium, 2 low-medium, 6 low
zero_conf_max_sats = 0      # accept unconfirmed payments up to this (never RBF-signalling ones)
# Pay as you go: "prorate" lets money that does not fit a request buy time, to the minute,
# at the price when it settles (the rest under a minute is the tenant's credit)
underpaid = "wait"          # wait (a short request expires, money owed back) | prorate
late = "accept"             # accept (you decide: pay accept) | prorate
overpaid = "refund"         # refund (the surplus is owed back) | prorate

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

[hooks]
timeout_seconds = 10
# Commands run on events, with the event as JSON on stdin. Events: lease_active,
# lease_ended, lease_expired, payment_processing, pool_low_funds, pool_throttled,
# pool_restored, provision_ready, provision_failed, payment_refund_due, renewal_failed.
# Machines come from [provision] below; hooks only hear about them. For example:
# provision_failed = "/usr/local/bin/page-the-operator"
# provision_ready = "/usr/local/bin/mail-login-details"

[tax]
reverse_charge = true       # B2B customers with a VAT id in another country: reverse charge
# [tax.rates]               # country = percent, by the customer's country
# DE = 19
# FR = "20"

[ledger]
# "" = ledger.db in this home; postgresql://user:pass@host/db shares one ledger between
# hosts (CLOUDLEASE_LEDGER_URL overrides)
url = {q(ledger_url)}
id = {q(ledger_id)}   # the ledger this home belongs to (checked on every command)

{_lightning(lightning)}
[serve]
# cloudlease serve: the tenants' storefront, checkout pages and JSON API (README, "Serving
# tenants"). Keep host = "127.0.0.1" behind a TLS reverse proxy on this host.
host = "127.0.0.1"
port = 8080
public_url = ""                 # e.g. "https://rent.example.com" ("" = the request's host)
trusted_proxies = []            # peers whose X-Forwarded-For is believed, e.g. ["127.0.0.1"]
plans = []                      # the plans offered ([] = every plan)
rate_limit_per_minute = 120     # requests per client a minute; more is 429
max_open_unpaid = 200           # unpaid requests open at once (each holds an address)
max_open_unpaid_per_client = 5
chain_poll_seconds = 10         # Lightning is asked every 0.25 s while an invoice is open

[renewal]
# Auto-renewal through the tenant's own wallet (Nostr Wallet Connect), by tick and serve
before_minutes = 15             # ask the wallet to pay the next period this long before the end
timeout_seconds = 30            # the wallet's answer must come within this
allow_loopback_relay = false    # ws:// relays on this machine (demos, tests); else wss:// only

[provision]
# What a paid lease becomes, made by tick outside the ledger lock and retried on the next
# tick when it fails: none | command (your program per lease event, which may print the
# tenant's ssh details; see examples/provision/) | ssh-account (a Unix account behind a
# private sshd, as root) | podman (a container from `image`, as root) | lxd (a container
# per lease on an LXD cluster: a [provision.lxd] table, see examples/provision/README.md).
driver = "none"
command = ""                    # driver "command": the program to run per event
listen_address = "127.0.0.1"    # an IP of this host where each lease's sshd listens
ssh_host = ""                   # the name tenants connect to ("" = listen_address)
port_min = 22000                # one port per lease from port_min..port_max
port_max = 22999
timeout_seconds = 60            # for each program a driver runs
state_dir = ""                  # "" = <home>/provision (root only; never under /tmp)
image = ""                      # driver "podman": the container image
network = "none"                # driver "podman": none (no network, no ssh) or a network
# more keys, with their defaults and what each means in cloudlease/config/provision.py:
# ssh-account: uid_min, uid_max (a fresh uid per lease, never reused), shell,
# tenant_group, cgroup, cgroup_parent, private_tmp, hide_processes;
# podman: runtime, container_ssh_port, container_user, authorized_keys_path,
# ulimit_nofile, ulimit_nproc; lxd: check_capacity and the [provision.lxd] table

# Webhooks: POST each event as JSON, signed with HMAC-SHA256 (Cloudlease-Signature).
# Repeat the table for more endpoints. A secret here means: keep this file chmod 600.
# [[webhooks]]
# url = "https://example.com/cloudlease"   # https, or http only to 127.0.0.1 / ::1
# secret = "at least 16 characters, e.g. from: openssl rand -hex 32"
# events = ["lease_active", "lease_ended"]   # default: every event
# timeout_seconds = 10
"""


def _lightning(settings: Any) -> str:
    """The ``[lightning]`` table (``cloudlease.config.lightning.template_section``)."""
    from cloudlease.config.lightning import LightningSettings, template_section

    return template_section(settings or LightningSettings())
