"""The shape of the code, as figures: modules and lines, import circles (every import,
lazy and TYPE_CHECKING ones included), files in the package root, SQL strings outside
ledger/, and functions over 25 and over 15 cyclomatic complexity (radon). Prints; asserts
nothing.

    python benchmarks/bench_architecture.py [REPO]
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

# a string literal holding SQL: a statement, or a clause handed to a query helper
SQL = re.compile(r"""["'][^"'\n]*(\b(SELECT|PRAGMA|WHERE|ORDER BY|IS NULL|IS NOT NULL|NOT IN"""
                 r"""|LIMIT|CAST|INSERT INTO|DELETE FROM|CREATE (TABLE|INDEX|TRIGGER))\b"""
                 r"""|\bUPDATE \w+ SET\b| IN \(|[=<>] \?)""")


def modules(root: Path) -> dict[str, Path]:
    found = {}
    for path in (root / "cloudlease").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every cloudlease module ``name`` imports, anywhere in the file."""
    def resolve(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    out = set()
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            found = resolve(target) if target.startswith("cloudlease") else None
            if found and found != name:
                out.add(found)
    return out


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def complexity(root: Path) -> list[int]:
    out = subprocess.run([sys.executable, "-m", "radon", "cc", "-j", str(root / "cloudlease")],
                         capture_output=True, text=True, check=True).stdout

    def walk(blocks: list[dict]) -> list[dict]:
        return [b for block in blocks for b in [block, *walk(block.get("methods", []))]]

    return [b["complexity"] for blocks in json.loads(out).values()
            for b in walk(blocks) if b.get("type") != "class"]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    known = modules(root)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    rings = circles(graph)
    lines = sum(len(p.read_text().splitlines()) for p in known.values())
    sql = sum(len(SQL.findall(p.read_text())) for name, p in known.items()
              if not name.startswith("cloudlease.ledger"))
    scores = complexity(root)
    print(f"modules {len(known)}, lines {lines}")
    print(f"import circles {len(rings)}" + "".join(
        f"\n  {len(r)}: {', '.join(m.removeprefix('cloudlease.') for m in r)}" for r in rings))
    print(f"files in the package root {len(list((root / 'cloudlease').glob('*.py')))}")
    print(f"SQL strings outside ledger/ {sql}")
    print(f"functions over 25 cyclomatic {sum(s > 25 for s in scores)}, over 15 "
          f"{sum(s > 15 for s in scores)}, highest {max(scores)}")


if __name__ == "__main__":
    main()
