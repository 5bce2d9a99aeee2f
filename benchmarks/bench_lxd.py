"""The lxd driver on the two-member cluster of scripts/lxd-cluster, through the real CLI
(figures printed, never asserted), as root:

- settlement → first ssh login: from the start of the ``cloudlease tick`` that settles a
  paid lease (and makes its container) to the tenant's first successful ``ssh`` login
  through the proxy device (run inside the cluster's network namespace), and how long the
  tick itself took; median of ``--runs``, placed by the cluster;
- ``--leases`` (20) leases paid at once (a plan of 0.05 CPU, so that 20 fit on two members
  of two threads each): the one tick that makes all their containers, then the one tick
  where they all end (stop + delete of every container).

    bash scripts/lxd-cluster start && eval "$(bash scripts/lxd-cluster env)"
    python benchmarks/bench_lxd.py [--runs 3] [--leases 20]

Everything it makes is released at the end (and swept by label), even on failure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_machines import Home  # noqa: E402
from tests.lxd_parts import configure, ssh, sweep  # noqa: E402
from tests.machine_helpers import release_all  # noqa: E402
from tests.provision_parts import keypair  # noqa: E402


def cluster_env() -> dict:
    missing = [v for v in ("LXD_NETNS", "LXD_URL", "LXD_IMAGE", "LXD_MEMBERS", "LXD_DIRS")
               if not os.environ.get(v)]
    if missing or os.geteuid() != 0:
        raise SystemExit("run as root with the cluster's env: eval \"$(bash "
                         "scripts/lxd-cluster env)\"")
    return {"netns": os.environ["LXD_NETNS"], "url": os.environ["LXD_URL"],
            "image": os.environ["LXD_IMAGE"], "members": os.environ["LXD_MEMBERS"].split(","),
            "dirs": os.environ["LXD_DIRS"].split(",")}


def settle_to_login(home: Home, cluster: dict, key: Path, runs: int) -> list[tuple]:
    samples = []
    for _ in range(runs):
        lease = home.cli("rent", "--hours", "1", "--plan", "small", "--tenant", "alice")
        home.cli("devchain", "pay", lease["payment"]["id"])
        home.cli("devchain", "mine")
        t0 = time.perf_counter()
        took, _ = home.tick()
        m = home.cli("lease", "show", lease["id"])["machine"]
        if not m or m["state"] != "ready":
            raise SystemExit(f"no machine after the tick: {m}")
        tries = 0
        while True:
            tries += 1
            out = ssh(cluster, key, m["ssh"]["port"], "true", timeout=30)
            if out.returncode == 0:
                break
            if time.perf_counter() - t0 > 120:
                raise SystemExit(f"no login after 120 s: {out.stderr.strip()}")
            time.sleep(0.05)
        samples.append((took, time.perf_counter() - t0, m["details"]["member"]))
    return samples


def lxd_home(work: Path, name: str, cluster: dict, pub: str, ports: int,
             cpus: str = "0.5") -> Home:
    """A home on the cluster; its plan's CPU quota decides how many fit (the capacity check
    never promises a member more CPUs than it has threads)."""
    home = Home(work / name)
    configure(home.path, cluster, port_min=ports, port_max=ports + 999)
    home.cli("plan", "add", "small", "--price-per-hour", "1000 sat", "--cpus", cpus,
             "--memory", "256M", "--pids", "64")
    home.cli("tenant", "add", "alice", "--ssh-key", pub)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--leases", type=int, default=20)
    args = parser.parse_args()
    cluster = cluster_env()
    work = Path(tempfile.mkdtemp(prefix="cl-bench-lxd-"))
    key, pub = keypair(work / "keys")
    home = lxd_home(work, "login", cluster, pub, 27000)
    homes = [home]
    try:
        samples = settle_to_login(home, cluster, key, args.runs)
        ticks = [t for t, _, _ in samples]
        logins = [x for _, x, _ in samples]
        print(f"settlement → first ssh login: settling tick median "
              f"{statistics.median(ticks) * 1000:.0f} ms; tick start → first login median "
              f"{statistics.median(logins) * 1000:.0f} ms (min {min(logins) * 1000:.0f}, "
              f"max {max(logins) * 1000:.0f}, n={len(samples)}; members "
              f"{', '.join(m for _, _, m in samples)})")
        release_all(home.path)
        home = lxd_home(work, "batch", cluster, pub, 28000, cpus="0.05")
        homes.append(home)
        leases = []
        for _ in range(args.leases):
            lease = home.cli("rent", "--hours", "1", "--plan", "small", "--tenant", "alice")
            home.cli("devchain", "pay", lease["payment"]["id"])
            leases.append(lease["id"])
        home.cli("devchain", "mine")
        writes = home.audit_entries()
        took, made = home.tick()
        ready = sum(1 for m in made["machines"] if m["state"] == "ready")
        errors = {m["error"] for m in made["machines"] if m["error"]}
        if errors:
            print(f"  failed: {sorted(errors)[:3]}")
        members: dict[str, int] = {}
        for lid in leases:
            member = home.cli("lease", "show", lid)["machine"]["details"].get("member", "?")
            members[member] = members.get(member, 0) + 1
        print(f"{args.leases} leases paid at once: one tick made {ready} containers in "
              f"{took:.1f} s ({took / max(ready, 1) * 1000:.0f} ms each; "
              f"{home.audit_entries() - writes} ledger writes; placed "
              f"{', '.join(f'{k}: {v}' for k, v in sorted(members.items()))})")
        ends = max(home.cli("lease", "show", lid)["ends_at"] for lid in leases)
        writes = home.audit_entries()
        took, done = home.tick(now=ends)
        released = sum(1 for m in done["machines"] if m["state"] == "released")
        print(f"release of {args.leases} leases in one tick: {released} containers stopped "
              f"and deleted in {took:.1f} s ({took / max(released, 1) * 1000:.0f} ms each; "
              f"{home.audit_entries() - writes} ledger writes)")
    finally:
        for h in homes:
            release_all(h.path)
        sweep(cluster)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
