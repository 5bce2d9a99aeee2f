"""A lease's cgroup on cgroup v1 or v2, behind one interface the driver uses either way.

- v1 (one hierarchy per controller, e.g. ``/sys/fs/cgroup/memory``): ``cpu.cfs_quota_us`` /
  ``cpu.cfs_period_us``, ``memory.limit_in_bytes`` (+ ``memory.memsw.limit_in_bytes`` when
  swap accounting is on), ``pids.max``, ``freezer.state``; the group is one directory per
  controller, all named ``<parent>/<name>``.
- v2 (one unified hierarchy): ``cpu.max``, ``memory.max`` + ``memory.swap.max``,
  ``pids.max``, ``cgroup.freeze``, ``cgroup.kill``; the controllers a limit needs are
  enabled in ``cgroup.subtree_control`` from the root down to the parent.

``auto`` picks v2 when ``/sys/fs/cgroup`` is a cgroup2 mount, else v1. A hybrid host (v1
controllers plus an empty ``/sys/fs/cgroup/unified``) is v1: its v2 hierarchy carries no
cpu/memory/pids controller, so limits cannot be set there.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

from cloudlease.provision.base import Limits
from cloudlease.provision.runner import StepFailed

CFS_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000
V1_CONTROLLERS = ("cpu", "memory", "pids", "freezer")


def cpu_quota_us(cpus: Decimal, period_us: int = CFS_PERIOD_US) -> int:
    """Microseconds of CPU per period for ``cpus`` CPUs (whole µs, rounded up, ≥ 1 ms)."""
    quota = (cpus * period_us).to_integral_value(rounding=ROUND_CEILING)
    return max(MIN_QUOTA_US, int(quota))


def mounts(path: str = "/proc/self/mounts") -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of every cgroup mount."""
    found = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            found.append((fields[1].replace("\\040", " "), fields[2], set(fields[3].split(","))))
    return found


def detect(mode: str = "auto") -> tuple[int, dict[str, Path]]:
    """(version, {controller: hierarchy root}) for ``auto``, ``v1`` or ``v2``.

    For v2 every controller maps to the one unified root (``/sys/fs/cgroup``, or
    ``/sys/fs/cgroup/unified`` on a hybrid host).
    """
    found = mounts()
    unified = [Path(m) for m, kind, _ in found if kind == "cgroup2"]
    if mode == "v2" or (mode == "auto" and Path("/sys/fs/cgroup") in unified):
        if not unified:
            raise StepFailed("cgroup v2 is not mounted (no cgroup2 file system)")
        root = Path("/sys/fs/cgroup") if Path("/sys/fs/cgroup") in unified else unified[0]
        return 2, {c: root for c in V1_CONTROLLERS}
    roots: dict[str, Path] = {}
    for point, kind, options in found:
        if kind == "cgroup":
            for controller in V1_CONTROLLERS:
                if controller in options:
                    roots.setdefault(controller, Path(point))
    if not roots:
        raise StepFailed("no cgroup v1 controller is mounted (and /sys/fs/cgroup is not v2)")
    return 1, roots


@dataclass
class LeaseCgroup:
    """The cgroup(s) ``<parent>/<name>`` of one lease."""

    name: str
    parent: str = "cloudlease"
    mode: str = "auto"

    def __post_init__(self) -> None:
        self.version, self.roots = detect(self.mode)

    # --- where ------------------------------------------------------------------------------
    def path(self, controller: str) -> Path:
        return self.roots[controller] / self.parent / self.name

    def dirs(self) -> list[Path]:
        """Each distinct directory of the group (one on v2, one per hierarchy on v1)."""
        seen: list[Path] = []
        for controller in self.roots:
            p = self.path(controller)
            if p not in seen:
                seen.append(p)
        return seen

    def exists(self) -> bool:
        return any(p.is_dir() for p in self.dirs())

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a new process writes its pid into to join."""
        return [str(p / "cgroup.procs") for p in self.dirs()]

    # --- set up -----------------------------------------------------------------------------
    def create(self, limits: Limits) -> None:
        """Make the group (idempotent) and set ``limits`` on it."""
        need = {"freezer"} if self.version == 1 else set()
        need |= {c for c, v in (("cpu", limits.cpus), ("memory", limits.memory_bytes),
                                ("pids", limits.pids)) if v is not None}
        if self.version == 1:
            missing = sorted(c for c in need if c not in self.roots)
            if missing:
                raise StepFailed(f"cgroup v1 controller {missing[0]} is not mounted")
        else:
            self._enable_v2(need)
        for d in self.dirs():
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StepFailed(f"cannot create cgroup {d}: {exc.strerror}") from None
        self.set_limits(limits)

    def _enable_v2(self, need: set[str]) -> None:
        root = self.roots["cpu"]
        available = set(_read(root / "cgroup.controllers").split())
        missing = sorted(need - available)
        if missing:
            raise StepFailed(
                f"cgroup v2 controller {missing[0]} is not available at {root} "
                f"(available: {', '.join(sorted(available)) or 'none'}; on a hybrid host "
                "the controllers are bound to cgroup v1)")
        if not need:
            return
        current = root
        for part in Path(self.parent).parts:
            _enable(current, need)
            current = current / part
            current.mkdir(exist_ok=True)
        _enable(current, need)

    def set_limits(self, limits: Limits) -> None:
        if self.version == 1:
            if "cpu" in self.roots:
                cpu = self.path("cpu")
                _write(cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", "-1" if limits.cpus is None
                       else str(cpu_quota_us(limits.cpus)))
            if "memory" in self.roots:
                mem = self.path("memory")
                value = "-1" if limits.memory_bytes is None else str(limits.memory_bytes)
                memsw = mem / "memory.memsw.limit_in_bytes"
                if memsw.exists():  # memsw ≥ memory at every step: widen first, then set both
                    _write(memsw, "-1")
                _write(mem / "memory.limit_in_bytes", value)
                if memsw.exists():
                    _write(memsw, value)
            if "pids" in self.roots:
                _write(self.path("pids") / "pids.max",
                       "max" if limits.pids is None else str(limits.pids))
            return
        d = self.path("cpu")
        for name, value, present in (
            ("cpu.max", "max" if limits.cpus is None
             else f"{cpu_quota_us(limits.cpus)} {CFS_PERIOD_US}", limits.cpus),
            ("memory.max", "max" if limits.memory_bytes is None else str(limits.memory_bytes),
             limits.memory_bytes),
            ("memory.swap.max", "0" if limits.memory_bytes is not None else "max",
             limits.memory_bytes),
            ("pids.max", "max" if limits.pids is None else str(limits.pids), limits.pids),
        ):
            if present is not None or (d / name).exists():
                _write(d / name, value)

    # --- processes --------------------------------------------------------------------------
    def procs(self) -> set[int]:
        pids: set[int] = set()
        for d in self.dirs():
            try:
                pids |= {int(x) for x in _read(d / "cgroup.procs").split()}
            except StepFailed:
                continue  # gone already
        return pids

    def freeze(self, timeout: float = 5.0) -> None:
        if not self.exists():
            return
        if self.version == 1:
            state = self.path("freezer") / "freezer.state"
            _write(state, "FROZEN")
            _wait(lambda: _read(state).strip() == "FROZEN", timeout, "freezing the cgroup")
        else:
            d = self.path("cpu")
            _write(d / "cgroup.freeze", "1")
            _wait(lambda: "frozen 1" in _read(d / "cgroup.events"), timeout,
                  "freezing the cgroup")

    def thaw(self) -> None:
        if not self.exists():
            return
        if self.version == 1:
            _write(self.path("freezer") / "freezer.state", "THAWED")
        else:
            _write(self.path("cpu") / "cgroup.freeze", "0")

    def frozen(self) -> bool:
        if not self.exists():
            return False
        if self.version == 1:
            return _read(self.path("freezer") / "freezer.state").strip() == "FROZEN"
        return "frozen 1" in _read(self.path("cpu") / "cgroup.events")

    def kill_all(self, timeout: float = 10.0) -> None:
        """SIGKILL every process in the group: frozen first so none can fork away, then
        thawed so the kills land; repeated until the group is empty."""
        if not self.exists():
            return
        self.freeze()
        if self.version == 2 and (self.path("cpu") / "cgroup.kill").exists():
            _write(self.path("cpu") / "cgroup.kill", "1")
        for pid in self.procs():
            _kill(pid)
        self.thaw()
        deadline = time.monotonic() + timeout
        while self.procs():
            if time.monotonic() > deadline:
                raise StepFailed(f"processes of {self.name} survive SIGKILL: "
                                 f"{sorted(self.procs())[:5]}")
            for pid in self.procs():
                _kill(pid)
            time.sleep(0.02)

    def remove(self) -> None:
        """Remove the group's directories (idempotent); the shared parent stays."""
        for d in self.dirs():
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        raise StepFailed(f"cannot remove cgroup {d}: {exc.strerror}") from None
                    time.sleep(0.02)
            else:
                raise StepFailed(f"cannot remove cgroup {d}: still busy")


def _enable(group: Path, controllers: set[str]) -> None:
    enabled = set(_read(group / "cgroup.subtree_control").split())
    for c in sorted(controllers - enabled):
        _write(group / "cgroup.subtree_control", f"+{c}")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise StepFailed(f"cannot read {path}: {exc.strerror}") from None


def _write(path: Path, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise StepFailed(f"cannot write {value!r} to {path}: {exc.strerror}") from None


def _wait(done, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise StepFailed(f"{what} timed out after {timeout:g}s")
        time.sleep(0.005)
