"""Document numbers and integrity (pure): the gapless series, credit-note numbers, the
content hash that covers an issued document, and what ``verify`` finds wrong with a
ledger's documents. The documents themselves are built in ``invoices.py``.

Numbers: each series has its own gapless ledger counter per year of issue (in the
operator's zone), assigned only at issue; a credit note is numbered after its invoice
(``INV-2026-0007-CN``). A number is never reused, even when its document is voided.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from cloudlease.core.periods import iso
from cloudlease.model import Invoice, InvoiceStatus

_NUMBER = re.compile(r"^(INV|STM|CST)-(\d{4})-(\d{4,})$")
SERIES = {"invoice": "INV", "statement": "STM", "contributions": "CST"}


def _ref_key(ref: str) -> tuple[int, str]:
    digits = ref.rpartition("-")[2]
    return (int(digits) if digits.isdigit() else -1, ref)


def counter_key(kind: str, year: int) -> str:
    return f"{kind}_{year}"


def make_number(kind: str, year: int, n: int) -> str:
    return f"{SERIES[kind]}-{year}-{n:04d}"


def credit_note_number(number: str) -> str:
    return f"{number}-CN"


def content_sha256(inv: Invoice) -> str:
    """SHA-256 of what an issued document says (not its later void status): number,
    parties, period, lines, VAT and totals."""
    body = {"id": inv.id, "kind": inv.kind, "number": inv.number, "tenant": inv.tenant,
            "period": inv.period, "issued_at": inv.issued_at, "lines": list(inv.lines),
            "total_sats": inv.total_sats, "credit_note_for": inv.credit_note_for}
    for key in ("seller", "buyer", "tax"):  # frozen at issue (absent from older documents)
        if getattr(inv, key):
            body[key] = getattr(inv, key)
    text = json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return value


def invoice_problems(all_invoices: Iterable[Invoice], counters: Mapping[str, int]
                     ) -> list[str]:
    """What is wrong with the ledger's invoices (for ``verify``): an issued document whose
    content no longer matches its hash, totals that are not the sum of the lines, numbers
    that repeat or leave a gap in their series, and broken credit-note links."""
    problems: list[str] = []
    numbers: dict[str, str] = {}  # number -> the first document that uses it
    series: dict[tuple[str, int], set[int]] = {}  # (kind, year) -> numbers used
    all_invoices = list(all_invoices)
    by_number = {inv.number: inv for inv in all_invoices if inv.number}
    for inv in sorted(all_invoices, key=lambda i: _ref_key(i.id)):
        name = f"invoice {inv.id}" + (f" ({inv.number})" if inv.number else "")
        problems += _total_problems(inv, name)
        if inv.status == InvoiceStatus.DRAFT:
            if inv.number or inv.content_sha256:
                problems.append(f"{name} is a draft but carries a number or content hash")
        elif not inv.number or inv.issued_at is None or not inv.content_sha256:
            problems.append(f"{name} is {inv.status.value} without a number, issue time or "
                            "content hash")
        else:
            problems += _issued_problems(inv, name, by_number, numbers, series)
    return problems + _series_problems(series, counters)


def _total_problems(inv: Invoice, name: str) -> list[str]:
    try:
        line_sum = sum(int(line["sats"]) for line in inv.lines)
    except (KeyError, TypeError, ValueError):
        return [f"{name} has a line without a whole number of sats"]
    if line_sum != inv.total_sats:
        return [f"{name} total {inv.total_sats} sat is not the sum of its lines "
                f"({line_sum} sat)"]
    return []


def _issued_problems(inv: Invoice, name: str, by_number: Mapping[str, Invoice],
                     numbers: dict[str, str], series: dict[tuple[str, int], set[int]]
                     ) -> list[str]:
    """An issued (or void) document: its content hash, its number (used once, well
    formed, recorded in ``numbers`` and ``series``) and its credit-note links."""
    assert inv.number is not None
    problems = []
    if content_sha256(inv) != inv.content_sha256:
        problems.append(f"{name} was changed after it was issued (content hash differs)")
    if inv.number in numbers:
        problems.append(f"number {inv.number} is used by both {numbers[inv.number]} and "
                        f"{inv.id}")
    numbers[inv.number] = inv.id
    if inv.kind == "credit_note":
        return problems + _credit_note_problems(inv, by_number)
    m = _NUMBER.match(inv.number)
    if not m or m.group(1) != SERIES.get(inv.kind):
        return problems + [f"{name} has a malformed number"]
    series.setdefault((inv.kind, int(m.group(2))), set()).add(int(m.group(3)))
    if inv.status == InvoiceStatus.VOID and credit_note_number(inv.number) not in by_number:
        problems.append(f"{name} is void but has no credit note")
    return problems


def _credit_note_problems(note: Invoice, by_number: Mapping[str, Invoice]) -> list[str]:
    orig = by_number.get(note.credit_note_for or "")
    if orig is None or note.number != credit_note_number(orig.number or ""):
        return [f"credit note {note.number} does not refer to an invoice "
                f"({note.credit_note_for!r})"]
    if orig.status != InvoiceStatus.VOID:
        return [f"credit note {note.number} cancels {orig.number}, which is not void"]
    return []


def _series_problems(series: dict[tuple[str, int], set[int]], counters: Mapping[str, int]
                     ) -> list[str]:
    """Each series' numbers against its counter (every series a counter names too): none
    above the counter, none missing below it."""
    problems = []
    for key in counters:
        kind, _, year = key.partition("_")
        if kind in SERIES and year.isdigit():
            series.setdefault((kind, int(year)), set())
    for (kind, year), used in sorted(series.items()):
        counter = counters.get(counter_key(kind, year), 0)
        if used and max(used) > counter:
            problems.append(f"{kind} counter for {year} is {counter} but "
                            f"{make_number(kind, year, max(used))} exists")
        missing = sorted(set(range(1, counter + 1)) - used)
        if missing:
            problems.append(f"{len(missing)} {kind} number(s) of {year} missing (gapless "
                            f"numbering broken), e.g. {make_number(kind, year, missing[0])}")
    return problems
