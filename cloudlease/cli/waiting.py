"""``rent --wait``: a live status until the payment settles, expires, or Ctrl-C.

The chain is checked every ``POLL_SECONDS``. A request with a Lightning invoice also has
its node asked every ``lnrequests.POLL_SECONDS`` (one cheap status call, no ledger
write); the moment the node reports the invoice paid (or expired), a full check runs, so
a Lightning payment is seen within a fraction of a second.
"""

from __future__ import annotations

import time
from typing import Any

from cloudlease.cli.common import Result
from cloudlease.errors import BackendError

POLL_SECONDS = 2.0


def wait_for_payment(ctx: Any, data: dict[str, Any], payment: dict[str, Any] | None) -> Result:
    from cloudlease import render
    from cloudlease.ops import lnrequests
    from cloudlease.ops.check import check
    from cloudlease.views import jsonable

    render.show("rental", jsonable({**data, "payment": payment}))
    rid = data["payment"]["id"]
    status = "new"
    node = None
    req = ctx.read().request(rid)
    if req.ln_invoice and not req.ln_paid_msat and ctx.settings.lightning.enabled:
        node = lnrequests.node(ctx)
    last_full = -POLL_SECONDS
    try:
        with render.live_status(f"waiting for payment {rid}") as update:
            while True:
                try:
                    due = time.monotonic() - last_full >= POLL_SECONDS
                    if node is not None and not due:
                        st = lnrequests.statuses(node, [req])[req.ln_payment_hash]
                        due = st.state != "open"
                    if due:
                        last_full = time.monotonic()
                        report = check(ctx, [rid], ln_node=node)
                        status = report.statuses.get(rid, status)
                        height = "" if report.tip_height is None else \
                            f" (height {report.tip_height})"
                        update(f"payment {rid}: {status}{height}; Ctrl-C stops waiting, "
                               "the request stays open")
                except BackendError as exc:
                    update(f"backend trouble, retrying: {exc}")
                if status in ("settled", "expired", "invalid"):
                    break
                time.sleep(lnrequests.POLL_SECONDS if node is not None else POLL_SECONDS)
    except KeyboardInterrupt:
        render.note(f"stopped waiting; request {rid} stays open (cloudlease pay check {rid})")
        return Result(None, "none", exit_code=7)
    finally:
        if node is not None:
            node.close()
    from cloudlease import views
    from cloudlease.ops.leases import show

    lease, reqs = show(ctx, data["id"])
    out = {**views.lease(lease, reqs), "machine": views.machine(
        ctx.read().machines.get(lease.id))}
    return Result(out, "lease", exit_code={"settled": 0, "expired": 8, "invalid": 8}[status])
