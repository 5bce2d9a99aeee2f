"""What every operation needs: the home, its settings, and the lock timeout."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cloudlease import config
from cloudlease.errors import LedgerError
from cloudlease.ledger import store
from cloudlease.ledger.state import Ledger
from cloudlease.ledger.store import Home


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("cloudlease", appauthor=False))


@dataclass
class Context:
    """A handle on one cloudlease home.

    Attributes:
        home: the home directory and its files.
        lock_timeout: seconds to wait for the ledger lock before giving up (exit 5).
    """

    home: Home
    lock_timeout: float = store.DEFAULT_LOCK_TIMEOUT
    _settings: config.Settings | None = field(default=None, repr=False)
    _holding_lock: bool = field(default=False, repr=False)

    @classmethod
    def at(cls, path: str | os.PathLike[str], lock_timeout: float | None = None) -> Context:
        return cls(Home(Path(path).expanduser()),
                   store.DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout)

    @property
    def settings(self) -> config.Settings:
        if self._settings is None:
            self._settings = config.load(self.home.config)
        return self._settings

    def read(self) -> Ledger:
        ledger = store.read(self.home)
        self._check_network(ledger)
        return ledger

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the ledger lock across several transactions."""
        with store.lock(self.home, self.lock_timeout):
            self._holding_lock = True
            try:
                yield
            finally:
                self._holding_lock = False

    @contextmanager
    def transaction(self, action: str) -> Iterator[Ledger]:
        with store.transaction(self.home, action, lock_timeout=self.lock_timeout,
                               already_locked=self._holding_lock) as ledger:
            self._check_network(ledger)
            yield ledger

    def _check_network(self, ledger: Ledger) -> None:
        if self.settings.network != ledger.network:
            raise LedgerError(f"config.toml says network {self.settings.network!r} but the "
                              f"ledger is on {ledger.network!r}; the network is fixed at init",
                              code="config_invalid")
