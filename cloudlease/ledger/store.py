"""Where the files live and how the ledger is read and written.

Reads take no lock: every file is replaced atomically, so a reader always sees a whole
version. Writes go through ``transaction``: exclusive lock (bounded wait), recovery of an
interrupted write, load, the caller's changes, then — only if the bytes changed — an
audit entry, sealing of old closed history into ``archive/``, and an atomic replace.
An exception inside the block writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from cloudlease import clock
from cloudlease.errors import LedgerError
from cloudlease.ledger import archive, audit, state
from cloudlease.ledger.fsio import FileLock, atomic_write, remove_stale_temps
from cloudlease.ledger.state import Ledger

DEFAULT_LOCK_TIMEOUT = 5.0


@dataclass(frozen=True)
class Home:
    """A cloudlease home directory and the files in it."""

    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def ledger(self) -> Path:
        return self.path / "ledger.toml"

    @property
    def keys(self) -> Path:
        return self.path / "keys.toml"

    @property
    def audit(self) -> Path:
        return self.path / "audit.log"

    @property
    def lock(self) -> Path:
        return self.path / "ledger.lock"

    @property
    def archive_dir(self) -> Path:
        return self.path / "archive"

    @property
    def devchain(self) -> Path:
        return self.path / "devchain.json"

    def exists(self) -> bool:
        return self.ledger.is_file()


def read_bytes(home: Home) -> bytes:
    try:
        return home.ledger.read_bytes()
    except FileNotFoundError:
        raise LedgerError(f"no ledger at {home.ledger} (run 'cloudlease init --home "
                          f"{home.path}' first)", code="ledger_missing") from None
    except OSError as exc:
        raise LedgerError(f"cannot read {home.ledger}: {exc.strerror}") from None


def read(home: Home) -> Ledger:
    """The current ledger, without taking the lock."""
    return state.loads(read_bytes(home), str(home.ledger))


def create(home: Home, ledger: Ledger, action: str = "init") -> None:
    """Write a brand-new ledger and start its audit trail (the caller holds the lock)."""
    home.archive_dir.mkdir(parents=True, exist_ok=True)
    if home.audit.exists():
        home.audit.unlink()
    _save(home, ledger, action, {"added": ["ledger"]})


def _save(home: Home, ledger: Ledger, action: str, changes: dict[str, list[str]],
          plain: dict | None = None) -> str:
    last = audit.last_entry(home.audit)
    prev = last["hash"] if last else audit.GENESIS
    ledger.audit_seq = (last["seq"] if last else 0) + 1
    if plain is not None:
        import tomli_w

        plain["audit_seq"] = ledger.audit_seq
        data = tomli_w.dumps(plain).encode()
    else:
        data = state.dumps(ledger)
    digest = hashlib.sha256(data).hexdigest()
    entry = audit.make_entry(ledger.audit_seq, prev, clock.now().isoformat(), action, digest,
                             changes)
    audit.append(home.audit, entry)
    atomic_write(home.ledger, data)
    return digest


@contextmanager
def lock(home: Home, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    if not home.path.is_dir():
        raise LedgerError(f"home {home.path} does not exist", code="ledger_missing")
    with FileLock(home.lock, timeout):
        yield


@contextmanager
def transaction(home: Home, action: str, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
                already_locked: bool = False) -> Iterator[Ledger]:
    """Lock, load, let the caller change the ledger, and save it if anything changed.

    ``already_locked`` is for a caller that holds the lock across several transactions
    (``tick`` runs hooks between two of them)."""
    with nullcontext() if already_locked else lock(home, lock_timeout):
        original = read_bytes(home)
        before = state.parse_toml(original, str(home.ledger))  # the file as plain data
        ledger = state.from_toml_dict(before, str(home.ledger))
        audit.recover(home.audit, ledger.audit_seq)
        remove_stale_temps(home.path)
        yield ledger
        archive.seal_if_due(home, ledger)
        after = state.to_toml_dict(ledger)  # what writing it now would give
        after["audit_seq"] = before.get("audit_seq")
        if after == before:
            return
        _save(home, ledger, action, _diff(before, after), after)


def _diff(before: dict, after: dict) -> dict[str, list[str]]:
    changes: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
    for table in state.TABLES:
        old, new = before.get(table, {}), after.get(table, {})
        for key in new:
            if key not in old:
                changes["added"].append(f"{table}.{key}")
            elif new[key] != old[key]:
                changes["changed"].append(f"{table}.{key}")
        changes["removed"].extend(f"{table}.{k}" for k in old if k not in new)
    other = [k for k in set(before) | set(after)
             if k not in state.TABLES and k != "audit_seq" and before.get(k) != after.get(k)]
    changes["changed"].extend(sorted(other))
    return {k: v for k, v in changes.items() if v}
