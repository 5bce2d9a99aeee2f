"""Money leaving the wallet, booked so the books match the chain: sweeps and refunds.

A keys-wallet transfer is recorded *before* it is broadcast (status ``pending``, with its
signed transaction), then marked ``sent`` once the backend takes it, or ``failed`` when
the backend refuses it (nothing left the wallet; a refund's reservation is released).
So a crash or a timeout in between never leaves money gone without a record: a pending
transfer counts in the books, and the next ``wallet sweep`` or ``pay refund`` sends it
again (a transaction the chain already has is then simply marked sent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloudlease.core.errors import BackendError, BadValue, Conflict
from cloudlease.ledger.session import Ledger
from cloudlease.model import Transfer, TransferStatus
from cloudlease.ops.context import Context

_ALREADY = ("already in block chain", "already known", "txn-already-in-mempool",
            "already in the mempool", "already spent by")


def send(ctx: Context, backend: Any, transfer: Transfer,
         reserve: Callable[[Ledger], None] | None = None,
         release: Callable[[Ledger], None] | None = None) -> Transfer:
    """Record ``transfer`` (pending) with ``reserve`` in one write, broadcast it, and
    record the outcome. A refusal marks it failed (``release`` runs) and re-raises;
    backend trouble leaves it pending (it is sent again next time) and re-raises."""
    with ctx.transaction(f"{transfer.kind} {transfer.id} record") as ledger:
        t = transfer.replace(id=ledger.next_id("transfer"), status=TransferStatus.PENDING)
        ledger.transfers[t.id] = t
        if reserve is not None:
            reserve(ledger)
    return _broadcast(ctx, backend, t, release)


def _broadcast(ctx: Context, backend: Any, t: Transfer,
               release: Callable[[Ledger], None] | None) -> Transfer:
    try:
        txid = backend.broadcast(t.raw_hex or "")
    except (BadValue, Conflict) as exc:
        if any(words in exc.message for words in _ALREADY) and \
                ("already spent by" not in exc.message or t.txid in exc.message):
            return _mark(ctx, t, TransferStatus.SENT)
        _mark(ctx, t, TransferStatus.FAILED, release)
        raise Conflict(f"the chain refused {t.kind} {t.id} ({t.txid}): {exc.message}; "
                       "nothing was sent") from None
    except BackendError as exc:
        raise BackendError(f"{exc.message}; {t.kind} {t.id} ({t.txid}) may not have been "
                           "sent: it stays pending and is sent again by the next "
                           "'wallet sweep' or 'pay refund'") from None
    if txid != t.txid:
        raise BadValue(f"the backend reported txid {txid} for {t.id}, expected {t.txid}")
    return _mark(ctx, t, TransferStatus.SENT)


def _mark(ctx: Context, t: Transfer, status: TransferStatus,
          release: Callable[[Ledger], None] | None = None) -> Transfer:
    with ctx.transaction(f"{t.kind} {t.id} {status}") as ledger:
        current = ledger.transfers[t.id]
        new = current.replace(status=status, raw_hex=None if status == TransferStatus.SENT
                              else current.raw_hex)
        ledger.transfers[t.id] = new
        if release is not None:
            release(ledger)
    return new


def retry_pending(ctx: Context, backend: Any) -> list[Transfer]:
    """Send again every transfer left pending by a crash or a timeout."""
    pending = ctx.read().transfers.pending()
    done = []
    for t in pending:
        release = _refund_release(t) if t.request else None
        done.append(_broadcast(ctx, backend, t, release))
    return done


def _refund_release(t: Transfer) -> Callable[[Ledger], None]:
    def release(ledger: Ledger) -> None:
        from cloudlease.core.lifecycle import with_refund

        req = ledger.requests[t.request or ""]
        ledger.requests[req.id] = with_refund(req.replace(
            refunded_sats=max(0, req.refunded_sats - t.sats)))
    return release
