"""Reading a home in the first ledger format (``ledger.toml``, ``audit.log``,
``archive/segment-*.json``) so that it can be verified and migrated to SQL."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudlease.core.errors import LedgerError
from cloudlease.ledger.legacy import archive, audit, state
from cloudlease.ledger.legacy.home import LegacyHome
from cloudlease.ledger.legacy.state import Ledger


def read_bytes(home: LegacyHome) -> bytes:
    try:
        return home.ledger.read_bytes()
    except FileNotFoundError:
        raise LedgerError(f"no ledger at {home.ledger}", code="ledger_missing") from None
    except OSError as exc:
        raise LedgerError(f"cannot read {home.ledger}: {exc.strerror}") from None


def read(home: Any) -> Ledger:
    """The first-format ledger of a home (``home.path``), parsed and validated."""
    legacy = LegacyHome(Path(home.path))
    return state.loads(read_bytes(legacy), str(legacy.ledger))


@dataclass
class Check:
    """What verifying a first-format home found (problems refuse a migration)."""

    ledger: Ledger
    data: bytes
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    audit_entries: int = 0
    head_hash: str = ""


def check(path: Path) -> Check:
    """Verify the audit chain and the sealed segments, as ``verify`` did in that format."""
    home = LegacyHome(path)
    data = read_bytes(home)
    ledger = state.loads(data, str(home.ledger))
    report = Check(ledger, data)
    chain = audit.check_chain(home.audit, ledger.audit_seq, hashlib.sha256(data).hexdigest())
    report.problems += chain.problems
    report.notes += chain.notes
    report.audit_entries = chain.entries
    last = audit.last_entry(home.audit)
    report.head_hash = last["hash"] if last else ""
    report.problems += archive.scan(home, ledger, deep=True).problems
    return report
