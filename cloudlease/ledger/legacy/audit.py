"""The hash-chained audit trail (``audit.log``, one JSON object a line).

Entry ``n`` records what a write did and the SHA-256 of the ledger file it produced, and
carries the hash of entry ``n-1``; the ledger records ``audit_seq = n``. So an edited
ledger no longer matches its entry, an edited entry breaks the chain, and a truncated
log ends before the ledger's ``audit_seq``.

A write appends its entry first, then replaces the ledger. A crash between the two
leaves one entry past the ledger's ``audit_seq`` that never took effect; ``recover``
(under the lock) drops it, and ``verify`` reports it as an interrupted write, not damage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
                          ).hexdigest()


def last_entry(path: Path) -> dict[str, Any] | None:
    """The last complete entry, read from the end of the file (cheap on long logs)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    with path.open("rb") as fh:
        chunk = 4096
        while True:
            start = max(0, size - chunk)
            fh.seek(start)
            data = fh.read(size - start)
            end = data.rfind(b"\n")
            if end < 0:
                if start == 0:
                    return None
                chunk *= 4
                continue
            begin = data.rfind(b"\n", 0, end) + 1
            if begin == 0 and start > 0:
                chunk *= 4
                continue
            try:
                return json.loads(data[begin:end])
            except ValueError:
                return None


@dataclass
class ChainReport:
    """What ``check_chain`` found: problems fail verification, notes do not."""

    entries: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def check_chain(path: Path, ledger_seq: int, ledger_sha256: str) -> ChainReport:
    report = ChainReport()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        report.problems.append("audit.log is missing")
        return report
    if data and not data.endswith(b"\n"):
        report.notes.append("audit.log ends in a torn line (an interrupted write); ignored")
        data = data[: data.rfind(b"\n") + 1]
    prev = GENESIS
    expected_seq = 1
    entries: list[dict[str, Any]] = []
    for lineno, line in enumerate(data.splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            report.problems.append(f"audit.log line {lineno} is not valid JSON")
            return report
        if not isinstance(entry, dict):
            report.problems.append(f"audit.log line {lineno} is not an entry")
            return report
        if entry.get("seq") != expected_seq:
            report.problems.append(
                f"audit.log line {lineno}: expected entry {expected_seq}, found "
                f"{entry.get('seq')!r} (records lost or reordered)")
            return report
        if entry.get("prev") != prev:
            report.problems.append(f"audit entry {expected_seq}: chain broken (prev hash differs)")
            return report
        if entry.get("hash") != entry_hash(entry):
            report.problems.append(f"audit entry {expected_seq} was edited (hash differs)")
            return report
        prev = entry["hash"]
        expected_seq += 1
        entries.append(entry)
    report.entries = len(entries)
    if len(entries) == ledger_seq + 1 and entries[-1].get("ledger_sha256") != ledger_sha256:
        report.notes.append(f"audit entry {ledger_seq + 1} belongs to a write that was "
                            "interrupted before the ledger was replaced; ignored")
        entries.pop()
    if len(entries) < ledger_seq:
        report.problems.append(f"audit.log ends at entry {len(entries)} but the ledger was "
                               f"written by entry {ledger_seq} (log truncated)")
    elif len(entries) > ledger_seq:
        report.problems.append(f"audit.log has entries past the ledger's audit_seq {ledger_seq}"
                               " (the ledger was rolled back or replaced)")
    elif entries and entries[-1].get("ledger_sha256") != ledger_sha256:
        report.problems.append("ledger.toml does not match its audit entry "
                               f"{ledger_seq}: it was edited outside cloudlease")
    return report
