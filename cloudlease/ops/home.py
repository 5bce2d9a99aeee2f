"""``init``: make a home (config.toml from the template, an empty ledger, archive/)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from cloudlease import clock, config, validate
from cloudlease.errors import BadValue, Conflict, LedgerError
from cloudlease.ledger import store
from cloudlease.ledger.fsio import atomic_write
from cloudlease.ledger.state import Ledger
from cloudlease.ledger.store import Home
from cloudlease.model import Plan

STARTER_PLAN = ("standard", 1000)  # name, sat per hour (test networks only)


@dataclass
class InitResult:
    home: Path
    network: str
    wallet: str
    backend: str
    starter_plan: str | None


def init(path: Path, *, network: str = "regtest", currency: str = "USD",
         descriptor: str | None = None, xpub: str | None = None, backend: str | None = None,
         esplora_urls: list[str] | None = None, rpc_url: str | None = None,
         fixed_rate: str | None = None, force: bool = False,
         lock_timeout: float = store.DEFAULT_LOCK_TIMEOUT) -> InitResult:
    network = config.check_network(network)
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise BadValue(f"currency must be a 3-letter code such as USD, got {currency!r}")
    if descriptor and xpub:
        raise BadValue("give --descriptor or --xpub, not both")
    source = descriptor or xpub
    canonical = ""
    if source:
        from cloudlease.bitcoin.wallet import parse_wallet_source

        canonical = parse_wallet_source(source.strip(), network)
    elif network == "mainnet":
        raise BadValue("mainnet needs a watch-only wallet: pass --descriptor or --xpub "
                       "(keys wallets are for regtest and test networks)")
    backend = backend or ("devchain" if network == "regtest" else "esplora")
    if backend not in config.BACKENDS:
        raise BadValue(f"unknown backend {backend!r} (choose {', '.join(config.BACKENDS)})")
    if backend == "devchain" and network != "regtest":
        raise BadValue("the devchain backend is a simulated regtest chain; it refuses "
                       f"{network}")
    for url in esplora_urls or []:
        if not url.startswith(("http://", "https://")) or validate.has_control(url):
            raise BadValue(f"--esplora-url must be an http(s) URL, got {url!r}")
    if fixed_rate:
        from cloudlease.ops.quote import parse_rate

        fixed_rate = str(parse_rate(fixed_rate))
    home = Home(path)
    home.path.mkdir(parents=True, exist_ok=True)
    with store.lock(home, lock_timeout):
        if home.ledger.exists() or home.config.exists():
            if not force:
                raise Conflict(f"{home.path} already holds a cloudlease home; pass --force to "
                               "start it afresh")
            try:
                old = store.read(home)
            except LedgerError:
                old = None
            if old is not None and (old.leases or old.archives):
                raise Conflict(f"{home.path} holds leases; --force will not erase a ledger "
                               "with history")
        text = config.render_template(
            network=network, currency=currency,
            wallet_kind="descriptor" if canonical else "keys", descriptor=canonical,
            backend=backend, esplora_urls=esplora_urls, rpc_url=rpc_url or "",
            fixed_rate=fixed_rate or "")
        config.parse(tomllib.loads(text))  # the template must always parse
        atomic_write(home.config, text.encode())
        ledger = Ledger(network=network, currency=currency, created_at=clock.now())
        starter = None
        if network != "mainnet":
            name, price = STARTER_PLAN
            ledger.plans[name] = Plan(name=name, created_at=ledger.created_at, price_sats=price)
            starter = name
        store.create(home, ledger)
    return InitResult(home.path, network, "descriptor" if canonical else "keys", backend,
                      starter)
