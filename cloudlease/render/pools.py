"""Views of pools: funding and runway, contributions, risk shares and payouts."""

from __future__ import annotations

from rich.console import Console

from cloudlease.render.console import view
from cloudlease.render.markup import esc, sats, when
from cloudlease.render.payments import payment_panel
from cloudlease.render.tables import table


def _runway(d: dict) -> str:
    r = d.get("runway_hours")
    return "∞" if r is None else f"{r} h"


@view("pool")
def _pool(c: Console, d: dict) -> None:
    cost = sats(d["cost_per_hour_sats"]) if d.get("cost_per_hour_sats") is not None else \
        f"{d['cost_per_hour_fiat']} {d['currency']}"
    c.print(f"pool [bold]{esc(d['name'])}[/]: {d['slots']} slots, costs {cost}/h, "
            f"{d['consideration']} {d['investor_pct']}% to investors, {d['phase']}"
            + (" [red]throttled[/]" if d.get("throttled") else ""))


@view("pool_list")
def _pool_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no pools yet: cloudlease pool add NAME --slots N --cost-per-hour AMOUNT ...")
        return
    t = table(None, "pool", "phase", "slots", "funding", "runway", "state")
    for d in rows:
        state = "[red]throttled[/]" if d["throttled"] else (
            "[yellow]low funds[/]" if d["low_funds"] else
            "[green]running[/]" if d.get("running") else "idle")
        t.add_row(esc(d["name"]), d["phase"], f"{d['slots_in_use']}/{d['slots']}",
                  sats(d["funding_sats"]), _runway(d), state)
    c.print(t)


@view("pool_show")
def _pool_show(c: Console, d: dict) -> None:
    _pool(c, d)
    c.print(f"  funding level {sats(d['funding_sats'])}, runway {_runway(d)} "
            f"(top-ups below {d['min_runway_hours']} h, aiming for {d['target_runway_hours']} h)")
    c.print(f"  slots {d['slots_in_use']}/{d['slots']} in use"
            + (f", next frees up {when(d['next_slot_free_at'])}"
               if d.get("next_slot_free_at") else ""))
    if d.get("started_at"):
        c.print(f"  started {when(d['started_at'])}: its cost counts, rented or not "
                "(pool stop: only while a lease is active)")
    else:
        c.print(f"  {'running' if d.get('running') else 'idle'}: its cost counts only while "
                "a lease is active (pool start: always)")
    if d.get("startup_ended_at"):
        c.print(f"  start-up ended {when(d['startup_ended_at'])}")
    for key in ("current_month", "last_month"):
        m = d[key]
        if m is None:  # before the pool existed
            continue
        c.print(f"  {m['month']}: revenue {sats(m['revenue_sats'])}, cost "
                f"{sats(m['cost_sats'])}")
    if d["contributions"]:
        t = table(None, "contribution", "tenant", "kind", "amount", "status", "settled")
        for x in d["contributions"]:
            t.add_row(x["id"], esc(x["tenant"]), x["kind"] + (" (top-up)" if x["topup"] else ""),
                      sats(x["amount_sats"]), x["status"], when(x.get("settled_at")))
        c.print(t)


@view("fund")
def _fund(c: Console, d: dict) -> None:
    x = d["contribution"]
    c.print(f"{x['kind']} {x['id']} by {esc(x['tenant'])} in pool {esc(x['pool'])}: "
            f"counts once its payment settles")
    payment_panel(c, d["payment"])


@view("risk")
def _risk(c: Console, pools: list) -> None:
    from rich.bar import Bar

    if not pools:
        c.print("no pools: cloudlease pool add NAME --slots N --cost-per-hour AMOUNT ...")
    for p in pools:
        c.print(f"[bold]{esc(p['pool'])}[/]: {esc(p['terms'])} (as of {when(p['as_of'])})")
        if not p["tenants"]:
            c.print("  no contributions yet")
            continue
        t = table(None, "tenant", "principal", "stake", "risk share", "", "at risk",
                   "earned", "paid", "donated")
        for r in p["tenants"]:
            t.add_row(esc(r["tenant"]), sats(r["principal_sats"]), r["stake_sats"],
                      f"{_pct2(r['share_pct'])}%",
                      Bar(size=10000, begin=0, end=_bar_end(r["share_pct"]), width=10),
                      sats(r["at_risk_sats"]), sats(r["earned_sats"]),
                      sats(r["paid_sats"]), sats(r["donated_sats"]))
        tot = p["totals"]
        t.add_row("[bold]total[/]", sats(tot["principal_sats"]), "", "100%", "",
                  sats(tot["at_risk_sats"]), sats(tot["earned_sats"]),
                  sats(tot["paid_sats"]), sats(tot["donated_sats"]))
        c.print(t)


def _pct2(pct_text: str) -> str:
    from decimal import Decimal

    return format(Decimal(pct_text).quantize(Decimal("0.01")), "f")


def _bar_end(pct_text: str) -> int:
    """Bar length in basis points from a decimal percentage string (no float)."""
    from decimal import Decimal

    return int(Decimal(pct_text) * 100)


@view("payout")
def _payout(c: Console, d: dict) -> None:
    verb = "would pay" if d.get("dry_run") else ("paid" if d["recorded"] else "already paid")
    c.print(f"{esc(d['pool'])} {d['period']}: {d['consideration']} on "
            f"{sats(d['basis_sats'])} → {verb} {sats(d['distributable_sats'])}")
    for name, share in d["shares"].items():
        c.print(f"  {esc(name)}: {sats(share)}")


