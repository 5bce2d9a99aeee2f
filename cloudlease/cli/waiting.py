"""``rent --wait``: a live status until the payment settles, expires, or Ctrl-C.

The chain is checked every ``POLL_SECONDS``. A request with a Lightning invoice also has
its node asked every ``lnrequests.POLL_SECONDS`` (one cheap status call, no ledger
write); the moment the node reports the invoice paid (or expired), a full check runs, so
a Lightning payment is seen within a fraction of a second.

The status says where the request stands in words, with what is still due after a
partial payment. Ctrl-C stops waiting (exit 130, as for any interrupted program) and
says that the request stays open: the payer can still pay it, and ``tick`` will see it.
"""

from __future__ import annotations

import time
from typing import Any

from cloudlease.cli.common import Result
from cloudlease.core.errors import BackendError

POLL_SECONDS = 2.0
INTERRUPTED = 130  # 128 + SIGINT, what shells expect of a program stopped with Ctrl-C


def wait_for_payment(ctx: Any, data: dict[str, Any], payment: dict[str, Any] | None) -> Result:
    from cloudlease import render
    from cloudlease.core.views import jsonable
    from cloudlease.ops import lnrequests, payments
    from cloudlease.ops.check import check

    render.show("rental", jsonable({**data, "payment": payment}))
    rid = data["payment"]["id"]
    status = "new"
    node = None
    req = payments.show(ctx, rid)
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
                        now_req = report.requests.get(rid)
                        said = status_line(now_req) if now_req is not None else \
                            f"{rid}: {status}"
                        update(f"{said} · Ctrl-C stops waiting")
                except BackendError as exc:
                    update(f"backend trouble, retrying: {exc}")
                if status in ("settled", "expired", "invalid"):
                    break
                time.sleep(lnrequests.POLL_SECONDS if node is not None else POLL_SECONDS)
    except KeyboardInterrupt:
        render.note(f"stopped waiting; request {rid} stays open and can still be paid "
                    f"(cloudlease pay show {rid}; cloudlease pay check {rid})")
        return Result(None, "none", exit_code=INTERRUPTED)
    finally:
        if node is not None:
            node.close()
    from cloudlease.ops.leases import details

    return Result(details(ctx, data["id"]), "lease",
                  exit_code={"settled": 0, "expired": 8, "invalid": 8}[status])


def status_line(r: Any) -> str:
    """Where a request stands, short enough for one line of a 60-column terminal: the
    amount still due and the deadline (the full sentence is ``pay check``'s)."""
    by = f"{r.expires_at:%H:%M} UTC"
    paid, amount = r.received_sats, r.amount_sats
    if r.status == "new":
        if paid:
            return f"{r.id}: {paid:,} of {amount:,} sat paid, {r.due_sats:,} due by {by}"
        return f"{r.id}: waiting for {amount:,} sat, due by {by}"
    if r.status == "processing":
        return f"{r.id}: paid, {r.confirmed_sats:,} of {amount:,} sat confirmed"
    return f"{r.id}: {r.status.value}"
