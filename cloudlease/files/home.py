"""A cloudlease home: the directory and the files cloudlease keeps in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Home:
    """A cloudlease home directory and the files in it."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def db(self) -> Path:
        return self.path / "ledger.db"

    @property
    def lock(self) -> Path:
        return self.path / "ledger.lock"

    @property
    def keys(self) -> Path:
        return self.path / "keys.toml"

    @property
    def devchain(self) -> Path:
        return self.path / "devchain.json"

    @property
    def legacy_ledger(self) -> Path:
        return self.path / "ledger.toml"

    def has_local_ledger(self) -> bool:
        return self.db.exists() or self.db.is_symlink() or self.legacy_ledger.is_file()
