"""``rent --wait``: a live status until the payment settles, expires, or Ctrl-C."""

from __future__ import annotations

import time
from typing import Any

from cloudlease.cli.common import Result
from cloudlease.errors import BackendError

POLL_SECONDS = 2.0


def wait_for_payment(ctx: Any, data: dict[str, Any], payment: dict[str, Any] | None) -> Result:
    from cloudlease import render
    from cloudlease.ops.check import check
    from cloudlease.views import jsonable

    render.show("rental", jsonable({**data, "payment": payment}))
    rid = data["payment"]["id"]
    status = "new"
    try:
        with render.live_status(f"waiting for payment {rid}") as update:
            while True:
                try:
                    report = check(ctx, [rid])
                    status = report.statuses.get(rid, status)
                    update(f"payment {rid}: {status} (height {report.tip_height}); "
                           "Ctrl-C stops waiting, the request stays open")
                except BackendError as exc:
                    update(f"backend trouble, retrying: {exc}")
                if status in ("settled", "expired", "invalid"):
                    break
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        render.note(f"stopped waiting; request {rid} stays open (cloudlease pay check {rid})")
        return Result(None, "none", exit_code=7)
    from cloudlease import views
    from cloudlease.ops.leases import show

    lease, reqs = show(ctx, data["id"])
    out = {**views.lease(lease, reqs), "machine": views.machine(
        ctx.read().machines.get(lease.id))}
    return Result(out, "lease", exit_code={"settled": 0, "expired": 8, "invalid": 8}[status])
