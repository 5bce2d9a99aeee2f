"""Provisioning: a paid lease becomes a machine the tenant can log into, and stops being
one when its time is up (DESIGN.md, "Provisioning").

Import the driver you need through :func:`make_driver`. Names are loaded on first use, so
``config.py`` can read ``[provision]`` through ``cloudlease.provision.config`` on every
command without paying for the rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_WHERE = {"Driver": "base", "Limits": "base", "Machine": "base", "MachineSpec": "base",
          "State": "base", "Want": "base", "make_driver": "base", "reconcile": "base",
          "ProvisionSettings": "config", "parse_section": "config"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"cloudlease.provision.{module}"), name)
