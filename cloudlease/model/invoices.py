"""Invoices, contribution statements, anonymous-sales statements and credit notes."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from cloudlease.model.record import Record
from cloudlease.model.statuses import InvoiceKind, InvoiceStatus


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
    kind: InvoiceKind = InvoiceKind.INVOICE
    seller: dict = dataclasses.field(default_factory=dict)
    buyer: dict = dataclasses.field(default_factory=dict)
    tax: dict = dataclasses.field(default_factory=dict)
