"""Views of leases, their machines and rentals (a new lease with its payment request)."""

from __future__ import annotations

from rich.console import Console

from cloudlease.render.console import view
from cloudlease.render.markup import esc, sats, status, when
from cloudlease.render.payments import payment_panel
from cloudlease.render.tables import footer, table


@view("lease_list")
def lease_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no leases")
        return
    t = table(None, "lease", "status", "hours", "paid", "tenant", "plan", "ends")
    for d in rows:  # once paid: the hours and sats of every payment, extensions too
        paid = d.get("paid_sats") or 0
        t.add_row(d["id"], status(d["status"]), str(d.get("paid_hours") or d["hours"]),
                  sats(paid) if paid else f"- of {sats(d.get('price_sats'))}",
                  esc(d.get("tenant") or "(anonymous)"), esc(d["plan"]),
                  when(d.get("ends_at")))
    c.print(t)
    footer(c, f"{len(rows)} lease{'s' if len(rows) != 1 else ''}")


@view("lease")
def _lease(c: Console, d: dict) -> None:
    c.print(f"lease [bold]{d['id']}[/] {status(d['status'])}: {d['hours']} h of "
            f"{esc(d['plan'])}" + (f" for {esc(d['tenant'])}" if d.get("tenant") else ""))
    if d.get("starts_at"):
        minutes = d.get("paid_minutes", d["paid_hours"] * 60)
        paid = f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")
        c.print(f"  runs {when(d['starts_at'])} → {when(d['ends_at'])} ({paid} paid)")
    if d.get("credit_sats"):
        c.print(f"  credit {sats(d['credit_sats'])} (used first by the next payment)")
    for r in d.get("payments") or []:
        _payment_line(c, r)
    _machine(c, d.get("machine"))


def _payment_line(c: Console, r: dict) -> None:
    """One of a lease's payment requests: what to pay and by when while it can still be
    paid; otherwise what happened to it and the proof."""
    if r.get("payable", r["status"] == "new"):
        flags = esc(f" [{', '.join(r['flags'])}]") if r["flags"] else ""
        where = r["address"] or "a Lightning invoice"
        if r["address"] and r.get("lightning"):
            where += " or its Lightning invoice"
        due = (f"{r['due_sats']:,} sat still due ({r['paid_sats']:,} of "
               f"{r['amount_sats']:,} paid)" if r["paid_sats"] else
               f"{r['amount_btc']} BTC ({sats(r['amount_sats'])})")
        c.print(f"  payment {r['id']} {status(r['status'])}{flags}: pay {due} to {where} "
                f"by {when(r['expires_at'])} [dim](cloudlease pay show {r['id']})[/]")
        return
    from rich.text import Text

    from cloudlease.render.payments import receipt

    for n, line in enumerate(receipt(r).split("\n")):
        c.print(Text(f"  payment {r['id']} " if n == 0 else "    ").append_text(line))


def _machine(c: Console, m: dict | None) -> None:
    if not m:
        return
    state, driver = m["state"], esc(m["driver"])
    if state == "failed":
        again = ("tried again when the tenant's SSH keys change" if m.get("blocked")
                 else "retried on the next tick")
        c.print(f"  machine [red]failed[/] ({driver}): {esc(m['error'])} [dim]({again})[/]")
        return
    style = {"ready": "green", "suspended": "magenta", "released": "dim"}.get(state, "yellow")
    member = (m.get("details") or {}).get("member")
    c.print(f"  machine [{style}]{state}[/] ({driver}"
            + (f" on member {esc(member)}" if member and state != "released" else "") + ")"
            + (f": log in with [bold]{esc(m['login'])}[/]" if state == "ready" and
               m.get("login") else ""))
    note = (m.get("details") or {}).get("note")
    if note and state in ("ready", "suspended"):
        c.print(f"  [yellow]note[/]: {esc(note)}")
    fingerprint = (m.get("details") or {}).get("host_key_fingerprint")
    if fingerprint and state in ("ready", "suspended"):
        c.print(f"  host key {esc(fingerprint)}")


@view("rental")
def _rental(c: Console, d: dict) -> None:
    if d.get("dry_run"):
        c.print(f"[bold]dry run[/]: {d['hours']} h of {esc(d['plan'])} would cost "
                f"{sats(d['price_sats'])}"
                + (f" ({d['price_fiat']} {d['currency']})" if d.get("price_fiat") else "")
                + "; nothing was written")
        return
    again = "" if d.get("created", True) else " [dim](made earlier; shown again)[/]"
    c.print(f"lease [bold]{d['id']}[/] {status(d['status'])}: {d['hours']} h of "
            f"{esc(d['plan'])}" + (f" for {esc(d['tenant'])}" if d.get("tenant") else "")
            + again)
    if d.get("payment"):
        payment_panel(c, d["payment"], simulated=d.get("simulated", False))


@view("accepted")
def _accepted(c: Console, d: dict) -> None:
    r = d["request"]
    c.print(f"accepted late payment on {r['id']}: now {status(r['status'])}"
            + (f", lease {d['lease']['id']} {status(d['lease']['status'])}" if d.get("lease")
               else ""))
    if r["status"] == "new":
        c.print(f"  {r['amount_sats'] - r['paid_sats']:,} sat still to pay by "
                f"{when(r['expires_at'])}: {r['uri']}")


