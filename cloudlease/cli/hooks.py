"""``cloudlease hooks list|redeliver``: hook and webhook deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudlease.cli.common import Result, command, ctx

app = typer.Typer(help="Hook and webhook deliveries: list, redeliver.", no_args_is_help=True)


def _row(d, event) -> dict:
    webhook = d.target.startswith("webhook:")
    return {"id": d.id, "event": d.event, "name": event.name if event else None,
            "subject": event.subject if event else None,
            "kind": "webhook" if webhook else "hook",
            "target": d.target.removeprefix("webhook:") if webhook else "hook",
            "status": d.status, "attempts": d.attempts, "created_at": d.created_at,
            "next_attempt_at": d.next_attempt_at, "delivered_at": d.delivered_at,
            "last_error": d.last_error}


@command(app, "list")
def list_(
    failed: Annotated[bool, typer.Option(
        "--failed", help="Only deliveries whose last attempt failed (retrying, or given up).")
    ] = False,
    limit: Annotated[int, typer.Option(
        help="Also show this many of the latest delivered ones (not with --failed).",
        min=0, max=10_000)] = 20,
) -> Result:
    """List hook and webhook deliveries: what is waiting, what failed, what went out.

    Without --failed: every delivery not yet delivered, then the latest delivered ones.

    Example: cloudlease hooks list --failed
    """
    ledger = ctx().read()
    if failed:
        rows = ledger.deliveries.where(
            "status = 'failed' OR (status = 'pending' AND attempts > 0)",
            order="created_at, id")
    else:
        rows = ledger.deliveries.where("status IN ('pending', 'failed')",
                                       order="created_at, id")
        if limit:
            done = ledger.deliveries.where("status = 'delivered'",
                                           order="created_at DESC, id DESC", limit=limit)
            rows = sorted(done, key=lambda d: (d.created_at, d.id)) + rows
    events = ledger.events.many(d.event for d in rows)
    return Result([_row(d, events.get(d.event)) for d in rows], "hooks_list")


@command(app, "redeliver")
def redeliver(
    event_id: Annotated[str, typer.Argument(metavar="EVENT_ID", help="An event, e.g. E-12.")],
    target: Annotated[str | None, typer.Option(
        "--to", help="Only this receiver: 'hook' or a webhook URL (default: all of them).",
        metavar="<hook|url>")] = None,
) -> Result:
    """Deliver an event again now, to its hook and webhooks (or one of them).

    Receivers configured since the event happened get it too. Exit 9 if a delivery
    fails (it stays queued and is retried by tick, with backoff for webhooks).

    Example: cloudlease hooks redeliver E-12 --to https://provisioner.example.com/hook
    """
    from cloudlease.core.errors import ExitCode
    from cloudlease.ops import deliver
    from cloudlease.ops.check import PassReport

    c = ctx()
    queued = deliver.redeliver(c, event_id, target)
    report = PassReport()
    event = queued[0].partition("/")[0]
    deliver.run_pending(c, report, event=event)
    data = {"event": event, "queued": queued, "hooks_delivered": report.hooks_delivered,
            "hooks_failed": report.hooks_failed}
    if report.hooks_failed:
        first = report.hooks_failed[0]
        return Result(data, "redelivered", exit_code=int(ExitCode.HOOK_FAILED),
                      error=("hook_failed", f"{first['event']} {first['id']} to "
                             f"{first['target']} failed again: {first['error']}; it stays "
                             "queued and is retried by tick"))
    return Result(data, "redelivered")
