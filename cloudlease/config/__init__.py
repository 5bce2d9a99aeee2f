"""``config.toml``: the operator's settings. Written once at ``init`` from a commented
template and never rewritten by the tool; read and checked whole on every command.

The file must be a regular file (not a symbolic link, a directory or a FIFO) of at most
1 MiB, UTF-8 TOML that fits the schema exactly: one class per table, one line per key, in
``config/settings.py`` (with ``[lightning]`` in ``config/lightning.py`` and ``[provision]``
in ``config/provision.py``; how a key or a table is declared: ``config/schema.py``). Every
problem is found in one pass and reported together (:func:`validate` returns them as
values; :func:`parse` and :func:`load` raise one ``LedgerError``, exit 5, listing each as
``config.toml:table.key: what is wrong and what is allowed``). :func:`load` also checks
what only this machine can say (a malformed wallet descriptor is caught by any command;
``[provision]``'s folder and programs).

Because its hooks are commands that cloudlease runs, the file must not be writable by
others; because it may hold credentials (an RPC or Lightning URL with a password, a
webhook secret, a ledger URL with a password), it must not be readable by others while it
does: ``chmod 600`` (``init`` writes it 0600 through ``write_new``).
"""

from __future__ import annotations

import os
import stat
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudlease.config import schema
from cloudlease.config.lightning import LightningSettings
from cloudlease.config.provision import ProvisionSettings
from cloudlease.config.schema import Checking, Problem
from cloudlease.config.settings import (
    BACKENDS,
    HOOK_EVENTS,
    NETWORKS,
    BackendSettings,
    HooksSettings,
    LedgerSettings,
    OperatorSettings,
    PaymentSettings,
    RatesSettings,
    Settings,
    TaxSettings,
    WalletSettings,
    Webhook,
)
from cloudlease.config.template import DEFAULT_ESPLORA, render_template
from cloudlease.core.errors import BadValue, LedgerError

__all__ = ["BACKENDS", "DEFAULT_ESPLORA", "HOOK_EVENTS", "NETWORKS", "BackendSettings",
           "HooksSettings", "LedgerSettings", "LightningSettings", "OperatorSettings",
           "PaymentSettings", "Problem", "ProvisionSettings", "RatesSettings", "Settings",
           "TaxSettings", "WalletSettings", "Webhook", "check_network", "load", "parse",
           "render_template", "validate", "write_new"]

MAX_BYTES = 1 << 20


def load(path: Path) -> Settings:
    """Read and check ``path`` whole (``LedgerError``, exit 5, naming file and key)."""
    where = str(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise LedgerError(f"no config at {path} (run 'cloudlease init')",
                          code="config_missing") from None
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}", code="config_invalid") \
            from None
    _check_kind(path, info)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise LedgerError(f"cannot read {path}: {exc.strerror}", code="config_invalid") \
            from None
    try:
        info = os.fstat(fd)
        _check_kind(path, info)  # the file opened is the file checked
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise LedgerError(f"{path} is larger than {MAX_BYTES // 1024} KiB; it cannot be a "
                          "cloudlease config", code="config_invalid")
    try:
        raw = tomllib.loads(data.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise LedgerError(f"{path} is not UTF-8 text", code="config_invalid") from None
    except tomllib.TOMLDecodeError as exc:
        raise LedgerError(f"{path} is not valid TOML: {exc}", code="config_invalid") from None
    settings, problems = validate(raw, home=path.parent)
    if problems:
        raise schema.invalid(problems, where)
    _check_mode(path, info, settings)
    return settings


def _check_kind(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise LedgerError(f"{path} is a symbolic link; cloudlease refuses it (a link lets "
                          "someone else swap the settings): put the file itself there",
                          code="config_invalid")
    if stat.S_ISDIR(info.st_mode):
        raise LedgerError(f"{path} is a directory, not a config file", code="config_invalid")
    if not stat.S_ISREG(info.st_mode):
        raise LedgerError(f"{path} is not a regular file", code="config_invalid")


def credentials(settings: Settings) -> list[str]:
    """Which settings hold a credential (by key), for the permission check."""
    from cloudlease.net import parse_url

    found = []
    for key, value, schemes in (
            ("backend.rpc_url", settings.rpc_url, ("http", "https")),
            ("lightning.url", settings.lightning_url, ("http", "https")),
            ("ledger.url", settings.ledger_url, ("postgresql", "postgres"))):
        if value and parse_url(value, schemes=schemes, host_required=False).password:
            found.append(key)
    for i, hook in enumerate(settings.webhooks, 1):
        found.append(f"webhooks[{i}].secret")
        if parse_url(hook.url, schemes=("http", "https")).password:
            found.append(f"webhooks[{i}].url")
    return found


def _check_mode(path: Path, info: os.stat_result, settings: Settings) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o022:
        raise LedgerError(f"{path} is writable by others (mode {mode:04o}) and names commands "
                          f"that cloudlease runs; run chmod 600 {path}", code="config_unsafe")
    held = credentials(settings) if mode & 0o044 else []
    if held:
        raise LedgerError(f"{path} holds a credential ({', '.join(held)}) but others can "
                          f"read it (mode {mode:04o}); run chmod 600 {path}",
                          code="config_unsafe")


def write_new(path: Path, text: str) -> None:
    """Write a new config (``init``): atomically, mode 0600, never through a symlink."""
    from cloudlease.files.fsio import atomic_write

    if path.is_symlink():
        raise LedgerError(f"{path} is a symbolic link; cloudlease refuses it",
                          code="config_invalid")
    atomic_write(path, text.encode("utf-8"), mode=0o600)


def validate(raw: dict[str, Any], home: Path | None = None
             ) -> tuple[Settings, list[Problem]]:
    """Errors as values: the settings from parsed TOML and every problem found, checked
    whole against the schema. Each bad value is replaced by its default in the settings
    returned, so a caller that only reports can go on. With ``home`` (the folder
    config.toml is in), what only this machine can say is checked too."""
    return schema.read(Settings, raw, Checking(home=home))


def parse(raw: dict[str, Any], where: str = "config.toml") -> Settings:
    """Settings from parsed TOML, checked whole; every problem in one ``LedgerError``
    (exit 5). Pure: nothing on this machine is looked at (see ``load``)."""
    settings, problems = validate(raw)
    if problems:
        raise schema.invalid(problems, where)
    return settings


def check_network(name: str) -> str:
    if name not in NETWORKS:
        raise BadValue(f"unknown network {name!r} (choose {', '.join(NETWORKS)})")
    return name
