"""Checks on what tenants and operators type for machines: SSH public keys and plan limits.

A tenant's key is one line ``TYPE BASE64 [COMMENT]`` of a known type whose base64 decodes
to a key blob of that same type. Key options (``command=``, ``environment=``, ``from=``...),
a second line and control characters are refused (:class:`BadValue`, exit 2): the drivers
write every key themselves behind ``restrict,pty`` (:func:`authorized_keys_line`).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from decimal import Decimal, InvalidOperation

from cloudlease.core.errors import BadValue
from cloudlease.core.validate import has_control
from cloudlease.model.machines import Limits

KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
KEY_OPTIONS = "restrict,pty"  # every key the drivers write: no forwarding, no rc, a pty
MAX_KEY_LINE = 16 * 1024
MIN_RSA_BITS = 2048
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")

MIN_CPUS, MAX_CPUS = Decimal("0.01"), Decimal(1024)
MIN_MEMORY, MAX_MEMORY = 16 * 1024**2, 16 * 1024**4
MIN_PIDS, MAX_PIDS = 8, 4_194_304
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_MEMORY = re.compile(r"^([0-9]+)([KMGT]?)(I?B)?$")
_CPUS = re.compile(r"^[0-9]+(\.[0-9]{1,3})?$")


def ssh_public_key(text: str) -> str:
    """One OpenSSH public key line, checked; returns ``TYPE BASE64 [COMMENT]``."""
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if "\n" in text or "\r" in text:
        raise BadValue("an SSH key must be one line (give each key on its own)")
    if has_control(text):
        raise BadValue("an SSH key must not contain control characters")
    if len(text) > MAX_KEY_LINE:
        raise BadValue(f"an SSH key line must be at most {MAX_KEY_LINE} characters")
    parts = text.strip().split(None, 2)
    if not parts:
        raise BadValue("an SSH key must not be empty")
    kind = parts[0]
    if kind not in KEY_TYPES:
        if any(t in parts[1:2] or f" {t} " in f" {text} " for t in KEY_TYPES):
            raise BadValue("SSH key options (command=, environment=, from=...) are not "
                           "allowed: give the key alone, as 'TYPE BASE64 [COMMENT]'")
        raise BadValue(f"not an SSH public key of a known type ({', '.join(KEY_TYPES)})")
    if len(parts) < 2:
        raise BadValue(f"the {kind} key has no base64 body")
    body = parts[1]
    if not _BASE64.match(body):
        raise BadValue(f"the {kind} key's body is not base64")
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BadValue(f"the {kind} key's body is not valid base64") from None
    _check_blob(kind, blob)
    comment = parts[2].strip() if len(parts) > 2 else ""
    if len(comment) > 200:
        raise BadValue("an SSH key comment must be at most 200 characters")
    return f"{kind} {body} {comment}" if comment else f"{kind} {body}"


def authorized_keys_line(key: str) -> str:
    """The line the drivers write for a checked key."""
    return f"{KEY_OPTIONS} {ssh_public_key(key)}"


def _check_blob(kind: str, blob: bytes) -> None:
    """The blob is ``string type`` then the type's fields, nothing more."""
    fields: list[bytes] = []
    pos = 0
    try:
        while pos < len(blob):
            (size,) = struct.unpack(">I", blob[pos:pos + 4])
            if size > len(blob) - pos - 4:
                raise ValueError
            fields.append(blob[pos + 4:pos + 4 + size])
            pos += 4 + size
    except (struct.error, ValueError):
        raise BadValue(f"the {kind} key's body is not a key (truncated)") from None
    if not fields or fields[0] != kind.encode():
        inner = fields[0][:40].decode("ascii", "replace") if fields else ""
        raise BadValue(f"the key says {kind} but its body holds a {inner!r} key")
    rest = fields[1:]
    curve = (kind.split("@")[0].rsplit("-", 1)[1] if kind.startswith(("ecdsa", "sk-ecdsa"))
             else "")
    expected = {"ssh-ed25519": 1, "ssh-rsa": 2, "sk-ssh-ed25519@openssh.com": 2}.get(
        kind, 3 if kind.startswith("sk-") else 2)
    if len(rest) != expected:
        raise BadValue(f"the {kind} key's body has the wrong shape")
    if kind in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com") and len(rest[0]) != 32:
        raise BadValue(f"the {kind} key's body has the wrong length")
    if curve and rest[0] != curve.encode():
        raise BadValue(f"the {kind} key's body names another curve")
    if kind == "ssh-rsa":
        bits = int.from_bytes(rest[1], "big").bit_length()
        if bits < MIN_RSA_BITS:
            raise BadValue(f"RSA keys must have at least {MIN_RSA_BITS} bits, this one has "
                           f"{bits}")


def parse_limits(cpus: str | None = None, memory: str | None = None,
                 pids: str | None = None) -> Limits:
    """``plan add --cpus 0.5 --memory 256M --pids 64``: each optional, ASCII digits only."""
    return Limits(cpus=None if cpus is None else parse_cpus(cpus),
                  memory_bytes=None if memory is None else parse_memory(memory),
                  pids=None if pids is None else parse_pids(pids))


def parse_cpus(text: str) -> Decimal:
    raw = text.strip()
    if not raw.isascii() or not _CPUS.match(raw):
        raise BadValue(f"--cpus must be a number of CPUs such as 0.5 or 2, got {text!r}")
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise BadValue(f"--cpus must be a number, got {text!r}") from None
    if not MIN_CPUS <= value <= MAX_CPUS:
        raise BadValue(f"--cpus must be from {MIN_CPUS} to {MAX_CPUS}, got {text!r}")
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def parse_memory(text: str) -> int:
    raw = text.strip().upper()
    match = _MEMORY.match(raw) if raw.isascii() else None
    if not match:
        raise BadValue(f"--memory must be a size such as 256M or 2G (K, M, G, T: powers of "
                       f"1024), got {text!r}")
    value = int(match.group(1)) * _UNITS[match.group(2)]
    if not MIN_MEMORY <= value <= MAX_MEMORY:
        raise BadValue(f"--memory must be from 16M to 16T, got {text!r}")
    return value


def parse_pids(text: str) -> int:
    raw = text.strip()
    if not raw.isascii() or not raw.isdigit():
        raise BadValue(f"--pids must be a whole number of processes, got {text!r}")
    value = int(raw)
    if not MIN_PIDS <= value <= MAX_PIDS:
        raise BadValue(f"--pids must be from {MIN_PIDS} to {MAX_PIDS}, got {text!r}")
    return value


def format_memory(value: int) -> str:
    """``268435456`` → ``256M`` (the largest unit that divides it exactly)."""
    for unit in ("T", "G", "M", "K"):
        if value % _UNITS[unit] == 0:
            return f"{value // _UNITS[unit]}{unit}"
    return str(value)
