"""Lightning for payment requests: how a request may be paid, its invoice, the node's
answers in a pass, and cancelling an invoice nobody needs any more.

Ordering, so that a slow or failing node costs nothing: the invoice is asked of the node
*before* the ledger transaction (``prepare``), with the node's own bounded timeout, and
only then are the lease, the request and its address written in one transaction. A node
failure (exit 6) therefore stores nothing, consumes no address index and no key; a
transaction that fails after the invoice was made cancels it again where the node can
(``discard``). The request's payment window is the invoice's: same amount, same expiry.

In a pass (``ops/check.py``), every watched invoice goes to the node in one
``statuses()`` call; the answer must be about exactly those invoices (a status for an
invoice we never asked about, or none for one we did, is exit 6: uncertain data). A
host with no Lightning backend leaves open requests that carry an invoice alone (they are
neither settled nor expired there), so a shared ledger's hosts without the node do no
harm.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloudlease.core import clock
from cloudlease.core.errors import BackendError, BadValue, CloudleaseError

if TYPE_CHECKING:
    from cloudlease.config import Settings
    from cloudlease.lightning import LightningNode, LnInvoice, LnStatus
    from cloudlease.model import PaymentRequest
    from cloudlease.ops.context import Context

METHODS = ("onchain", "lightning", "both")
WINDOW_SLACK = timedelta(seconds=10)  # an invoice may outlive the asked window by this
GRACE = timedelta(minutes=10)  # keep asking about an unpaid invoice this long after expiry
POLL_SECONDS = 0.2  # rent --wait asks the node this often (the chain every 2 s)
OPEN_STATUSES = ("new", "processing")


def methods_for(settings: Settings, method: str | None) -> tuple[str, ...]:
    """``--method`` as the request's methods; the default is ``both`` when a Lightning
    backend is configured, else ``onchain``. Lightning without a backend is exit 2."""
    ln = settings.lightning
    name = ("both" if ln.enabled else "onchain") if method is None else method.strip().lower()
    if name not in METHODS:
        raise BadValue(f"--method must be onchain, lightning or both, not {method!r}")
    if name != "onchain" and not ln.enabled:
        raise BadValue(
            f"--method {name} needs a Lightning node, and none is configured: set "
            "[lightning] backend in config.toml (devchain on regtest, electrum or lnd; "
            "see `cloudlease init --help` for --lightning), or pay on-chain with "
            "--method onchain", code="lightning_not_configured")
    return {"onchain": ("onchain",), "lightning": ("lightning",),
            "both": ("onchain", "lightning")}[name]


def node(ctx: Context) -> LightningNode:
    """The configured node (nothing is asked of it yet)."""
    from cloudlease.lightning import make_node

    s = ctx.settings
    return make_node(s.lightning, ctx.home.path, s.network)


def label(settings: Settings) -> str:
    """How outputs name the node: ``devchain (simulated)``, ``electrum``, ``lnd``."""
    name = settings.lightning.backend
    return f"{name} (simulated)" if name == "devchain" else name


@dataclass(frozen=True)
class Prepared:
    """An invoice made for a request that is not written yet.

    Attributes:
        invoice: the checked invoice.
        asked_at: when it was asked for (the request's ``created_at``).
    """

    invoice: LnInvoice
    asked_at: datetime


def prepare(ctx: Context, methods: Sequence[str], amount_sats: int, description: str,
            window: timedelta, *, description_hash: str | None = None) -> Prepared | None:
    """Ask the node for the invoice of a request to be written (outside the ledger lock).
    None when the request is not to be paid over Lightning. ``description_hash``: the
    invoice commits to it instead of carrying ``description``, where the node can (LNURL-pay;
    a node that cannot, Electrum, carries ``description``)."""
    if "lightning" not in methods:
        return None
    from cloudlease.ops.payment_requests import payable_by

    methods = payable_by(ctx, amount_sats, tuple(methods))  # Lightning only under dust
    if "onchain" in methods:
        from cloudlease.ops.payment_requests import address_preflight

        address_preflight(ctx)  # a keystore that will be refused: before the node is asked
    n = node(ctx)
    try:
        asked = clock.now()
        hashed = description_hash if getattr(n, "supports_description_hash", False) else None
        inv = n.create_invoice(amount_sats * 1000, description, int(window.total_seconds()),
                               **({"description_hash": hashed} if hashed else {}))
        if inv.expires_at > asked + window + WINDOW_SLACK:
            _cancel_quietly(n, inv)
            raise BackendError(
                f"the Lightning node ({n.name}) made an invoice that expires at "
                f"{inv.expires_at:%Y-%m-%d %H:%M:%S}Z, later than the request's window "
                f"({asked + window:%Y-%m-%d %H:%M:%S}Z)", code="ln_long_expiry")
    finally:
        n.close()
    return Prepared(inv, asked)


def discard(ctx: Context, prepared: Prepared | None) -> None:
    """An invoice made for a request that was not written: cancel it where the node can
    (best effort; unpaid, it expires with its window anyway)."""
    if prepared is None:
        return
    try:
        n = node(ctx)
    except CloudleaseError:
        return
    try:
        _cancel_quietly(n, prepared.invoice)
    finally:
        n.close()


def _cancel_quietly(n: LightningNode, inv: LnInvoice) -> bool:
    try:
        return n.cancel(inv)
    except CloudleaseError:
        return False


def invoice_of(req: PaymentRequest) -> LnInvoice:
    """The stored invoice of ``req`` as the backends take it."""
    from cloudlease.lightning import LnInvoice

    assert req.ln_invoice and req.ln_payment_hash and req.ln_amount_msat and req.ln_expires_at
    return LnInvoice(bolt11=req.ln_invoice, payment_hash=req.ln_payment_hash,
                     amount_msat=req.ln_amount_msat, description=req.message or "",
                     created_at=req.created_at, expires_at=req.ln_expires_at)


def to_ask(requests: Iterable[PaymentRequest], now: datetime, *, explicit: bool = False
           ) -> list[PaymentRequest]:
    """Requests whose invoice the node is asked about in this pass: not paid yet, and open,
    asked for by id, or closed but with an invoice that may still be paid (young)."""
    out = []
    for r in requests:
        if not r.ln_payment_hash or r.ln_paid_msat:
            continue
        if explicit or r.status in OPEN_STATUSES or \
                (r.ln_expires_at is not None and r.ln_expires_at > now - GRACE):
            out.append(r)
    return out


def statuses(n: LightningNode, requests: Sequence[PaymentRequest]) -> dict[str, LnStatus]:
    """One ``statuses()`` call for every invoice of ``requests``, checked to be about
    exactly those invoices."""
    if not requests:
        return {}
    from cloudlease.lightning import LnState

    invoices = [invoice_of(r) for r in requests]
    got = n.statuses(invoices)
    wanted = {inv.payment_hash: inv for inv in invoices}
    who = f"the Lightning node ({n.name})"
    for key, st in got.items():
        if key not in wanted or st.payment_hash != key:
            raise BackendError(f"{who} reported on invoice {str(key)[:16]}…, which "
                               "cloudlease never asked it about; nothing was changed",
                               code="ln_unknown_invoice")
        inv = wanted[key]
        if st.state == LnState.PAID and (st.amount_paid_msat < inv.amount_msat or
                                         not st.preimage or st.settled_at is None):
            raise BackendError(f"{who} says invoice {key[:16]}… is paid, with "
                               f"{st.amount_paid_msat} msat of {inv.amount_msat} and no "
                               "proof of payment", code="ln_bad_answer")
    missing = [h for h in wanted if h not in got]
    if missing:
        raise BackendError(f"{who} gave no status for invoice {missing[0][:16]}…",
                           code="ln_bad_answer")
    return got


def cancel_unneeded(n: LightningNode, requests: Sequence[PaymentRequest]) -> list[str]:
    """Cancel the invoices of requests settled another way (where the node can; Electrum
    cannot, and a payment that still arrives is flagged for refund). Best effort: a node
    that fails now is asked again on the next pass. Returns the ids whose invoice is
    cancelled."""
    done = []
    for r in requests:
        if _cancel_quietly(n, invoice_of(r)):
            done.append(r.id)
    return done


def decorate(settings: Settings, payment: dict[str, Any] | None) -> dict[str, Any] | None:
    """Name the node in a request's ``lightning`` data (``--json`` and people)."""
    if payment and payment.get("lightning"):
        payment["lightning"]["node"] = settings.lightning.backend
        payment["lightning"]["simulated"] = settings.lightning.backend == "devchain"
    return payment
