"""``init``: make a home (config.toml from the template and a new ledger), or attach a
second host to a shared PostgreSQL ledger."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from cloudlease import config
from cloudlease.config.lightning import LightningSettings
from cloudlease.core import clock
from cloudlease.core.errors import BadValue, Conflict, LedgerError
from cloudlease.files.fsio import FileLock, fsync_dir
from cloudlease.files.home import Home
from cloudlease.ledger import store, tools
from cloudlease.model import Plan

STARTER_PLAN = ("standard", 1000)  # name, sat per hour (test networks only)
# tables that hold history: a ledger with any row in them is never erased by --force
HISTORY = ("tenants", "leases", "payment_requests", "payments", "contributions", "payouts",
           "invoices")


@dataclass
class InitResult:
    home: Path
    network: str
    wallet: str
    backend: str
    starter_plan: str | None
    ledger: str = "sqlite"
    ledger_id: str = ""
    attached: bool = False
    lightning: str = "none"


@dataclass(frozen=True)
class Choices:
    """What ``init`` writes into config.toml and the ledger's meta, checked.

    Attributes:
        descriptor: the canonical watch-only descriptor, or "" for a keys wallet.
        ledger_url: ``--ledger-url`` as given (written to config.toml), or "".
        shared_url: the PostgreSQL ledger to create or attach to (``--ledger-url`` or
            ``CLOUDLEASE_LEDGER_URL``), or "" for ledger.db in the home.
        lightning: the ``[lightning]`` settings (``init --lightning``).
    """

    network: str
    currency: str
    descriptor: str
    backend: str
    esplora_urls: list[str] | None
    rpc_url: str
    fixed_rate: str
    ledger_url: str
    shared_url: str
    lightning: LightningSettings

    @property
    def wallet(self) -> str:
        """The ledger's ``meta.wallet``: ``descriptor:<descriptor>`` or ``keys``."""
        return f"descriptor:{self.descriptor}" if self.descriptor else "keys"

    def config_text(self, ledger_id: str) -> str:
        return config.render_template(
            network=self.network, currency=self.currency,
            wallet_kind="descriptor" if self.descriptor else "keys", descriptor=self.descriptor,
            backend=self.backend, esplora_urls=self.esplora_urls, rpc_url=self.rpc_url,
            fixed_rate=self.fixed_rate, ledger_url=self.ledger_url, ledger_id=ledger_id,
            lightning=self.lightning)


# config.toml's keys that init's options fill, to say which option a problem is about
OPTIONS = {"network": "--network", "currency": "--currency",
           "wallet.descriptor": "--descriptor/--xpub", "backend.kind": "--backend",
           "backend.esplora_urls": "--esplora-url", "backend.rpc_url": "--rpc-url",
           "rates.fixed": "--fixed-rate", "ledger.url": "--ledger-url",
           "lightning.backend": "--lightning", "lightning.url": "--ln-url"}


def init(path: str | os.PathLike[str], *, network: str = "regtest", currency: str = "USD",
         descriptor: str | None = None, xpub: str | None = None, backend: str | None = None,
         esplora_urls: list[str] | None = None, rpc_url: str | None = None,
         fixed_rate: str | None = None, force: bool = False, ledger_url: str | None = None,
         lock_timeout: float = store.DEFAULT_LOCK_TIMEOUT, lightning: str | None = None,
         ln_url: str | None = None, ln_macaroon: str | None = None,
         ln_tls_cert: str | None = None) -> InitResult:
    """Make a home at ``path``: check every option (BadValue, exit 2, before anything is
    made), then, under the home's lock, refuse a home already there (unless ``force`` and
    provably empty), create the ledger (or attach to a shared one) and write config.toml."""
    path = Path(path).expanduser()
    choices = choose(network=network, currency=currency, descriptor=descriptor, xpub=xpub,
                     backend=backend, esplora_urls=esplora_urls, rpc_url=rpc_url,
                     fixed_rate=fixed_rate, ledger_url=ledger_url, lightning=lightning,
                     ln_url=ln_url, ln_macaroon=ln_macaroon, ln_tls_cert=ln_tls_cert)
    check_config(choices, path)
    home = _make_home(path)
    now = clock.now()
    meta = store.new_meta(choices.network, choices.currency, now, wallet=choices.wallet)
    records = _starter_records(choices.network, now)
    result = InitResult(home.path, choices.network, "descriptor" if choices.descriptor
                        else "keys", choices.backend, records[0].name if records else None,
                        lightning=choices.lightning.backend)

    def write_config(ledger_id: str) -> None:
        config.write_new(home.config, choices.config_text(ledger_id))

    with FileLock(home.lock, lock_timeout):
        if holds_home(home.path):
            if not force:
                raise Conflict(f"{home.path} already holds a cloudlease home; pass --force to "
                               "start it afresh")
            _prove_empty(home, lock_timeout)
        if choices.shared_url:
            return _init_shared(home, choices.shared_url, meta, records, write_config, result,
                                lock_timeout)
        result.ledger_id = _create_local(home, meta, records, lock_timeout)
        write_config(result.ledger_id)
    return result


def choose(*, network: str, currency: str, descriptor: str | None, xpub: str | None,
           backend: str | None, esplora_urls: list[str] | None, rpc_url: str | None,
           fixed_rate: str | None, ledger_url: str | None, lightning: str | None,
           ln_url: str | None, ln_macaroon: str | None, ln_tls_cert: str | None) -> Choices:
    """``init``'s options as what config.toml will say: the network, the wallet (parsed
    by the wallet code), defaults for the chain backend and the Lightning node, the rate,
    a shared ledger. Each is refused with BadValue (exit 2) naming the option."""
    network = config.check_network(network)
    canonical = _wallet(network, descriptor, xpub)
    backend = backend or ("devchain" if network == "regtest" else "esplora")
    ln_settings = _lightning(lightning, ln_url, ln_macaroon, ln_tls_cert, network, backend)
    if fixed_rate:
        from cloudlease.ops.quote import parse_rate

        fixed_rate = str(parse_rate(fixed_rate))
    shared_url = ledger_url or os.environ.get("CLOUDLEASE_LEDGER_URL") or ""
    if shared_url and not canonical:
        raise BadValue("a shared ledger needs a watch-only wallet (--descriptor or --xpub): "
                       "address indexes come from the database, and a keys wallet's private "
                       "keys would live on one host only")
    return Choices(network=network, currency=currency.strip().upper(), descriptor=canonical,
                   backend=backend, esplora_urls=esplora_urls, rpc_url=rpc_url or "",
                   fixed_rate=fixed_rate or "", ledger_url=ledger_url or "",
                   shared_url=shared_url, lightning=ln_settings)


def check_config(choices: Choices, home: Path) -> None:
    """Read the config.toml ``init`` would write as every command will read it, before
    anything is made: every problem at once (BadValue, exit 2), each naming the option
    that gave the value."""
    text = choices.config_text("0" * 32)
    _settings, problems = config.validate(tomllib.loads(text, parse_float=Decimal),
                                          home=home)
    if not problems:
        return
    lines = [f"{OPTIONS.get(p.key, 'config.toml:' + p.key)}: {p.message}" for p in problems]
    if len(lines) == 1:
        raise BadValue(lines[0])
    raise BadValue(f"{len(lines)} options cannot be used", problems=lines)


def _wallet(network: str, descriptor: str | None, xpub: str | None) -> str:
    """The canonical descriptor of ``--descriptor`` or ``--xpub`` ("" for a keys wallet,
    which mainnet refuses)."""
    if descriptor and xpub:
        raise BadValue("give --descriptor or --xpub, not both")
    source = descriptor or xpub
    if source:
        from cloudlease.bitcoin.wallet import parse_wallet_source

        return parse_wallet_source(source.strip(), network)
    if network == "mainnet":
        raise BadValue("mainnet needs a watch-only wallet: pass --descriptor or --xpub "
                       "(keys wallets are for regtest and test networks)")
    return ""


def _make_home(path: Path) -> Home:
    home = Home(path)
    try:
        home.path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(f"cannot create {home.path}: {exc.strerror}",
                          code="home_unwritable") from None
    return home


def _starter_records(network: str, now: datetime) -> list[Plan]:
    """A starter plan on test networks (the quick start rents without adding one)."""
    if network == "mainnet":
        return []
    name, price = STARTER_PLAN
    return [Plan(name=name, created_at=now, price_sats=price)]


def _lightning(name: str | None, url: str | None, macaroon: str | None, tls_cert: str | None,
               network: str, backend: str) -> LightningSettings:
    """The ``[lightning]`` settings ``init`` writes: as given, else the simulated node on a
    regtest home with the simulated chain (so the quick start shows both ways to pay),
    else none."""
    from cloudlease.config.lightning import check_init_args

    if name is None:
        given = [flag for flag, v in (("--ln-url", url), ("--ln-macaroon", macaroon),
                                      ("--ln-tls-cert", tls_cert)) if v]
        if given:
            raise BadValue(f"{', '.join(given)} need --lightning electrum or lnd")
        name = "devchain" if network == "regtest" and backend == "devchain" else "none"
    return check_init_args(name, url, macaroon, tls_cert, network)


def _create_local(home: Home, meta: dict[str, str], records: list, lock_timeout: float) -> str:
    """A new ledger.db, built beside it and renamed into place: a crash leaves no ledger
    or a whole one."""
    from cloudlease.ledger.db import open_sqlite

    tmp = home.path / f".ledger.db.{os.getpid()}.new"
    for stale in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
        stale.unlink(missing_ok=True)
    db = open_sqlite(tmp, lock_timeout=lock_timeout, create=True)
    try:
        tools.use_wal(db)
        db.lock_path = home.path / ".ledger-init.lock"
        ledger_id = store.create_schema(db, meta, records, timeout=lock_timeout)
    finally:
        db.close()
        (home.path / ".ledger-init.lock").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        home.db.with_name(home.db.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, home.db)
    fsync_dir(home.path)
    return ledger_id


def _init_shared(home: Home, url: str, meta: dict[str, str], records: list, write_config,
                 result: InitResult, lock_timeout: float) -> InitResult:
    from cloudlease.ledger.db import open_postgres

    db = open_postgres(url, lock_timeout=lock_timeout)
    try:
        if store.has_ledger(db):
            store.check_schema(db)
            facts = tools.meta_facts(db)
            for key in ("network", "wallet", "currency"):
                if facts.get(key) != meta[key]:
                    shown = "the wallet" if key == "wallet" else f"{key} {facts.get(key)!r}"
                    raise Conflict(f"the shared ledger at {db.where} uses {shown}, not what "
                                   f"was given here; give the same --network, --currency and "
                                   "--descriptor/--xpub as the first host")
            ledger_id = facts["ledger_id"]
            result.attached = True
        else:
            ledger_id = store.create_schema(db, meta, records, timeout=lock_timeout)
    finally:
        db.close()
    write_config(ledger_id)
    result.ledger = "postgresql"
    result.ledger_id = ledger_id
    return result


def holds_home(path: Path) -> bool:
    """Whether ``path`` already holds a cloudlease home (what ``init --force`` replaces)."""
    home = Home(path)
    return home.config.exists() or home.config.is_symlink() or home.has_local_ledger()


def check_reinit(path: Path, lock_timeout: float = store.DEFAULT_LOCK_TIMEOUT) -> None:
    """Refuse (exit 4) before asking, when ``init --force`` would refuse anyway."""
    _prove_empty(Home(path), lock_timeout, erase=False)


def _prove_empty(home: Home, lock_timeout: float, *, erase: bool = True) -> None:
    """``init --force`` starts afresh only a home whose ledger it can read and that holds no
    history; anything it cannot prove empty is refused. ``erase=False`` only checks."""
    refuse = ("--force will not erase a ledger it cannot prove empty: {why}; move the home "
              "aside or restore it instead")
    if home.legacy_ledger.exists():
        try:
            from cloudlease.ledger.legacy.store import read

            old = read(home)
        except LedgerError as exc:
            raise Conflict(refuse.format(why=f"ledger.toml cannot be read ({exc.message})")
                           ) from None
        if old.leases or old.requests or old.archives or old.tenants or old.contributions \
                or old.invoices:
            raise Conflict(refuse.format(why="ledger.toml holds history"))
    if home.db.exists() or home.db.is_symlink():
        from cloudlease.ledger.db import open_sqlite

        try:
            db = open_sqlite(home.db, lock_timeout=lock_timeout)
            try:
                store.check_schema(db)
                for table in HISTORY:
                    if tools.row_count(db, table):
                        raise Conflict(refuse.format(why=f"ledger.db holds {table}"))
            finally:
                db.close()
        except LedgerError as exc:
            raise Conflict(refuse.format(why=f"ledger.db cannot be read ({exc.message})")
                           ) from None
        if not erase:
            return
        for p in (home.db, home.db.with_name("ledger.db-wal"), home.db.with_name("ledger.db-shm")):
            p.unlink(missing_ok=True)
    if not erase:
        return
    for name in ("ledger.toml", "audit.log"):
        (home.path / name).unlink(missing_ok=True)
