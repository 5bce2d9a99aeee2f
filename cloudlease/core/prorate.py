"""Pay as you go: money buys time to the minute (pure: no I/O, no clock reads).

"Take what you need, as long as you need it." With ``[payment] underpaid``, ``late`` or
``overpaid`` set to ``"prorate"`` (and always for LNURL top-ups and a payer's credit),
money that arrived buys minutes at the price in force when it settles instead of
waiting, needing ``pay accept`` or going back as a refund:

- **underpaid**: a request still short when its window closes is re-quoted to what
  arrived (its ``amount_sats`` becomes what was paid; flags ``prorated`` and
  ``accepted``) and settles once that money is confirmed as the policy asks;
- **late**: money that covered the request after its window does the same, at the price
  of the moment it settles (a fiat plan at a fresh rate), never at the stale one;
- **overpaid**: the surplus over a request's amount buys more minutes on top of its hours.

:func:`buy` is the one rule, for all three: ``sats`` (and the payer's ``credit``, used
first) buy ``floor(pool × 60 / price per hour)`` minutes at ``ceil(minutes × price / 60)``
sats; the rest, always less than one minute's price, becomes the payer's credit. Fewer
than ``min_minutes`` buys nothing (the money is owed back as before; with ``min_minutes``
0, a surplus too small for a minute is all credit). Every sat is
accounted for: ``sats + credit = cost + credit_after + refund``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cloudlease.model import PaymentRequest, RequestFlag, RequestStatus

PRORATE = "prorate"
#: ``[payment]`` choices: what the default does (today's behaviour) and ``prorate``
UNDERPAID = ("wait", PRORATE)
LATE = ("accept", PRORATE)
OVERPAID = ("refund", PRORATE)
FIRST_MIN_MINUTES = 60  # a first rental's fewest minutes when its plan says nothing
EXTEND_MIN_MINUTES = 1
MAX_MINUTES = 2 * 8784 * 60  # a lease never runs longer than two years


@dataclass(frozen=True)
class Terms:
    """The operator's ``[payment]`` choices.

    Attributes:
        underpaid: ``wait`` (a short request expires; its money is owed back) or ``prorate``.
        late: ``accept`` (the operator decides with ``pay accept``) or ``prorate``.
        overpaid: ``refund`` (the surplus is owed back) or ``prorate``.
    """

    underpaid: str = "wait"
    late: str = "accept"
    overpaid: str = "refund"

    @property
    def any(self) -> bool:
        return PRORATE in (self.underpaid, self.late, self.overpaid)


@dataclass(frozen=True)
class Purchase:
    """What some sats (and credit) bought.

    Attributes:
        minutes: whole minutes bought (0: nothing, ``sats`` is refunded).
        cost_sats: what those minutes cost: ``ceil(minutes × price_per_hour / 60)``.
        credit_used: the credit that went into it (all of it: what is left over comes
            back as ``credit_after``).
        credit_after: the credit left (less than one minute's price, unless a cap left
            more than the payment itself).
        refund_sats: what of ``sats`` buys nothing and is owed back.
    """

    minutes: int
    cost_sats: int
    credit_used: int
    credit_after: int
    refund_sats: int


def cost(minutes: int, price_per_hour: int) -> int:
    """Sats for ``minutes`` at ``price_per_hour`` sats, rounded up to the sat."""
    return -(-minutes * price_per_hour // 60)


def minutes_for(sats: int, price_per_hour: int) -> int:
    """Whole minutes ``sats`` pays for at ``price_per_hour`` (rounded down)."""
    return sats * 60 // price_per_hour


def buy(sats: int, credit: int, price_per_hour: int, min_minutes: int = 1,
        max_minutes: int = MAX_MINUTES) -> Purchase:
    """Minutes for ``sats`` plus ``credit`` (used first) at ``price_per_hour`` (see the
    module doc). Capped at ``max_minutes``: what the cap leaves over goes back (from
    ``sats``) before it becomes credit."""
    if sats < 0 or credit < 0 or price_per_hour <= 0 or min_minutes < 0 or max_minutes < 0:
        raise ValueError("sats, credit and minutes are never negative; the price is positive")
    pool = sats + credit
    minutes = min(minutes_for(pool, price_per_hour), max_minutes)
    if minutes < min_minutes or (minutes == 0 and min_minutes > 0):
        return Purchase(0, 0, 0, credit, sats)  # (min_minutes 0: all of it may be credit)
    spent = cost(minutes, price_per_hour)
    left = pool - spent
    refund = 0
    if left * 60 >= price_per_hour:  # capped: more than a minute left over goes back
        refund = min(left, sats)
        left -= refund
    return Purchase(minutes, spent, credit, left, refund)


def price_per_hour(price_sats: int | None, price_fiat: Decimal | None,
                   rate: Decimal | None) -> int | None:
    """A plan's price per hour in sats: its sats price, or its fiat price at ``rate``
    (rounded up); None when a fiat price has no rate to convert at."""
    if price_sats is not None:
        return price_sats
    if price_fiat is None or rate is None:
        return None
    from cloudlease.core.money import fiat_to_sats

    return fiat_to_sats(price_fiat, rate)


def _flags(flags: tuple[str, ...], add: tuple[str, ...] = (),
           drop: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(sorted(({str(f) for f in flags} - set(drop)) | set(add)))


def requote_reason(req: PaymentRequest, terms: Terms) -> str | None:
    """Why an expired request's money may now buy time (None: it may not). The request
    closed by its window with money on it, nothing went back, nothing was flagged
    unhonoured: underpaid when the window closed (``terms.underpaid``), paid after it
    (``terms.late``), or short *and* late (both)."""
    from cloudlease.core.lifecycle import PAID_LATE, UNDERPAID, WINDOW_REASONS

    received = req.received_sats
    if req.status != RequestStatus.EXPIRED or received <= 0 or req.refunded_sats or \
            req.closed_reason not in WINDOW_REASONS or \
            RequestFlag.UNHONOURED in req.flags or RequestFlag.ACCEPTED in req.flags:
        return None
    late = RequestFlag.LATE in req.flags or req.closed_reason == PAID_LATE
    short = received < req.amount_sats
    if short and not late and req.closed_reason == UNDERPAID and terms.underpaid == PRORATE:
        return "underpaid"
    if late and terms.late == PRORATE and (not short or terms.underpaid == PRORATE):
        return "late"
    return None


def requote(req: PaymentRequest, now_confirmed: bool, settled_at: object) -> PaymentRequest:
    """The request re-quoted to what arrived: its amount is what was paid, it is accepted
    (never judged late again) and flagged ``prorated``; settled at ``settled_at`` when
    that money counts already (``now_confirmed``), else processing until it does. The
    minutes it buys are fixed when it settles (:func:`settle`)."""
    received = req.received_sats
    flags = _flags(req.flags, (RequestFlag.PRORATED, RequestFlag.ACCEPTED),
                   (RequestFlag.PARTIAL, RequestFlag.OVERPAID, RequestFlag.REFUND_DUE))
    status = RequestStatus.SETTLED if now_confirmed else RequestStatus.PROCESSING
    return req.replace(amount_sats=received, status=status, closed_reason=None, flags=flags,
                       settled_at=settled_at if now_confirmed else None,
                       refund_sats=None)


def confirmed(req: PaymentRequest) -> int:
    """Money on the request that counts already (confirmed as the policy asks; Lightning
    is final at once)."""
    return req.confirmed_sats + req.ln_paid_msat // 1000


def settle(req: PaymentRequest, *, credit: int, price: int | None, min_minutes: int,
           terms: Terms, room_minutes: int = MAX_MINUTES) -> tuple[PaymentRequest, int]:
    """Fix what a request buys as it settles for the first time; returns the request and
    the payer's credit after it. Unchanged when nothing is pro-rated (a request paid
    exactly, no credit, no price to pro-rate at).

    - a re-quoted or top-up request (``prorated``, or no ``hours``): all of it (and the
      credit) buys minutes;
    - a request for hours: its hours, and, when overpaid with ``terms.overpaid``, the
      surplus and the credit buy minutes on top; otherwise the credit alone may.
    """
    if price is None or price <= 0:
        return req, credit
    whole = RequestFlag.PRORATED in req.flags or not req.hours
    if whole:  # (its fewest minutes were checked when it was re-quoted or asked for)
        got = buy(req.amount_sats, credit, price, 1, room_minutes)
        if not got.minutes:  # never the hours it first asked for: no time at all
            return req.replace(minutes=0), credit
        return _bought(req, 0, req.amount_sats - got.refund_sats, got), got.credit_after
    base = req.hours * 60
    surplus = max(0, req.received_sats - req.amount_sats)
    extra = surplus if surplus and terms.overpaid == PRORATE else 0
    if not extra and not credit:
        return req, credit
    got = buy(extra, credit, price, 0, max(0, room_minutes - base))
    if not got.minutes and not extra:
        return req, credit  # the credit alone buys no minute: it stays as it is
    return _bought(req, base, req.amount_sats + extra - got.refund_sats, got), \
        got.credit_after


def _bought(req: PaymentRequest, base: int, amount: int, got: Purchase) -> PaymentRequest:
    add = (RequestFlag.PRORATED,)
    drop = (RequestFlag.OVERPAID, RequestFlag.PARTIAL) if amount >= req.received_sats else ()
    return req.replace(amount_sats=amount, minutes=base + got.minutes,
                       credit_used_sats=got.credit_used or None,
                       credit_kept_sats=(got.credit_after if got.credit_after else None),
                       flags=_flags(req.flags, add, drop))


def income_sats(req: PaymentRequest) -> int:
    """What a settled request's time earned: its amount, plus the credit it used, less
    what it left as credit (``liabilities:customer-credit``)."""
    return req.amount_sats + (req.credit_used_sats or 0) - (req.credit_kept_sats or 0)


CREDIT = ("liabilities", "customer-credit")


def income_postings(req: PaymentRequest, sats: int) -> list[tuple[tuple[str, ...], int]]:
    """The postings of a lease payment's ``sats`` (its amount less any investment): the
    time's price to ``income:leases``; the credit it used out of
    ``liabilities:customer-credit`` and the credit it left into it."""
    used, kept = req.credit_used_sats or 0, req.credit_kept_sats or 0
    out: list[tuple[tuple[str, ...], int]] = [(("income", "leases"), -(sats + used - kept))]
    if used:
        out.append((CREDIT, used))
    if kept:
        out.append((CREDIT, -kept))
    return out


def what_bought(req: PaymentRequest) -> str:
    """``2 h``, ``1 h 23 min``, ``45 min``: the time a request bought, for documents."""
    return duration(req.bought_minutes)


def words(minutes: int, more: bool = False) -> str:
    """``2 hours``, ``1 hour 23 minutes``, ``45 more minutes``: time bought, for documents."""
    h, m = divmod(max(0, minutes), 60)
    hours = f"{h} {'more ' if more else ''}hour{'s' if h != 1 else ''}"
    if not m:
        return hours
    mins = f"{m} {'more ' if more and not h else ''}minute{'s' if m != 1 else ''}"
    return f"{hours} {mins}" if h else mins


def duration(minutes: int) -> str:
    h, m = divmod(max(0, minutes), 60)
    if h and m:
        return f"{h} h {m} min"
    return f"{h} h" if h else f"{m} min"
