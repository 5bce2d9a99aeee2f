"""Wall time of shell completion (issue 21, item 6) and of ``lease list`` with its paid
totals, on ledgers of 1k, 10k and 100k leases.

Measures (median of several runs of a real subprocess; see ``_common.wall``):

- the floor: ``python -c "import typer"`` (what any Typer CLI costs to start);
- completion through Click's protocol (``_CLOUDLEASE_COMPLETE=complete_bash``): lease
  ids (``lease show L-``, ``L-9`` and ``L-99``), plan names (``rent --plan``) and a fixed
  choice (``rent --method``, no ledger at all);
- ``lease list --json`` (every lease with what it was paid, to /dev/null).

Nothing is asserted: figures are printed.

    python benchmarks/bench_completion.py                 # 1k, 10k, 100k
    python benchmarks/bench_completion.py --sizes 1000 --runs 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import build_home, cloudlease_cmd, env, fmt_wall, wall


def complete_env(home: Path, line: str) -> dict[str, str]:
    return env(CLOUDLEASE_HOME=str(home), COMP_WORDS=line,
               COMP_CWORD=str(len(line.split(" ")) - 1), _CLOUDLEASE_COMPLETE="complete_bash")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cmd = cloudlease_cmd()
    floor = wall([sys.executable, "-c", "import typer"], runs=args.runs)
    print(f"{'import typer':<40} {fmt_wall(floor)}")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            build_home(home, size)
            print(f"-- {size:,} leases")
            for line in ("cloudlease lease show L-", "cloudlease lease show L-9",
                         "cloudlease lease show L-99", "cloudlease rent --plan ",
                         "cloudlease rent --method "):
                w = wall(cmd, runs=args.runs, environ=complete_env(home, line))
                print(f"complete {line.removeprefix('cloudlease '):<31} {fmt_wall(w)}")
            w = wall([*cmd, "lease", "list", "--json"], runs=args.runs,
                     environ=env(CLOUDLEASE_HOME=str(home)))
            print(f"{'lease list --json (paid totals)':<40} {fmt_wall(w)}")


if __name__ == "__main__":
    main()
