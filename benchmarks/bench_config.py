"""What reading config.toml costs: on every command, whole, with every check.

Prints (nothing is asserted):

- in-process, median of many runs: ``config.load`` of init's config.toml (keys wallet), of
  a descriptor home's, and of one with ``[provision] driver = "ssh-account"`` (its state
  folder and shell checked on this machine); the light descriptor check
  (``core.descriptors.problem``) beside a full parse by the wallet code (embit), import
  excluded and included;
- the import of ``cloudlease.config`` in a fresh interpreter (``-X importtime``);
- start-up of ``cloudlease lease list --json`` on a 1,000-lease descriptor home (wall and
  CPU time of the subprocess), and with ``--baseline DIR`` the same command run by the
  tree in DIR (e.g. ``git archive main | tar -x -C /tmp/base``), the runs interleaved so
  that a busy machine slows both alike.

Run from the repository root:

    python benchmarks/bench_config.py
    python benchmarks/bench_config.py --baseline /tmp/base --runs 41
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402


def per_call(fn: Callable[[], object], runs: int) -> float:
    """Median seconds of one call of ``fn`` (after one untimed call)."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def in_process(tmp: Path, runs: int, baseline: Path | None) -> None:
    from cloudlease import config
    from cloudlease.bitcoin.wallet import parse_wallet_source
    from cloudlease.core.descriptors import problem

    keys_home = c.init_home(tmp / "keys", wallet="keys")
    desc_home = c.init_home(tmp / "desc")
    ssh_home = c.init_home(tmp / "ssh")
    state = Path(f"/var/lib/cl-bench-config-{os.getpid()}")
    cfg = ssh_home / "config.toml"
    head = cfg.read_text().split("\n[provision]\n")[0]
    cfg.write_text(f'{head}\n\n[provision]\ndriver = "ssh-account"\nstate_dir = "{state}"\n')
    for label, home in (("init's config.toml (keys wallet)", keys_home),
                        ("a descriptor wallet's", desc_home),
                        ("with [provision] driver ssh-account", ssh_home)):
        t = per_call(lambda h=home: config.load(h / "config.toml"), runs)
        print(f"config.load, {label:38s} {t * 1e6:8.0f} µs")
    if baseline is not None:
        code = ("import statistics, sys, time; from pathlib import Path; "
                "from cloudlease import config; p = Path(sys.argv[1]); config.load(p); "
                "ts = []\nfor _ in range(500):\n t = time.perf_counter(); config.load(p); "
                "ts.append(time.perf_counter() - t)\nprint(statistics.median(ts))")
        for label, home in (("init's config.toml (keys wallet)", keys_home),
                            ("a descriptor wallet's", desc_home)):
            out = subprocess.run([sys.executable, "-c", code, str(home / "config.toml")],
                                 env=c.env(PYTHONPATH=str(baseline)), check=True,
                                 capture_output=True, text=True).stdout
            print(f"config.load, {label:38s} {float(out) * 1e6:8.0f} µs  (baseline)")
    descriptor = config.load(desc_home / "config.toml").wallet.descriptor
    t = per_call(lambda: problem(descriptor, "regtest"), runs)
    print(f"{'light descriptor check (core.descriptors)':52s} {t * 1e6:8.0f} µs")
    t = per_call(lambda: parse_wallet_source(descriptor, "regtest"), max(5, runs // 10))
    print(f"{'full parse by the wallet code (embit, imported)':52s} {t * 1e6:8.0f} µs")
    code = ("import time; t = time.perf_counter(); "
            "from cloudlease.bitcoin.wallet import parse_wallet_source as p; "
            f"p({descriptor!r}, 'regtest'); print(time.perf_counter() - t)")
    cold = statistics.median(float(subprocess.run([sys.executable, "-c", code], check=True,
                                                  capture_output=True, text=True).stdout)
                             for _ in range(5))
    print(f"{'importing the wallet code and embit, then the parse':52s} {cold * 1e6:8.0f} µs")


def import_time(root: Path | None) -> float:
    """Cumulative µs of ``import cloudlease.config`` (median of 7 fresh interpreters)."""
    environ = c.env(**({"PYTHONPATH": str(root)} if root else {}))
    found = []
    for _ in range(7):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c",
                              "import cloudlease.config"], env=environ, check=True,
                             capture_output=True, text=True).stderr
        line = next(x for x in err.splitlines() if re.search(r"\| cloudlease\.config$", x))
        found.append(int(line.split("|")[1]))
    return statistics.median(found)


def timed(argv: list[str], environ: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``argv``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(argv, env=environ, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup(tmp: Path, runs: int, baseline: Path | None) -> None:
    home = tmp / "home-1k"
    c.build_home(home, 1000)
    argv = [sys.executable, "-m", "cloudlease", "lease", "list", "--json", "--home", str(home)]
    trees = {"this tree": c.env(PYTHONPATH=str(c.REPO))}
    if baseline is not None:
        trees[f"baseline {baseline}"] = c.env(PYTHONPATH=str(baseline))
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for environ in trees.values():  # warm the bytecode caches
        timed(argv, environ)
    for _ in range(runs):
        for name, environ in trees.items():
            samples[name].append(timed(argv, environ))
    print(f"\nlease list --json on 1,000 leases (python -m cloudlease, {runs} interleaved runs)")
    for name, got in samples.items():
        walls, cpus = [w for w, _ in got], [u for _, u in got]
        print(f"  {name:40s} wall median {statistics.median(walls) * 1000:6.1f} ms "
              f"(min {min(walls) * 1000:5.1f})   CPU median "
              f"{statistics.median(cpus) * 1000:6.1f} ms (min {min(cpus) * 1000:5.1f})")
    print("\nimport cloudlease.config (cumulative, -X importtime, median of 7)")
    for name, root in (("this tree", c.REPO), *(((f"baseline {baseline}", baseline),)
                                                if baseline else ())):
        print(f"  {name:40s} {import_time(root) / 1000:6.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21, help="subprocess runs per tree")
    ap.add_argument("--baseline", type=Path, help="another tree to compare start-up with")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    tmp = Path(tempfile.mkdtemp(prefix="cloudlease-bench-config-"))
    try:
        in_process(tmp, 500, args.baseline)
        startup(tmp, args.runs, args.baseline)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
