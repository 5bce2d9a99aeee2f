"""Wall time of real ``cloudlease`` commands on small and large ledgers.

Measures (median of several runs of a real subprocess, ``time.perf_counter``, each
command run once untimed first):

- ``python -c pass`` (interpreter start-up, the floor), ``cloudlease --version`` and
  ``--help``;
- on ledgers of 1k, 10k and 100k leases: ``lease list --json`` (every lease, output to
  /dev/null), ``lease list --open --json`` (the open ones, an indexed query) and
  ``rent --hours 1 --json --no-wait``; ``verify --json`` on the fresh ledger (no
  checkpoint yet: the whole chain, one run), then again (incremental, from the checkpoint
  the first run left), and ``verify --full --json`` (one run);
- ``rent`` again after switching the home to the ``keys`` wallet with a keys.toml holding
  one key per lease, as a keys wallet that made every one of those requests would;
- ``rent`` against the number of open leases (50, 400, 800 of 2,000; half of them
  awaiting payment), which rent should not follow either: it loads the records it needs
  by key and its gap-limit check reads at most ``gap_limit + 1`` requests.

Each ledger is built the way years of use leave it (see ``_common.build_home``): closed
history, 100 recently ended leases and 50 open ones (active / awaiting payment), and two
audit entries per lease, written straight into ledger.db. Sizes of ledger.db (and its
-wal) and keys.toml are printed too. Nothing is asserted: figures are printed beside the
targets.

Run from the repository root:

    python benchmarks/bench_cli.py                  # 1k, 10k, 100k
    python benchmarks/bench_cli.py --sizes 1000,10000 --runs 3
    python benchmarks/bench_cli.py --profile        # also cProfile one rent on 10k

Uses the ``cloudlease`` console script next to ``sys.executable`` when present (it skips
runpy), else ``python -m cloudlease``; subprocesses run without PYTHONDONTWRITEBYTECODE
(see ``_common.env``). Homes are built in a temp dir and removed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402

TARGETS = {"version": 0.150, "rent@10k": 0.300, "list@10k": 0.300}


def target_note(key: str, seconds: float) -> str:
    limit = TARGETS.get(key)
    if limit is None:
        return ""
    verdict = "meets" if seconds < limit else "MISSES"
    return f"   target < {limit * 1000:.0f} ms: {verdict}"


def profile_rent(home: Path, rents: int = 5) -> None:
    """cProfile of in-process rents on ``home`` (the operator's CLI does the same work
    plus start-up and import)."""
    from cloudlease.ops import leases
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    leases.rent(ctx, 1)  # warm caches and imports
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for _ in range(rents):
        leases.rent(ctx, 1)
    prof.disable()
    per = (time.perf_counter() - t0) / rents
    print(f"\ncProfile: {rents} in-process rents on {home.name} ({per * 1000:.1f} ms each "
          "under the profiler)")
    for key, count in (("cumulative", 22), ("tottime", 12)):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key).print_stats(count)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"-- top by {key}:")
        print("\n".join(lines[start:start + count + 1]))
    ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="cProfile rent on the 10k ledger")
    ap.add_argument("--keep", action="store_true", help="keep the temp homes (prints where)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    runs = args.runs
    cmd = c.cloudlease_cmd()
    print(f"python {sys.version.split()[0]} at {sys.executable}")
    print(f"cloudlease command: {' '.join(cmd)}   (median of {runs} runs unless noted)\n")

    w = c.wall([sys.executable, "-c", "pass"], runs=runs)
    print(f"{'python -c pass':44s} {c.fmt_wall(w)}")
    w = c.wall([*cmd, "--version"], runs=runs)
    print(f"{'cloudlease --version':44s} {c.fmt_wall(w)}{target_note('version', w['median'])}")
    w = c.wall([*cmd, "--help"], runs=runs)
    print(f"{'cloudlease --help':44s} {c.fmt_wall(w)}")

    tmp = Path(tempfile.mkdtemp(prefix="cloudlease-bench-cli-"))
    try:
        for n in sizes:
            home = tmp / f"home-{n}"
            print(f"\n== ledger with {n:,} leases ==")
            t0 = time.perf_counter()
            info = c.build_home(home, n)
            print(f"built in {time.perf_counter() - t0:.1f} s: {info['closed']:,} closed, "
                  f"{info['hot_closed']} recently ended, {info['open']} open, "
                  f"{info['audit_entries']:,} audit entries; {c.ledger_size(home)}")
            h = ["--home", str(home)]
            tag = f"@{n // 1000}k"
            heavy = n >= 100_000
            list_runs = min(runs, 3) if heavy else runs
            w = c.wall([*cmd, "lease", "list", "--json", *h], runs=list_runs)
            print(f"{'lease list --json (all, to /dev/null)':44s} {c.fmt_wall(w)}"
                  f"{target_note('list' + tag, w['median'])}")
            w = c.wall([*cmd, "lease", "list", "--open", "--json", *h], runs=runs)
            print(f"{'lease list --open --json':44s} {c.fmt_wall(w)}")
            w = c.wall([*cmd, "rent", "--hours", "1", "--json", "--no-wait", *h], runs=runs)
            print(f"{'rent --json --no-wait (descriptor wallet)':44s} {c.fmt_wall(w)}"
                  f"{target_note('rent' + tag, w['median'])}")
            # the first verify has no checkpoint: it checks the whole chain
            w = c.wall([*cmd, "verify", "--json", *h], runs=1, warmup=0)
            print(f"{'verify --json, first (whole chain, 1 run)':44s} {c.fmt_wall(w)}")
            w = c.wall([*cmd, "verify", "--json", *h], runs=runs)
            print(f"{'verify --json again (incremental)':44s} {c.fmt_wall(w)}")
            w = c.wall([*cmd, "verify", "--full", "--json", *h], runs=1, warmup=0)
            print(f"{'verify --full --json (1 run)':44s} {c.fmt_wall(w)}")
            print(f"after the rents: {c.ledger_size(home)}")
            if args.profile and n == 10_000:
                profile_rent(home)
                print()
            # the same ledger as a keys wallet that made every request
            t0 = time.perf_counter()
            c.set_config(home, "wallet", "kind", "keys")
            c.fill_keystore(home, n)
            print(f"keys.toml with {n:,} keys: {c.human_bytes(c.size_of(home / 'keys.toml'))}"
                  f" (written in {time.perf_counter() - t0:.1f} s)")
            krun = 1 if heavy else runs
            w = c.wall([*cmd, "rent", "--hours", "1", "--json", "--no-wait", *h], runs=krun)
            print(f"{'rent --json --no-wait (keys wallet)':44s} {c.fmt_wall(w)}")
            if not args.keep:
                shutil.rmtree(home)
        # rent loads what it needs by key; neither history nor open leases should show
        print("\n== rent against the number of open leases (2,000 leases in all) ==")
        for open_leases in (50, 400, 800):
            home = tmp / f"open-{open_leases}"
            c.build_home(home, 2000, open_leases=open_leases)
            w = c.wall([*cmd, "rent", "--hours", "1", "--json", "--no-wait", "--home",
                        str(home)], runs=runs)
            label = f"rent, {open_leases} open ({open_leases // 2} awaiting payment)"
            print(f"{label:44s} {c.fmt_wall(w)}")
            if not args.keep:
                shutil.rmtree(home)
    finally:
        if args.keep:
            print(f"\nhomes kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
