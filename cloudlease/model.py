"""Ledger records: frozen dataclasses with typed, documented attributes.

``from_dict`` checks every field against its annotation and names the record and field
at fault, so a hand-edited ledger fails with ``leases.L-3.hours: expected an integer``
rather than a traceback later. ``to_dict`` drops unset (None) fields: TOML has no null.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any, Self

from cloudlease.errors import LedgerError


class LeaseStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


OPEN_LEASE = frozenset({LeaseStatus.AWAITING_PAYMENT, LeaseStatus.ACTIVE, LeaseStatus.SUSPENDED})
CLOSED_LEASE = frozenset({LeaseStatus.ENDED, LeaseStatus.EXPIRED, LeaseStatus.CANCELLED})


class RequestStatus(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    SETTLED = "settled"
    EXPIRED = "expired"
    INVALID = "invalid"


class RequestFlag(StrEnum):
    """Flags a payment request carries (in ``PaymentRequest.flags``)."""

    PARTIAL = "partial"  # underpaid: the remainder can still be paid
    OVERPAID = "overpaid"  # more than the amount arrived (the surplus is to refund)
    LATE = "late"  # first seen on the chain after the window: the operator decides
    ACCEPTED = "accepted"  # the operator accepted a late payment (``pay accept``)
    REORGED = "reorged"  # a reorg took confirmations away after it had settled
    REFUND_DUE = "refund_due"  # money arrived that no promise is kept for (refund_sats)
    UNHONOURED = "unhonoured"  # settled, but what it paid for cannot be delivered


class Record:
    """Mixin: typed conversion from and to plain TOML-ready dicts."""

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Self:
        if not isinstance(data, dict):
            raise LedgerError(f"{where}: expected a table, got {_kind(data)}")
        fields, names, _ = _schema(cls)
        values: dict[str, Any] = {}
        for name, convert, required in fields:
            if name in data:
                values[name] = convert(data[name], where, name)
            elif required:
                raise LedgerError(f"{where}: missing field {name!r}")
        if len(values) != len(data):
            unknown = set(data) - names
            raise LedgerError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        return cls(**values)

    @classmethod
    def from_json(cls, data: Any, where: str) -> Self:
        """Like ``from_dict`` for JSON data, where date-times and decimals are strings."""
        if isinstance(data, dict):
            _, _, text_fields = _schema(cls)
            data = dict(data)
            for name, parse in text_fields.items():
                value = data.get(name)
                if isinstance(value, str):
                    try:
                        data[name] = parse(value)
                    except (ValueError, ArithmeticError):
                        pass  # from_dict names the field and what is wrong with it
        return cls.from_dict(data, where)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None or value == () and f.default == () or \
                    value == {} and f.default_factory is dict:  # type: ignore[misc]
                continue
            if isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _schema(cls: type) -> tuple[tuple, frozenset[str], dict[str, Any]]:
    """Per record class, once: (name, converter, required) per field, the field names, and
    the fields that JSON carries as text (date-times and decimals) with their parsers.
    Building records is the hot path of loading a ledger or an archive segment."""
    hints = _hints(cls)
    fields = []
    text: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        hint = hints[f.name]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields.append((f.name, _converter(hint), required))
        base = _base(hint)
        if base is datetime:
            text[f.name] = datetime.fromisoformat
        elif base is Decimal:
            text[f.name] = Decimal
    return tuple(fields), frozenset(hints), text


def _converter(hint: Any) -> Any:
    """A converter for one field: fast checks for the shapes records use (scalars,
    optional scalars, enums, string tuples), falling back to the general ``_coerce`` —
    which also writes the error message — for anything unexpected."""
    base, optional = hint, False
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            base, optional = args[0], True
    fast: Any = None
    if base in (int, str, bool):
        def fast(value: Any) -> bool:
            return type(value) is base
    elif base is datetime:
        def fast(value: Any) -> bool:
            return isinstance(value, datetime) and value.tzinfo is not None
    elif base is Decimal:
        def fast(value: Any) -> bool:
            return type(value) is Decimal and value.is_finite()
    elif isinstance(base, type) and issubclass(base, StrEnum):
        members = {m.value: m for m in base}

        def convert_enum(value: Any, where: str, name: str) -> Any:
            if optional and value is None:
                return None
            member = members.get(value) if isinstance(value, str) else None
            return member if member is not None else _coerce(value, hint, f"{where}.{name}")
        return convert_enum
    elif typing.get_origin(base) is tuple and typing.get_args(base) == (str, ...):
        def convert_strings(value: Any, where: str, name: str) -> Any:
            if type(value) in (list, tuple) and all(type(v) is str for v in value):
                return tuple(value)
            return _coerce(value, hint, f"{where}.{name}")
        return convert_strings

    def convert(value: Any, where: str, name: str) -> Any:
        if fast is not None and (fast(value) or optional and value is None):
            return value
        return _coerce(value, hint, f"{where}.{name}")
    return convert


def _base(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _kind(value: Any) -> str:
    return {
        bool: "a boolean", int: "an integer", str: "a string", Decimal: "a decimal number",
        list: "an array", dict: "a table", datetime: "a date-time",
    }.get(type(value), type(value).__name__)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if origin is tuple:
        (item,) = typing.get_args(hint)[:1]
        if not isinstance(value, list | tuple):
            raise LedgerError(f"{where}: expected an array, got {_kind(value)}")
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        _, item = typing.get_args(hint)
        if not isinstance(value, dict):
            raise LedgerError(f"{where}: expected a table, got {_kind(value)}")
        return {str(k): _coerce(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is dict:
        if not isinstance(value, dict):
            raise LedgerError(f"{where}: expected a table, got {_kind(value)}")
        return value
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(m.value for m in hint)
            raise LedgerError(f"{where}: {value!r} is not one of {allowed}") from None
    if hint is bool:
        if type(value) is not bool:
            raise LedgerError(f"{where}: expected a boolean, got {_kind(value)}")
        return value
    if hint is int:
        if type(value) is not int:
            raise LedgerError(f"{where}: expected an integer, got {_kind(value)}")
        return value
    if hint is Decimal:
        if type(value) is int:
            return Decimal(value)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise LedgerError(f"{where}: expected a decimal number, got {_kind(value)}")
        return value
    if hint is datetime:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise LedgerError(f"{where}: expected a UTC date-time, got {_kind(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise LedgerError(f"{where}: expected a string, got {_kind(value)}")
        return value
    raise TypeError(f"unsupported field type {hint!r}")  # pragma: no cover


@dataclasses.dataclass(frozen=True, slots=True)
class Tenant(Record):
    """Someone who rents or funds capacity.

    Attributes:
        name: unique, printable name (the record's key).
        created_at: when it was added (UTC).
        email: optional contact address.
        refund_address: optional Bitcoin address for refunds, valid on the ledger's network.
        removed_at: set by ``tenant remove`` when history still refers to the tenant.
        ssh_keys: OpenSSH public key lines (checked: one line, known type, no options);
            the provisioning drivers write each behind ``restrict,pty``. Never a private key.
        billing_name: the name invoices are made out to (a company's legal name); the
            tenant's name when not set.
        address: the billing address, one line per entry.
        country: ISO 3166 alpha-2 code of the billing address (decides the VAT rate).
        vat_id: the customer's VAT id (normalised: upper case, no spaces or dots); a
            business customer in another country than the operator's is reverse-charged.
    """

    name: str
    created_at: datetime
    email: str | None = None
    refund_address: str | None = None
    removed_at: datetime | None = None
    ssh_keys: tuple[str, ...] = ()
    billing_name: str | None = None
    address: tuple[str, ...] = ()
    country: str | None = None
    vat_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Plan(Record):
    """A priced offer. Exactly one of ``price_sats`` and ``price_fiat`` is set.

    Attributes:
        name: unique name (the record's key).
        created_at: when it was added.
        price_sats: price per hour in sats.
        price_fiat: price per hour in the ledger's currency (converted at a locked rate).
        currency: the fiat currency code when ``price_fiat`` is set.
        pool: the capacity pool the plan draws on, if any.
        cpus: a machine's CPU limit as a number of CPUs (``Decimal('0.5')``), or no limit.
        memory_bytes: a machine's memory limit, or no limit.
        pids: a machine's limit on processes and threads at once, or no limit.
    """

    name: str
    created_at: datetime
    price_sats: int | None = None
    price_fiat: Decimal | None = None
    currency: str | None = None
    pool: str | None = None
    cpus: Decimal | None = None
    memory_bytes: int | None = None
    pids: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Lease(Record):
    """A rental of capacity for a number of paid hours.

    Attributes:
        id: ``L-<n>``, assigned in order under the ledger lock.
        status: see ``LeaseStatus``; never ``active`` without a settled payment.
        hours: hours bought with the first payment.
        plan: plan name.
        created_at: when the lease was made.
        tenant: tenant name, or None for an anonymous rental.
        price_sats: the first payment's amount for the hours, in sats (price locked).
        price_fiat: the fiat price of those hours, when the plan is priced in fiat.
        currency: currency of ``price_fiat``.
        requests: ids of payment requests for this lease (first, then extensions).
        paid_hours: hours covered by settled payments so far.
        starts_at: activation time (settlement of the first payment).
        ends_at: ``starts_at`` + ``paid_hours``.
        closed_at: when it became ended, expired or cancelled.
        idempotency_key: the caller's key; the same key returns this lease again.
        note: free text kept with the lease (e.g. why it was cancelled).
        pool: the pool its plan drew on when it was rented.
        suspended_at: when it was suspended (throttled pool or reorg), to give the time back.
    """

    id: str
    status: LeaseStatus
    hours: int
    plan: str
    created_at: datetime
    tenant: str | None = None
    price_sats: int | None = None
    price_fiat: Decimal | None = None
    currency: str | None = None
    requests: tuple[str, ...] = ()
    paid_hours: int = 0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    closed_at: datetime | None = None
    idempotency_key: str | None = None
    note: str | None = None
    pool: str | None = None
    suspended_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_LEASE


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


class Consideration(StrEnum):
    REVENUE_SHARE = "revenue_share"
    OWNERSHIP = "ownership"
    FIXED_RETURN = "fixed_return"


@dataclasses.dataclass(frozen=True, slots=True)
class Pool(Record):
    """Shared capacity that investors fund and whose risk and revenue they share.

    Attributes:
        name: unique name.
        created_at: creation (the start of its start-up phase).
        slots: how many leases may run at once.
        consideration: how investors are rewarded (see ``Consideration``).
        investor_pct: percent (0-100) of revenue (or net revenue) owed to investors.
        startup_weight: stake weight of investments settled during start-up.
        min_runway_hours: below this runway investors are asked to top up.
        target_runway_hours: top-ups aim to restore this runway.
        cost_sats: running cost per hour in sats, or None when priced in fiat.
        cost_fiat: running cost per hour in the ledger's currency.
        currency: currency of ``cost_fiat``.
        period_months: revenue_share: months after start-up during which revenue is shared.
        return_multiple: fixed_return: cap on each investor's payouts, × principal.
        suspend_on_throttle: suspend active leases when the pool is throttled.
        throttled: new rentals are refused while set.
        throttled_at: when it was throttled.
        low_funds: runway is below ``min_runway_hours`` (top-ups were asked for).
        startup_ended_at: start of the month after the first whose revenue covered cost.
        accrued_until: running cost is accrued up to here.
        cost_months: accrued running cost per month (``YYYY-MM`` → sats).
        revenue_months: settled lease revenue per month (``YYYY-MM`` → sats).
        cost_fiat_booked: a fiat cost only: the fiat value of the cost booked so far (each
            step's sats at that step's rate), so the next step books the fiat still
            unbooked and accrual never drifts with the tick frequency.
    """

    name: str
    created_at: datetime
    slots: int
    consideration: Consideration
    investor_pct: Decimal
    startup_weight: Decimal = Decimal("1.5")
    min_runway_hours: int = 24
    target_runway_hours: int = 72
    cost_sats: int | None = None
    cost_fiat: Decimal | None = None
    currency: str | None = None
    period_months: int | None = None
    return_multiple: Decimal | None = None
    suspend_on_throttle: bool = False
    throttled: bool = False
    throttled_at: datetime | None = None
    low_funds: bool = False
    startup_ended_at: datetime | None = None
    accrued_until: datetime | None = None
    cost_months: dict[str, int] = dataclasses.field(default_factory=dict)
    revenue_months: dict[str, int] = dataclasses.field(default_factory=dict)
    cost_fiat_booked: Decimal | None = None


class ContributionKind(StrEnum):
    INVESTMENT = "investment"
    DONATION = "donation"


@dataclasses.dataclass(frozen=True, slots=True)
class Contribution(Record):
    """Money put into a pool: an investment (earns consideration) or a donation (none).

    Attributes:
        id: ``C-<n>``.
        pool: the pool funded.
        tenant: who funds it (never anonymous).
        kind: investment or donation.
        amount_sats: the principal.
        created_at: when it was asked for.
        request: the payment request that pays it.
        settled_at: when its payment settled; it counts from then.
        startup: settled during the pool's start-up phase (weighted).
        topup: made by the monitor to restore the pool's runway.
        status: ``pending``, ``settled`` or ``cancelled`` (its request expired).
    """

    id: str
    pool: str
    tenant: str
    kind: ContributionKind
    amount_sats: int
    created_at: datetime
    request: str | None = None
    settled_at: datetime | None = None
    startup: bool = False
    topup: bool = False
    status: str = "pending"


@dataclasses.dataclass(frozen=True, slots=True)
class Payout(Record):
    """One month's consideration for a pool's investors, recorded once.

    Attributes:
        id: ``<pool>/<YYYY-MM>``.
        pool: the pool.
        period: ``YYYY-MM``.
        consideration: the pool's consideration when it was computed.
        basis_sats: revenue (or net revenue) the percentage applies to.
        distributable_sats: what investors get in all.
        shares: tenant → sats (largest-remainder split by risk share, caps applied).
        created_at: when it was recorded.
    """

    id: str
    pool: str
    period: str
    consideration: Consideration
    basis_sats: int
    distributable_sats: int
    created_at: datetime
    shares: dict[str, int] = dataclasses.field(default_factory=dict)


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    VOID = "void"


@dataclasses.dataclass(frozen=True, slots=True)
class Invoice(Record):
    """An invoice or credit note for one tenant and one period.

    Attributes:
        id: ``D-<n>`` (the draft id; stays the record key).
        tenant: who it is for (``None`` for an anonymous-sales statement).
        period: ``YYYY-MM``.
        status: draft → issued (immutable) → void.
        created_at: when the draft was made.
        lines: the lines (tables with kind, description, sats, fiat, ...).
        total_sats: sum of the lines' sats.
        number: ``INV-YYYY-NNNN``, assigned at issue, gapless, never reused.
        issued_at: when it was issued.
        content_sha256: hash of the issued content (number, tenant, period, lines, totals).
        voided_at: when it was voided.
        void_reason: why.
        credit_note_for: for a credit note, the number of the invoice it cancels.
        kind: ``invoice`` (rentals), ``contributions`` (a tenant's investments, donations
            and consideration earned: its own series), ``statement`` (anonymous sales) or
            ``credit_note``.
        seller: the operator's details (name, address lines, VAT id, country, e-mail,
            payment terms, time zone), frozen into the document at issue.
        buyer: the tenant's billing details (name, address lines, country, VAT id,
            e-mail), frozen at issue.
        tax: how VAT applies (``tax.Treatment.to_dict``), decided at issue; the lines
            then carry net, tax and gross.
    """

    id: str
    period: str
    status: InvoiceStatus
    created_at: datetime
    tenant: str | None = None
    lines: tuple[dict, ...] = ()
    total_sats: int = 0
    number: str | None = None
    issued_at: datetime | None = None
    content_sha256: str | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None
    credit_note_for: str | None = None
    kind: str = "invoice"
    seller: dict = dataclasses.field(default_factory=dict)
    buyer: dict = dataclasses.field(default_factory=dict)
    tax: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Meta(Record):
    """A ledger-wide fact fixed at init or by an upgrade (network, currency, ids).

    Attributes:
        key: the fact's name (``network``, ``currency``, ``created_at``, ``ledger_id``,
            ``schema_version``, ``wallet_descriptor``...).
        value: its value as text.
    """

    key: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class Counter(Record):
    """The last number handed out of a kind (``lease`` → L-n, ``address_index``...).

    Attributes:
        kind: what it counts.
        value: the last value handed out (0 before the first).
    """

    kind: str
    value: int


class PaymentStatus(StrEnum):
    SEEN = "seen"            # in the mempool, or confirmed less than the policy asks
    CONFIRMED = "confirmed"  # counted towards the request
    GONE = "gone"            # replaced, double-spent or reorged out and not seen again
    SETTLED = "settled"      # a Lightning payment the node settled


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
class Event(Record):
    """Something hooks and webhooks hear about (``lease_active``, ``pool_throttled``...).

    Attributes:
        id: ``E-<n>``; receivers deduplicate on it.
        name: the event name.
        subject: the lease, request or ``pool:<name>`` it is about.
        created_at: when it happened.
        body: the JSON document delivered.
    """

    id: str
    name: str
    subject: str
    created_at: datetime
    body: dict = dataclasses.field(default_factory=dict)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"        # gave up after the last attempt


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery(Record):
    """One event to one receiver (a hook command or a webhook), at least once.

    Attributes:
        id: ``<event id>/<target>``.
        event: the event id.
        target: ``hook`` or ``webhook:<url>``.
        status: see ``DeliveryStatus``.
        attempts: how many times it was tried.
        created_at: when it was queued.
        next_attempt_at: not before this (backoff).
        claimed_until: a runner is delivering it until then (no second runner takes it).
        claimed_by: who claimed it (``host pid``).
        delivered_at: when it succeeded.
        last_error: the last failure, one line.
    """

    id: str
    event: str
    target: str
    status: DeliveryStatus
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    claimed_until: datetime | None = None
    claimed_by: str | None = None
    delivered_at: datetime | None = None
    last_error: str | None = None


class MachineState(StrEnum):
    """Where a lease's machine is (``provision.base.State`` is this enum)."""

    PENDING = "pending"      # recorded before the first call; a crash leaves it for a retry
    READY = "ready"          # the tenant can log in (or the command said it is done)
    FAILED = "failed"        # the last call failed; ``error`` says why; retried next tick
    SUSPENDED = "suspended"  # processes frozen, logins refused
    RELEASED = "released"    # everything of the lease is gone


@dataclasses.dataclass(frozen=True, slots=True)
class MachineRecord(Record):
    """The machine a paid lease became (``cloudlease/provision/``), as last recorded.

    Attributes:
        lease: the lease (the record's key).
        driver: the driver that made it (``command``, ``ssh-account``, ``podman``).
        state: see ``MachineState``.
        created_at: when it was first recorded (``pending``, before the first driver call).
        updated_at: when it last changed.
        host: the host whose driver made it; on a shared ledger only that host drives it.
        ssh_host / ssh_port / ssh_user: what the tenant logs in to, when there is a shell.
        error: why the last call failed (state ``failed``), one line.
        details: the driver's own facts (port, uid, container, ``ends_at``, host key
            fingerprint...): JSON, never a secret.
        attempts: driver calls that failed in a row (0 after a success).
        action: the driver method last called (provision, suspend, resume, extend, release).
        spec_sha: digest of the SSH keys and limits it was last set up with; a change (a
            tenant's new key) provisions it again.
        blocked: failed for a reason that cannot pass by itself (no SSH key to log in
            with); tried again only when ``spec_sha`` changes, not on every tick.
        claimed_until: a runner is calling the driver for it until then (no other takes it).
        claimed_by: who claimed it (``host pid``).
    """

    lease: str
    driver: str
    state: MachineState
    created_at: datetime
    updated_at: datetime
    host: str | None = None
    ssh_host: str | None = None
    ssh_port: int | None = None
    ssh_user: str | None = None
    error: str | None = None
    details: dict = dataclasses.field(default_factory=dict)
    attempts: int = 0
    action: str | None = None
    spec_sha: str | None = None
    blocked: bool = False
    claimed_until: datetime | None = None
    claimed_by: str | None = None


class TransferKind(StrEnum):
    SWEEP = "sweep"
    REFUND = "refund"


class TransferStatus(StrEnum):
    PENDING = "pending"  # signed and recorded; not yet known to be accepted by the chain
    SENT = "sent"        # the backend accepted it (or the operator sent it elsewhere)
    FAILED = "failed"    # the backend refused it: nothing left the wallet


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


def record_number(record_id: str) -> int:
    """The counter part of an id such as ``L-12`` (12); -1 when it is not such an id."""
    prefix, _, digits = record_id.rpartition("-")
    return int(digits) if digits.isdigit() and prefix.isalpha() and len(prefix) <= 3 else -1
