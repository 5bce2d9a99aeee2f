"""Pure chain-and-payment-state rules: ordered observations, first-seen lateness, the
zero-conf cap, the monitoring window, reorgs, refunds, and what a settlement does to a
lease. (The same rules through the operations and the CLI: tests/test_chain_timing.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlease.core.lifecycle import (
    Observation,
    Order,
    Policy,
    apply_request,
    evaluate,
    needed_confirmations,
    order,
    with_refund,
)
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestStatus
from cloudlease.model.chain import Received

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(minutes=15)
ADDR = "bcrt1qexample"
POLICY = Policy()


def req(**kw) -> PaymentRequest:
    base = dict(id="P-1", purpose="rent", address=ADDR, amount_sats=10_000, created_at=T0,
                expires_at=EXPIRES, status=RequestStatus.NEW, uri="bitcoin:x",
                lease="L-1", hours=2)
    base.update(kw)
    return PaymentRequest(**base)


def out(sats: int = 10_000, height: int | None = None, *, rbf: bool = False, txid: str = "aa",
        seen: datetime | None = None) -> Received:
    return Received(ADDR, txid, 0, sats, height, rbf, seen)


def at(minutes: float, height: int, block: str | None = None,
       orphaned: set[str] = frozenset()) -> Observation:
    return Observation(height, T0 + timedelta(minutes=minutes), block or f"b{height}",
                       frozenset(orphaned))


def look(r: PaymentRequest, outputs, o: Observation, policy: Policy = POLICY):
    return evaluate(r, outputs, o, o.taken_at, policy)[0]


def lease(**kw) -> Lease:
    base = dict(id="L-1", status=LeaseStatus.AWAITING_PAYMENT, hours=2, plan="p", created_at=T0,
                requests=("P-1",))
    base.update(kw)
    return Lease(**base)


# -- ordered observations -----------------------------------------------------------------
def test_an_answer_from_before_a_block_never_undoes_a_settlement():
    """Tick A asks at height 100 (unconfirmed); tick B asks at 101 and settles; then A's
    answer is applied: it is stale and changes nothing (no false reorg)."""
    a = at(1, 100)
    b = at(2, 101)
    settled = look(req(), [out(height=101)], b)
    assert settled.status == "settled" and settled.observed_height == 101
    assert order(settled, a) is Order.STALE
    assert evaluate(settled, [out()], a, b.taken_at, POLICY) == (settled, [])


def test_an_answer_asked_earlier_is_stale_even_at_a_higher_tip():
    """A asked before a reorg (tip 101), B after it (tip 100, block 101 orphaned) and was
    applied first: A is older and must not re-settle on the orphaned block."""
    settled = look(req(), [out(height=101)], at(1, 101))
    reorged = look(settled, [out()], at(3, 100, orphaned={"b101"}))
    assert reorged.status == "processing"
    stale = at(2, 101)
    assert order(reorged, stale) is Order.STALE
    assert look(reorged, [out(height=101)], stale) == reorged


def test_a_lagging_server_at_a_lower_tip_is_stale():
    settled = look(req(), [out(height=101)], at(1, 101))
    assert look(settled, [], at(2, 99)) == settled  # a later look, at a lower tip


def test_same_tip_moves_forward_not_backwards_without_evidence():
    seen = look(req(), [out()], at(1, 100))
    assert seen.status == "processing"
    assert look(seen, [], at(2, 100)) == seen  # another mempool view at the same tip
    replaced = look(seen, [out(3_000, txid="bb")], at(3, 100))  # a replacement: evidence
    assert replaced.status == "new" and "partial" in replaced.flags
    assert look(req(), [], at(1, 100)).status == "new"
    assert look(look(req(), [], at(1, 100)), [out()], at(1, 100)).status == "processing"


def test_a_real_reorg_is_recognised():
    settled = look(req(), [out(height=101)], at(1, 101))
    # a competing block at the same height, seen later
    assert order(settled, at(2, 101, "other")) is Order.NEWER
    assert look(settled, [out()], at(2, 101, "other")).status == "processing"
    # the recorded block left the chain: newer whatever the height
    assert order(settled, at(2, 95, orphaned={"b101"})) is Order.NEWER
    # a longer chain: newer
    assert order(settled, at(2, 102)) is Order.NEWER


def test_a_bare_height_is_applied_unordered_and_recorded_nowhere():
    r, _ = evaluate(req(), [out(height=100)], 100, T0, POLICY)
    assert (r.status, r.observed_height, r.observed_hash, r.observed_at) == \
        ("settled", None, None, None)
    assert evaluate(r, [out()], 99, T0, POLICY)[0].status == "processing"


# a chain history: each step pays, mines, or disconnects the tip; a look after each step
_STEPS = st.lists(st.sampled_from(["mine", "mine", "reorg", "wait"]), min_size=1, max_size=12)


def _history(steps: list[str], pay_at: int, rbf: bool) -> list[tuple[Observation, list]]:
    blocks = ["g"]  # hashes of the best chain (height = index)
    gone: set[str] = set()
    confirmed_in: int | None = None
    looks = []
    for i, step in enumerate(["wait", *steps]):
        if step == "mine":
            blocks.append(f"h{len(blocks)}-{i}")
            if confirmed_in is None and i > pay_at:
                confirmed_in = len(blocks) - 1
        elif step == "reorg" and len(blocks) > 1:
            gone.add(blocks.pop())
            if confirmed_in is not None and confirmed_in >= len(blocks):
                confirmed_in = None
        outputs = [out(height=confirmed_in, rbf=rbf)] if i >= pay_at else []
        o = Observation(len(blocks) - 1, T0 + timedelta(seconds=i), blocks[-1],
                        frozenset(gone))
        looks.append((o, outputs))
    return looks


def _truth(o: Observation, outputs: list) -> str:
    paid = sum(x.sats for x in outputs)
    confirmed = sum(x.sats for x in outputs if x.confirmations(o.height) >= 1)
    return "settled" if confirmed >= 10_000 else "processing" if paid >= 10_000 else "new"


@settings(max_examples=200, deadline=None)
@given(_STEPS, st.integers(0, 6), st.booleans(), st.randoms(use_true_random=False))
def test_observations_in_any_order_end_at_the_newest(steps, pay_at, rbf, rnd):
    """Applying the looks in any order never ends in a state older than the newest."""
    looks = _history(steps, pay_at, rbf)
    newest = looks[-1]
    in_order = req()
    for o, outputs in looks:
        in_order = look(in_order, outputs, o)
    shuffled = list(looks)
    rnd.shuffle(shuffled)
    r = req()
    for o, outputs in shuffled:
        r = look(r, outputs, o)
    want = _truth(*newest)
    assert in_order.status == r.status == want
    assert r.paid_sats == in_order.paid_sats == sum(x.sats for x in newest[1])
    assert r.observed_at == newest[0].taken_at


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=8))
def test_a_stale_answer_never_moves_a_request(answers):
    """Whatever a stale answer says, the request is unchanged."""
    base = look(req(), [out(height=100)], at(10, 100))
    for height_back, n in answers:
        stale = at(9, 100 - height_back)
        outputs = [out(1_000 * (k + 1), txid=f"t{k}") for k in range(n)]
        assert evaluate(base, outputs, stale, T0 + timedelta(minutes=11), POLICY) == (base, [])


# -- late is decided by when the chain first saw the payment -----------------------------
def test_paid_in_time_but_first_checked_late_is_not_late():
    paid = T0 + timedelta(seconds=10)
    r = look(req(), [out(seen=paid)], at(20, 100))
    assert r.status == "processing" and "late" not in r.flags and r.paid_at == paid
    r = look(req(), [out(height=100, seen=paid)], at(20, 100))
    assert r.status == "settled"


def test_paid_after_expiry_is_late_whenever_it_is_looked_at():
    paid = EXPIRES + timedelta(seconds=1)
    for minutes in (16, 20, 600):
        r = look(req(), [out(height=100, seen=paid)], at(minutes, 100))
        assert r.status == "expired" and "late" in r.flags


def test_unknown_first_seen_is_bounded_by_the_last_look():
    """Esplora's mempool has no first-seen time: a payment first listed after expiry is
    late only if a look after expiry had not listed it."""
    looked = look(req(), [], at(14, 100))  # before expiry: nothing yet
    r = look(looked, [out()], at(20, 100))  # a late cron run lists it
    assert r.status == "processing" and "late" not in r.flags
    expired = look(req(), [], at(16, 100))  # after expiry: nothing
    assert expired.status == "expired"
    r = look(expired, [out()], at(20, 100))
    assert r.status == "expired" and "late" in r.flags


def test_an_expired_request_comes_back_when_the_chain_saw_it_in_time():
    expired = look(req(), [], at(16, 100))  # a look that missed it (a lagging wallet)
    r = look(expired, [out(seen=T0 + timedelta(minutes=14))], at(17, 100))
    assert r.status == "processing" and "late" not in r.flags and r.closed_reason is None
    cancelled = expired.replace(closed_reason="lease cancelled")
    assert look(cancelled, [out(seen=T0)], at(17, 100)).status == "expired"


# -- zero-conf cap -------------------------------------------------------------------------
@given(st.integers(0, 6), st.integers(546, 50_000), st.integers(0, 60_000), st.integers(0, 60_000),
       st.booleans())
def test_zero_conf_only_within_the_cap_and_never_for_rbf(conf, amount, cap, paid, rbf):
    pol = Policy(confirmations=conf, zero_conf_max_sats=cap)
    r = req(amount_sats=amount)
    need = needed_confirmations(r, out(paid, rbf=rbf), pol, paid)
    if need == 0:
        assert amount <= cap and paid <= cap and not rbf
    else:
        assert need >= 1 and need <= max(1, conf)


def test_zero_conf_cap_against_amount_and_what_arrived():
    pol = Policy(confirmations=0, zero_conf_max_sats=5_000)
    assert look(req(), [out()], at(1, 100), pol).status == "processing"  # 10,000 > cap
    assert look(req(), [out(height=100)], at(1, 100), pol).status == "settled"
    small = req(amount_sats=4_000)
    assert look(small, [out(4_000)], at(1, 100), pol).status == "settled"
    assert look(small, [out(10_000)], at(1, 100), pol).status == "processing"  # overpaid
    assert look(small, [out(4_000, rbf=True)], at(1, 100), pol).status == "processing"


# -- monitoring window, reorgs -------------------------------------------------------------
def test_monitoring_window_counts_from_first_seen():
    pol = Policy(monitoring=timedelta(hours=24))
    seen = T0 + timedelta(minutes=5)
    r = look(req(), [out(seen=seen)], at(6, 100), pol)
    assert look(r, [out(seen=seen)], at(60 * 24 + 4, 100), pol).status == "processing"
    assert look(r, [out(seen=seen)], at(60 * 24 + 6, 100), pol).status == "invalid"


def test_a_reorged_late_payment_goes_back_to_processing_and_settles_again():
    """Confirmed after expiry (accepted late), reorged out a day later: processing while
    the transaction is known — never invalid — and settled again when re-mined."""
    accepted = req(status=RequestStatus.PROCESSING, flags=("accepted", "late"),
                   first_seen_at=EXPIRES + timedelta(minutes=5))
    settled = look(accepted, [out(height=101)], at(30, 101))
    assert settled.status == "settled"
    reorged = look(settled, [out()], at(60 * 48, 100, orphaned={"b101"}))
    assert reorged.status == "processing" and "reorged" in reorged.flags
    still = look(reorged, [out()], at(60 * 72, 100))
    assert still.status == "processing"
    again = look(still, [out(height=101)], at(60 * 73, 101, "b101-again"))
    assert again.status == "settled" and again.settled_at == settled.settled_at


def test_reorg_suspends_then_resettlement_restores_and_gives_time_back():
    active = lease(status=LeaseStatus.ACTIVE, starts_at=T0, ends_at=T0 + timedelta(hours=2),
                   paid_hours=2)
    settled = req(status=RequestStatus.SETTLED, settled_at=T0)
    processing = settled.replace(status=RequestStatus.PROCESSING)
    off = T0 + timedelta(minutes=30)
    le, _, _ = apply_request(active, settled, processing, off)
    assert le.status == "suspended" and le.suspended_at == off
    le, _, _ = apply_request(le, processing, settled, off + timedelta(minutes=20))
    assert le.status == "active" and le.ends_at == active.ends_at + timedelta(minutes=20)


# -- money honoured or flagged ---------------------------------------------------------------
def test_refunds_for_money_without_a_promise():
    over = look(req(), [out(15_000, height=100)], at(1, 100))
    assert over.status == "settled" and over.refund_sats == 5_000 and "refund_due" in over.flags
    late = look(req(), [out(height=100, seen=EXPIRES + timedelta(minutes=1))], at(20, 100))
    assert late.refund_sats == 10_000 and {"late", "refund_due"} <= set(late.flags)
    accepted = with_refund(late.replace(status=RequestStatus.PROCESSING,
                                        flags=(*late.flags, "accepted")))
    assert accepted.refund_sats is None and "refund_due" not in accepted.flags
    unconfirmed = look(req(), [out(15_000)], at(1, 100))
    assert unconfirmed.refund_sats is None  # not ours until confirmed as the policy asks


def test_an_extension_settling_after_the_lease_ended_reopens_it():
    ended = lease(status=LeaseStatus.ENDED, starts_at=T0, ends_at=T0 + timedelta(hours=2),
                  paid_hours=2, closed_at=T0 + timedelta(hours=2))
    ext = req(id="P-2", purpose="extend", hours=3, status=RequestStatus.PROCESSING,
              paid_sats=10_000, confirmed_sats=10_000)
    settled = ext.replace(status=RequestStatus.SETTLED, settled_at=T0 + timedelta(hours=5))
    now = T0 + timedelta(hours=5)
    le, after, events = apply_request(ended, ext, settled, now)
    assert le.status == "active" and le.paid_hours == 5 and le.closed_at is None
    assert le.ends_at == now + timedelta(hours=3)
    assert le.ends_at - le.starts_at == timedelta(hours=5)  # ends_at = start + paid hours
    assert after == settled and [e.name for e in events] == ["lease_active"]
    le, after, events = apply_request(ended, ext, settled, now, can_reopen=False)
    assert le == ended and not events
    assert {"unhonoured", "refund_due"} <= set(after.flags) and after.refund_sats == 10_000
    assert "ended" in after.closed_reason


def test_a_settlement_for_a_lease_that_cannot_run_is_flagged_for_refund():
    for status in (LeaseStatus.CANCELLED, LeaseStatus.EXPIRED):
        closed = lease(status=status, requests=("P-0", "P-1"))
        before = req(status=RequestStatus.PROCESSING, confirmed_sats=10_000, paid_sats=10_000)
        after = before.replace(status=RequestStatus.SETTLED, settled_at=T0)
        le, flagged, _ = apply_request(closed, before, after, T0)
        assert le == closed and "unhonoured" in flagged.flags
        assert flagged.refund_sats == 10_000 and "refund_due" in flagged.flags


def test_an_expired_lease_comes_back_when_its_payment_was_in_time():
    expired_lease = lease(status=LeaseStatus.EXPIRED, closed_at=EXPIRES, note="not paid in time")
    before = req(status=RequestStatus.EXPIRED, closed_reason="not paid in time")
    after = look(before.replace(observed_at=T0 + timedelta(minutes=16), observed_height=100,
                                observed_hash="b100"),
                 [out(height=101, seen=T0 + timedelta(minutes=14))], at(17, 101))
    assert after.status == "settled"
    le, after2, events = apply_request(expired_lease, before, after, T0 + timedelta(minutes=17))
    assert le.status == "active" and [e.name for e in events] == ["lease_active"]
    le, flagged, _ = apply_request(expired_lease, before, after, T0, can_reopen=False)
    assert le.status == "expired" and "unhonoured" in flagged.flags
