"""Where the first-format files of a home are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LegacyHome:
    """The first-format files of a home."""

    path: Path

    @property
    def ledger(self) -> Path:
        return self.path / "ledger.toml"

    @property
    def audit(self) -> Path:
        return self.path / "audit.log"

    @property
    def archive_dir(self) -> Path:
        return self.path / "archive"
