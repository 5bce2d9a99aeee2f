"""``devchain.json``: the simulated chain's state file — its format, validation, atomic
save, the lock around every change, and cached read-only views.

Every change is a locked read-modify-write of the whole file, saved atomically; readers
never lock (they always see a whole file, thanks to the atomic replace). A missing file is
a fresh chain (genesis only). A missing folder, a corrupt file or a lock held too long is a
``LedgerError``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloudlease.bitcoin.devchain_view import ChainView
from cloudlease.core.errors import LedgerError
from cloudlease.files.fsio import atomic_write, flock_within

FORMAT = "cloudlease-devchain"
VERSION = 1
LOCK_WAIT = 5.0

#: the real regtest genesis block
GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
GENESIS_TIME = 1296688602


def _fresh_state() -> dict[str, Any]:
    genesis = {"hash": GENESIS_HASH, "height": 0, "time": GENESIS_TIME, "prev": None, "txids": []}
    return {
        "format": FORMAT,
        "version": VERSION,
        "network": "regtest",
        "counter": 0,
        "blocks": [genesis],
        "mempool": [],
        "txs": {},
        "replaced": {},
    }


def _validate(state: object, path: Path) -> dict[str, Any]:
    problem = None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        problem = "not a devchain file"
    elif state.get("version") != VERSION:
        problem = f"unsupported version {state.get('version')!r} (this build reads {VERSION})"
    elif not (
        isinstance(state.get("counter"), int)
        and isinstance(state.get("blocks"), list)
        and state["blocks"]
        and isinstance(state.get("mempool"), list)
        and isinstance(state.get("txs"), dict)
        and isinstance(state.get("replaced"), dict)
    ):
        problem = "missing or malformed fields"
    if problem:
        raise LedgerError(f"{path} is invalid: {problem}", code="devchain_invalid")
    return state  # type: ignore[return-value]


_VIEW_CACHE: dict[str, tuple[tuple[int, int, int], ChainView]] = {}
_VIEW_LOCK = threading.Lock()


class DevchainFile:
    """The state file at ``path`` (normally ``<home>/devchain.json``) and its lock file.

    Attributes:
        path: the state file.
        lock_path: ``<path>.lock``, holding the pid of the process that changes the chain.
        lock_wait: seconds to wait for the lock before giving up.
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_wait: float = LOCK_WAIT) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_wait = lock_wait

    def load(self) -> dict[str, Any]:
        """The saved state, or a fresh chain (height 0, genesis only) when there is no file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return _fresh_state()
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from None
        return self._parse(data)

    def _parse(self, data: bytes) -> dict[str, Any]:
        try:
            state = json.loads(data)
        except ValueError:
            raise LedgerError(f"{self.path} is not valid JSON", code="devchain_invalid") from None
        return _validate(state, self.path)

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically: temp file in the same folder, fsync, replace, fsync the folder."""
        _validate(state, self.path)
        data = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            raise LedgerError(f"cannot write {self.path}: {exc.strerror}") from None

    @contextmanager
    def locked(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the exclusive lock on ``devchain.json.lock``; give up after ``timeout`` s
        (default ``lock_wait``, 5 s) with a LedgerError naming the holder's pid."""
        import fcntl

        if timeout is None:
            timeout = self.lock_wait
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LedgerError(f"cannot open {self.lock_path}: {exc.strerror}") from None
        try:
            if not flock_within(fd, timeout):
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise LedgerError(
                    f"{self.path} is locked by another process (pid {holder}); "
                    f"gave up after {timeout:g} s",
                    code="devchain_locked",
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextmanager
    def _change(self) -> Iterator[dict[str, Any]]:
        with self.locked():
            state = self.load()
            yield state
            self.save(state)

    def view(self) -> ChainView:
        """A read-only view of the file as it is now (cached until the file changes)."""
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return ChainView(_fresh_state())
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from None
        with fh:
            st = os.fstat(fh.fileno())
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
            cache_key = str(self.path.resolve())
            with _VIEW_LOCK:
                cached = _VIEW_CACHE.get(cache_key)
                if cached and cached[0] == key:
                    return cached[1]
                try:
                    view = ChainView(self._parse(fh.read()))
                except (KeyError, TypeError, IndexError, AttributeError):
                    raise LedgerError(
                        f"{self.path} is invalid: malformed records", code="devchain_invalid"
                    ) from None
                _VIEW_CACHE[cache_key] = (key, view)
                return view
