"""The serve key: one secret in the home that ``cloudlease serve`` and ``tick`` derive
their keys from, each for one purpose:

- the **L402 root key** that signs and verifies macaroons (``ops/l402.py``);
- the key that derives a lease's **token** from a client's ``Idempotency-Key``
  (``ops/tokens.py``; the ledger's id, which it used before, is no secret);
- the key that signs a lease's **LNURL-pay link** (``ops/topups.py``), so the link does
  not carry the lease's token;
- the key that **encrypts NWC secrets** at rest in the ledger (``ops/renewals.py``).

``<home>/serve.key``: 32 random bytes as hex, mode 0600, made on first use (exclusively:
two processes starting together agree on one). A key that group or others can read, a
symlink, or a malformed file is exit 5, naming it. Several hosts on one PostgreSQL ledger
must share it: copy it to each host's home (``install -m 600``), so that any of them
verifies the others' macaroons and decrypts the others' NWC secrets. It is kept out of the
ledger on purpose: ``ledger dump``, a ``ledger backup`` and anyone who can read the
database would otherwise hold it. Lose it and the L402 credentials in flight, LNURL links
and NWC connections stop working (tenants connect their wallet again); leases and tokens
already issued do not depend on it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
from pathlib import Path

from cloudlease.core.errors import LedgerError

NAME = "serve.key"
_HEX = re.compile(r"[0-9a-f]{64}")
_cache: dict[str, bytes] = {}
_lock = threading.Lock()


def path(home: Path) -> Path:
    return Path(home) / NAME


def key(home: Path) -> bytes:
    """The home's serve key (made on first use)."""
    where = path(home)
    with _lock:
        hit = _cache.get(str(where))
        if hit is not None:
            return hit
        value = _read(where)
        if value is None:
            _make(where)
            value = _read(where)
        assert value is not None
        _cache[str(where)] = value
        return value


def derive(home: Path, purpose: str) -> bytes:
    """A 32-byte key for one purpose (``l402``, ``token``, ``lnurlp``, ``nwc``)."""
    return hmac.new(key(home), f"cloudlease {purpose}".encode(), hashlib.sha256).digest()


def _read(where: Path) -> bytes | None:
    try:
        fd = os.open(where, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LedgerError(f"cannot read {where}: {exc.strerror} (a symlink is refused)",
                          code="key_unsafe") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LedgerError(f"{where} is not a regular file", code="key_unsafe")
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise LedgerError(f"{where} can be read by others (mode "
                              f"{stat.S_IMODE(info.st_mode):04o}); run chmod 600 {where}",
                              code="key_unsafe")
        data = os.read(fd, 200).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    if not _HEX.fullmatch(data):
        raise LedgerError(f"{where} is not a serve key (64 hex digits); restore it from "
                          "another host or remove it to make a new one", code="key_invalid")
    return bytes.fromhex(data)


def _make(where: Path) -> None:
    """Write a fresh key, exclusively: a second process finds the first one's key."""
    tmp = where.with_name(f".{NAME}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (secrets.token_bytes(32).hex() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, where)  # fails when another process made it first: theirs stands
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def forget() -> None:
    """Drop cached keys (tests that replace a home's key)."""
    with _lock:
        _cache.clear()
