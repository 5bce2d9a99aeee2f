"""Tenants: who rents and who funds capacity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudlease.core import clock, validate
from cloudlease.core.errors import BadValue, Conflict
from cloudlease.ledger.session import Ledger
from cloudlease.model import Lease, RequestStatus, Tenant, record_number
from cloudlease.ops.context import Context
from cloudlease.ops.payment_requests import OPEN_REQUEST


def add(ctx: Context, name: str, email: str | None = None,
        refund_address: str | None = None, ssh_keys: tuple[str, ...] = (),
        **billing: Any) -> Tenant:
    """Add a tenant; ``billing``: ``billing_name``, ``address``, ``country``, ``vat_id``
    (see ``billing_details``)."""
    name = validate.tenant_name(name)
    email = validate.email(email) if email else None
    if refund_address:
        from cloudlease.bitcoin.address import validate_address

        refund_address = validate_address(refund_address.strip(), ctx.settings.network)
    details = billing_details(**billing)
    with ctx.transaction(f"tenant add {name}") as ledger:
        existing = ledger.tenants.get(name)
        if existing is not None and existing.removed_at is None:
            raise Conflict(f"tenant {name!r} already exists")
        if existing is not None:
            raise Conflict(f"{name!r} was a tenant removed on "
                           f"{existing.removed_at:%Y-%m-%d}; its history keeps the name, so "
                           "choose another name for a new tenant")
        tenant = Tenant(name=name, created_at=clock.now(), email=email,
                        refund_address=refund_address, ssh_keys=ssh_keys, **details)
        ledger.tenants[name] = tenant
    return tenant


# -- billing details (issue 12) ----------------------------------------------------------
def billing_details(*, billing_name: str | None = None, address: Sequence[str] | None = None,
                    country: str | None = None, vat_id: str | None = None,
                    current: Tenant | None = None) -> dict[str, Any]:
    """Checked billing details: only those given (None leaves a field as it is, "" clears
    it). An address is one entry per line (an entry may also hold several lines). A
    country is an ISO 3166 alpha-2 code; a VAT id must have a plausible shape and belong
    to the country, which it supplies when not given (``DE123456789`` → DE)."""
    from cloudlease.core import tax

    out: dict[str, Any] = {}
    if billing_name is not None:
        text = billing_name.strip()
        if text:
            validate.free_text(text, "billing name", 200)
        out["billing_name"] = text or None
    if address is not None:
        lines = [x.strip() for entry in address for x in entry.splitlines() if x.strip()]
        for line in lines:
            validate.free_text(line, "address line", 200)
        if len(lines) > 8:
            raise BadValue("an address has at most 8 lines")
        out["address"] = tuple(lines)
    if country is not None:
        out["country"] = tax.country(country) if country.strip() else None
    have_country = out.get("country", current.country if current else None)
    if vat_id is not None:
        if vat_id.strip():
            vat = tax.normalize_vat_id(vat_id, have_country)
            owner = tax.vat_country(vat)
            if have_country is None:
                if owner is None:
                    raise BadValue(f"give --country with VAT id {vat}: its country is not "
                                   "written in it")
                out["country"] = owner
            out["vat_id"] = vat
        else:
            out["vat_id"] = None
    elif "country" in out and current is not None and current.vat_id:
        owner = tax.vat_country(current.vat_id)
        if out["country"] is None or (owner is not None and owner != out["country"]):
            raise BadValue(f"{current.name}'s VAT id {current.vat_id} is for "
                           f"{owner or current.country}; change or clear --vat-id too")
    return out


def edit(ctx: Context, name: str, *, email: str | None = None,
         refund_address: str | None = None, ssh_keys: tuple[str, ...] | None = None,
         **billing: Any) -> tuple[Tenant, list[str]]:
    """Change a tenant's contact and billing details (None: unchanged, "": cleared) and
    its SSH keys (``ssh_keys``: the new set, checked by ``sshkeys.collect``; () removes
    them). Issued invoices keep the details frozen into them."""
    changes: dict[str, Any] = {}
    if ssh_keys is not None:
        changes["ssh_keys"] = tuple(ssh_keys)
    if email is not None:
        changes["email"] = validate.email(email) if email.strip() else None
    if refund_address is not None:
        from cloudlease.bitcoin.address import validate_address

        changes["refund_address"] = validate_address(refund_address.strip(),
                                                     ctx.settings.network) \
            if refund_address.strip() else None
    with ctx.transaction(f"tenant edit {name}") as ledger:
        tenant = ledger.tenant(name)
        changes.update(billing_details(current=tenant, **billing))
        new = tenant.replace(**changes)
        changed = sorted(k for k in changes if getattr(tenant, k) != getattr(new, k))
        if changed:
            ledger.tenants[name] = new
    return new, changed


def listing(ctx: Context) -> list[Tenant]:
    return ctx.read().tenants.current()


def show(ctx: Context, name: str) -> tuple[Tenant, list[Lease]]:
    ledger = ctx.read()
    tenant = ledger.tenant(name)
    return tenant, ledger.leases.of_tenant(name)


def removal_blockers(ledger: Ledger, name: str) -> list[str]:
    """Why a tenant cannot be removed yet, one reason per kind of money still tied to
    them (empty when nothing is): a stake (settled investments, which keep earning and
    keep their share of the risk), open leases, unpaid payment requests, and settled
    payments that no issued invoice bills. Indexed look-ups on the tenant only."""
    reasons: list[str] = []
    invested = ledger.contributions.stake_of(name)
    if invested:
        by_pool: dict[str, int] = {}
        for c in invested:
            by_pool[c.pool] = by_pool.get(c.pool, 0) + c.amount_sats
        reasons.append("a stake of " + ", ".join(f"{sats:,} sat in pool {pool}" for pool, sats
                                                  in sorted(by_pool.items()))
                       + " (investors stay on the books while their investment does)")
    credit = ledger.tenant(name).credit_sats
    if credit:
        reasons.append(f"a credit of {credit:,} sat (what their pro-rated payments left "
                       "under a minute; it pays towards their next payment)")
    leases = ledger.leases.of_tenant(name)
    open_ = [lease.id for lease in leases if lease.is_open]
    if open_:
        reasons.append(f"open leases ({_few(open_)}): cancel them or let them end")
    unpaid = ledger.requests.open_of_tenant(name)
    lease_reqs = ledger.requests.many(r for lease in leases for r in lease.requests)
    unpaid_ids = sorted({r.id for r in unpaid} | {r.id for r in lease_reqs.values()
                                                  if r.status in OPEN_REQUEST},
                        key=record_number)
    if unpaid_ids:
        reasons.append(f"open payment requests ({_few(unpaid_ids)}): let them settle or "
                       "expire")
    settled = [r for r in lease_reqs.values() if r.status == RequestStatus.SETTLED]
    if settled:
        billed = {line.get("ref") for inv in ledger.invoices.issued_to(name)
                  for line in inv.lines}
        unbilled = sorted((r.id for r in settled if r.id not in billed), key=record_number)
        if unbilled:
            reasons.append(f"settled payments on no issued invoice ({_few(unbilled)}): "
                           f"invoice them first (cloudlease invoice create --tenant {name} "
                           "--period YYYY-MM, then invoice issue)")
    return reasons


def _few(ids: list[str], limit: int = 5) -> str:
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit
                                      else "")


def check_removable(ledger: Ledger, name: str) -> Tenant:
    """The tenant, if nothing ties money to them; otherwise Conflict (exit 4) saying why."""
    tenant = ledger.tenant(name)
    reasons = removal_blockers(ledger, name)
    if reasons:
        raise Conflict(f"tenant {name!r} cannot be removed: they have " + "; ".join(reasons))
    return tenant


def remove(ctx: Context, name: str) -> Tenant:
    """Remove a tenant that no money is tied to (see ``removal_blockers``). History keeps
    the name: a tenant that any record refers to is marked removed rather than deleted,
    and the name is never given to a new tenant."""
    with ctx.transaction(f"tenant remove {name}") as ledger:
        tenant = check_removable(ledger, name)
        history = (ledger.leases.count_of_tenant(name)
                   or ledger.requests.count_of_tenant(name)
                   or ledger.contributions.count_of_tenant(name)
                   or ledger.invoices.count_of_tenant(name))
        if history:
            ledger.tenants[name] = tenant.replace(removed_at=clock.now())
        else:
            del ledger.tenants[name]
    return tenant
