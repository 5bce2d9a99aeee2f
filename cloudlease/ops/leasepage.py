"""What a tenant sees of their lease (``/l/<token>`` and ``GET /api/v1/leases/<token>``):
the lease and its payment requests in ``lease show --json``'s shapes, its machine, the
receipts of what was paid, and the checkout's QR code. Reads only; no lock.
"""

from __future__ import annotations

import functools
from typing import Any

from cloudlease.core import views
from cloudlease.ledger.session import Ledger
from cloudlease.model import Lease, PaymentRequest, RequestStatus
from cloudlease.ops import lnrequests, storefront
from cloudlease.ops.context import Context


def state(ctx: Context, token: str) -> dict[str, Any]:
    """``{"lease", "payment", "machine"}``: the lease (with ``payments``, every request),
    the request to pay or last paid (``payment``), and the machine (None before one is
    made). The lease's idempotency key is left out (it holds the token's hash)."""
    ledger = ctx.read()
    lease = storefront.find(ctx, token, ledger)
    return _state(ctx, ledger, lease)


def _state(ctx: Context, ledger: Ledger, lease: Lease) -> dict[str, Any]:
    found = ledger.requests.many(lease.requests)
    reqs = [found[r] for r in lease.requests if r in found]
    data = views.lease(lease, reqs)
    data["idempotency_key"] = None
    for p in data["payments"]:
        lnrequests.decorate(ctx.settings, p)
    # the payment to show: the last one, but not a payer's LNURL top-up that is not paid
    shown = [p for p in data["payments"] if p.get("via") != "lnurl" or p["status"] in (
        "processing", "settled")]
    payment = shown[-1] if shown else None
    data["payment"] = payment
    machine = views.machine(ledger.machines.get(lease.id))
    data["machine"] = machine
    return {"lease": data, "payment": payment, "machine": machine}


def states(ctx: Context, lease_ids: list[str]) -> dict[str, dict[str, Any]]:
    """``state`` for many leases at once, by lease id (the live-status hub's one read per
    change of the ledger)."""
    ledger = ctx.read()
    found = ledger.leases.many(lease_ids)
    ledger.requests.many(r for lease in found.values() for r in lease.requests)
    ledger.machines.many(found)
    return {lid: _state(ctx, ledger, lease) for lid, lease in found.items()}


def lease_id(ctx: Context, token: str) -> str:
    return storefront.find(ctx, token).id


def page(ctx: Context, token: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``state`` and ``receipts`` in one read (the lease page)."""
    ledger = ctx.read()
    lease = storefront.find(ctx, token, ledger)
    return _state(ctx, ledger, lease), _receipts(ledger, lease)


def receipts(ctx: Context, token: str) -> list[dict[str, Any]]:
    """One receipt per settled payment request: what it bought (hours, plan), what was
    paid (sats, and fiat at the locked rate), when, and the proof: each transaction
    output, or the Lightning payment hash with its preimage."""
    ledger = ctx.read()
    return _receipts(ledger, storefront.find(ctx, token, ledger))


def _receipts(ledger: Ledger, lease: Lease) -> list[dict[str, Any]]:
    found = ledger.requests.many(lease.requests)
    out = []
    for rid in lease.requests:
        req = found.get(rid)
        if req is None or req.status != RequestStatus.SETTLED:
            continue
        out.append(_receipt(ledger, lease, req))
    return out


def _receipt(ledger: Ledger, lease: Lease, req: PaymentRequest) -> dict[str, Any]:
    paid = []
    for p in ledger.payments.of_request(req.id):
        if p.status == "gone":
            continue
        paid.append({"method": p.method, "sats": p.sats, "txid": p.txid, "vout": p.vout,
                     "payment_hash": p.payment_hash, "preimage": p.preimage,
                     "at": p.settled_at or p.chain_seen_at or p.first_seen_at})
    methods = sorted({p["method"] for p in paid})
    return {"request": req.id, "purpose": req.purpose, "plan": lease.plan,
            "hours": req.hours, "minutes": req.bought_minutes, "via": req.via,
            "amount_sats": req.amount_sats,
            "paid_sats": req.received_sats, "fiat_amount": req.fiat_amount,
            "currency": req.currency, "rate": req.rate, "settled_at": req.settled_at,
            "method": "+".join(methods) or None, "payments": paid}


def payg(ctx: Context, token: str, state: dict[str, Any], base: str) -> dict[str, Any]:
    """Pay as you go on the lease page: the LNURL-pay top-up link of a running lease (when
    a Lightning node takes payments here), the wallet connected for auto-renewal (never its
    secret), and the payer's credit."""
    from cloudlease.ops import renewals, topups

    lease_id, status = state["lease"]["id"], state["lease"]["status"]
    ledger = ctx.read()
    lease = ledger.lease(lease_id)
    out: dict[str, Any] = {"topup": None, "renewal": renewals.view(
        ledger.renewals.get(lease_id)), "credit_sats": credit_of(ledger, lease)}
    if status in ("active", "suspended") and ctx.settings.lightning.enabled:
        out["topup"] = topups.links(ctx, lease_id, base)
    return out


def credit_of(ledger: Ledger, lease: Lease) -> int:
    from cloudlease.ops.prorating import credit_of as credit

    return credit(ledger, lease)


@functools.lru_cache(maxsize=2048)
def qr_svg(uri: str) -> str:
    """The QR code of a payment URI as an inline SVG element (no XML declaration, sized
    by its viewBox, dark modules drawn as one path: no script, no style)."""
    import io

    from cloudlease.bitcoin.qr import QUIET_ZONE, make_qr

    out = io.BytesIO()
    make_qr(uri).save(out, kind="svg", xmldecl=False, svgns=True, nl=False, omitsize=True,
                      border=QUIET_ZONE, svgclass="qr", lineclass=None, dark="#000",
                      light="#fff", title="Payment QR code")
    return out.getvalue().decode("utf-8")


def qr_text(uri: str) -> str:
    """What the QR code carries (upper-case address and invoice; see bitcoin/qr.py)."""
    from cloudlease.bitcoin.qr import qr_text as text

    return text(uri)


def version(ctx: Context) -> int:
    """A number that changes whenever the ledger does (the audit chain's last entry): the
    live-status hub reads the leases it watches again only when it moved."""
    from cloudlease.ledger import audit

    head = audit.head(ctx.db())
    return head.seq if head is not None else 0
