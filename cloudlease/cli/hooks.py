"""``cloudlease hooks list|redeliver``: hook and webhook deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from cloudlease.cli.common import Result, command, ctx

app = typer.Typer(help="Hook and webhook deliveries: list, redeliver.", no_args_is_help=True)


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
    from cloudlease.ops import deliver

    return Result(deliver.listing(ctx(), failed=failed, limit=limit), "hooks_list")


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
