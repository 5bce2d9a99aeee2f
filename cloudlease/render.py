"""Everything people see: the only module that knows Rich.

Each view takes the JSON-ready data a command returned (the same data ``--json``
prints), so the two outputs never disagree. Rich drops colour when stdout is not a
terminal or NO_COLOR is set.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from rich.console import Console
from rich.table import Table

VIEWS: dict[str, Callable[[Console, Any], None]] = {}


@cache
def out() -> Console:
    return Console(highlight=False, soft_wrap=False)


@cache
def err() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def view(name: str) -> Callable:
    def deco(fn: Callable[[Console, Any], None]) -> Callable[[Console, Any], None]:
        VIEWS[name] = fn
        return fn

    return deco


def show(name: str, data: Any) -> None:
    VIEWS.get(name, _message)(out(), data)


def note(message: str) -> None:
    err().print(f"[dim]note:[/] {_esc(message)}")


def error(message: str) -> None:
    err().print(f"[bold red]error:[/] {_esc(message)}")


def _esc(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


def _when(value: Any) -> str:
    if not value:
        return "-"
    return str(value).replace("T", " ").replace("Z", " UTC")


def _sats(value: Any) -> str:
    return "-" if value is None else f"{value:,} sat"


@view("message")
def _message(c: Console, data: Any) -> None:
    if isinstance(data, dict) and "message" in data:
        c.print(_esc(data["message"]))
    elif data is not None:
        c.print(_esc(data))


@view("init")
def _init(c: Console, d: dict) -> None:
    c.print(f"[green]✓[/] cloudlease home ready at [bold]{_esc(d['home'])}[/]")
    c.print(f"  network {d['network']}, wallet {d['wallet']}, backend {d['backend']}"
            + (" [yellow](simulated chain)[/]" if d["backend"] == "devchain" else ""))
    if d.get("starter_plan"):
        c.print(f"  starter plan [bold]{_esc(d['starter_plan'])}[/]; try: cloudlease rent "
                "--hours 2")


def _table(title: str | None, *columns: str) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    return t


@view("tenant")
def _tenant(c: Console, d: dict) -> None:
    c.print(f"tenant [bold]{_esc(d['name'])}[/]"
            + (f" <{_esc(d['email'])}>" if d.get("email") else "")
            + (f", refunds to {_esc(d['refund_address'])}" if d.get("refund_address") else ""))


@view("tenant_list")
def _tenant_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no tenants yet: cloudlease tenant add NAME")
        return
    t = _table(None, "name", "email", "refund address", "added")
    for d in rows:
        t.add_row(_esc(d["name"]), _esc(d.get("email") or "-"),
                  _esc(d.get("refund_address") or "-"), _when(d["created_at"]))
    c.print(t)


@view("tenant_show")
def _tenant_show(c: Console, d: dict) -> None:
    _tenant(c, d["tenant"])
    _lease_list(c, d["leases"])


@view("plan")
def _plan(c: Console, d: dict) -> None:
    c.print(f"plan [bold]{_esc(d['name'])}[/] at {_price(d)} per hour")


def _price(d: dict) -> str:
    if d.get("price_per_hour_sats") is not None:
        return _sats(d["price_per_hour_sats"])
    return f"{d['price_per_hour_fiat']} {d['currency']}"


@view("plan_list")
def _plan_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no plans yet: cloudlease plan add NAME --price-per-hour AMOUNT")
        return
    t = _table(None, "plan", "price per hour", "pool", "added")
    for d in rows:
        t.add_row(_esc(d["name"]), _price(d), _esc(d.get("pool") or "-"),
                  _when(d["created_at"]))
    c.print(t)


_STATUS_STYLE = {"active": "green", "awaiting_payment": "yellow", "ended": "dim",
                 "expired": "red", "cancelled": "dim", "suspended": "magenta",
                 "new": "yellow", "processing": "cyan", "settled": "green",
                 "invalid": "red"}


def _status(s: str) -> str:
    return f"[{_STATUS_STYLE.get(s, 'white')}]{s}[/]"


@view("lease_list")
def _lease_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no leases")
        return
    t = _table(None, "lease", "status", "hours", "tenant", "plan", "price", "ends")
    for d in rows:
        t.add_row(d["id"], _status(d["status"]), str(d["hours"]),
                  _esc(d.get("tenant") or "(anonymous)"), _esc(d["plan"]),
                  _sats(d.get("price_sats")), _when(d.get("ends_at")))
    c.print(t)
    c.print(f"[dim]{len(rows)} lease{'s' if len(rows) != 1 else ''}[/]")


@view("lease")
def _lease(c: Console, d: dict) -> None:
    c.print(f"lease [bold]{d['id']}[/] {_status(d['status'])}: {d['hours']} h of "
            f"{_esc(d['plan'])}" + (f" for {_esc(d['tenant'])}" if d.get("tenant") else ""))
    if d.get("starts_at"):
        c.print(f"  runs {_when(d['starts_at'])} → {_when(d['ends_at'])} "
                f"({d['paid_hours']} h paid)")
    for r in d.get("payments") or []:
        c.print(f"  payment {r['id']} {_status(r['status'])}"
                + (_esc(f" [{', '.join(r['flags'])}]") if r["flags"] else "")
                + f": {r['amount_btc']} BTC ({_sats(r['amount_sats'])}) to {r['address']}"
                + (f", seen {_sats(r['paid_sats'])}" if r["paid_sats"] else ""))


@view("request")
def _request(c: Console, r: dict) -> None:
    _payment_panel(c, r)


def _payment_panel(c: Console, r: dict, *, simulated: bool = False) -> None:
    from rich.panel import Panel
    from rich.text import Text

    lines = Text()
    lines.append(f"Pay {r['amount_btc']} BTC", style="bold")
    lines.append(f"  ({r['amount_sats']:,} sat")
    if r.get("fiat_amount") is not None:
        lines.append(f" ≈ {r['fiat_amount']} {r['currency']} at {r['rate']} "
                     f"{r['currency']}/BTC, {r['rate_source']}")
    lines.append(")\n")
    lines.append("to   ")
    lines.append(r["address"], style="bold cyan")
    lines.append(f"\nby   {_when(r['expires_at'])}   status ")
    lines.append(r["status"], style=_STATUS_STYLE.get(r["status"], ""))
    if r.get("flags"):
        lines.append(f" [{', '.join(r['flags'])}]")
    title = f"payment request {r['id']}" + (" — simulated regtest chain" if simulated else "")
    c.print(Panel(lines, title=title, title_align="left", expand=False))
    c.print(r["uri"], soft_wrap=True, markup=False)  # one line, so it copies whole
    if r.get("qr"):
        c.print(r["qr"], no_wrap=True, crop=False, overflow="ignore", markup=False,
                highlight=False)


@view("rental")
def _rental(c: Console, d: dict) -> None:
    if d.get("dry_run"):
        c.print(f"[bold]dry run[/]: {d['hours']} h of {_esc(d['plan'])} would cost "
                f"{_sats(d['price_sats'])}"
                + (f" ({d['price_fiat']} {d['currency']})" if d.get("price_fiat") else "")
                + "; nothing was written")
        return
    again = "" if d.get("created", True) else " [dim](existing lease for that key)[/]"
    c.print(f"lease [bold]{d['id']}[/] {_status(d['status'])}: {d['hours']} h of "
            f"{_esc(d['plan'])}" + (f" for {_esc(d['tenant'])}" if d.get("tenant") else "")
            + again)
    if d.get("payment"):
        _payment_panel(c, d["payment"], simulated=d.get("simulated", False))


@view("verify")
def _verify(c: Console, d: dict) -> None:
    for n in d.get("notes", []):
        c.print(f"[dim]note:[/] {_esc(n)}")
    for p in d.get("problems", []):
        c.print(f"[red]✗[/] {_esc(p)}")
    if d["ok"]:
        c.print(f"[green]✓[/] ledger verified: {d['audit_entries']} audit entries, "
                f"{d['leases']} leases ({d['archived_leases']} sealed in "
                f"{d['archive_segments']} archive segments)")




@view("none")
def _none(c: Console, d: Any) -> None:
    return None


@view("check")
def _check(c: Console, d: dict) -> None:
    sim = " [yellow](simulated chain)[/]" if d.get("simulated") else ""
    height = d.get("tip_height")
    c.print(f"checked {len(d['checked'])} payment request(s) on {d['backend'] or '-'}"
            + (f" at height {height}" if height is not None else "") + sim)
    for t in d["transitions"]:
        c.print(f"  {t['id']}: {_status(t['from'])} → {_status(t['to'])}")
    for h in d["hooks_delivered"]:
        c.print(f"  [green]hook[/] {_esc(h)}")
    for h in d["hooks_failed"]:
        c.print(f"  [red]hook failed[/] {h['event']} {h['id']}: {_esc(h['error'])} "
                "(retried next tick)")
    if not d["transitions"] and not d["hooks_delivered"] and not d["hooks_failed"]:
        c.print("  nothing changed")
    pending = {k: v for k, v in d.get("statuses", {}).items() if v != "settled"}
    for rid, status in pending.items():
        c.print(f"  {rid} is {_status(status)}")


@view("accepted")
def _accepted(c: Console, d: dict) -> None:
    r = d["request"]
    c.print(f"accepted late payment on {r['id']}: now {_status(r['status'])}"
            + (f", lease {d['lease']['id']} {_status(d['lease']['status'])}" if d.get("lease")
               else ""))
    if r["status"] == "new":
        c.print(f"  {r['amount_sats'] - r['paid_sats']:,} sat still to pay by "
                f"{_when(r['expires_at'])}: {r['uri']}")


@view("wallet")
def _wallet(c: Console, d: dict) -> None:
    c.print(f"{d['kind']} wallet on {d['network']}"
            + (f", next index {d['next_index']}" if d.get("next_index") is not None else "")
            + f"; {_sats(d['received_sats'])} received to {len(d['addresses'])} addresses")
    if d.get("descriptor"):
        c.print(f"  {_esc(d['descriptor'])}", soft_wrap=True)
    t = _table(None, "address", "request", "lease", "status", "amount", "received")
    for a in d["addresses"]:
        t.add_row(a["address"], a["request"], a.get("lease") or "-", _status(a["status"]),
                  _sats(a["amount_sats"]), _sats(a["received_sats"]))
    if d["addresses"]:
        c.print(t)
    for k in d.get("keys", []):
        c.print(f"  {k['address']}  {k['wif']}", markup=False)


class _Live:
    def __init__(self, text: str) -> None:
        from rich.status import Status

        self.status = Status(text, console=err())

    def __enter__(self):
        self.status.__enter__()
        return self.status.update

    def __exit__(self, *exc: object) -> None:
        self.status.__exit__(None, None, None)


def live_status(text: str) -> _Live:
    """A spinner with a status line on stderr (plain lines when not a terminal)."""
    return _Live(text)
