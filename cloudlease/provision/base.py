"""The provisioning interface: what a lease asks for, what it got, and the drivers' shape.

A driver turns a paid lease into a machine the tenant can log into, and takes it back.
Every method is idempotent and safe to call again after a crash half-way: the caller
(``tick``, ``rent``) records the returned :class:`Machine` per lease and calls again on the
next pass while the machine is not where the lease wants it (see :func:`reconcile`).

An operational failure (a port range used up, sshd refusing to start, podman missing, the
operator's command failing) is never raised: it comes back as a machine in state
``failed`` with a one-line ``error``, so a failure never un-pays a lease. Only programming
errors raise.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cloudlease.config.registry import PROVISION_DRIVERS
from cloudlease.core import clock
from cloudlease.core.machines import planned
from cloudlease.model.machines import (  # noqa: F401 - the drivers' vocabulary, re-exported
    Limits,
    Machine,
    MachineSpec,
    State,
    Want,
    iso,
)

if TYPE_CHECKING:
    from cloudlease.config.provision import ProvisionSettings

MAX_ERROR = 300  # characters kept of a failure message




class Driver(Protocol):
    """One way of turning leases into machines. Every method is idempotent."""

    name: str

    def provision(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Make the machine ready (create, or repair what is missing); ``ready``/``failed``."""
        ...

    def suspend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Freeze the tenant's processes and refuse logins; ``suspended``/``failed``."""
        ...

    def resume(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Undo :meth:`suspend`; ``ready``/``failed``."""
        ...

    def extend(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """``spec.ends_at`` moved: move what depends on it; ``ready``/``failed``."""
        ...

    def release(self, spec: MachineSpec, current: Machine | None) -> Machine:
        """Kill and remove everything of the lease, even when partly gone already."""
        ...


def make_driver(settings: ProvisionSettings, home_path: str | Path) -> Driver | None:
    """The configured driver, or ``None`` for ``driver = "none"``. Imports it lazily."""
    home = Path(home_path)
    if settings.driver == "none":
        return None
    driver: Driver = PROVISION_DRIVERS.load(settings.driver)(settings, home)
    return driver


def reconcile(driver: Driver, spec: MachineSpec, current: Machine | None,
              want: Want, *, changed: bool = False) -> Machine | None:
    """Call the one method that moves ``current`` towards ``want``; ``None`` = nothing to do
    (see :func:`planned` for which)."""
    action = planned(spec, current, want, changed=changed)
    return None if action is None else getattr(driver, action)(spec, current)


# --- helpers for drivers ---------------------------------------------------------------------
def one_line(text: str, limit: int = MAX_ERROR) -> str:
    """A message squeezed to one printable line of at most ``limit`` characters."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def stderr_tail(raw: bytes | str | None, limit: int = 200) -> str:
    """The last non-empty line of a program's stderr, trimmed (for error messages)."""
    if raw is None:
        return ""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return one_line(lines[-1], limit) if lines else ""


def result(driver: str, state: State, current: Machine | None = None, *,
           ssh: dict[str, Any] | None = None, error: str | None = None,
           details: dict[str, Any] | None = None) -> Machine:
    """A new record: details merge over the current ones (so facts survive a failure)."""
    merged = dict(current.details) if current and current.driver == driver else {}
    merged.update(details or {})
    return Machine(driver=driver, state=state, ssh=ssh,
                   error=None if error is None else one_line(error), details=merged,
                   updated_at=clock.now())


def failed(driver: str, current: Machine | None, error: str, **details: Any) -> Machine:
    """State ``failed`` with a one-line error, keeping the last access details and facts."""
    ssh = current.ssh if current and current.driver == driver else None
    return result(driver, State.FAILED, current, ssh=ssh, error=error, details=details)
