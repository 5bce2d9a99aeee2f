"""Views of the home, tenants and plans."""

from __future__ import annotations

from rich.console import Console

from cloudlease.render.console import view
from cloudlease.render.leases import lease_list
from cloudlease.render.markup import esc, sats, when
from cloudlease.render.tables import table


@view("init")
def _init(c: Console, d: dict) -> None:
    c.print(f"[green]✓[/] cloudlease home ready at [bold]{esc(d['home'])}[/]")
    c.print(f"  network {d['network']}, wallet {d['wallet']}, backend {d['backend']}"
            + (" [yellow](simulated chain)[/]" if d["backend"] == "devchain" else "")
            + (f", Lightning {d['lightning']}" if d.get("lightning", "none") != "none" else "")
            + (" [yellow](simulated node)[/]" if d.get("lightning") == "devchain" else ""))
    if d.get("attached"):
        c.print(f"  [green]attached[/] to the shared ledger {d.get('ledger_id')} (PostgreSQL), "
                "made by another host: its tenants, plans and leases are this host's too")
    elif d.get("ledger") == "postgresql":
        c.print(f"  made the shared ledger {d.get('ledger_id')} (PostgreSQL): other hosts "
                "attach with the same init")
    if d.get("ledger") == "postgresql" and d["backend"] == "devchain":
        c.print("  [yellow]note:[/] the simulated chain (devchain.json) is this host's own: "
                "other hosts on the shared ledger never see its payments (give every host "
                "one real chain backend to share)")
    if d.get("starter_plan"):
        c.print(f"  starter plan [bold]{esc(d['starter_plan'])}[/]; try: cloudlease rent "
                "--hours 2")


@view("tenant")
def _tenant(c: Console, d: dict) -> None:
    c.print(f"tenant [bold]{esc(d['name'])}[/]"
            + (f" <{esc(d['email'])}>" if d.get("email") else "")
            + (f", refunds to {esc(d['refund_address'])}" if d.get("refund_address") else ""))
    for k in d.get("ssh_keys") or []:
        c.print(f"  ssh key {k['type']} {k['fingerprint']}")
    if d.get("credit_sats"):
        c.print(f"  credit {d['credit_sats']:,} sat (used first by their next payment)")
    billing = [d.get("billing_name"), *d.get("address", ()), d.get("country"),
               f"VAT id {d['vat_id']}" if d.get("vat_id") else None]
    if any(billing):
        c.print("  bills to: " + esc(", ".join(x for x in billing if x)))


@view("tenant_list")
def _tenant_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no tenants yet: cloudlease tenant add NAME")
        return
    t = table(None, "name", "email", "refund address", "added")
    for d in rows:
        t.add_row(esc(d["name"]), esc(d.get("email") or "-"),
                  esc(d.get("refund_address") or "-"), when(d["created_at"]))
    c.print(t)


@view("tenant_show")
def _tenant_show(c: Console, d: dict) -> None:
    _tenant(c, d["tenant"])
    lease_list(c, d["leases"])


@view("plan")
def _plan(c: Console, d: dict) -> None:
    c.print(f"plan [bold]{esc(d['name'])}[/] at {_price(d)} per hour"
            + (f", machines limited to {_limits(d)}" if _limits(d) != "-" else "")
            + (f", placed on {esc(d['target'])}" if d.get("target") else ""))


def _limits(d: dict) -> str:
    lim = d.get("limits") or {}
    parts = []
    if lim.get("cpus") is not None:
        parts.append(f"{lim['cpus']} CPU")
    if lim.get("memory_bytes") is not None:
        from cloudlease.core.machine_inputs import format_memory

        parts.append(f"{format_memory(lim['memory_bytes'])} memory")
    if lim.get("pids") is not None:
        parts.append(f"{lim['pids']} processes")
    return ", ".join(parts) or "-"


def _price(d: dict) -> str:
    if d.get("price_per_hour_sats") is not None:
        return sats(d["price_per_hour_sats"])
    return f"{d['price_per_hour_fiat']} {d['currency']}"


@view("plan_list")
def _plan_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no plans yet: cloudlease plan add NAME --price-per-hour AMOUNT")
        return
    t = table(None, "plan", "price per hour", "pool", "limits", "added")
    for d in rows:
        t.add_row(esc(d["name"]), _price(d), esc(d.get("pool") or "-"), _limits(d),
                  when(d["created_at"]))
    c.print(t)


