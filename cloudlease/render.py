"""Everything people see: the only module that knows Rich.

Each view takes the JSON-ready data a command returned (the same data ``--json``
prints), so the two outputs never disagree.

Where output goes decides how it looks:
- a pipe or a file: no ANSI codes and no wrapping at all, whatever COLUMNS says: a line
  is as long as it needs to be, so ``grep``, ``cut`` and ``awk`` see every value whole;
- a terminal: colour, and tables that fit its width; a table whose values cannot fit
  side by side is shown as one block per row (``column  value`` lines) rather than
  breaking a number, an address or an id across lines;
- ``NO_COLOR`` set (https://no-color.org): no ANSI codes at all, bold and the live
  spinner included (the wait status is then printed as plain lines).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

VIEWS: dict[str, Callable[[Console, Any], None]] = {}
PIPE_WIDTH = 100_000  # "never wrap": wider than any line cloudlease writes


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def _console(*, stderr: bool) -> Console:
    plain = {"color_system": None} if no_color() else {}
    console = Console(stderr=stderr, highlight=False, soft_wrap=stderr, **plain)
    if not console.is_terminal:  # a pipe or a file: never wrap a value
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPE_WIDTH,
                          color_system=None)
    return console


@cache
def out() -> Console:
    return _console(stderr=False)


@cache
def err() -> Console:
    return _console(stderr=True)


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
            + (" [yellow](simulated chain)[/]" if d["backend"] == "devchain" else "")
            + (f", Lightning {d['lightning']}" if d.get("lightning", "none") != "none" else "")
            + (" [yellow](simulated node)[/]" if d.get("lightning") == "devchain" else ""))
    if d.get("starter_plan"):
        c.print(f"  starter plan [bold]{_esc(d['starter_plan'])}[/]; try: cloudlease rent "
                "--hours 2")


class _FitTable(Table):
    """A table that never breaks a value: every column is no-wrap, and when the values
    cannot fit side by side in the width there is, each row becomes a block of
    ``column  value`` lines instead."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.__rich_measure__(console, options).minimum <= options.max_width:
            yield from super().__rich_console__(console, options)
            return
        yield from _records(self.columns, self.row_count)


def _records(columns: Iterable[Any], rows: int) -> RenderResult:
    cols = list(columns)
    cells = [list(col.cells) for col in cols]
    width = max((len(str(col.header)) for col in cols), default=0)
    for i in range(rows):
        for n, col in enumerate(cols):
            cell = cells[n][i]
            if not isinstance(cell, str | Text) or not str(col.header):
                continue  # a bar or an unnamed column: decoration only
            text = Text.from_markup(cell) if isinstance(cell, str) else cell.copy()
            line = Text(f"{str(col.header):<{width}}  ", style="bold" if n == 0 else "")
            line.append_text(text)
            line.overflow = "fold"
            yield line
        if i < rows - 1:
            yield Text("")


def _table(title: str | None, *columns: str) -> Table:
    t = _FitTable(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, no_wrap=True)
    return t


@view("tenant")
def _tenant(c: Console, d: dict) -> None:
    c.print(f"tenant [bold]{_esc(d['name'])}[/]"
            + (f" <{_esc(d['email'])}>" if d.get("email") else "")
            + (f", refunds to {_esc(d['refund_address'])}" if d.get("refund_address") else ""))
    for k in d.get("ssh_keys") or []:
        c.print(f"  ssh key {k['type']} {k['fingerprint']}")
    billing = [d.get("billing_name"), *d.get("address", ()), d.get("country"),
               f"VAT id {d['vat_id']}" if d.get("vat_id") else None]
    if any(billing):
        c.print("  bills to: " + _esc(", ".join(x for x in billing if x)))


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
    c.print(f"plan [bold]{_esc(d['name'])}[/] at {_price(d)} per hour"
            + (f", machines limited to {_limits(d)}" if _limits(d) != "-" else ""))


def _limits(d: dict) -> str:
    lim = d.get("limits") or {}
    parts = []
    if lim.get("cpus") is not None:
        parts.append(f"{lim['cpus']} CPU")
    if lim.get("memory_bytes") is not None:
        from cloudlease.provision.keys import format_memory

        parts.append(f"{format_memory(lim['memory_bytes'])} memory")
    if lim.get("pids") is not None:
        parts.append(f"{lim['pids']} processes")
    return ", ".join(parts) or "-"


def _price(d: dict) -> str:
    if d.get("price_per_hour_sats") is not None:
        return _sats(d["price_per_hour_sats"])
    return f"{d['price_per_hour_fiat']} {d['currency']}"


@view("plan_list")
def _plan_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no plans yet: cloudlease plan add NAME --price-per-hour AMOUNT")
        return
    t = _table(None, "plan", "price per hour", "pool", "limits", "added")
    for d in rows:
        t.add_row(_esc(d["name"]), _price(d), _esc(d.get("pool") or "-"), _limits(d),
                  _when(d["created_at"]))
    c.print(t)


_STATUS_STYLE = {"active": "green", "awaiting_payment": "yellow", "ended": "dim",
                 "expired": "red", "cancelled": "dim", "suspended": "magenta",
                 "new": "yellow", "processing": "cyan", "settled": "green",
                 "invalid": "red", "pending": "yellow", "delivered": "green",
                 "failed": "red"}


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
                + f": {r['amount_btc']} BTC ({_sats(r['amount_sats'])}) to "
                + (r["address"] or "a Lightning invoice")
                + (f", {r['paid_sats']:,} sat paid, {r['due_sats']:,} due"
                   if r["paid_sats"] and r["status"] == "new" else
                   f", seen {_sats(r['paid_sats'])}" if r["paid_sats"] else ""))
    _machine(c, d.get("machine"))


def _machine(c: Console, m: dict | None) -> None:
    if not m:
        return
    state, driver = m["state"], _esc(m["driver"])
    if state == "failed":
        again = ("tried again when the tenant's SSH keys change" if m.get("blocked")
                 else "retried on the next tick")
        c.print(f"  machine [red]failed[/] ({driver}): {_esc(m['error'])} [dim]({again})[/]")
        return
    style = {"ready": "green", "suspended": "magenta", "released": "dim"}.get(state, "yellow")
    c.print(f"  machine [{style}]{state}[/] ({driver})"
            + (f": log in with [bold]{_esc(m['login'])}[/]" if state == "ready" and
               m.get("login") else ""))
    fingerprint = (m.get("details") or {}).get("host_key_fingerprint")
    if fingerprint and state in ("ready", "suspended"):
        c.print(f"  host key {_esc(fingerprint)}")


@view("request")
def _request(c: Console, r: dict) -> None:
    _payment_panel(c, r)


def _payment_panel(c: Console, r: dict, *, simulated: bool = False) -> None:
    from rich.panel import Panel
    from rich.text import Text

    lines = Text()
    due = r.get("due_sats", r["amount_sats"])
    if r["status"] == "new" and 0 < due < r["amount_sats"]:  # partly paid: ask for the rest
        lines.append(f"Pay {r['due_btc']} BTC", style="bold")
        lines.append(f"  ({due:,} sat still due: {r['paid_sats']:,} of "
                     f"{r['amount_sats']:,} sat paid)\n")
    else:
        lines.append(f"Pay {r['amount_btc']} BTC", style="bold")
        lines.append(f"  ({r['amount_sats']:,} sat")
        if r.get("fiat_amount") is not None:
            lines.append(f" ≈ {r['fiat_amount']} {r['currency']} at {r['rate']} "
                         f"{r['currency']}/BTC, {r['rate_source']}")
        lines.append(")\n")
    if r.get("address"):
        lines.append("to   ")
        lines.append(r["address"], style="bold cyan")
        lines.append("\n")
    ln = r.get("lightning")
    if ln and not 0 < due < r["amount_sats"]:  # an invoice is for the whole amount
        lines.append("or   " if r.get("address") else "over ")
        lines.append("Lightning", style="bold magenta")
        node = "simulated node" if ln.get("simulated") else ln.get("node") or "node"
        lines.append(f" ({node}): the invoice below\n")
    lines.append(f"by   {_when(r['expires_at'])}   status ")
    lines.append(r["status"], style=_STATUS_STYLE.get(r["status"], ""))
    if r.get("flags"):
        lines.append(f" [{', '.join(r['flags'])}]")
    if r.get("refund_sats"):
        lines.append(f"\nrefund due: {r['refund_sats']:,} sat", style="bold red")
    if ln and ln.get("preimage"):
        lines.append(f"\npaid over Lightning {_when(ln['settled_at'])}, "
                     f"{ln['paid_msat']:,} msat; preimage {ln['preimage']}")
    title = f"payment request {r['id']}" + (" — simulated regtest chain" if simulated else "")
    if ln and ln.get("simulated"):
        title += " — simulated Lightning node"
    c.print(Panel(lines, title=title, title_align="left", expand=False))
    c.print(r["uri"], soft_wrap=True, markup=False)  # one line, so it copies whole
    if ln and r.get("address") and r["status"] in ("new", "processing") \
            and not 0 < due < r["amount_sats"]:
        c.print(ln["uri"], soft_wrap=True, markup=False)
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
    again = "" if d.get("created", True) else " [dim](made earlier; shown again)[/]"
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
        walked = d["audit_entries"] - d["checked_from"]
        how = ("the whole chain" if d["full"] or not d["checked_from"]
               else f"{walked} since the last check")
        c.print(f"[green]✓[/] ledger verified: {d['audit_entries']:,} audit entries "
                f"({how}), {d['rows_checked']:,} rows hashed, {d['leases']:,} leases")




@view("hooks_list")
def _hooks_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no hook or webhook deliveries")
        return
    t = _table(None, "event", "name", "to", "status", "tries", "when", "last error")
    for d in rows:
        when = d["delivered_at"] if d["status"] == "delivered" else d["next_attempt_at"]
        t.add_row(d["event"], d["name"] or "-", _esc(d["target"]), _status(d["status"]),
                  str(d["attempts"]), _when(when), _esc(d["last_error"] or "-"))
    c.print(t)


@view("redelivered")
def _redelivered(c: Console, d: dict) -> None:
    for h in d["hooks_delivered"]:
        c.print(f"[green]delivered[/] {_esc(h)}")
    for h in d["hooks_failed"]:
        c.print(f"[red]failed[/] {h['event']} {h['id']} to {_esc(h['target'])}: "
                f"{_esc(h['error'])}")


@view("none")
def _none(c: Console, d: Any) -> None:
    return None


@view("tick")
def _tick(c: Console, d: dict) -> None:
    _check(c, d, stamped=True)


@view("tick_quiet")
def _tick_quiet(c: Console, d: dict) -> None:
    _check(c, d, stamped=True, quiet=True)


@view("check")
def _check(c: Console, d: dict, *, stamped: bool = False, quiet: bool = False) -> None:
    """``pay check``, ``tick`` and ``watch``: tick and watch lines start with the UTC time;
    quiet prints only the problems (nothing when the pass went well)."""
    stamp = f"{d['at']} " if stamped and d.get("at") else ""
    if quiet:
        for p in d.get("problems", []):
            c.print(f"{stamp}{_esc(p)}")
        return
    sim = " [yellow](simulated chain)[/]" if d.get("simulated") else ""
    height = d.get("tip_height")
    c.print(f"{stamp}checked {len(d['checked'])} payment request(s) on {d['backend'] or '-'}"
            + (f" at height {height}" if height is not None else "") + sim
            + (" and the simulated Lightning node" if d.get("lightning") == "devchain" else
               f" and the Lightning node ({d['lightning']})" if d.get("lightning") else ""))
    for t in d["transitions"]:
        c.print(f"{stamp}  {t['id']}: {_status(t['from'])} → {_status(t['to'])}")
    for p in d.get("partial", []):
        c.print(f"{stamp}  [yellow]{p['id']}: partial[/], {p['paid_sats']:,} of "
                f"{p['amount_sats']:,} sat paid, {p['due_sats']:,} due")
    for r in d.get("refunds_due") or []:
        c.print(f"{stamp}  [bold red]refund due[/] on {r['id']}: {r['sats']:,} sat paid twice "
                "or for nothing (cloudlease pay show " + r["id"] + ")")
    for rid in d.get("ln_cancelled") or []:
        c.print(f"{stamp}  {rid}: paid on-chain; its Lightning invoice is cancelled")
    for h in d["hooks_delivered"]:
        c.print(f"{stamp}  [green]hook[/] {_esc(h)}")
    for h in d["hooks_failed"]:
        c.print(f"{stamp}  [red]hook failed[/] {h['event']} {h['id']} to "
                f"{_esc(h.get('target', 'hook'))}: {_esc(h['error'])} (retried later)")
    for rid in d.get("held", []):
        c.print(f"{stamp}  {rid}: answer older than one already applied; left as it was")
    for p in d.get("pools", []):
        if not p["runway_known"]:
            c.print(f"{stamp}  [yellow]pool {_esc(p['pool'])}[/]: {_esc(p['reason'])}")
    for m in d.get("machines") or []:
        c.print(f"{stamp}  machine {m['lease']}: {m['action']} → {_status(m['state'])}"
                + (f": {_esc(m['error'])}" if m.get("error") else ""))
    if not d["transitions"] and not d["hooks_delivered"] and not d["hooks_failed"] \
            and not d.get("partial") and not d.get("machines") and not d.get("refunds_due"):
        c.print(f"{stamp}  nothing changed")
    if not stamp:  # pay check: where each request it asked about stands, in words
        for text in d.get("messages", {}).values():
            c.print(f"  {_esc(text)}")


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
        self.plain = no_color() or not err().is_terminal
        self.last = ""
        if self.plain:
            self._line(text)
            return
        from rich.status import Status

        self.status = Status(text, console=err())

    def _line(self, text: str) -> None:
        if text != self.last:  # plain lines: one per change, never cursor movements
            self.last = text
            err().print(text, markup=False)

    def __enter__(self):
        if self.plain:
            return self._line
        self.status.__enter__()
        return self.status.update

    def __exit__(self, *exc: object) -> None:
        if not self.plain:
            self.status.__exit__(None, None, None)


def live_status(text: str) -> _Live:
    """A spinner with a status line on stderr (plain lines when not a terminal)."""
    return _Live(text)


def _runway(d: dict) -> str:
    r = d.get("runway_hours")
    return "∞" if r is None else f"{r} h"


@view("pool")
def _pool(c: Console, d: dict) -> None:
    cost = _sats(d["cost_per_hour_sats"]) if d.get("cost_per_hour_sats") is not None else \
        f"{d['cost_per_hour_fiat']} {d['currency']}"
    c.print(f"pool [bold]{_esc(d['name'])}[/]: {d['slots']} slots, costs {cost}/h, "
            f"{d['consideration']} {d['investor_pct']}% to investors, {d['phase']}"
            + (" [red]throttled[/]" if d.get("throttled") else ""))


@view("pool_list")
def _pool_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no pools yet: cloudlease pool add NAME --slots N --cost-per-hour AMOUNT ...")
        return
    t = _table(None, "pool", "phase", "slots", "funding", "runway", "state")
    for d in rows:
        state = "[red]throttled[/]" if d["throttled"] else (
            "[yellow]low funds[/]" if d["low_funds"] else "[green]ok[/]")
        t.add_row(_esc(d["name"]), d["phase"], f"{d['slots_in_use']}/{d['slots']}",
                  _sats(d["funding_sats"]), _runway(d), state)
    c.print(t)


@view("pool_show")
def _pool_show(c: Console, d: dict) -> None:
    _pool(c, d)
    c.print(f"  funding level {_sats(d['funding_sats'])}, runway {_runway(d)} "
            f"(top-ups below {d['min_runway_hours']} h, aiming for {d['target_runway_hours']} h)")
    c.print(f"  slots {d['slots_in_use']}/{d['slots']} in use"
            + (f", next frees up {_when(d['next_slot_free_at'])}"
               if d.get("next_slot_free_at") else ""))
    if d.get("startup_ended_at"):
        c.print(f"  start-up ended {_when(d['startup_ended_at'])}")
    for key in ("current_month", "last_month"):
        m = d[key]
        c.print(f"  {m['month']}: revenue {_sats(m['revenue_sats'])}, cost "
                f"{_sats(m['cost_sats'])}")
    if d["contributions"]:
        t = _table(None, "contribution", "tenant", "kind", "amount", "status", "settled")
        for x in d["contributions"]:
            t.add_row(x["id"], _esc(x["tenant"]), x["kind"] + (" (top-up)" if x["topup"] else ""),
                      _sats(x["amount_sats"]), x["status"], _when(x.get("settled_at")))
        c.print(t)


@view("fund")
def _fund(c: Console, d: dict) -> None:
    x = d["contribution"]
    c.print(f"{x['kind']} {x['id']} by {_esc(x['tenant'])} in pool {_esc(x['pool'])}: "
            f"counts once its payment settles")
    _payment_panel(c, d["payment"])


@view("risk")
def _risk(c: Console, pools: list) -> None:
    from rich.bar import Bar

    for p in pools:
        c.print(f"[bold]{_esc(p['pool'])}[/]: {_esc(p['terms'])} (as of {_when(p['as_of'])})")
        if not p["tenants"]:
            c.print("  no contributions yet")
            continue
        t = _table(None, "tenant", "principal", "stake", "risk share", "", "at risk",
                   "earned", "paid", "donated")
        for r in p["tenants"]:
            t.add_row(_esc(r["tenant"]), _sats(r["principal_sats"]), r["stake_sats"],
                      f"{_pct2(r['share_pct'])}%",
                      Bar(size=10000, begin=0, end=_bar_end(r["share_pct"]), width=10),
                      _sats(r["at_risk_sats"]), _sats(r["earned_sats"]),
                      _sats(r["paid_sats"]), _sats(r["donated_sats"]))
        tot = p["totals"]
        t.add_row("[bold]total[/]", _sats(tot["principal_sats"]), "", "100%", "",
                  _sats(tot["at_risk_sats"]), _sats(tot["earned_sats"]),
                  _sats(tot["paid_sats"]), _sats(tot["donated_sats"]))
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
    c.print(f"{_esc(d['pool'])} {d['period']}: {d['consideration']} on "
            f"{_sats(d['basis_sats'])} → {verb} {_sats(d['distributable_sats'])}")
    for name, sats in d["shares"].items():
        c.print(f"  {_esc(name)}: {_sats(sats)}")


# -- invoices and exports (issue 6) ----------------------------------------------------
_INVOICE_STYLE = {"draft": "yellow", "issued": "green", "void": "red"}


def _invoice_status(s: str) -> str:
    return f"[{_INVOICE_STYLE.get(s, 'white')}]{s}[/]"


def _fiat_totals(t: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in t["fiat"].items()) or "-"


@view("invoice")
def _invoice(c: Console, d: dict) -> None:
    who = _esc(d.get("tenant") or "anonymous sales")
    c.print(f"[bold]{_esc(d['title'])}[/]" + (f" ({d['id']})" if d.get("number") else "")
            + f" {_invoice_status(d['status'])}: {who}, {d['period']}")
    if d.get("credit_note_for"):
        c.print(f"  cancels {d['credit_note_for']}")
    if d.get("issued_at"):
        c.print(f"  issued {_when(d['issued_at'])}, content sha256 {d['content_sha256']}")
    if d["status"] == "void":
        c.print(f"  [red]void[/] since {_when(d['voided_at'])}: {_esc(d['void_reason'])}")
    tax = d["totals"].get("tax")
    if d["lines"]:
        cols = ["date", "description", "ref"] + (["net", "VAT"] if tax else []) + \
            ["sats", "fiat"]
        t = _table(None, *cols)
        for line in d["lines"]:
            fiat = f"{line['fiat']} {line['currency']}" if "fiat" in line else "-"
            vat = [f"{line['net_sats']:,}" if "net_sats" in line else "-",
                   f"{line['tax_sats']:,}" if "tax_sats" in line else "-"] if tax else []
            t.add_row(line["date"], _esc(line["description"]), line["ref"], *vat,
                      f"{line['sats']:,}", fiat)
        c.print(t)
    else:
        c.print("  no lines: nothing for this tenant in this period")
    tot = d["totals"]
    if tax:
        fiat = f" ({tax['tax_fiat']} {tax['currency']})" if "tax_fiat" in tax else ""
        c.print(f"  net {tax['net_sats']:,} sat, VAT {d['tax'].get('rate', '')} % "
                f"{tax['tax_sats']:,} sat{fiat}")
    if d.get("tax", {}).get("note"):
        c.print(f"  [dim]{_esc(d['tax']['note'])}[/]")
    c.print(f"  [bold]total {tot['sats']:,} sat[/] ({tot['btc']} BTC)"
            + (f"; {_fiat_totals(tot)}" if tot["fiat"] and tot["fiat_complete"] else "")
            + (f" [dim](no fiat total: {tot['lines_without_fiat']} line(s) without a "
               "locked rate)[/]" if tot["lines_without_fiat"] and tot["fiat"] else ""))


@view("invoice_list")
def _invoice_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no invoices yet: cloudlease invoice create --tenant NAME --period YYYY-MM")
        return
    t = _table(None, "id", "number", "kind", "status", "tenant", "period", "total", "fiat")
    for d in rows:
        t.add_row(d["id"], d.get("number") or "-", d["kind"].replace("_", " "),
                  _invoice_status(d["status"]), _esc(d.get("tenant") or "(anonymous)"),
                  d["period"], _sats(d["total_sats"]),
                  _fiat_totals(d["totals"]) if d["totals"].get("fiat_complete", True) else "-")
    c.print(t)
    c.print(f"[dim]{len(rows)} document{'s' if len(rows) != 1 else ''}[/]")


@view("invoice_void")
def _invoice_void(c: Console, d: dict) -> None:
    v, n = d["voided"], d["credit_note"]
    c.print(f"{v['number']} is now {_invoice_status('void')}: {_esc(v['void_reason'])}")
    c.print(f"credit note [bold]{n['number']}[/] ({n['id']}) issued for "
            f"{_sats(n['total_sats'])}")


@view("document")
def _document(c: Console, d: dict) -> None:
    c.file.write(d["content"])  # exact text (HTML, Markdown, a journal): no Rich markup
    c.file.flush()


@view("written")
def _written(c: Console, d: dict) -> None:
    what = f"{d['entries']} entries ({d['format']})" if "entries" in d else \
        f"{d['invoice']['title']} ({d['format']})"
    c.print(f"[green]✓[/] wrote {what} to {_esc(d.get('written', 'stdout'))}")


@view("sweep")
def _sweep(c: Console, d: dict) -> None:
    verb = "sent" if d["broadcast"] else "signed, not sent (dry run)"
    c.print(f"sweep {verb}: {d['inputs']} output(s), {_sats(d['input_sats'])} in, "
            f"{_sats(d['output_sats'])} to {d['to']}, fee {_sats(d['fee_sats'])}")
    c.print(f"txid {d['txid']}")
    if not d["broadcast"]:
        c.print(d["raw_hex"], soft_wrap=True, markup=False)


@view("refund")
def _refund(c: Console, d: dict) -> None:
    t, r = d["transfer"], d["request"]
    if t is None:
        c.print(f"refund of {r['id']} signed, not sent (dry run); still owed back: "
                f"{_sats(d['refund_due_sats'])}")
        if d.get("raw_hex"):
            c.print(d["raw_hex"], soft_wrap=True, markup=False)
        return
    how = "recorded (sent from your own wallet)" if t["recorded"] else t["status"]
    c.print(f"refund {t['id']} of {r['id']} {how}: {_sats(t['sats'])} to {t['to']}, "
            f"fee {_sats(t['fee_sats'])}")
    c.print(f"txid {t['txid']}")
    if d["refund_due_sats"]:
        c.print(f"still owed back on {r['id']}: {_sats(d['refund_due_sats'])}")
