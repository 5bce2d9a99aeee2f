"""Views of checks: ``verify``, ``pay check``, ``tick`` and ``watch`` lines, hook deliveries."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Console

from cloudlease.render.console import view
from cloudlease.render.markup import esc, status, when
from cloudlease.render.tables import table


@view("verify")
def _verify(c: Console, d: dict) -> None:
    for n in d.get("notes", []):
        c.print(f"[dim]note:[/] {esc(n)}")
    for p in d.get("problems", []):
        c.print(f"[red]✗[/] {esc(p)}")
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
    t = table(None, "event", "name", "to", "status", "tries", "when", "last error")
    for d in rows:
        at = d["delivered_at"] if d["status"] == "delivered" else d["next_attempt_at"]
        t.add_row(d["event"], d["name"] or "-", esc(d["target"]), status(d["status"]),
                  str(d["attempts"]), when(at), esc(d["last_error"] or "-"))
    c.print(t)


@view("redelivered")
def _redelivered(c: Console, d: dict) -> None:
    for h in d["hooks_delivered"]:
        c.print(f"[green]delivered[/] {esc(h)}")
    for h in d["hooks_failed"]:
        c.print(f"[red]failed[/] {h['event']} {h['id']} to {esc(h['target'])}: "
                f"{esc(h['error'])}")


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
        for p in [*d.get("problems", []), *d.get("notices", [])]:
            c.print(f"{stamp}{esc(p)}")
        return
    c.print(stamp + _headline(d))
    for line in _changes(d):
        c.print(f"{stamp}  {line}")
    if _nothing_changed(d):
        c.print(f"{stamp}  nothing changed")
    if not stamp:  # pay check: where each request it asked about stands, in words
        for text in d.get("messages", {}).values():
            c.print(f"  {esc(text)}")
        if not d["checked"] and not d.get("messages"):
            c.print("  no open payment requests (cloudlease pay list shows them all)")


def _headline(d: dict) -> str:
    """What was checked, on which backend and height, and the Lightning node."""
    sim = " [yellow](simulated chain)[/]" if d.get("simulated") else ""
    height = d.get("tip_height")
    n = len(d["checked"])
    return (f"checked {n} payment request{'' if n == 1 else 's'}"
            + (f" on {d['backend']}" if d.get("backend") else "")
            + (f" at height {height}" if height is not None else "") + sim
            + (" and the simulated Lightning node" if d.get("lightning") == "devchain" else
               f" and the Lightning node ({d['lightning']})" if d.get("lightning") else ""))


def _changes(d: dict) -> Iterator[str]:
    """One line per change the pass made or found, in a fixed order: requests, hooks,
    answers held back, pools, machines."""
    for t in d["transitions"]:
        yield f"{t['id']}: {status(t['from'])} → {status(t['to'])}"
    for p in d.get("partial", []):
        yield (f"[yellow]{p['id']}: partial[/], {p['paid_sats']:,} of "
               f"{p['amount_sats']:,} sat paid, {p['due_sats']:,} due")
    for r in d.get("refunds_due") or []:
        yield (f"[bold red]refund due[/] on {r['id']}: {r['sats']:,} sat paid twice "
               "or for nothing (cloudlease pay show " + r["id"] + ")")
    for rid in d.get("ln_cancelled") or []:
        yield f"{rid}: paid on-chain; its Lightning invoice is cancelled"
    yield from _hook_lines(d)
    for rid in d.get("held", []):
        yield f"{rid}: answer older than one already applied; left as it was"
    yield from _pool_lines(d.get("pools", []))
    for m in d.get("machines") or []:
        yield (f"machine {m['lease']}: {m['action']} → {status(m['state'])}"
               + (f": {esc(m['error'])}" if m.get("error") else ""))


def _hook_lines(d: dict) -> Iterator[str]:
    for h in d["hooks_delivered"]:
        yield f"[green]hook[/] {esc(h)}"
    for h in d["hooks_failed"]:
        yield (f"[red]hook failed[/] {h['event']} {h['id']} to "
               f"{esc(h.get('target', 'hook'))}: {esc(h['error'])} (retried later)")


def _pool_lines(pools: list) -> Iterator[str]:
    """The monitor's news: a runway it cannot know, a pool throttled or restored."""
    style = {"throttle": ("red", " throttled"), "restore": ("green", " restored")}
    for p in pools:
        if not p["runway_known"]:
            yield f"[yellow]pool {esc(p['pool'])}[/]: {esc(p['reason'])}"
        elif p["change"] in style:
            colour, word = style[p["change"]]
            yield f"[{colour}]pool {esc(p['pool'])}{word}[/]: {esc(p['reason'])}"


def _nothing_changed(d: dict) -> bool:
    return not d["transitions"] and not d["hooks_delivered"] and not d["hooks_failed"] \
        and not d.get("partial") and not d.get("machines") and not d.get("refunds_due") \
        and all(p["change"] == "none" for p in d.get("pools", []))
