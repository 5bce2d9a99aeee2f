"""Named queries on what is rented: leases, their machines, plans and tenants."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from cloudlease.ledger.queries._base import BY_NUMBER, Named, Tenanted

if TYPE_CHECKING:
    from cloudlease.model import Lease, MachineRecord, Plan, Tenant

_OPEN = "status IN ('awaiting_payment', 'active', 'suspended')"


class Leases(Tenanted):
    """``ledger.leases``: indexed on status, tenant, (pool, status), idempotency key."""

    def by_idempotency_key(self, key: str) -> Lease | None:
        """The lease ``rent`` made with this key, or None."""
        found = self.where("idempotency_key = ?", (key,))
        return found[0] if found else None

    def due_to_end(self, now: datetime) -> list[Lease]:
        """Active leases whose paid time is over at ``now``."""
        return self.where("status = 'active' AND ends_at <= ?", (now.isoformat(),))

    def of_tenant(self, name: str) -> list[Lease]:
        """A tenant's leases, oldest first."""
        return self.where("tenant = ?", (name,), order=BY_NUMBER)

    def listing(self, *, status: str | None = None, open_only: bool = False,
                tenant: str | None = None) -> Iterator[tuple]:
        """Raw rows (columns in ``codec.names`` order; no records are built) of the leases
        in ``status``, only the open ones, of ``tenant``; oldest first. For listing many."""
        clause, params = [], []
        if status is not None:
            clause.append("status = ?")
            params.append(status)
        if open_only:
            clause.append(_OPEN)
        if tenant is not None:
            clause.append("tenant = ?")
            params.append(tenant)
        return self.rows(" AND ".join(clause), params, order=BY_NUMBER)

    def count_in_pool(self, pool: str) -> int:
        return self.count("pool = ?", (pool,))

    def holding_slots(self, pool: str) -> list[Lease]:
        """A pool's leases that hold a slot or may take one: active, suspended, awaiting
        payment."""
        return self.where(
            "pool = ? AND status IN ('active', 'suspended', 'awaiting_payment')", (pool,))

    def in_pool(self, pool: str, status: str) -> list[Lease]:
        """A pool's leases in one status."""
        return self.where("pool = ? AND status = ?", (pool, str(status)))

    def ran_in_pool_since(self, pool: str, since: datetime) -> list[Lease]:
        """A pool's leases that hold it running now (active, suspended) or ended after
        ``since``: what its running cost is accrued from."""
        return self.where("pool = ? AND (status IN ('active', 'suspended') OR "
                          "(status = 'ended' AND closed_at > ?))", (pool, since.isoformat()))

    def active_in_pool(self, pool: str) -> int:
        """How many of a pool's leases are active now."""
        return self.count("pool = ? AND status = 'active'", (pool,))

    def active_without_machine(self) -> list[Lease]:
        """Active leases no machine record was made for yet, oldest first."""
        return self.where("status = 'active' AND id NOT IN (SELECT lease FROM machines)",
                          order=BY_NUMBER)


class Machines(Named):
    """``ledger.machines``: indexed on state."""

    def in_states(self, states: Iterable[str]) -> list[MachineRecord]:
        """Machine records in any of ``states``."""
        wanted = list(states)
        return self.where(f"state IN ({', '.join('?' * len(wanted))})", wanted)


class Plans(Named):
    """``ledger.plans``."""

    def in_pool(self, pool: str) -> list[Plan]:
        """Plans whose leases draw on ``pool``."""
        return self.where("pool = ?", (pool,))


class Tenants(Named):
    """``ledger.tenants``."""

    def current(self) -> list[Tenant]:
        """Tenants not removed, by name."""
        return self.where("removed_at IS NULL", order="name")
