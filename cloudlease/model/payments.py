"""Money in and out of the wallet: payment requests, the payments seen paying them, and
transfers (sweeps and refunds) leaving the wallet."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

from cloudlease.model.record import Record
from cloudlease.model.statuses import PaymentStatus, RequestStatus, TransferKind, TransferStatus


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentRequest(Record):
    """A request for one payment to a fresh address (the BTCPay invoice model).

    Attributes:
        id: ``P-<n>``.
        purpose: ``rent`` or ``extend`` (later: ``invest``, ``donate``, ``topup``).
        address: the fresh address, never used for another request (None for a request
            that is paid over Lightning only).
        amount_sats: what must arrive, in sats (fiat prices converted at ``rate``, rounded up).
        created_at: when it was made; the rate is locked from then until ``expires_at``.
        expires_at: end of the payment window.
        status: see ``RequestStatus``.
        uri: the BIP21 URI shown to the payer.
        lease: the lease it pays for.
        hours: hours it buys when settled.
        label: BIP21 label.
        message: BIP21 message.
        fiat_amount: the fiat price it was made for, if any.
        currency: currency of ``fiat_amount``.
        rate: fiat per BTC used, when a fiat price was converted.
        rate_source: where ``rate`` came from (``fixed``, ``override``, ``live:bitpay``...).
        wallet: ``keys`` or ``descriptor``.
        address_index: derivation index for descriptor wallets.
        flags: see ``RequestFlag`` (``partial``, ``overpaid``, ``late``, ``accepted``,
            ``reorged``, ``refund_due``, ``unhonoured``).
        paid_sats: sats seen paying the address (mempool and chain, replacements excluded).
        confirmed_sats: sats with the confirmations the policy asks for.
        txids: transactions seen paying it.
        seen_at: when a payment was first seen.
        settled_at: when it settled.
        closed_reason: why it became expired or invalid.
        tenant: who pays (for requests without a lease: investments, top-ups).
        pool: the pool it funds or whose plan it pays for.
        invest_sats: part of ``amount_sats`` that is an investment (``rent --invest``).
        contribution: the contribution it pays for, if any.
        idempotency_key: the caller's key for ``lease extend`` / ``pool fund``.
        methods: how it may be paid: ``onchain`` and/or ``lightning``.
        ln_invoice: the BOLT11 invoice (checked against the request before it was stored).
        ln_payment_hash: its payment hash (hex).
        ln_amount_msat: its amount in millisatoshis (``amount_sats`` × 1000).
        ln_expires_at: when the invoice expires (never before ``expires_at``).
        ln_paid_msat: what the node says was paid over Lightning.
        ln_settled_at: when the node settled the invoice (authoritative for "late").
        ln_preimage: the payment preimage (hex): proof of payment.
        observed_height: tip height of the last chain observation applied to it (an
            answer taken at an older tip never moves it; see ``lifecycle.Observation``).
        observed_hash: tip block hash of that observation, where the backend gives one.
        observed_at: when that observation was taken (the clock read before asking).
        first_seen_at: when the chain first saw a payment to its address (node receive
            time, mempool entry, block time; the observation's time when unknown); the
            monitoring window counts from here.
        paid_at: when the payments first covered the amount, by the chain's first-seen
            times (for Esplora's unconfirmed outputs, the last look that did not see them);
            ``late`` means this is after ``expires_at``.
        refund_sats: sats received that no promise is kept for (overpaid surplus, money
            for an expired, cancelled, invalid or unhonoured request); None when none.
            What may still go back is this less ``refunded_sats``.
        refunded_sats: sats sent back to the payer so far (``pay refund``; see ``Transfer``).
        minutes: the minutes it bought, once settled (None: ``hours`` × 60, as asked). A
            pro-rated payment (``[payment] underpaid|late|overpaid = "prorate"``, LNURL
            top-ups, credit) buys minutes at the price in force when it settles.
        credit_used_sats: the payer's credit (``Tenant.credit_sats`` or, anonymous,
            ``Lease.credit_sats``) this settlement used up.
        credit_kept_sats: what of this settlement (credit included) was less than a
            minute and went back to the payer's credit.
        comment: the payer's LNURL comment (LUD-12), as sent.
        via: how it was asked for, when not by the operator or the checkout: ``lnurl``
            (a top-up), ``l402`` (a script's challenge) or ``nwc`` (auto-renewal).
    """

    id: str
    purpose: str
    address: str | None
    amount_sats: int
    created_at: datetime
    expires_at: datetime
    status: RequestStatus
    uri: str
    lease: str | None = None
    hours: int | None = None
    label: str | None = None
    message: str | None = None
    fiat_amount: Decimal | None = None
    currency: str | None = None
    rate: Decimal | None = None
    rate_source: str | None = None
    wallet: str | None = None
    address_index: int | None = None
    flags: tuple[str, ...] = ()
    paid_sats: int = 0
    confirmed_sats: int = 0
    txids: tuple[str, ...] = ()
    seen_at: datetime | None = None
    settled_at: datetime | None = None
    closed_reason: str | None = None
    tenant: str | None = None
    pool: str | None = None
    invest_sats: int = 0
    contribution: str | None = None
    idempotency_key: str | None = None
    methods: tuple[str, ...] = ("onchain",)
    ln_invoice: str | None = None
    ln_payment_hash: str | None = None
    ln_amount_msat: int | None = None
    ln_expires_at: datetime | None = None
    ln_paid_msat: int = 0
    ln_settled_at: datetime | None = None
    ln_preimage: str | None = None
    observed_height: int | None = None
    observed_hash: str | None = None
    observed_at: datetime | None = None
    first_seen_at: datetime | None = None
    paid_at: datetime | None = None
    refund_sats: int | None = None
    refunded_sats: int = 0
    # schema 3 (pay as you go): appended, nullable
    minutes: int | None = None
    credit_used_sats: int | None = None
    credit_kept_sats: int | None = None
    comment: str | None = None
    via: str | None = None

    @property
    def bought_minutes(self) -> int:
        """What it buys (or bought): ``minutes`` once fixed, else ``hours`` × 60."""
        return self.minutes if self.minutes is not None else (self.hours or 0) * 60

    @property
    def references(self) -> tuple[str, ...]:
        """What proves the payment: its txids, and the payment hash when it was paid over
        Lightning (where a txid would be)."""
        if self.ln_paid_msat and self.ln_payment_hash:
            return (*self.txids, self.ln_payment_hash)
        return self.txids

    @property
    def received_sats(self) -> int:
        """Everything seen paying it: on-chain (``paid_sats``) and Lightning, whole sats."""
        return self.paid_sats + self.ln_paid_msat // 1000

    @property
    def due_sats(self) -> int:
        """What the payer still has to send (0 once paid in full, never negative)."""
        return max(0, self.amount_sats - self.received_sats)


@dataclasses.dataclass(frozen=True, slots=True)
class Payment(Record):
    """Money seen paying a request: one on-chain output, or one Lightning settlement.

    Attributes:
        id: ``<txid>:<vout>`` on-chain, ``ln:<payment hash>`` over Lightning.
        request: the payment request it pays.
        method: ``onchain`` or ``lightning``.
        sats: its value in sats (Lightning: whole sats of what was paid).
        status: see ``PaymentStatus``.
        first_seen_at: when we first saw it.
        txid / vout / height: the output and the block height it confirmed at.
        chain_seen_at: when the chain (mempool or block) first saw it, as the backend says.
        payment_hash / preimage / settled_at: for Lightning.
    """

    id: str
    request: str
    method: str
    sats: int
    status: PaymentStatus
    first_seen_at: datetime
    txid: str | None = None
    vout: int | None = None
    height: int | None = None
    chain_seen_at: datetime | None = None
    payment_hash: str | None = None
    preimage: str | None = None
    settled_at: datetime | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Transfer(Record):
    """Money leaving the receiving wallet: a sweep to the operator's address, or a refund.

    A keys wallet signs and sends it (``status`` pending → sent, or failed when the
    chain refuses it); a descriptor wallet's refund is made elsewhere and only recorded.

    Attributes:
        id: ``T-<n>``.
        kind: ``sweep`` or ``refund``.
        status: see ``TransferStatus``; the books count pending and sent ones.
        created_at: when it was signed or recorded.
        txid: the transaction.
        to_address: the address paid.
        sats: what ``to_address`` received (a refund: what is taken off the payer's balance).
        fee_sats: the mining fee the wallet paid (``expenses:fees:mining``).
        input_sats: what the spent outputs held (0 for a refund made elsewhere).
        inputs: the outputs spent, ``txid:vout``.
        change_address: a fresh keys-wallet address that got the change, if any.
        change_sats: the change.
        request: the payment request refunded.
        tenant: the payer refunded, when known.
        recorded: made outside cloudlease (descriptor wallet) and recorded by the operator.
        raw_hex: the signed transaction while pending (to broadcast it again).
    """

    id: str
    kind: TransferKind
    status: TransferStatus
    created_at: datetime
    txid: str
    to_address: str
    sats: int
    fee_sats: int = 0
    input_sats: int = 0
    inputs: tuple[str, ...] = ()
    change_address: str | None = None
    change_sats: int = 0
    request: str | None = None
    tenant: str | None = None
    recorded: bool = False
    raw_hex: str | None = None
