"""The house rules of docs/architecture.md that import-linter cannot see, held in CI: no SQL
text outside ledger/, no import circle (lazy imports included), nothing in the package
root but the entry points, no function over 25 cyclomatic complexity, no core rule that
reads the clock."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_architecture", ROOT / "benchmarks" / "bench_architecture.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_architecture", module)
    spec.loader.exec_module(module)
    return module


BENCH = _bench()
MODULES = BENCH.modules(ROOT)


def test_no_sql_outside_the_ledger():
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for name, path in MODULES.items() if not name.startswith("cloudlease.ledger")
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if BENCH.SQL.search(line)]
    assert not found, "\n".join(found)


def test_no_import_circles():
    graph = {name: BENCH.imports(name, path, MODULES) for name, path in MODULES.items()}
    assert BENCH.circles(graph) == []


def test_the_package_root_holds_only_the_entry_points():
    assert sorted(p.name for p in (ROOT / "cloudlease").glob("*.py")) == [
        "__init__.py", "__main__.py"]


def test_no_function_over_25_cyclomatic_complexity():
    from radon.complexity import cc_visit

    over = []
    for path in MODULES.values():
        for block in cc_visit(path.read_text()):
            for item in [block, *getattr(block, "methods", [])]:
                if item.complexity > 25:
                    over.append(f"{path.relative_to(ROOT)}:{item.lineno} {item.name} "
                                f"({item.complexity})")
    assert not over, "\n".join(over)


def test_the_core_takes_the_time_it_is_given():
    """Only core/clock.py reads the clock; every other rule gets ``now`` as an argument."""
    readers = []
    for name, path in MODULES.items():
        if not name.startswith("cloudlease.core.") or name == "cloudlease.core.clock":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today") \
                    and re.match(r"(clock|datetime|date)$", getattr(node.value, "id", "")):
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and node.module == "cloudlease.core.clock":
                if any(a.name == "now" for a in node.names):
                    readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not readers, readers
