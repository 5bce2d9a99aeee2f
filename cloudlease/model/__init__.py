"""Ledger records: frozen dataclasses with typed, documented attributes, and the StrEnum
statuses and kinds they carry.

One module per concern; everything is re-exported here, so ``from cloudlease.model
import Lease`` is how the rest of cloudlease imports them:

- ``record``: the ``Record`` mixin (typed ``from_dict``/``to_dict``, field checks).
- ``statuses``: every status and kind as a StrEnum of its stored values.
- ``catalog``: ``Tenant``, ``Plan``, ``Pool``.
- ``leases``: ``Lease``.
- ``payments``: ``PaymentRequest``, ``Payment``, ``Transfer``.
- ``funding``: ``Contribution``, ``Payout``.
- ``invoices``: ``Invoice``.
- ``events``: ``Event``, ``Delivery``.
- ``machines``: ``MachineRecord``.
- ``meta``: ``Meta``, ``Counter``, ``record_number``.
- ``renewals``: ``Renewal`` (NWC auto-renewal) and ``RenewalStatus``.
"""

from cloudlease.model.catalog import Plan, Pool, Tenant
from cloudlease.model.events import Delivery, Event
from cloudlease.model.funding import Contribution, Payout
from cloudlease.model.invoices import Invoice
from cloudlease.model.leases import Lease
from cloudlease.model.machines import MachineRecord
from cloudlease.model.meta import Counter, Meta, record_number
from cloudlease.model.payments import Payment, PaymentRequest, Transfer
from cloudlease.model.record import Record
from cloudlease.model.renewals import Renewal, RenewalStatus
from cloudlease.model.statuses import (
    CLOSED_LEASE,
    OPEN_LEASE,
    Consideration,
    ContributionKind,
    ContributionStatus,
    DeliveryStatus,
    InvoiceKind,
    InvoiceStatus,
    LeaseStatus,
    MachineState,
    PaymentStatus,
    RequestFlag,
    RequestStatus,
    TransferKind,
    TransferStatus,
)

__all__ = [
    "LeaseStatus", "OPEN_LEASE", "CLOSED_LEASE", "RequestStatus", "RequestFlag", "Record",
    "Tenant", "Plan", "Lease", "PaymentRequest", "Consideration", "Pool", "ContributionKind",
    "ContributionStatus", "Contribution", "Payout", "InvoiceStatus", "InvoiceKind", "Invoice",
    "Meta", "Counter", "PaymentStatus", "Payment", "Event", "DeliveryStatus", "Delivery",
    "MachineState", "MachineRecord", "TransferKind", "TransferStatus", "Transfer",
    "record_number", "Renewal", "RenewalStatus",
]
