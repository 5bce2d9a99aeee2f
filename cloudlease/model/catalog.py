"""What is rented and by whom: tenants, plans, and the pools plans draw on."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

from cloudlease.model.record import Record
from cloudlease.model.statuses import Consideration


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
        credit_sats: sats held for the tenant: sub-minute remainders of pro-rated
            payments (``liabilities:customer-credit``), used first by their next payment.
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
    credit_sats: int | None = None  # schema 3 (pay as you go)


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
        target: where a cluster driver (lxd) places the plan's machines: a member's name
            or ``@group``; None lets the cluster (or ``[provision.lxd] target``) decide.
        min_minutes: the fewest minutes a pro-rated first payment may buy (None: 60);
            an extension buys at least one minute.
        l402: ``serve``'s API answers a rental of this plan with an L402 challenge
            (``402 Payment Required``), whatever the client's ``Accept-Payment`` says.
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
    target: str | None = None
    # schema 3 (pay as you go): appended, nullable
    min_minutes: int | None = None
    l402: bool | None = None


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
        run_seconds: whole seconds the pool has run (and so cost money) up to
            ``accrued_until``; None on a pool from before it was kept (it then ran from its
            creation to ``accrued_until``). See ``core/running.py``.
        started_at: an explicit start (``pool start``): the pool runs, and costs, from then
            even with no active lease, until ``pool stop``. None: it runs only while one
            of its leases is active.
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
    run_seconds: int | None = None
    started_at: datetime | None = None
