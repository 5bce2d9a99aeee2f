"""``cloudlease pay check|list|show|accept|refund``, ``tick`` and ``watch``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudlease.cli.common import STATE, Result, YesOpt, command, confirm, ctx
from cloudlease.core import views

app = typer.Typer(help="Payment requests: check, list, show, accept, refund.",
                  no_args_is_help=True)


def _report_data(report, *, sentences: bool = False) -> dict:
    """The JSON of a check or tick; ``sentences``: where each request stands, in words
    (``pay check`` only: a tick may watch thousands)."""
    from cloudlease.core.views import partial_line, request_sentence

    data = {"at": report.at, "backend": report.backend, "tip_height": report.tip_height,
            "checked": report.checked, "transitions": report.transitions,
            "events": report.events, "hooks_delivered": report.hooks_delivered,
            "hooks_failed": report.hooks_failed, "statuses": report.statuses,
            "held": report.held,
            "pools": [{"pool": d.pool.name, "runway_known": d.known, "change": d.change,
                       "runway_hours": d.runway_hours, "throttled": d.pool.throttled,
                       "reason": d.reason} for d in report.pools],
            "machines": report.machines,
            "lightning": report.lightning or None, "refunds_due": report.refunds,
            "ln_cancelled": report.ln_cancelled, "notes": report.notes,
            "partial": [{k: v for k, v in p.items() if k != "changed"}
                        for p in report.partial],
            "messages": {k: request_sentence(r) for k, r in report.requests.items()}
            if sentences else {}}
    problems = [f"{h['event']} {h['id']} to {h.get('target', 'hook')} failed: {h['error']} "
                "(retried later)" for h in report.hooks_failed]
    problems += [partial_line(p) for p in report.partial if p["changed"]]
    problems += [f"{t['id']}: {t['from']} → {t['to']}" for t in report.transitions
                 if t["to"] in _BAD_ENDS]
    problems += [f"pool {p['pool']}: {p['reason']}" for p in data["pools"]
                 if not p["runway_known"]]
    problems += [f"pool {p['pool']} throttled: {p['reason']}" for p in data["pools"]
                 if p["change"] == "throttle"]
    # good news that --quiet still says: a pool back in service
    data["notices"] = [f"pool {p['pool']} restored: {p['reason']}" for p in data["pools"]
                       if p["change"] == "restore"]
    problems += [f"{m['lease']}: machine {m['action']} failed: {m['error']} (retried later)"
                 for m in report.machines if m.get("error")]
    data["problems"] = problems
    return data


_BAD_ENDS = frozenset({"expired", "invalid", "suspended"})
QuietOpt = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Print only problems (failed hooks, partial payments, expired or "
    "suspended, pools throttled or with an unknown runway): nothing when all went well.")]


@command(app, "check")
def check(ids: Annotated[list[str] | None, typer.Argument(
        metavar="[ID]...", help="Requests to check (default: every open one).")] = None
          ) -> Result:
    """Check payments on the chain and say where each request stands, one line each.

    Without ids it checks the open requests (new or waiting for confirmations). The exit
    code is the worst of the requests checked: 8 if any expired or became invalid, else
    7 if any is not settled yet, else 0 (also when there is none to check); 6 if the
    backend failed.

    Example: cloudlease pay check P-3
    """
    from cloudlease.ops.check import check as do_check
    from cloudlease.ops.check import expect_settled

    c = ctx()
    report = do_check(c, ids or None, open_only=not ids)
    data = _report_data(report, sentences=True)
    data["simulated"] = report.backend == "devchain"
    code = expect_settled(c, ids or [], report) if report.statuses else 0
    return Result(data, "check", exit_code=code, error=_check_error(code, data),
                  notes=report.notes)


def _check_error(code: int, data: dict) -> tuple[str, str] | None:
    """The one error line of ``pay check``: the request's sentence, or for several the ids
    that made the exit code (the lines above say where each stands)."""
    if not code:
        return None
    want = ("expired", "invalid") if code == 8 else ("new", "processing")
    ids = [rid for rid, st in data["statuses"].items() if st in want]
    if len(ids) == 1:
        said = data["messages"].get(ids[0], ids[0])
    else:
        said = f"{len(ids)} requests: {', '.join(ids)}"
    return (("payment_pending", f"Not settled yet. {said}") if code == 7 else
            ("payment_expired", f"Not payable any more. {said}"))


@command(app, "list")
def list_(
    status: Annotated[str | None, typer.Option(
        help="Only requests in this status.",
        metavar="[new|processing|settled|expired|invalid]")] = None,
    lease: Annotated[str | None, typer.Option(help="Only this lease's requests (L-<n>).")
                     ] = None,
    open_only: Annotated[bool, typer.Option(
        "--open", help="Only open requests (new or processing).")] = False,
) -> Result:
    """List payment requests, oldest first: status, amount, paid, deadline.

    Example: cloudlease pay list --open
    """
    from cloudlease.ops.payments import listing

    return Result(listing(ctx(), status=status, lease=lease, open_only=open_only),
                  "request_list")


@command(app, "show")
def show(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="Request id, e.g. P-3.")],
    qr_png: Annotated[Path | None, typer.Option(help="Write the QR code as PNG here.")] = None,
    qr_svg: Annotated[Path | None, typer.Option(help="Write the QR code as SVG here.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing QR file.")] = False,
    qr: Annotated[bool | None, typer.Option(
        "--qr/--no-qr", help="Print the QR code (default: only at a terminal).",
        show_default=False)] = None,
) -> Result:
    """Show a payment request: how to pay it, or what happened to it.

    While it can be paid: the amount due, the address and invoice, the URI, the deadline
    and the QR code (after a partial payment they ask for what is still due). Once it is
    settled, expired, cancelled or invalid: its status, what was paid and when, and the
    proof (txids, Lightning preimage).

    Example: cloudlease pay show P-3 --qr-png p3.png
    """
    from cloudlease.cli.lease import with_qr
    from cloudlease.core import clock
    from cloudlease.core.errors import BadValue, Conflict
    from cloudlease.ops import payments
    from cloudlease.ops import qr as qrcode

    req = payments.show(ctx(), request_id)
    data = views.request(req, clock.now())
    written = []
    for path, writer in ((qr_png, qrcode.write_png), (qr_svg, qrcode.write_svg)):
        if path is None:
            continue
        if not data["payable"]:
            raise Conflict(f"{req.id} can no longer be paid ({req.status.value}); there is "
                           "no QR code to write", code="not_payable")
        if path.exists() and not force:
            raise BadValue(f"{path} exists; pass --force to overwrite it")
        try:
            writer(views.payable_uri(req), path)  # what is still due, after a partial
        except OSError as exc:
            raise BadValue(f"cannot write {path}: {exc.strerror}") from None
        written.append(str(path))
    data["written"] = written
    return Result(with_qr(data, qr), "request")


@command(app, "accept")
def accept(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="An expired request paid late.")],
    requote: Annotated[bool, typer.Option(
        "--requote/--as-is", help="Price the hours again at today's rate, or accept the "
        "payment at the rate locked when the request was made.")] = False,
    rate: Annotated[str | None, typer.Option(help="Rate to re-quote at (fiat per BTC).",
                                             metavar="<decimal>")
                    ] = None,
) -> Result:
    """Accept a late payment.

    Never automatic: a stale rate is the operator's call.

    Example: cloudlease pay accept P-3 --requote
    """
    from cloudlease.ops.payments import accept as do_accept
    from cloudlease.ops.quote import parse_rate

    req, lease = do_accept(ctx(), request_id, requote=requote,
                           rate=parse_rate(rate) if rate else None)
    return Result({"request": views.request(req), "lease": views.lease(lease) if lease
                   else None}, "accepted")


@command(app, "refund")
def refund(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request, e.g. P-3.")],
    to: Annotated[str | None, typer.Option(
        "--to", help="Address to send it to (default: the tenant's refund address).")
                  ] = None,
    sats: Annotated[int | None, typer.Option(
        "--sats", help="How much (default: all that is owed back on the request).")] = None,
    fee_rate: Annotated[str | None, typer.Option(
        help="Keys wallet: fee rate in sat/vB (default 2 on regtest; required elsewhere).")
                        ] = None,
    txid: Annotated[str | None, typer.Option(
        "--txid", help="Descriptor wallet: the refund you sent from your own wallet.")
                    ] = None,
    fee_sats: Annotated[int | None, typer.Option(
        "--fee-sats", help="Descriptor wallet: the mining fee your wallet paid for it.")
                        ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Sign and show; send nothing.")
                       ] = False,
    yes: YesOpt = False,
) -> Result:
    """Send back money owed on a request.

    An overpaid surplus, or a payment to a request that expired, was cancelled or became
    invalid. A keys wallet signs and sends it (mining fee booked to
    expenses:fees:mining); for a descriptor wallet, send it from your own wallet and
    record it here with --txid and --fee-sats.

    Example: cloudlease pay refund P-3 --to bcrt1q... --yes
    """
    from cloudlease.ops.refunds import refund as do_refund

    if not (dry_run or txid):
        confirm(f"Send the refund of {request_id}?", yes, "pay refund sends bitcoin and")
    r = do_refund(ctx(), request_id, to=to, sats=sats, fee_rate=fee_rate, txid=txid,
                  fee_sats=fee_sats, dry_run=dry_run)
    data = {"transfer": views.transfer(r.transfer) if r.transfer else None,
            "request": views.request(r.request), "refund_due_sats": r.due_after,
            "sent": r.sent, "raw_hex": r.raw_hex if dry_run else None}
    return Result(data, "refund")


def _hook_error(failed: list[dict]) -> tuple[str, str]:
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    what = "delivery" if len(failed) == 1 else "deliveries"
    return ("hook_failed", f"{len(failed)} hook or webhook {what} failed: {first['event']} "
            f"{first['id']} to {first.get('target', 'hook')}: {first['error']}{more}; the ledger "
            "change stands and the delivery is retried (cloudlease hooks list --failed)")


def tick(quiet: QuietOpt = False) -> Result:
    """One idempotent pass for cron: payments, leases, pools, hooks and webhooks.

    Checks open payments, activates, expires and ends leases, runs the pool monitor and
    delivers hook and webhook events. Each line starts with the UTC time. Exit 0 when
    the pass completed (even if nothing changed), 6 when the chain could not be asked
    (nothing changed), 9 when a hook or webhook failed (the ledger change stands; it is
    retried).

    Example: cloudlease tick --quiet
    """
    from cloudlease.core.errors import ExitCode
    from cloudlease.ops.check import check as do_check

    report = do_check(ctx(), tick=True)
    data = _report_data(report)
    data["simulated"] = report.backend == "devchain"
    view = "tick_quiet" if quiet else "tick"
    if report.hooks_failed:
        return Result(data, view, exit_code=int(ExitCode.HOOK_FAILED),
                      error=_hook_error(report.hooks_failed), notes=report.notes)
    return Result(data, view, notes=report.notes)


def watch(
    interval: Annotated[float, typer.Option(help="Seconds between ticks.", min=0.1)] = 30.0,
    count: Annotated[int | None, typer.Option(help="Stop after this many ticks.", min=1)
                     ] = None,
    quiet: QuietOpt = False,
) -> Result:
    """Run tick in a loop until Ctrl-C; lines start with the UTC time.

    Says when it starts and how often it ticks. Backend errors are reported and retried.
    With --json, one JSON line per tick (with --quiet: only ticks with a problem). Exit 9
    if a hook or webhook failed during the run; Ctrl-C stops it with exit 130, as it
    stops rent --wait.

    Example: cloudlease watch --interval 30 --quiet
    """
    from cloudlease import render
    from cloudlease.core import clock
    from cloudlease.core.errors import BackendError

    c = ctx()
    n = 0
    failed: list[dict] = []
    with _StopOnCtrlC() as stop:
        if not STATE.json_mode:  # say so at once: a quiet watch may print nothing for hours
            render.note(f"{views.jsonable(clock.now())} watching: a tick every "
                        f"{interval:g} s" + (f", {count} in all" if count is not None else "")
                        + "; Ctrl-C stops")
        while (count is None or n < count) and not stop.asked:
            n += 1
            try:
                failed += _watch_tick(c, quiet)
            except BackendError as exc:
                if count is not None and n >= count:
                    raise
                render.note(f"{views.jsonable(clock.now())} backend trouble, retrying in "
                            f"{interval:g}s: {exc}")
            if count is None or n < count:
                stop.sleep(interval)
    return _watch_result(n, failed, stopped=stop.asked, quiet=quiet)


class _StopOnCtrlC:
    """Ctrl-C asks watch to stop after the tick it is in (never half-way through a tick
    or a line of output); a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.asked = False
        self._before: Any = None

    def _handler(self, signum: int, frame: Any) -> None:
        import signal

        self.asked = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # twice: at once

    def __enter__(self) -> _StopOnCtrlC:
        import signal

        self._before = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        signal.signal(signal.SIGINT, self._before)

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.asked and (left := end - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))


def _watch_tick(c, quiet: bool) -> list[dict]:
    """One of watch's ticks, printed as it happens; the hook deliveries that failed."""
    from cloudlease import render
    from cloudlease.ops.check import check as do_check

    last = _report_data(do_check(c, tick=True))
    busy = last["transitions"] or last["hooks_delivered"] or last["problems"] \
        or last["machines"] or last["notices"]
    if STATE.json_mode and (last["problems"] or not quiet):
        import json
        import sys

        sys.stdout.write(json.dumps(views.jsonable(last)) + "\n")
        sys.stdout.flush()
    elif not STATE.json_mode and ((last["problems"] or last["notices"]) if quiet else busy):
        render.show("tick_quiet" if quiet else "tick", views.jsonable(last))
    return last["hooks_failed"]


def _watch_result(n: int, failed: list[dict], *, stopped: bool, quiet: bool) -> Result:
    """watch's outcome: exit 130 when Ctrl-C stopped it (as rent --wait), else 9 when a
    hook or webhook failed during the run, else 0."""
    from cloudlease.core.errors import ExitCode

    error = _hook_error(failed) if failed else None
    ticks = f"{n} tick{'s' if n != 1 else ''}"
    if stopped:  # 128 + SIGINT, what shells expect of an interrupted program
        from cloudlease.cli.waiting import INTERRUPTED

        said = f"stopped after {ticks}" + (f"; {error[1]}" if error else "")
        return Result(None, "none", exit_code=INTERRUPTED, error=("interrupted", said))
    code = int(ExitCode.HOOK_FAILED) if failed else 0
    if STATE.json_mode or quiet:
        return Result(None, "none", exit_code=code, error=error)  # printed as they happened
    return Result({"ticks": n, "message": f"{ticks} run"}, exit_code=code, error=error)


def register(root: typer.Typer) -> None:
    command(root, "tick")(tick)
    command(root, "watch")(watch)
