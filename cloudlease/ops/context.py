"""What every operation needs: the home, its settings, the ledger and the lock timeout.

``cloudlease.ops.open(path)`` gives one; the CLI makes its own (``cli/common.py``). A
Context opens its ledger connection on first use and keeps it until ``close()`` (or the
end of a ``with`` block)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cloudlease import config
from cloudlease.core.errors import LedgerError
from cloudlease.files.home import Home
from cloudlease.ledger import store
from cloudlease.ledger.db import Db
from cloudlease.ledger.session import Ledger


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("cloudlease", appauthor=False))


@dataclass
class Context:
    """A handle on one cloudlease home and its ledger.

    Attributes:
        home: the home directory and its files.
        lock_timeout: seconds to wait for the ledger's writer lock before giving up (exit 5).
    """

    home: Home
    lock_timeout: float = store.DEFAULT_LOCK_TIMEOUT
    _settings: config.Settings | None = field(default=None, repr=False)
    _db: Db | None = field(default=None, repr=False)

    @classmethod
    def at(cls, path: str | os.PathLike[str], lock_timeout: float | None = None) -> Context:
        return cls(Home(Path(path).expanduser()),
                   store.DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout)

    def __enter__(self) -> Context:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def settings(self) -> config.Settings:
        if self._settings is None:
            self._settings = config.load(self.home.config)
        return self._settings

    @property
    def ledger_url(self) -> str:
        """A PostgreSQL URL when the ledger is shared; "" for ``ledger.db`` in the home."""
        env = os.environ.get("CLOUDLEASE_LEDGER_URL")
        if env:
            return env
        if not self.home.config.exists():
            return ""
        return self.settings.effective_ledger_url

    def exists(self) -> bool:
        """Whether this home has a ledger to open (local, legacy or shared)."""
        return self.home.has_local_ledger() or bool(
            self.home.config.is_file() and self.ledger_url)

    def db(self) -> Db:
        """The open ledger database (opened once; a first-format home is migrated first)."""
        if self._db is None:
            url = self.ledger_url
            if url:
                from cloudlease.ledger.db import open_postgres

                db = open_postgres(url, lock_timeout=self.lock_timeout)
            else:
                if not self.home.db.exists() and self.home.legacy_ledger.is_file():
                    from cloudlease.ledger.migrate import migrate

                    migrate(self)
                from cloudlease.ledger.db import open_sqlite

                db = open_sqlite(self.home.db, lock_timeout=self.lock_timeout)
            try:
                store.check_schema(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def read(self) -> Ledger:
        """A read session (no lock): what the ledger says now."""
        ledger = Ledger(self.db(), writable=False)
        self._check(ledger)
        return ledger

    @contextmanager
    def transaction(self, action: str | None = None) -> Iterator[Ledger]:
        """One write: lock, check, let the caller change records, audit and commit."""
        with store.transaction(self.db(), action, lock_timeout=self.lock_timeout) as ledger:
            self._check(ledger)
            if self.home.path.is_dir():
                from cloudlease.files.fsio import remove_stale_temps

                remove_stale_temps(self.home.path)
            yield ledger

    def _check(self, ledger: Ledger) -> None:
        if self.settings.network != ledger.network:
            raise LedgerError(f"config.toml says network {self.settings.network!r} but the "
                              f"ledger is on {ledger.network!r}; the network is fixed at init",
                              code="config_invalid")
        expected = self.settings.ledger_id
        if expected and expected != ledger.ledger_id:
            raise LedgerError(f"the ledger at {self.db().where} is ledger {ledger.ledger_id}, "
                              f"but this host's config.toml belongs to ledger {expected}",
                              code="config_invalid")
