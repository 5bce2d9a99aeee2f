"""``cloudlease pay check|show|accept``, ``tick`` and ``watch``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cloudlease import views
from cloudlease.cli.common import STATE, Result, command, ctx

app = typer.Typer(help="Payment requests: check, show, accept, refund.", no_args_is_help=True)


def _report_data(report) -> dict:
    return {"backend": report.backend, "tip_height": report.tip_height,
            "checked": report.checked, "transitions": report.transitions,
            "events": report.events, "hooks_delivered": report.hooks_delivered,
            "hooks_failed": report.hooks_failed, "statuses": report.statuses,
            "held": report.held,
            "pools": [{"pool": d.pool.name, "runway_known": d.known, "change": d.change,
                       "runway_hours": d.runway_hours, "throttled": d.pool.throttled,
                       "reason": d.reason} for d in report.pools],
            "machines": report.machines,
            "lightning": report.lightning or None, "refunds_due": report.refunds,
            "ln_cancelled": report.ln_cancelled, "notes": report.notes}


@command(app, "check")
def check(ids: Annotated[list[str] | None, typer.Argument(
        metavar="[ID]...", help="Requests to check (default: every open one).")] = None
          ) -> Result:
    """Check payments on the chain. Exit 0 when all are settled, 7 while some are pending,
    8 if any expired or became invalid, 6 if the backend failed."""
    from cloudlease.ops.check import check as do_check
    from cloudlease.ops.check import expect_settled

    c = ctx()
    report = do_check(c, ids or None)
    data = _report_data(report)
    data["simulated"] = report.backend == "devchain"
    code = expect_settled(c, ids or [], report) if report.statuses else 0
    error = None
    if code:
        waiting = ", ".join(f"{k} {v}" for k, v in report.statuses.items() if v != "settled")
        error = (("payment_pending", f"not settled yet: {waiting}") if code == 7 else
                 ("payment_expired", f"expired or invalid: {waiting}"))
    return Result(data, "check", exit_code=code, error=error, notes=report.notes)


@command(app, "show")
def show(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="Request id, e.g. P-3.")],
    qr_png: Annotated[Path | None, typer.Option(help="Write the QR code as PNG here.")] = None,
    qr_svg: Annotated[Path | None, typer.Option(help="Write the QR code as SVG here.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing QR file.")] = False,
) -> Result:
    """Show a payment request again (URI, amount, expiry, QR code)."""
    from cloudlease.bitcoin import qr
    from cloudlease.cli.lease import with_qr
    from cloudlease.errors import BadValue

    c = ctx()
    req = c.read().request(request_id)
    written = []
    for path, writer in ((qr_png, qr.write_png), (qr_svg, qr.write_svg)):
        if path is None:
            continue
        if path.exists() and not force:
            raise BadValue(f"{path} exists; pass --force to overwrite it")
        try:
            writer(req.uri, path)
        except OSError as exc:
            raise BadValue(f"cannot write {path}: {exc.strerror}") from None
        written.append(str(path))
    data = views.request(req)
    data["written"] = written
    return Result(with_qr(data), "request")


@command(app, "accept")
def accept(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="An expired request paid late.")],
    requote: Annotated[bool, typer.Option(
        "--requote/--as-is", help="Price the hours again at today's rate, or accept the "
        "payment at the rate locked when the request was made.")] = False,
    rate: Annotated[str | None, typer.Option(help="Rate to re-quote at (fiat per BTC).")
                    ] = None,
) -> Result:
    """Accept a late payment (never automatic: a stale rate is the operator's call)."""
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
    yes: Annotated[bool, typer.Option("--yes", help="Send without asking.")] = False,
) -> Result:
    """Send back money owed on a request: an overpaid surplus, or a payment to a request
    that expired, was cancelled or became invalid. A keys wallet signs and sends it
    (mining fee booked to expenses:fees:mining); for a descriptor wallet, send it from
    your own wallet and record it here with --txid and --fee-sats.

    Example: cloudlease pay refund P-3 --to bcrt1q... --yes"""
    import sys

    from cloudlease.errors import BadValue
    from cloudlease.ops.refunds import refund as do_refund

    if not (yes or dry_run or txid):
        if STATE.json_mode or not sys.stdin.isatty():
            raise BadValue("pay refund sends bitcoin: confirm with --yes (or try --dry-run)")
        if not typer.confirm(f"Send the refund of {request_id}?", default=False, err=True):
            raise BadValue("not confirmed; nothing sent")
    r = do_refund(ctx(), request_id, to=to, sats=sats, fee_rate=fee_rate, txid=txid,
                  fee_sats=fee_sats, dry_run=dry_run)
    data = {"transfer": views.transfer(r.transfer) if r.transfer else None,
            "request": views.request(r.request), "refund_due_sats": r.due_after,
            "sent": r.sent, "raw_hex": r.raw_hex if dry_run else None}
    return Result(data, "refund")


def tick() -> Result:
    """One idempotent pass for cron: check payments, activate, expire, end leases, run
    hooks. Exit 0 when the pass completed, even if nothing changed."""
    from cloudlease.ops.check import check as do_check

    report = do_check(ctx(), tick=True)
    data = _report_data(report)
    data["simulated"] = report.backend == "devchain"
    return Result(data, "check", notes=report.notes)


def watch(
    interval: Annotated[float, typer.Option(help="Seconds between ticks.", min=0.1)] = 30.0,
    count: Annotated[int | None, typer.Option(help="Stop after this many ticks.", min=1)
                     ] = None,
) -> Result:
    """Run tick in a loop (Ctrl-C to stop). Backend errors are reported and retried."""
    from cloudlease import render
    from cloudlease.errors import BackendError
    from cloudlease.ops.check import check as do_check

    c = ctx()
    n = 0
    last: dict = {}
    try:
        while count is None or n < count:
            n += 1
            try:
                last = _report_data(do_check(c, tick=True))
                if STATE.json_mode:
                    import json
                    import sys

                    sys.stdout.write(json.dumps(views.jsonable(last)) + "\n")
                    sys.stdout.flush()
                elif last["transitions"] or last["hooks_failed"] or last["machines"]:
                    render.show("check", last)
            except BackendError as exc:
                if count is not None and n >= count:
                    raise
                render.note(f"backend trouble, retrying in {interval:g}s: {exc}")
            if count is None or n < count:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    if STATE.json_mode:
        return Result(None, "none")  # the ticks were printed as they happened
    return Result({"ticks": n, "message": f"{n} tick{'s' if n != 1 else ''} run"})


def register(root: typer.Typer) -> None:
    command(root, "tick")(tick)
    command(root, "watch")(watch)
