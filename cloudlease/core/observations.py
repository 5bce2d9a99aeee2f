"""Which look at the chain counts, and when an output counts (pure; ``lifecycle.py``
applies them to payment requests).

Observations are ordered. Each chain answer is an ``Observation``: the tip it was taken at
(height, hash) and when. A request records the tip of the last observation applied, and
``order`` ranks a new one against it: an answer asked for earlier, or at a lower tip
without a reorg, is ``stale`` and changes nothing; one at the same tip may move the
request forward but backwards only when the chain shows why (a transaction not seen
before: a replacement). A real reorg is recognised by the recorded tip hash having left
the best chain (``Observation.orphaned``, asked in the same look), or another block at the
same height seen later; such an answer is ``newer`` whatever its height.

Speed policy: an output counts once it has ``confirmations`` confirmations. 0-conf only
when the request's amount *and* what arrived are at most ``zero_conf_max_sats`` and the
transaction does not signal RBF; otherwise at least one confirmation, whatever the policy.
Replaced or double-spent transactions are gone from what the backend reports, so they
never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cloudlease.model import PaymentRequest
from cloudlease.model.chain import Received


@dataclass(frozen=True)
class Policy:
    """How sure a payment must be before it counts.

    Attributes:
        confirmations: confirmations each output needs (0, 1, 2, 6...).
        zero_conf_max_sats: requests (and payments) up to this amount may settle
            unconfirmed (no RBF); above it at least one confirmation.
        monitoring: how long after it was first seen a payment may take to confirm.
    """

    confirmations: int = 1
    zero_conf_max_sats: int = 0
    monitoring: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Observation:
    """One look at the chain: the tip it was taken at, and when.

    Attributes:
        height: tip height, read *before* the addresses were listed.
        taken_at: the clock just before the chain was asked.
        hash: tip block hash, where the backend gives it.
        orphaned: block hashes (requests' recorded tips) that the backend said are no
            longer in its best chain when asked in this look: evidence of a reorg.
    """

    height: int
    taken_at: datetime
    hash: str | None = None
    orphaned: frozenset[str] = frozenset()


class Order(StrEnum):
    """How an observation ranks against the last one a request recorded."""

    NEWER = "newer"  # later tip, or the chain reorganised since: authoritative
    SAME = "same"  # same tip: forward moves only, backwards only with chain evidence
    STALE = "stale"  # taken before what was recorded: changes nothing


def order(req: PaymentRequest, obs: Observation) -> Order:
    """Rank ``obs`` against the observation ``req`` last recorded. Pure."""
    if req.observed_height is None or req.observed_at is None:
        return Order.NEWER
    if obs.taken_at < req.observed_at:
        return Order.STALE  # asked before the recorded answer was asked
    if req.observed_hash is not None and req.observed_hash in obs.orphaned:
        return Order.NEWER  # the tip it recorded left the best chain: a reorg since
    if obs.height < req.observed_height:
        return Order.STALE  # a lagging server, or an answer from before a block
    if obs.height > req.observed_height:
        return Order.NEWER
    if obs.hash and req.observed_hash and obs.hash != req.observed_hash \
            and obs.taken_at > req.observed_at:
        return Order.NEWER  # another block at the same height, seen later: a reorg
    return Order.SAME


def needed_confirmations(req: PaymentRequest, out: Received, policy: Policy,
                         paid: int | None = None) -> int:
    """Confirmations ``out`` needs. 0 only when both the request's amount and what
    arrived in all (``paid``) are within the zero-conf cap and ``out`` does not signal
    RBF; then never more than the policy, and never less than 1 otherwise."""
    within_cap = max(req.amount_sats, paid or 0) <= policy.zero_conf_max_sats
    if within_cap and not out.rbf:
        return 0
    return max(1, policy.confirmations)
