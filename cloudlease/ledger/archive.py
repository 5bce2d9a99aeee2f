"""Sealed history: closed leases and their payment requests moved out of the hot ledger.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from cloudlease import clock
from cloudlease.errors import LedgerError
from cloudlease.ledger.fsio import atomic_write
from cloudlease.model import CLOSED_LEASE, Lease, PaymentRequest, RequestStatus, record_number

if TYPE_CHECKING:
    from cloudlease.ledger.state import Ledger
    from cloudlease.ledger.store import Home

SEAL_AFTER = timedelta(days=2)
SEAL_BATCH = 200  # seal once this many closed leases are old enough
IDEMPOTENCY_KEEP = timedelta(days=30)
FINAL_REQUEST = {RequestStatus.SETTLED, RequestStatus.EXPIRED, RequestStatus.INVALID}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"cannot store {type(value).__name__} in an archive")


def sealable(ledger: Ledger, now: datetime) -> list[str]:
    """Ids of closed leases old enough to seal, whose requests are all final."""
    cutoff = now - SEAL_AFTER
    out = []
    for lease in ledger.leases.values():
        if lease.status not in CLOSED_LEASE or lease.closed_at is None:
            continue
        if lease.closed_at > cutoff:
            continue
        reqs = [ledger.requests.get(r) for r in lease.requests]
        if all(r is None or (r.status in FINAL_REQUEST and "late" not in r.flags) for r in reqs):
            out.append(lease.id)
    return out


def sealable_requests(ledger: Ledger, now: datetime) -> list[str]:
    """Final requests that pay for no lease (investments, donations, top-ups), closed
    long enough ago: their contributions stay in the ledger, the requests need not."""
    cutoff = now - SEAL_AFTER
    out = []
    for r in ledger.requests.values():
        if r.lease is not None or r.status not in FINAL_REQUEST or "late" in r.flags:
            continue
        closed = r.settled_at if r.status == RequestStatus.SETTLED else r.expires_at
        if closed is not None and closed <= cutoff:
            out.append(r.id)
    return out


def seal_if_due(home: Home, ledger: Ledger, *, force: bool = False) -> int:
    """Seal old closed history when a batch is due; returns how many leases were sealed."""
    now = clock.now()
    _prune_idempotency(ledger, now)
    ids = sealable(ledger, now)
    standalone = sealable_requests(ledger, now)
    if not ids and not standalone or (len(ids) + len(standalone) < SEAL_BATCH and not force):
        return 0
    number = max((int(k) for k in ledger.archives), default=0) + 1
    prev = ledger.archives[str(number - 1)]["sha256"] if number > 1 else None
    leases = {i: ledger.leases[i] for i in ids}
    req_ids = [r for lease in leases.values() for r in lease.requests if r in ledger.requests]
    req_ids += standalone
    body = {
        "format": "cloudlease-archive",
        "segment": number,
        "prev_sha256": prev,
        "sealed_at": now,
        "leases": {i: lease.to_dict() for i, lease in leases.items()},
        "requests": {r: ledger.requests[r].to_dict() for r in req_ids},
    }
    data = json.dumps(body, default=_json_default, sort_keys=True, indent=0,
                      ensure_ascii=False).encode()
    name = f"segment-{number:06d}.json"
    home.archive_dir.mkdir(exist_ok=True)
    atomic_write(home.archive_dir / name, data, mode=0o444)
    ledger.archives[str(number)] = {
        "file": name, "sha256": hashlib.sha256(data).hexdigest(), "leases": len(leases),
        "requests": len(req_ids), "sealed_at": now,
        "lease_ids": ranges(leases), "request_ids": ranges(req_ids),
    }
    for i, lease in leases.items():
        if lease.idempotency_key:
            ledger.idempotency[lease.idempotency_key] = {"lease": i, "sealed_at": now}
        del ledger.leases[i]
    for r in req_ids:
        del ledger.requests[r]
    return len(leases)


def _prune_idempotency(ledger: Ledger, now: datetime) -> None:
    for key in [k for k, v in ledger.idempotency.items()
                if isinstance(v.get("sealed_at"), datetime)
                and v["sealed_at"] < now - IDEMPOTENCY_KEEP]:
        del ledger.idempotency[key]


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


def iter_leases(home: Home, ledger: Ledger) -> Iterator[Lease]:
    """Every sealed lease, oldest segment first."""
    for number in sorted(ledger.archives, key=int):
        seg = load_segment(home, number, ledger.archives[number])
        for lease_id, data in seg.get("leases", {}).items():
            yield Lease.from_json(data, f"archive {number}: leases.{lease_id}")


def iter_lease_data(home: Home, ledger: Ledger) -> Iterator[dict[str, Any]]:
    """Every sealed lease as the plain data of its (hash-checked) segment."""
    for number in sorted(ledger.archives, key=int):
        yield from load_segment(home, number, ledger.archives[number]).get("leases",
                                                                           {}).values()


def iter_requests(home: Home, ledger: Ledger) -> Iterator[PaymentRequest]:
    for number in sorted(ledger.archives, key=int):
        seg = load_segment(home, number, ledger.archives[number])
        for rid, data in seg.get("requests", {}).items():
            yield PaymentRequest.from_json(data, f"archive {number}: requests.{rid}")


def find_lease(home: Home, ledger: Ledger, lease_id: str) -> Lease | None:
    for lease in iter_leases(home, ledger):
        if lease.id == lease_id:
            return lease
    return None


def ranges(ids: Iterable[str]) -> str:
    """``L-1, L-2, L-3, L-7`` → ``1-3,7``: a segment's ids, compact, kept in the ledger."""
    numbers = sorted(record_number(i) for i in ids)
    out: list[str] = []
    for n in numbers:
        if out and "-" in out[-1] and int(out[-1].split("-")[1]) == n - 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        elif out and "-" not in out[-1] and int(out[-1]) == n - 1:
            out[-1] = f"{out[-1]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out)


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


def check(home: Home, ledger: Ledger) -> list[str]:
    """Problems with the sealed segments: missing, altered, out of chain."""
    return scan(home, ledger).problems
