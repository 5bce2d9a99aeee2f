"""The tick loop that ``cloudlease serve`` runs beside its pages, as passes of ``check``.

Two kinds of pass, both ``ops/check.py``'s own (nothing here decides a status):

- the **full pass** is ``tick`` itself (chain, Lightning, activation, expiry, leases
  ending, the pool monitor, provisioning, hooks and webhooks), every
  ``[serve] chain_poll_seconds``;
- the **Lightning pass**, run every ``LN_POLL`` seconds in between while the node is
  configured: one list call (``statuses``) for every open invoice, and only when one was
  paid or its window passed, ``pay check``'s pass over just those requests, handed the
  same answers (so a pass makes one list call, as ``tick`` does). A paid invoice is
  therefore settled, its lease activated and its machine started within a fraction of a
  second, without asking the chain every quarter second.

A cron ``tick`` beside the server is safe: each pass re-reads what it changes inside the
ledger's write transaction, so whichever comes second finds the work done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cloudlease.core import clock
from cloudlease.ops import lnrequests
from cloudlease.ops.check import PassReport, check

if TYPE_CHECKING:
    from cloudlease.lightning import LightningNode, LnInvoice, LnStatus
    from cloudlease.ops.context import Context

LN_POLL = 0.25  # seconds between Lightning passes (the issue asks for at most 0.5)


@dataclass
class Probe:
    """What a Lightning pass found.

    Attributes:
        open_invoices: invoices asked about (0: nothing open, the node was not asked).
        due: requests whose invoice was paid or whose window passed (checked at once).
        report: the check of those requests, when there were any.
    """

    open_invoices: int
    due: list[str]
    report: PassReport | None = None


class _Answered:
    """The node, with this pass's answers: ``check`` asking again about the same invoices
    gets them without a second list call; cancelling still reaches the node."""

    def __init__(self, node: LightningNode, answers: dict[str, LnStatus]) -> None:
        self._node = node
        self._answers = answers
        self.name = node.name

    def statuses(self, invoices: Sequence[LnInvoice]) -> dict[str, LnStatus]:
        if all(i.payment_hash in self._answers for i in invoices):
            return {i.payment_hash: self._answers[i.payment_hash] for i in invoices}
        return self._node.statuses(invoices)

    def cancel(self, invoice: LnInvoice) -> bool:
        return self._node.cancel(invoice)

    def close(self) -> None:  # the loop owns the node
        return None


def node(ctx: Context) -> LightningNode | None:
    """The configured Lightning node, kept by the loop between passes (None: none)."""
    return lnrequests.node(ctx) if ctx.settings.lightning.enabled else None


def full_pass(ctx: Context, ln_node: Any = None) -> PassReport:
    """``tick``: one whole pass."""
    return check(ctx, tick=True, ln_node=ln_node)


def lightning_pass(ctx: Context, ln_node: LightningNode) -> Probe:
    """Ask the node about every open invoice in one call; check at once the requests
    whose invoice was paid, or whose window passed."""
    now = clock.now()
    asked = lnrequests.to_ask(ctx.read().requests.open_lightning(), now)
    if not asked:
        return Probe(0, [])
    answers = lnrequests.statuses(ln_node, asked)
    due = [r.id for r in asked
           if answers[r.ln_payment_hash].state != "open" or clock.now() > r.expires_at]
    if not due:
        return Probe(len(asked), [])
    report = check(ctx, due, ln_node=_Answered(ln_node, answers))
    return Probe(len(asked), due, report)


def changed(report: PassReport | None) -> bool:
    """Whether a pass changed anything a tenant's page shows."""
    return report is not None and bool(report.transitions or report.machines
                                       or report.partial or report.refunds)
