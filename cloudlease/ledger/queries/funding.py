"""Named queries on pools' money and on documents: contributions, payouts, invoices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cloudlease.ledger.queries._base import BY_NUMBER, Named, Tenanted, Window, window

if TYPE_CHECKING:
    from cloudlease.model import Contribution, Invoice, Payout


class Contributions(Tenanted):
    """``ledger.contributions``: indexed on pool, tenant, request."""

    def of_pool(self, pool: str) -> list[Contribution]:
        """A pool's contributions, oldest first."""
        return self.where("pool = ?", (pool,), order=BY_NUMBER)

    def count_in_pool(self, pool: str) -> int:
        return self.count("pool = ?", (pool,))

    def stake_of(self, tenant: str) -> list[Contribution]:
        """A tenant's settled investments (their stake in pools)."""
        return self.where("tenant = ? AND kind = 'investment' AND status = 'settled'",
                          (tenant,))

    def settled(self, span: Window = None, *, tenant: str | None = None
                ) -> list[Contribution]:
        """Contributions settled in ``span`` (of ``tenant`` only, when given), in the
        order they settled."""
        more, params = window("settled_at", span)
        clause = "status = 'settled'" + more
        if tenant is not None:
            clause += " AND tenant = ?"
            params.append(tenant)
        return self.where(clause, params, order="settled_at, id")


class Payouts(Named):
    """``ledger.payouts``: indexed on pool."""

    def of_pool(self, pool: str) -> list[Payout]:
        """A pool's payouts, by month."""
        return self.where("pool = ?", (pool,), order="period")

    def of_period(self, period: str) -> list[Payout]:
        """Every pool's payouts for one month (``2026-03``)."""
        return self.where("period = ?", (period,))


class Invoices(Tenanted):
    """``ledger.invoices``: indexed on (tenant, period) and on number (unique)."""

    def by_number(self, number: str) -> Invoice | None:
        found = self.where("number = ?", (number,))
        return found[0] if found else None

    def numbers_like(self, prefix: str, limit: int) -> list[str]:
        """Issued numbers that start with ``prefix``, in order (shell completion): a range
        on the number's index, [prefix, the next prefix)."""
        if not prefix:
            found = self.where("number IS NOT NULL", order="number", limit=limit)
        else:
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            found = self.where("number >= ? AND number < ?", (prefix, upper), order="number",
                               limit=limit)
        return [i.number for i in found if i.number]

    def number_taken(self, number: str) -> bool:
        return bool(self.count("number = ?", (number,)))

    def not_void(self, tenant: str | None, period: str, kind: str) -> list[Invoice]:
        """Drafts and issued documents of a kind for ``tenant`` (None: anonymous sales) and
        a month."""
        if tenant is None:
            return self.where("tenant IS NULL AND period = ? AND kind = ? AND status != 'void'",
                              (period, kind))
        return self.where("tenant = ? AND period = ? AND kind = ? AND status != 'void'",
                          (tenant, period, kind))

    def listing(self, *, tenant: str | None = None, period: str | None = None,
                status: str | None = None) -> list[Invoice]:
        """Documents, filtered by whichever of tenant, period and status are given,
        oldest first."""
        clause, params = [], []
        for column, value in (("tenant", tenant), ("period", period), ("status", status)):
            if value is not None:
                clause.append(f"{column} = ?")
                params.append(value)
        return self.where(" AND ".join(clause), params, order=BY_NUMBER)

    def issued_to(self, tenant: str) -> list[Invoice]:
        """A tenant's issued (not void) documents."""
        return self.where("tenant = ? AND status = 'issued'", (tenant,))

    def taxed(self, period: str | None = None, span: Window = None) -> list[Invoice]:
        """Issued documents that carry VAT and may book it in ``period``: the period's own
        (voided ones too: their credit notes reverse them) and credit notes issued in
        ``span``. Without a period, all of them."""
        issued = "status != 'draft' AND tax IS NOT NULL"
        if period is None or span is None:
            return self.where(issued)
        return self.where(
            issued + " AND (period = ? OR (kind = 'credit_note' AND issued_at >= ? AND "
            "issued_at < ?))", (period, span[0].isoformat(), span[1].isoformat()))
