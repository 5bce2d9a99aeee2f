"""Payment requests: a fresh address, a BIP21 URI and a payment window per payment.

Runs inside a ledger transaction (the lock is held), so descriptor indexes are handed
out once, and a keys-wallet key reaches the 0600 keystore before the ledger that names
its address is written: a crash can leave an unused key, never an address without one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cloudlease import clock
from cloudlease.context import Context
from cloudlease.errors import Conflict, LedgerError
from cloudlease.ledger.state import Ledger
from cloudlease.model import PaymentRequest, RequestStatus
from cloudlease.ops.quote import Quote

OPEN_REQUEST = frozenset({RequestStatus.NEW, RequestStatus.PROCESSING})


def fresh_address(ctx: Context, ledger: Ledger) -> tuple[str, str, int | None]:
    """(address, wallet kind, derivation index) never handed out before."""
    settings = ctx.settings
    used = {r.address for r in ledger.requests.values()}
    if settings.wallet_kind == "descriptor":
        from cloudlease.bitcoin.wallet import DescriptorWallet

        if not settings.descriptor:
            raise LedgerError("wallet.kind is descriptor but wallet.descriptor is empty in "
                              "config.toml", code="config_invalid")
        wallet = DescriptorWallet(settings.descriptor, settings.network)
        index = int(ledger.wallet.get("next_index", 0))
        address = wallet.address_at(index)
        while address in used:  # only after a hand-edited next_index; never reuse
            index += 1
            address = wallet.address_at(index)
        ledger.wallet["next_index"] = index + 1
        return address, "descriptor", index
    from cloudlease.bitcoin.keystore import KeyStore

    address, _wif = KeyStore(ctx.home.keys).new_key(settings.network)  # saved before return
    if address in used:  # pragma: no cover - 2^-128
        raise Conflict("fresh key collided with a used address; try again")
    return address, "keys", None


def unpaid_tail(ledger: Ledger) -> int:
    """Descriptor addresses handed out after the last one paid (gap-limit exposure)."""
    indexed = sorted((r for r in ledger.requests.values() if r.address_index is not None),
                     key=lambda r: r.address_index or 0)
    tail = 0
    for r in reversed(indexed):
        if r.paid_sats > 0:
            break
        tail += 1
    return tail


def create(ctx: Context, ledger: Ledger, *, purpose: str, quote: Quote, lease: str | None,
           hours: int | None, label: str | None, message: str | None,
           expiry: timedelta | None = None) -> PaymentRequest:
    from cloudlease.bitcoin.bip21 import make_uri

    now = clock.now()
    address, kind, index = fresh_address(ctx, ledger)
    request = PaymentRequest(
        id=ledger.next_id("request"),
        purpose=purpose,
        address=address,
        amount_sats=quote.amount_sats,
        created_at=now,
        expires_at=now + (expiry or timedelta(minutes=ctx.settings.expiry_minutes)),
        status=RequestStatus.NEW,
        uri=make_uri(address, quote.amount_sats, label=label, message=message),
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
    )
    ledger.requests[request.id] = request
    return request


def gap_warning(ctx: Context, ledger: Ledger) -> str | None:
    if ctx.settings.wallet_kind != "descriptor":
        return None
    tail = unpaid_tail(ledger)
    if tail > ctx.settings.gap_limit:
        return (f"{tail} unpaid addresses in a row, past the gap limit of "
                f"{ctx.settings.gap_limit}: a wallet restored from the xpub may not see "
                "payments to the later ones (raise its gap limit)")
    return None


def watch_now(ctx: Context, addresses: dict[str, datetime]) -> str | None:
    """Have a bitcoind backend import new addresses (address → request creation time) at
    once, so a payment made before the next tick is seen in the mempool too. Best effort:
    tick imports them anyway."""
    if ctx.settings.backend != "bitcoind" or not addresses:
        return None
    from cloudlease.bitcoin.backends import make_backend
    from cloudlease.errors import BackendError

    backend = make_backend(ctx.settings, ctx.home)
    try:
        backend.watch(addresses)
    except BackendError as exc:
        return f"could not import the address into the node yet ({exc}); tick will retry"
    finally:
        getattr(backend, "close", lambda: None)()
    return None
