"""Provisioning through the real CLI (figures printed, never asserted), as root:

- per driver (ssh-account, podman, command = examples/provision/podman-machine.py): time
  from the start of the ``cloudlease tick`` that settles a paid lease to the tenant's
  first successful ``ssh`` login (and how long that tick itself took), median of ``--runs``;
- ``--leases`` (100) ssh-account leases paid at once: the one ``cloudlease tick`` that
  activates and provisions them all, then the one ``cloudlease tick`` where they all end
  (teardown of 100 accounts, sshds and cgroups), with the ledger writes each made.

    python benchmarks/bench_machines.py [--runs 5] [--leases 100] [--skip-podman]

Homes, accounts, containers and state are made under temporary names and released and
removed at the end, even on failure.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import cloudlease_cmd, env, remove_bench_group, run  # noqa: E402
from tests.machine_helpers import (  # noqa: E402
    release_all,
    set_provision,
    start_lease_ids_at,
)
from tests.provision_parts import (  # noqa: E402
    build_image,
    ensure_container_subids,
    keypair,
    ssh,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "provision" / "podman-machine.py"


class Home:
    """A regtest home driven by in-process CLI calls for setup, a real subprocess for ticks."""

    def __init__(self, path: Path) -> None:
        from typer.testing import CliRunner  # noqa: TID251 - drives the CLI like the tests

        self.path = path
        self.runner = CliRunner()
        self.environ = env(CLOUDLEASE_HOME=str(path))
        run([*cloudlease_cmd(), "init"], environ=self.environ)
        start_lease_ids_at(path, random.randrange(100_000, 999_999))

    def cli(self, *args: str, now: str | None = None) -> str:
        import json

        from cloudlease.cli.main import app

        old = {k: os.environ.get(k) for k in ("CLOUDLEASE_HOME", "CLOUDLEASE_NOW")}
        os.environ["CLOUDLEASE_HOME"] = str(self.path)
        os.environ.pop("CLOUDLEASE_NOW", None)
        if now:
            os.environ["CLOUDLEASE_NOW"] = now
        try:
            result = self.runner.invoke(app, [*args, "--json"], catch_exceptions=False)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        if result.exit_code != 0:
            raise SystemExit(f"cloudlease {' '.join(args)}: exit {result.exit_code}: "
                             f"{result.stderr}")
        return json.loads(result.stdout) if result.stdout.strip() else None

    def tick(self, now: str | None = None) -> tuple[float, dict]:
        import json

        environ = dict(self.environ, **({"CLOUDLEASE_NOW": now} if now else {}))
        t0 = time.perf_counter()
        proc = run([*cloudlease_cmd(), "tick", "--json"], environ=environ)
        return time.perf_counter() - t0, json.loads(proc.stdout)

    def audit_entries(self) -> int:
        """Ledger writes so far (the audit chain's length)."""
        from cloudlease.ops.context import Context

        ctx = Context.at(self.path)
        try:
            return int(ctx.db().one("SELECT max(seq) FROM audit")[0])
        finally:
            ctx.close()


def settle_to_login(home: Home, key: Path, runs: int) -> list[tuple[float, float]]:
    """(tick seconds, tick start → first login seconds) per run."""
    samples = []
    for _ in range(runs):
        lease = home.cli("rent", "--hours", "1", "--plan", "small", "--tenant", "alice")
        home.cli("devchain", "pay", lease["payment"]["id"])
        home.cli("devchain", "mine")
        t0 = time.perf_counter()
        took, report = home.tick()
        m = home.cli("lease", "show", lease["id"])["machine"]
        if not m or m["state"] != "ready" or not m["ssh"]:
            raise SystemExit(f"no machine after the tick: {m}")
        while True:
            out = ssh(key, m["ssh"]["port"], m["ssh"]["user"], "true", timeout=20)
            if out.returncode == 0:
                break
            if time.perf_counter() - t0 > 60:
                raise SystemExit(f"no login after 60 s: {out.stderr.strip()}")
            time.sleep(0.01)
        samples.append((took, time.perf_counter() - t0))
    return samples


def report(name: str, samples: list[tuple[float, float]]) -> None:
    ticks = [t for t, _ in samples]
    logins = [x for _, x in samples]
    print(f"{name:<30} settling tick {statistics.median(ticks) * 1000:7.1f} ms   "
          f"tick start → first login median {statistics.median(logins) * 1000:7.1f} ms "
          f"(min {min(logins) * 1000:.1f}, max {max(logins) * 1000:.1f}, n={len(samples)})")


def driver_home(work: Path, name: str, pub: str, **provision) -> Home:
    home = Home(work / name)
    set_provision(home.path, **provision)
    home.cli("plan", "add", "small", "--price-per-hour", "1000 sat", "--cpus", "0.5",
             "--memory", "256M", "--pids", "64")
    home.cli("tenant", "add", "alice", "--ssh-key", pub)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--leases", type=int, default=100)
    parser.add_argument("--skip-podman", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (accounts, cgroups and podman need it)")
    work = Path(tempfile.mkdtemp(prefix="cl-bench-machines-"))
    state = Path(f"/var/lib/cl-bench-machines-{os.getpid()}")
    key, pub = keypair(work / "keys")
    homes: list[Home] = []
    ssh_settings = {"driver": "ssh-account", "state_dir": str(state / "ssh"),
                    "port_min": 23500, "port_max": 23999, "cgroup_parent": "cl-bench-m",
                    "tenant_group": "cl-bench-m"}
    try:
        home = driver_home(work, "ssh", pub, **ssh_settings)
        homes.append(home)
        report("ssh-account", settle_to_login(home, key, args.runs))
        if not args.skip_podman and shutil.which("podman"):
            ensure_container_subids()  # the podman driver's --userns=auto needs them
            image = build_image(work / "image")
            home = driver_home(work, "podman", pub, driver="podman", image=image,
                               network="podman", runtime="runc",
                               state_dir=str(state / "podman"), port_min=23500,
                               port_max=23999)
            homes.append(home)
            report("podman", settle_to_login(home, key, args.runs))
            command = (f"{EXAMPLE} --image {image} --network podman --runtime runc "
                       f"--port-min 23500 --port-max 23999 --keys-dir {state / 'example'}")
            home = driver_home(work, "command", pub, driver="command", command=command,
                               timeout_seconds=120)
            homes.append(home)
            report("command (podman-machine.py)", settle_to_login(home, key, args.runs))

        home = driver_home(work, "many", pub, **ssh_settings)
        homes.append(home)
        for _ in range(args.leases):
            lease = home.cli("rent", "--hours", "1", "--plan", "small", "--tenant", "alice")
            home.cli("devchain", "pay", lease["payment"]["id"])
        home.cli("devchain", "mine")
        before = home.audit_entries()
        up, rep = home.tick()
        made = [m for m in rep["machines"] if m["state"] == "ready"]
        writes_up = home.audit_entries() - before
        ends = max(x["ends_at"] for x in home.cli("lease", "list", "--open"))
        from cloudlease.core import clock

        later = (clock.parse_utc(ends) + timedelta(seconds=1)).isoformat()
        before = home.audit_entries()
        down, rep = home.tick(now=later)
        gone = [m for m in rep["machines"] if m["state"] == "released"]
        writes_down = home.audit_entries() - before
        print(f"{args.leases} ssh-account leases paid at once: the activating tick made "
              f"{len(made)} machines in {up:.2f} s ({up / args.leases * 1000:.1f} ms each, "
              f"{writes_up} ledger writes)")
        print(f"{args.leases} ssh-account leases ending at once: the tick released "
              f"{len(gone)} in {down:.2f} s ({down / args.leases * 1000:.1f} ms each, "
              f"{writes_down} ledger writes)")
    finally:
        for home in homes:
            release_all(home.path)
        remove_bench_group("cl-bench-m")
        shutil.rmtree(state, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
