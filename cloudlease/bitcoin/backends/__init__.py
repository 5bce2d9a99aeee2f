"""Chain backends behind one small interface (see ``base.py``); which class a name in
``[backend] kind`` means is in ``cloudlease.config.registry``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudlease.config.registry import CHAIN_BACKENDS

if TYPE_CHECKING:
    from cloudlease.bitcoin.backends.base import Backend
    from cloudlease.config import Settings
    from cloudlease.files.home import Home


def make_backend(settings: Settings, home: Home) -> Backend:
    """The backend config.toml names, ready to use (its module imported now)."""
    backend: Backend = CHAIN_BACKENDS.load(settings.backend.kind).from_settings(settings, home)
    return backend
