"""Provisioning: a paid lease becomes a machine the tenant can log into, and stops being
one when its time is up (DESIGN.md, "Provisioning").

Import the driver you need through :func:`make_driver`; this package imports nothing heavy.
"""

from cloudlease.provision.base import (
    Driver,
    Limits,
    Machine,
    MachineSpec,
    State,
    Want,
    make_driver,
    reconcile,
)
from cloudlease.provision.config import ProvisionSettings, parse_section

__all__ = ["Driver", "Limits", "Machine", "MachineSpec", "ProvisionSettings", "State", "Want",
           "make_driver", "parse_section", "reconcile"]
