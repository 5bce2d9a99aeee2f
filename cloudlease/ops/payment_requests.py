"""Payment requests: a fresh address, a BIP21 URI and a payment window per payment.

Runs inside a ledger transaction (the lock is held), so descriptor indexes are handed
out once, and a keys-wallet key reaches the 0600 keystore before the ledger that names
its address is written: a crash can leave an unused key, never an address without one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cloudlease.core import clock
from cloudlease.core.errors import Conflict, LedgerError
from cloudlease.ledger.session import Ledger
from cloudlease.model import PaymentRequest, RequestStatus
from cloudlease.ops.context import Context
from cloudlease.ops.quote import Quote

if TYPE_CHECKING:
    from cloudlease.lightning import LnInvoice

OPEN_REQUEST = frozenset({RequestStatus.NEW, RequestStatus.PROCESSING})


def fresh_address(ctx: Context, ledger: Ledger) -> tuple[str, str, int | None]:
    """(address, wallet kind, derivation index) never handed out before."""
    settings = ctx.settings
    if settings.wallet_kind == "descriptor":
        from cloudlease.bitcoin.wallet import descriptor_wallet

        if not settings.descriptor:
            raise LedgerError("config.toml:wallet.descriptor is empty but wallet.kind is "
                              "descriptor", code="config_invalid")
        wallet = descriptor_wallet(settings.descriptor, settings.network)
        index = ledger.counter("address_index")  # the next index to hand out
        address = wallet.address_at(index)
        while ledger.requests.address_taken(address):
            index += 1  # only after a hand-edited counter; never reuse
            address = wallet.address_at(index)
        ledger.set_counter("address_index", index + 1)
        return address, "descriptor", index
    if ctx.ledger_url:
        raise LedgerError("a shared ledger needs a watch-only (descriptor) wallet: a keys "
                          "wallet's private keys would live on one host only; set "
                          "wallet.kind = \"descriptor\" in config.toml", code="config_invalid")
    from cloudlease.bitcoin.keystore import KeyStore

    address, _wif = KeyStore(ctx.home.keys).new_key(settings.network)  # saved before return
    if ledger.requests.address_taken(address):  # pragma: no cover - 2^-128
        raise Conflict("fresh key collided with a used address; try again")
    return address, "keys", None


def address_preflight(ctx: Context) -> None:
    """Refuse now what ``fresh_address`` would refuse later, without handing anything out:
    called before a Lightning invoice is asked for, so a request that cannot get its
    address leaves no invoice behind on the node either."""
    settings = ctx.settings
    if settings.wallet_kind == "descriptor":
        if not settings.descriptor:
            raise LedgerError("config.toml:wallet.descriptor is empty but wallet.kind is "
                              "descriptor", code="config_invalid")
        return
    if ctx.ledger_url:
        raise LedgerError("a shared ledger needs a watch-only (descriptor) wallet: a keys "
                          "wallet's private keys would live on one host only; set "
                          "wallet.kind = \"descriptor\" in config.toml", code="config_invalid")
    from cloudlease.bitcoin.keystore import KeyStore

    KeyStore(ctx.home.keys).check_permissions()


def unpaid_tail(ledger: Ledger, limit: int | None = None) -> int:
    """Descriptor addresses handed out after the last one paid (gap-limit exposure);
    with ``limit``, counting stops past it."""
    if limit is not None:
        recent = ledger.requests.latest_indexed(limit + 1)
        tail = 0
        for r in recent:
            if r.paid_sats > 0 or r.ln_paid_msat > 0:
                break
            tail += 1
        return tail
    last = ledger.requests.last_paid_index()
    return ledger.requests.count_indexed_after(-1 if last is None else last)


def by_key(ledger: Ledger, key: str, command: str) -> PaymentRequest | None:
    """The request an earlier ``lease extend`` / ``pool fund`` made with this idempotency
    key. A key is one command's: a key ``rent`` used for a lease is a conflict (exit 4)."""
    found = ledger.requests.by_idempotency_key(key)
    if found is not None:
        return found
    lease = ledger.leases.by_idempotency_key(key)
    if lease is not None:
        raise Conflict(f"idempotency key {key!r} was used by rent for {lease.id}; "
                       f"use another key for {command}")
    return None


def key_not_used_by_request(ledger: Ledger, key: str, command: str) -> None:
    found = ledger.requests.by_idempotency_key(key)
    if found is not None:
        what = {"extend": "lease extend", "invest": "pool fund", "donate": "pool fund"}.get(
            found.purpose, found.purpose)
        raise Conflict(f"idempotency key {key!r} was used by {what} for {found.id}; "
                       f"use another key for {command}")


def create(ctx: Context, ledger: Ledger, *, purpose: str, quote: Quote, lease: str | None,
           hours: int | None, label: str | None, message: str | None,
           expiry: timedelta | None = None, methods: Sequence[str] = ("onchain",),
           invoice: LnInvoice | None = None, created_at: datetime | None = None,
           idempotency_key: str | None = None) -> PaymentRequest:
    """A new request. With ``invoice`` (made before the transaction: ops/lnrequests.py)
    it can be paid over Lightning, in the invoice's window; a fresh address only when
    ``methods`` holds ``onchain``."""
    from cloudlease.bitcoin.bip21 import make_uri

    methods = payable_by(ctx, quote.amount_sats, tuple(methods))
    now = created_at or clock.now()
    address: str | None = None
    kind: str | None = None
    index: int | None = None
    if "onchain" in methods:
        address, kind, index = fresh_address(ctx, ledger)
        uri = make_uri(address, quote.amount_sats, label=label, message=message,
                       lightning=invoice.bolt11 if invoice else None)
    else:
        assert invoice is not None
        uri = f"lightning:{invoice.bolt11}"
    if invoice is not None:
        assert invoice.amount_msat == quote.amount_sats * 1000
        expires_at = invoice.expires_at
    else:
        expires_at = now + (expiry or timedelta(minutes=ctx.settings.expiry_minutes))
    request = PaymentRequest(
        id=ledger.next_id("request"),
        purpose=purpose,
        address=address,
        amount_sats=quote.amount_sats,
        created_at=now,
        expires_at=expires_at,
        status=RequestStatus.NEW,
        uri=uri,
        lease=lease,
        hours=hours,
        label=label,
        message=message,
        fiat_amount=quote.fiat_amount,
        currency=quote.currency,
        rate=quote.rate,
        rate_source=quote.rate_source,
        wallet=kind,
        address_index=index,
        methods=tuple(methods),
        ln_invoice=invoice.bolt11 if invoice else None,
        ln_payment_hash=invoice.payment_hash if invoice else None,
        ln_amount_msat=invoice.amount_msat if invoice else None,
        ln_expires_at=invoice.expires_at if invoice else None,
        idempotency_key=idempotency_key,
    )
    ledger.requests[request.id] = request
    return request


def payable_by(ctx: Context, amount_sats: int, methods: tuple[str, ...]) -> tuple[str, ...]:
    """The methods a request of this amount is made with: Lightning only under the
    on-chain dust limit (exit 2 when only on-chain was possible)."""
    from cloudlease.core.money import methods_for_amount

    return methods_for_amount(amount_sats, methods,
                              lightning_available=ctx.settings.lightning.enabled)


def gap_warning(ctx: Context, ledger: Ledger, *, exact: bool = False) -> str | None:
    if ctx.settings.wallet_kind != "descriptor":
        return None
    gap = ctx.settings.gap_limit
    tail = unpaid_tail(ledger, None if exact else gap)
    if tail > gap:
        many = f"{tail}" if exact else f"more than {gap}"
        return (f"{many} unpaid addresses in a row, past the gap limit of "
                f"{ctx.settings.gap_limit}: a wallet restored from the xpub may not see "
                "payments to the later ones (raise its gap limit)")
    return None


def watch_now(ctx: Context, addresses: dict[str | None, datetime]) -> str | None:
    """Have a bitcoind backend import new addresses (address → request creation time) at
    once, so a payment made before the next tick is seen in the mempool too. Best effort:
    tick imports them anyway. A request paid over Lightning only has no address (None)."""
    addresses = {a: t for a, t in addresses.items() if a}
    if ctx.settings.backend.kind != "bitcoind" or not addresses:
        return None
    from cloudlease.bitcoin.backends import make_backend
    from cloudlease.core.errors import BackendError

    backend = make_backend(ctx.settings, ctx.home)
    try:
        backend.watch(addresses)
    except BackendError as exc:
        return f"could not import the address into the node yet ({exc}); tick will retry"
    finally:
        getattr(backend, "close", lambda: None)()
    return None
