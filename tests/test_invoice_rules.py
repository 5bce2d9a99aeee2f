"""The pure invoice rules on generated records: what a document's lines add up to
(``build_lines``) and what ``verify`` finds wrong with a ledger's documents
(``invoice_problems``). The same rules through the commands: tests/test_invoices.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cloudlease.core import invoices
from cloudlease.model import (
    Consideration,
    Contribution,
    ContributionKind,
    ContributionStatus,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Lease,
    LeaseStatus,
    PaymentRequest,
    Payout,
    RequestStatus,
)

UTC_ZONE = invoices.zone("UTC")
NY = invoices.zone("America/New_York")
T0 = datetime(2026, 2, 25, tzinfo=UTC)
# mostly in March 2026, some just before or after (in UTC or New York time)
_when = st.builds(lambda day, minute: datetime(2026, 3, 1, tzinfo=UTC)
                  + timedelta(days=day, minutes=minute),
                  st.sampled_from([10, -1, 0, 1, 14, 30, 31, 35]), st.integers(0, 24 * 60 - 1))
_tenant = st.sampled_from([None, "alice", "bob"])


# -- lines -------------------------------------------------------------------------------
@st.composite
def _records(draw) -> dict:
    leases = {f"L-{i}": Lease(id=f"L-{i}", status=LeaseStatus.ENDED, hours=1,
                              plan=draw(st.sampled_from(["small", "gpu"])), created_at=T0,
                              tenant=draw(_tenant)) for i in range(1, 4)}
    requests = []
    for i in range(1, draw(st.integers(1, 8)) + 1):
        amount = draw(st.integers(1, 20_000))
        rate = draw(st.sampled_from([None, Decimal("98765.43")]))
        requests.append(PaymentRequest(
            id=f"P-{i}", purpose=draw(st.sampled_from(["rent", "extend", "invest"])),
            address="bcrt1qx", amount_sats=amount, created_at=T0, expires_at=T0,
            uri="bitcoin:x", status=draw(st.sampled_from([RequestStatus.SETTLED] * 3
                                                         + list(RequestStatus))),
            lease=draw(st.sampled_from([None, "L-1", "L-2", "L-3", "L-9"])),
            tenant=draw(_tenant), hours=draw(st.sampled_from([None, 1, 3])),
            invest_sats=draw(st.sampled_from([0, amount // 4])),
            settled_at=draw(st.one_of(st.none(), _when, _when)), rate=rate,
            currency="USD" if rate else None,
            txids=(f"{i:064x}",)))
    contributions = [
        Contribution(id=f"C-{i}", pool="gpu", tenant=draw(st.sampled_from(["alice", "bob"])),
                     kind=draw(st.sampled_from(list(ContributionKind))),
                     amount_sats=draw(st.integers(1, 5_000)), created_at=T0,
                     request=draw(st.sampled_from([None] + [r.id for r in requests])),
                     settled_at=draw(st.none() | _when), topup=draw(st.booleans()),
                     status=draw(st.sampled_from(list(ContributionStatus))))
        for i in range(1, draw(st.integers(0, 4)) + 1)]
    payouts = [Payout(id=f"gpu/{p}", pool="gpu", period=p, consideration=Consideration.OWNERSHIP,
                      basis_sats=1, distributable_sats=1, created_at=T0,
                      shares=draw(st.dictionaries(st.sampled_from(["alice", "bob"]),
                                                  st.integers(0, 900))))
               for p in draw(st.sets(st.sampled_from(["2026-02", "2026-03"])))]
    return {"requests": requests, "leases": leases, "contributions": contributions,
            "payouts": payouts, "covers": {}, "request_by_id": {r.id: r for r in requests}}


def lines_of(records: dict, tenant: str | None, kind: str, tz=UTC_ZONE) -> list[dict]:
    return invoices.build_lines(tenant, "2026-03", tz, kind=kind, **records)


def _in_march(when: datetime | None, tz) -> bool:
    start, end = invoices.period_bounds("2026-03", tz)
    return when is not None and start <= when < end


@given(_records(), _tenant, st.sampled_from(["invoice", "contributions"]),
       st.sampled_from([UTC_ZONE, NY]))
def test_a_documents_lines_add_up_to_what_was_paid(records, tenant, kind, tz):
    lines = lines_of(records, tenant, kind, tz)
    leases = records["leases"]
    rentals = [r for r in records["requests"]
               if r.status == "settled" and r.purpose in ("rent", "extend")
               and _in_march(r.settled_at, tz)
               and (leases[r.lease].tenant if r.lease in leases else r.tenant) == tenant]
    if kind == "invoice":
        # every rental of the month once (summed per day and plan when anonymous)
        assert sum(x["sats"] for x in lines) == sum(r.amount_sats - r.invest_sats
                                                    for r in rentals)
        if tenant is not None:
            assert [x["ref"] for x in lines] == [x["ref"] for x in sorted(
                lines, key=lambda x: (x["settled_at"], int(x["ref"][2:])))]
        else:
            assert sum(x["payments"] for x in lines) == len(rentals)
        return
    if tenant is None:
        assert lines == []  # anonymous buyers have no contribution statement
        return
    settled = [c for c in records["contributions"] if c.status == "settled" and c.request]
    backed = {c.request for c in settled}
    mine = [c for c in records["contributions"] if c.tenant == tenant
            and c.status == "settled" and _in_march(c.settled_at, tz)]
    unbacked = [r.invest_sats for r in rentals if r.id not in backed]
    shares = [p.shares.get(tenant, 0) for p in records["payouts"] if p.period == "2026-03"]
    assert sum(x["sats"] for x in lines) == \
        sum(c.amount_sats for c in mine) + sum(unbacked) - sum(shares)
    assert {x["kind"] for x in lines} <= {"investment", "donation", "payout"}
    assert all(x["sats"] for x in lines)


# -- integrity ---------------------------------------------------------------------------
def _issue(inv: Invoice, number: str, status=InvoiceStatus.ISSUED) -> Invoice:
    inv = inv.replace(number=number, issued_at=T0 + timedelta(days=40), status=status)
    return inv.replace(content_sha256=invoices.content_sha256(inv))


@st.composite
def _documents(draw) -> tuple[list[Invoice], dict[str, int]]:
    """Issued documents numbered without gaps in their series, drafts, and voided invoices
    each with its credit note: a ledger with nothing wrong."""
    docs: list[Invoice] = []
    counters: dict[str, int] = {}
    n = 0
    for kind in draw(st.lists(st.sampled_from(["invoice", "statement", "contributions"]),
                              max_size=6)):
        n += 1
        sats = draw(st.lists(st.integers(-5_000, 5_000), min_size=1, max_size=3))
        doc = Invoice(id=f"D-{n}", period="2026-03", status=InvoiceStatus.DRAFT,
                      created_at=T0, tenant="alice", kind=kind, total_sats=sum(sats),
                      lines=tuple({"kind": "lease", "sats": s} for s in sats))
        if draw(st.booleans()):
            docs.append(doc)
            continue
        count = counters[invoices.counter_key(kind, 2026)] = \
            counters.get(invoices.counter_key(kind, 2026), 0) + 1
        number = invoices.make_number(kind, 2026, count)
        if kind == "invoice" and draw(st.booleans()):
            docs.append(_issue(doc, number, InvoiceStatus.VOID))
            n += 1
            note = doc.replace(id=f"D-{n}", kind=InvoiceKind.CREDIT_NOTE,
                               credit_note_for=number, total_sats=-doc.total_sats,
                               lines=tuple(invoices.credit_lines(doc.lines)))
            docs.append(_issue(note, invoices.credit_note_number(number)))
        else:
            docs.append(_issue(doc, number))
    return docs, counters


@given(_documents())
def test_a_ledger_with_nothing_wrong_has_no_problems(ledger):
    docs, counters = ledger
    assert invoices.invoice_problems(docs, counters) == []


_FAULTS = {
    "edited": "was changed after it was issued",
    "total": "is not the sum of its lines",
    "dropped": "missing (gapless numbering broken)",
    "counter": "counter for 2026 is",
    "twice": "is used by both",
    "void": "is void but has no credit note",
    "draft": "is a draft but carries a number",
    "unhashed": "without a number, issue time or content hash",
}


@given(_documents(), st.sampled_from(sorted(_FAULTS)), st.data())
def test_each_fault_is_named(ledger, fault, data):
    docs, counters = ledger
    issued = [d for d in docs if d.number and d.kind != "credit_note"]
    if not issued:
        return
    i = docs.index(data.draw(st.sampled_from(issued)))
    d = docs[i]
    if fault == "edited":
        docs[i] = d.replace(tenant="mallory")
    elif fault == "total":
        docs[i] = d.replace(total_sats=d.total_sats + 1)
    elif fault == "dropped":
        del docs[i]
    elif fault == "counter":
        counters[invoices.counter_key(d.kind, 2026)] -= 1
    elif fault == "twice":
        docs.append(d.replace(id="D-99"))
    elif fault == "void":
        docs[i] = _issue(d, d.number, InvoiceStatus.VOID)
        docs = [x for x in docs if x.credit_note_for != d.number]
    elif fault == "draft":
        docs.append(d.replace(id="D-99", status=InvoiceStatus.DRAFT))
    else:
        docs[i] = d.replace(content_sha256=None)
    problems = invoices.invoice_problems(docs, counters)
    assert any(_FAULTS[fault] in p for p in problems), (fault, problems)
