"""Tenants' SSH public keys: read from the command line or a ``.pub`` file, checked, stored.

Each key must be one line ``TYPE BASE64 [COMMENT]`` of a known type (``provision/keys.py``):
key options (``command=``, ``environment=``...), a second line or control characters are
refused (exit 2) and nothing is stored. A private key given by mistake is refused without
echoing any of it. The drivers write every stored key behind ``restrict,pty``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from cloudlease.core.errors import BadValue
from cloudlease.model import Tenant
from cloudlease.ops.context import Context

MAX_KEYS = 16
MAX_FILE = 64 * 1024


def collect(keys: Iterable[str] = (), files: Iterable[Path] = ()) -> tuple[str, ...]:
    """The checked keys given as ``--ssh-key`` values and ``--ssh-key-file`` files (one key
    per file; ``-`` reads stdin), without duplicates, in the order given."""
    from cloudlease.core.machine_inputs import ssh_public_key

    texts = [(k, "--ssh-key") for k in keys] + [(_read(f), f"--ssh-key-file {f}")
                                                for f in files]
    out: dict[str, str] = {}
    for text, where in texts:
        if "PRIVATE KEY" in text or text.lstrip().startswith("-----BEGIN"):
            raise BadValue(f"{where}: that is a private key; give the public key (the .pub "
                           "file beside it). Nothing was stored")
        try:
            key = ssh_public_key(text)
        except BadValue as exc:
            raise BadValue(f"{where}: {exc.message}") from None
        out.setdefault(key.split()[1], key)  # the same key twice counts once
    if len(out) > MAX_KEYS:
        raise BadValue(f"at most {MAX_KEYS} SSH keys per tenant, got {len(out)}")
    return tuple(out.values())


def _read(path: Path) -> str:
    try:
        if str(path) == "-":
            raw = sys.stdin.buffer.read(MAX_FILE + 1)
        else:
            with open(path, "rb") as f:
                raw = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise BadValue(f"--ssh-key-file {path}: cannot read it: {exc.strerror}") from None
    if len(raw) > MAX_FILE:
        raise BadValue(f"--ssh-key-file {path}: larger than {MAX_FILE // 1024} KB; a public "
                       "key is one line")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadValue(f"--ssh-key-file {path}: not a text file (a public key is one line "
                       "of text)") from None


def set_keys(ctx: Context, name: str, keys: tuple[str, ...]) -> Tenant:
    """Replace a tenant's keys (``tenant edit --ssh-key ...``; an empty tuple removes them).
    Running machines follow on the next tick: new keys are written, removed ones revoked."""
    with ctx.transaction(f"tenant edit {name}") as ledger:
        tenant = ledger.tenant(name)
        if tenant.ssh_keys != keys:
            tenant = tenant.replace(ssh_keys=keys)
            ledger.tenants[name] = tenant
    return tenant
