"""Provisioning figures (printed, never asserted), as root with the real parts:

- ssh-account and podman: time from ``provision()`` to the first successful ``ssh`` login
  (the provision call itself, then the login, median of ``--runs``);
- ssh-account: the same with and without the lease's private IPC namespace;
- ssh-account: ``release()`` of a lease whose tenant left objects behind (SysV shared
  memory, semaphores, message queues, a POSIX message queue, files in /tmp, and a session
  still running), and within it the new cleanup: emptying the lease's namespaces and the
  sweep by uid in the host's;
- ssh-account: ``provision()`` while ``nobody`` holds 95% of a 200-port range;
- ssh-account: ``provision()`` of ``--leases`` leases one after the other (as a ``tick``
  would), then ``release()`` of all of them at once (the teardown when they all end).

    python benchmarks/bench_provision.py [--runs 5] [--leases 100] [--skip-podman]

Everything it makes is named ``cl-t…`` and released at the end, even on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import remove_bench_group  # noqa: E402
from cloudlease.config.provision import parse_section  # noqa: E402
from cloudlease.provision import sshd, sweep  # noqa: E402
from cloudlease.provision.base import Limits, MachineSpec, State  # noqa: E402
from cloudlease.provision.podman import PodmanDriver  # noqa: E402
from cloudlease.provision.sshaccount import SshAccountDriver  # noqa: E402
from tests.provision_parts import (  # noqa: E402
    Squatter,
    build_image,
    cleanup_host,
    ensure_container_subids,
    free_range,
    keypair,
    lease_id,
    ssh,
)

LIMITS = Limits(Decimal("0.5"), 256 * 2**20, 64)


def spec(pub: str) -> MachineSpec:
    return MachineSpec(lease_id(), "bench", (pub,), LIMITS,
                       datetime.now(UTC) + timedelta(hours=1), "bench")


def first_login(driver, s: MachineSpec, key: Path) -> tuple[float, float]:
    """(seconds in provision(), seconds from the call to the first successful login)."""
    start = time.perf_counter()
    machine = driver.provision(s, None)
    called = time.perf_counter() - start
    if machine.state is not State.READY:
        raise SystemExit(f"provision failed: {machine.error}")
    while True:
        out = ssh(key, machine.ssh["port"], machine.ssh["user"], "true", timeout=20)
        if out.returncode == 0:
            return called, time.perf_counter() - start
        if time.perf_counter() - start > 30:
            raise SystemExit(f"no login after 30 s: {out.stderr.strip()}")
        time.sleep(0.01)


def report(name: str, samples: list[tuple[float, float]]) -> None:
    calls = [c for c, _ in samples]
    logins = [t for _, t in samples]
    print(f"{name:<13} provision() median {statistics.median(calls) * 1000:7.1f} ms   "
          f"call → first login median {statistics.median(logins) * 1000:7.1f} ms "
          f"(min {min(logins) * 1000:.1f}, max {max(logins) * 1000:.1f}, n={len(samples)})")


LEAVE_BEHIND = ("python3 -c 'import ctypes, os; c = ctypes.CDLL(\"libc.so.6\"); "
                "[c.shmget(0, 4096, 0o1600) for _ in range(20)]; "
                "[c.semget(0, 2, 0o1600) for _ in range(20)]; "
                "[c.msgget(0, 0o1600) for _ in range(20)]; "
                "c.mq_open(b\"/bench\", os.O_CREAT | os.O_RDWR, 0o600, None)'; "
                "for i in $(seq 200); do echo x > /tmp/f$i; done; "
                "nohup sleep 600 >/dev/null 2>&1 & echo ok")


class Timed:
    """Wraps a module function to add up the seconds spent in it."""

    def __init__(self, module, name: str) -> None:
        self.module, self.name, self.total = module, name, 0.0
        self.original = getattr(module, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.total += time.perf_counter() - start

        setattr(module, name, timed)

    def restore(self) -> float:
        setattr(self.module, self.name, self.original)
        return self.total


def release_cleanup(driver, pub: str, key: Path, runs: int) -> None:
    """release() of leases whose tenant left things behind, and the new steps in it."""
    totals, wipes, sweeps = [], [], []
    for _ in range(runs):
        s = spec(pub)
        machine = driver.provision(s, None)
        out = ssh(key, machine.ssh["port"], machine.ssh["user"], LEAVE_BEHIND, timeout=60)
        if out.stdout.strip() != "ok":
            raise SystemExit(f"the tenant could not leave things behind: {out.stderr}")
        wipe, sweep_ = Timed(sweep, "wipe_namespaces"), Timed(sweep, "sweep_uid")
        start = time.perf_counter()
        released = driver.release(s, machine)
        totals.append(time.perf_counter() - start)
        wipes.append(wipe.restore())
        sweeps.append(sweep_.restore())
        if released.state is not State.RELEASED:
            raise SystemExit(f"release failed: {released.error}")
    ms = [statistics.median(x) * 1000 for x in (totals, wipes, sweeps)]
    print(f"release with leftovers: median {ms[0]:7.1f} ms, of which emptying the lease's "
          f"namespaces {ms[1]:.1f} ms and the host sweep by uid {ms[2]:.1f} ms (n={runs})")


def squatted_range(settings: dict, pub: str, work: Path) -> None:
    """provision() while nobody holds 190 of the range's 200 ports (its first 190)."""
    low, high = free_range(200)
    driver = SshAccountDriver(parse_section({**settings, "port_min": low, "port_max": high}),
                              work)
    with Squatter(range(low, low + 190)) as nobody:
        s = spec(pub)
        start = time.perf_counter()
        machine = driver.provision(s, None)
        took = time.perf_counter() - start
        driver.release(s, None)
    if machine.state is not State.READY:
        raise SystemExit(f"provision failed: {machine.error}")
    print(f"provision() with {len(nobody.held)} of 200 ports squatted by nobody: "
          f"{took * 1000:.1f} ms (port {machine.ssh['port']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--leases", type=int, default=100)
    parser.add_argument("--skip-podman", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (accounts, cgroups and podman need it)")
    work = Path(tempfile.mkdtemp(prefix="cl-bench-"))
    state = Path(f"/var/lib/cl-bench-{os.getpid()}")
    low, high = free_range(500)
    raw = {"driver": "ssh-account", "state_dir": str(state / "ssh"), "port_min": low,
           "port_max": high, "cgroup_parent": "cl-bench", "tenant_group": "cl-bench"}
    ssh_settings = parse_section(raw)
    key, pub = keypair(work / "keys")
    made: list[MachineSpec] = []
    try:
        driver = SshAccountDriver(ssh_settings, work)
        samples = []
        for _ in range(args.runs):
            s = spec(pub)
            made.append(s)
            samples.append(first_login(driver, s, key))
            driver.release(s, None)
        report("ssh-account", samples)
        sshd.IPC_NAMESPACE = False
        try:
            samples = []
            for _ in range(args.runs):
                s = spec(pub)
                made.append(s)
                samples.append(first_login(driver, s, key))
                driver.release(s, None)
            report("  no IPC ns", samples)
        finally:
            sshd.IPC_NAMESPACE = True
        release_cleanup(driver, pub, key, args.runs)
        squatted_range(raw, pub, work)

        if not args.skip_podman and shutil.which("podman"):
            ensure_container_subids()
            image = build_image(work / "image")
            pod = PodmanDriver(parse_section({
                "driver": "podman", "state_dir": str(state / "podman"), "image": image,
                "network": "podman", "runtime": "runc", "port_min": low,
                "port_max": high}), work)
            samples = []
            for _ in range(args.runs):
                s = spec(pub)
                samples.append(first_login(pod, s, key))
                pod.release(s, None)
            report("podman", samples)

        batch = [spec(pub) for _ in range(args.leases)]
        made.extend(batch)
        start = time.perf_counter()
        for s in batch:
            m = driver.provision(s, None)
            if m.state is not State.READY:
                raise SystemExit(f"provision failed: {m.error}")
        up = time.perf_counter() - start
        start = time.perf_counter()
        for s in batch:
            m = driver.release(s, None)
            if m.state is not State.RELEASED:
                raise SystemExit(f"release failed: {m.error}")
        down = time.perf_counter() - start
        print(f"{args.leases} ssh-account leases: provision all {up:.2f} s "
              f"({up / args.leases * 1000:.1f} ms each); release all at once {down:.2f} s "
              f"({down / args.leases * 1000:.1f} ms each)")
    finally:
        cleanup_host(ssh_settings, work)
        remove_bench_group("cl-bench")
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
