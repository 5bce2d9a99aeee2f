"""Pure payment and lease transitions, one test per path of the BTCPay-style model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cloudlease.core.lifecycle import (
    Observation,
    Policy,
    apply_request,
    apply_to_lease,
    end_if_due,
    evaluate,
    needed_confirmations,
)
from cloudlease.model import Lease, LeaseStatus, PaymentRequest, RequestFlag, RequestStatus
from cloudlease.model.chain import Received

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ADDR = "bcrt1qexample"


def req(**kw) -> PaymentRequest:
    base = dict(id="P-1", purpose="rent", address=ADDR, amount_sats=10_000, created_at=T0,
                expires_at=T0 + timedelta(minutes=15), status=RequestStatus.NEW, uri="bitcoin:x",
                lease="L-1", hours=2)
    base.update(kw)
    return PaymentRequest(**base)


def out(sats: int, height: int | None = None, rbf: bool = False, txid: str = "aa",
        seen: datetime | None = None) -> Received:
    return Received(ADDR, txid, 0, sats, height, rbf, seen)


def obs(height: int, block: str | None = None, at: datetime | None = None,
        orphaned: set[str] = frozenset()) -> Observation:
    return Observation(height, at or NOW, block, frozenset(orphaned))


def lease(**kw) -> Lease:
    base = dict(id="L-1", status=LeaseStatus.AWAITING_PAYMENT, hours=2, plan="p", created_at=T0,
                requests=("P-1",))
    base.update(kw)
    return Lease(**base)


NOW = T0 + timedelta(minutes=5)
POLICY = Policy()


def test_unpaid_stays_new_then_expires():
    r, _ = evaluate(req(), [], 100, NOW, POLICY)
    assert r.status == "new"
    r, _ = evaluate(req(), [], 100, T0 + timedelta(minutes=16), POLICY)
    assert r.status == "expired" and r.closed_reason == "not paid in time"


def test_full_payment_unconfirmed_is_processing_with_event():
    r, events = evaluate(req(), [out(10_000)], 100, NOW, POLICY)
    assert r.status == "processing" and r.seen_at == NOW and r.paid_sats == 10_000
    assert [e.name for e in events] == ["payment_processing"]


def test_confirmed_payment_settles():
    r, _ = evaluate(req(), [out(10_000, height=100)], 100, NOW, POLICY)
    assert r.status == "settled" and r.settled_at == NOW and r.confirmed_sats == 10_000


def test_six_confirmation_policy():
    pol = Policy(confirmations=6)
    r, _ = evaluate(req(), [out(10_000, height=100)], 104, NOW, pol)
    assert r.status == "processing"
    r, _ = evaluate(r, [out(10_000, height=100)], 105, NOW, pol)
    assert r.status == "settled"


def test_partial_payment_keeps_new_and_can_be_completed():
    r, _ = evaluate(req(), [out(4_000)], 100, NOW, POLICY)
    assert r.status == "new" and "partial" in r.flags
    r, _ = evaluate(r, [out(4_000), out(6_000, txid="bb")], 100, NOW, POLICY)
    assert r.status == "processing" and "partial" not in r.flags


def test_partial_payment_expires_underpaid():
    r, _ = evaluate(req(), [out(4_000, height=90)], 100, T0 + timedelta(minutes=20), POLICY)
    assert r.status == "expired" and "partial" in r.flags
    assert r.closed_reason == "underpaid when the window closed"


def test_overpaid_is_flagged_and_settles():
    r, _ = evaluate(req(), [out(15_000, height=100)], 100, NOW, POLICY)
    assert r.status == "settled" and "overpaid" in r.flags


def test_late_payment_never_activates():
    late = T0 + timedelta(minutes=30)
    r, _ = evaluate(req(), [out(10_000, height=100, seen=late)], 100, late, POLICY)
    assert r.status == "expired" and "late" in r.flags and r.paid_at == late
    expired, _ = evaluate(req(), [], 100, T0 + timedelta(minutes=16), POLICY)
    r, _ = evaluate(expired, [out(10_000)], 100, late, POLICY)  # no first-seen time
    assert r.status == "expired" and "late" in r.flags


def test_zero_conf_only_below_cap_and_without_rbf():
    pol = Policy(confirmations=1, zero_conf_max_sats=20_000)
    r, _ = evaluate(req(), [out(10_000)], 100, NOW, pol)
    assert r.status == "settled"
    r, _ = evaluate(req(), [out(10_000, rbf=True)], 100, NOW, pol)
    assert r.status == "processing"
    r, _ = evaluate(req(amount_sats=30_000), [out(30_000)], 100, NOW, pol)
    assert r.status == "processing"


def test_policy_zero_still_needs_a_confirmation_for_rbf():
    pol = Policy(confirmations=0, zero_conf_max_sats=10_000)
    assert evaluate(req(), [out(10_000)], 100, NOW, pol)[0].status == "settled"
    assert evaluate(req(), [out(10_000, rbf=True)], 100, NOW, pol)[0].status == "processing"


def test_reorg_moves_settled_back_to_processing():
    settled, _ = evaluate(req(), [out(10_000, height=100)], obs(100, "b100"), NOW, POLICY)
    # invalidateblock: a lower tip, and the block it recorded is gone from the chain
    r, _ = evaluate(settled, [out(10_000)], obs(99, "b99", orphaned={"b100"}), NOW, POLICY)
    assert r.status == "processing" and "reorged" in r.flags
    assert r.settled_at == settled.settled_at  # hours are never applied twice
    assert (r.observed_height, r.observed_hash) == (99, "b99")


def test_replacement_that_pays_less_goes_back_to_new_partial():
    processing, _ = evaluate(req(), [out(10_000, rbf=True)], 100, NOW, POLICY)
    r, _ = evaluate(processing, [out(3_000, rbf=True, txid="cc")], 100, NOW, POLICY)
    assert r.status == "new" and "partial" in r.flags and r.txids == ("cc",)


def test_double_spent_payment_disappears():
    processing, _ = evaluate(req(), [out(10_000)], obs(100, "b100"), NOW, POLICY)
    # at the same tip, nothing on the chain explains it (another server's mempool?): held
    assert evaluate(processing, [], obs(100, "b100"), NOW, POLICY) == (processing, [])
    r, _ = evaluate(processing, [], obs(101, "b101"), NOW, POLICY)  # a newer tip: gone
    assert r.status == "new" and r.paid_sats == 0


def test_unconfirmed_past_monitoring_window_is_invalid():
    processing, _ = evaluate(req(), [out(10_000)], 100, NOW, POLICY)
    r, _ = evaluate(processing, [out(10_000)], 100, T0 + timedelta(hours=25), POLICY)
    assert r.status == "invalid"
    assert evaluate(r, [out(10_000, height=100)], 100, NOW, POLICY)[0].status == "invalid"


def test_settlement_activates_the_lease_once():
    before = req()
    after, _ = evaluate(before, [out(10_000, height=100)], 100, NOW, POLICY)
    le, events = apply_to_lease(lease(), before, after, NOW)
    assert le.status == "active" and le.starts_at == NOW
    assert le.ends_at == NOW + timedelta(hours=2) and le.paid_hours == 2
    assert [e.name for e in events] == ["lease_active"]
    again, events = apply_to_lease(le, after, after, NOW)
    assert again == le and not events


def test_extension_moves_the_end():
    active = lease(status=LeaseStatus.ACTIVE, starts_at=T0, ends_at=T0 + timedelta(hours=2),
                   paid_hours=2)
    ext = req(id="P-2", purpose="extend", hours=3)
    settled, _ = evaluate(ext, [out(10_000, height=100)], 100, NOW, POLICY)
    le, _ = apply_to_lease(active, ext, settled, NOW)
    assert le.ends_at == T0 + timedelta(hours=5) and le.paid_hours == 5


def test_reorg_suspends_and_resettlement_restores():
    active = lease(status=LeaseStatus.ACTIVE, starts_at=T0, ends_at=T0 + timedelta(hours=2),
                   paid_hours=2)
    settled = req(status=RequestStatus.SETTLED, settled_at=T0)
    processing = settled.replace(status=RequestStatus.PROCESSING)
    le, _ = apply_to_lease(active, settled, processing, NOW)
    assert le.status == "suspended"
    le, _ = apply_to_lease(le, processing, settled, NOW)
    assert le.status == "active" and le.ends_at == active.ends_at


def test_expired_request_expires_the_lease():
    before = req()
    after, _ = evaluate(before, [], 100, T0 + timedelta(minutes=16), POLICY)
    le, events = apply_to_lease(lease(), before, after, after.expires_at)
    assert le.status == "expired" and [e.name for e in events] == ["lease_expired"]


def test_lease_ends_at_its_end_unless_an_extension_is_confirming():
    active = lease(status=LeaseStatus.ACTIVE, starts_at=T0, ends_at=T0 + timedelta(hours=2),
                   paid_hours=2)
    assert end_if_due(active, T0 + timedelta(hours=1), False)[0].status == "active"
    assert end_if_due(active, T0 + timedelta(hours=2), True)[0].status == "active"
    ended, events = end_if_due(active, T0 + timedelta(hours=2), False)
    assert ended.status == "ended" and [e.name for e in events] == ["lease_ended"]


@given(st.lists(st.tuples(st.integers(1, 50_000), st.one_of(st.none(), st.integers(1, 110)),
                          st.booleans()), max_size=6),
       st.integers(100, 120), st.integers(0, 3000))
def test_never_settled_without_enough_confirmed_sats(outs, tip, minutes):
    outputs = [out(s, h if h is None or h <= tip else None, rbf, txid=f"t{i}")
               for i, (s, h, rbf) in enumerate(outs)]
    r, _ = evaluate(req(), outputs, tip, T0 + timedelta(minutes=minutes), POLICY)
    if r.status == "settled":
        confirmed = sum(o.sats for o in outputs if o.height is not None)
        assert r.confirmed_sats == confirmed >= r.amount_sats
    assert r.paid_sats == sum(o.sats for o in outputs)
    if minutes > 15 and r.status != "expired":
        assert r.paid_sats >= r.amount_sats


def test_terminal_invalid_stays_invalid_but_flags_money_that_arrives():
    r = req(status=RequestStatus.INVALID)
    after, events = evaluate(r, [out(10_000, height=1)], 5, NOW, POLICY)
    assert after.status == "invalid" and not events
    assert "refund_due" in after.flags and after.refund_sats == 10_000


# -- the rules of one look, on generated requests and outputs ------------------------------
# A request in any state (any status, flags, earlier amounts and times), outputs around its
# window (unconfirmed or a few blocks deep, RBF or not, first seen before or after
# expiry, or at no known time), looked at any time from before expiry to days after.
EXPIRES = T0 + timedelta(minutes=15)
_MINUTES = [-5, 0, 5, 14, 15, 16, 30, 60 * 24, 60 * 24 + 10, 60 * 48]
_times = st.sampled_from(_MINUTES).map(lambda m: T0 + timedelta(minutes=m))
_maybe_times = st.none() | _times
_REASONS = [None, "not paid in time", "underpaid when the window closed",
            "paid after the payment window", "cancelled with its lease"]


@st.composite
def any_request(draw) -> PaymentRequest:
    amount = draw(st.sampled_from([1_000, 10_000, 50_000]))
    return req(status=draw(st.sampled_from(list(RequestStatus))), amount_sats=amount,
               expires_at=EXPIRES,
               flags=tuple(sorted(draw(st.sets(st.sampled_from(list(RequestFlag)),
                                               max_size=3)))),
               paid_sats=draw(st.sampled_from([0, amount // 2, amount, 2 * amount])),
               confirmed_sats=draw(st.sampled_from([0, amount // 2, amount])),
               txids=tuple(sorted(draw(st.sets(st.sampled_from(["aa", "bb", "cc"]))))),
               seen_at=draw(_maybe_times), first_seen_at=draw(_maybe_times),
               settled_at=draw(_maybe_times), paid_at=draw(_maybe_times),
               closed_reason=draw(st.sampled_from(_REASONS)))


_outputs = st.lists(st.builds(
    lambda txid, vout, sats, height, rbf, seen: Received(ADDR, txid, vout, sats, height, rbf,
                                                         seen),
    st.sampled_from(["aa", "bb", "cc", "dd"]), st.integers(0, 1),
    st.sampled_from([250, 1_000, 5_000, 10_000, 50_000]),
    st.none() | st.integers(95, 105), st.booleans(), _maybe_times), max_size=4)
_policies = st.builds(Policy, st.integers(0, 6), st.sampled_from([0, 10_000, 100_000]),
                      st.sampled_from([timedelta(hours=1), timedelta(hours=24)]))


@given(any_request(), _outputs, st.integers(100, 106), _times, _policies)
def test_one_look_at_a_request_in_any_state(r, outputs, tip, now, policy):
    after, events = evaluate(r, outputs, tip, now, policy)
    paid, amount = sum(o.sats for o in outputs), r.amount_sats
    confirmed = sum(o.sats for o in outputs if o.confirmations(tip) >=
                    needed_confirmations(r, o, policy, paid))
    # the amounts are what the chain shows now, whatever the status
    assert (after.paid_sats, after.confirmed_sats) == (paid, confirmed)
    assert after.txids == tuple(sorted({o.txid for o in outputs}))
    assert ("partial" in after.flags) == (0 < paid < amount)
    assert ("overpaid" in after.flags) == (paid > amount)
    # invalid is terminal; settled needs the confirmed sats; a settlement time stays
    if r.status == RequestStatus.INVALID:
        assert after.status == RequestStatus.INVALID and not events
    if after.status == RequestStatus.SETTLED:
        assert confirmed >= amount
        assert after.settled_at == (r.settled_at if r.status == RequestStatus.SETTLED
                                    else r.settled_at or now)
    if r.settled_at is not None:
        assert after.settled_at == r.settled_at
    # hooks hear "payment_processing" once, when a request starts processing
    became = after.status == RequestStatus.PROCESSING and r.status not in (
        RequestStatus.PROCESSING, RequestStatus.SETTLED)
    assert [e.name for e in events] == (["payment_processing"] if became else [])
    if after.status == RequestStatus.PROCESSING:
        assert paid >= amount
    if r.status == RequestStatus.NEW and r.settled_at is None and "accepted" not in r.flags:
        if paid >= amount and all(o.first_seen is not None and o.first_seen > EXPIRES
                                  for o in outputs):
            # first seen after the window: never activated, the operator decides
            assert after.status == RequestStatus.EXPIRED and "late" in after.flags
            assert after.closed_reason == "paid after the payment window"
        elif paid < amount:
            expect = RequestStatus.EXPIRED if now > EXPIRES else RequestStatus.NEW
            assert after.status == expect
            if expect == RequestStatus.EXPIRED:
                assert after.closed_reason == ("underpaid when the window closed" if paid
                                               else "not paid in time")


@given(any_request(), st.sampled_from(list(RequestStatus)), _maybe_times,
       st.sampled_from(list(LeaseStatus)), st.sampled_from(["rent", "extend"]),
       st.booleans(), _times, st.sampled_from([None, "reorg: payment P-1 lost its "
                                               "confirmations", "other"]))
def test_a_request_change_and_its_lease(before, status, settled_at, lease_status, purpose,
                                        can_reopen, now, note):
    started = lease_status in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED, LeaseStatus.ENDED)
    lz = lease(status=lease_status, paid_hours=2 if started else 0, note=note,
               starts_at=T0 if started else None,
               ends_at=T0 + timedelta(hours=2) if started else None)
    after = before.replace(status=status, purpose=purpose, hours=3,
                           settled_at=before.settled_at or settled_at)
    new_lease, new_req, events = apply_request(lz, before, after, now, can_reopen=can_reopen)
    first = after.status == RequestStatus.SETTLED and before.settled_at is None
    # hours are applied once, on the first settlement, and only to a lease that can run
    if new_lease.paid_hours != lz.paid_hours:
        assert first and new_lease.paid_hours == lz.paid_hours + 3
        assert new_lease.status in (LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED)
        assert new_lease.ends_at == new_lease.starts_at + timedelta(hours=new_lease.paid_hours)
    # a request is changed only to say that what it paid for cannot be delivered
    if new_req != after:
        assert new_lease.paid_hours == lz.paid_hours and "unhonoured" in new_req.flags
        assert new_req.closed_reason.startswith("not honoured: ")
    assert [e.name for e in events] in ([], ["lease_active"], ["lease_expired"])
    if events and events[0].name == "lease_active":
        assert first and new_lease.status == LeaseStatus.ACTIVE
    if events and events[0].name == "lease_expired":
        assert new_lease.status == LeaseStatus.EXPIRED and after.purpose == "rent"
