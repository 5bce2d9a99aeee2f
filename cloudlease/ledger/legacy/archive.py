"""Sealed history of the first ledger format (read only, for migration).

Closed leases and their payment requests moved out of the hot ledger.

The hot ``ledger.toml`` is read and rewritten by every command, so its size sets the
cost of ``rent`` and ``tick``. Leases closed more than ``SEAL_AFTER`` ago (well past the
24 h payment monitoring window) are sealed, in batches, into an immutable JSON segment
``archive/segment-NNNNNN.json``. JSON, not TOML: a sealed segment is never edited and
``json`` reads it some twenty times faster than ``tomllib``. Each segment records the
SHA-256 of the one before it, and the ledger records each segment's SHA-256, so
``verify`` detects an edited, missing or swapped segment by hashing files alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudlease.core.errors import LedgerError
from cloudlease.model import record_number

if TYPE_CHECKING:
    from cloudlease.ledger.legacy.home import LegacyHome as Home
    from cloudlease.ledger.legacy.state import Ledger



def load_segment(home: Home, number: str, meta: dict[str, Any], *, check: bool = True
                 ) -> dict[str, Any]:
    path = home.archive_dir / str(meta.get("file", ""))
    try:
        data = path.read_bytes()
    except OSError:
        raise LedgerError(f"archive segment {number} ({path.name}) is missing") from None
    if check and hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise LedgerError(f"archive segment {number} ({path.name}) was altered (hash differs)")
    try:
        return json.loads(data)
    except ValueError:
        raise LedgerError(f"archive segment {number} ({path.name}) is not valid JSON") from None


def expand(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


@dataclass
class Scan:
    """What ``scan`` found in the sealed segments."""

    problems: list[str] = field(default_factory=list)
    lease_numbers: set[int] = field(default_factory=set)
    request_numbers: set[int] = field(default_factory=set)
    leases: int = 0


def scan(home: Home, ledger: Ledger, *, deep: bool = False) -> Scan:
    """Check every segment against its hash and the chain, and collect the ids sealed.

    A segment whose hash matches is what was sealed, so its ids come from the ledger's
    record of it (itself covered by the audit chain) without parsing the segment; ``deep``
    parses every segment anyway and compares."""
    out = Scan()
    prev = None
    for number in sorted(ledger.archives, key=int):
        meta = ledger.archives[number]
        path = home.archive_dir / str(meta.get("file", ""))
        try:
            data = path.read_bytes()
        except OSError:
            out.problems.append(f"archive segment {number} ({path.name}) is missing")
            prev = meta.get("sha256")
            continue
        if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            out.problems.append(f"archive segment {number} ({path.name}) was altered "
                                "(hash differs)")
            prev = meta.get("sha256")
            continue
        have_ids = isinstance(meta.get("lease_ids"), str)
        seg = None
        if deep or not have_ids:  # a matching hash already proves content and chain
            try:
                seg = json.loads(data)
            except ValueError:
                out.problems.append(f"archive segment {number} is not valid JSON")
                continue
        if seg is not None:
            if seg.get("prev_sha256") != prev:
                out.problems.append(f"archive segment {number} does not follow segment "
                                    f"{int(number) - 1} (chain broken)")
            leases = {record_number(i) for i in seg.get("leases", {})}
            reqs = {record_number(i) for i in seg.get("requests", {})}
            if have_ids and (leases != expand(meta["lease_ids"])
                             or reqs != expand(meta.get("request_ids", ""))):
                out.problems.append(f"archive segment {number} holds other ids than the "
                                    "ledger recorded")
        else:
            leases = expand(meta["lease_ids"])
            reqs = expand(meta.get("request_ids", ""))
        if len(leases) != meta.get("leases"):
            out.problems.append(f"archive segment {number} holds {len(leases)} leases, the "
                                f"ledger says {meta.get('leases')}")
        out.lease_numbers |= leases
        out.request_numbers |= reqs
        out.leases += len(leases)
        prev = meta.get("sha256")
    return out
