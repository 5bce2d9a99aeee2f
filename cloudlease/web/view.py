"""What the lease page shows, worked out from ``leasepage.state`` (pure: no I/O), and the
small formatting filters the templates use. The page is in one of these phases:

- ``checkout``: the first payment is due (amount, QR, wallet link, countdown, what is
  still due after a partial payment);
- ``confirming``: paid in full, waiting for confirmations;
- ``active`` / ``suspended``: access details once the machine is ready, time left, the
  extend form, and the checkout of an extension while one is open;
- ``expired`` (a fresh quote), ``ended``, ``cancelled``.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from cloudlease.web.hub import encode

MESSAGES = {
    "pending": "Your machine is being prepared. This page updates by itself.",
    "failed": "Setting up your machine failed; it is retried automatically and the operator "
              "has been told.",
    "suspended": "Your machine is paused while the lease is suspended.",
    "released": "Your machine has been removed.",
}


def sats(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def when(value: Any) -> str:
    if not value:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.strftime("%Y-%m-%d %H:%M UTC")


def fiat(value: Any, currency: Any = None) -> str:
    if value is None:
        return ""
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    return f"{amount:,} {currency or ''}".strip()


def duration(seconds: float) -> str:
    """``2 h 05 min`` / ``14:59`` (under an hour)."""
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    return f"{m:02d}:{s:02d}"


def minutes(value: Any) -> str:
    """``2 h``, ``1 h 23 min``, ``45 min``: time bought."""
    from cloudlease.core.prorate import duration as text

    return text(int(value or 0))


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def signature(state: dict[str, Any]) -> str:
    """What the page shows, in a few words; ``app.js`` builds the same string from each
    ``status`` event and fetches the page again when it differs."""
    data = json.loads(encode(state))
    lease, pay, machine = data["lease"], data.get("payment") or {}, data.get("machine") or {}
    return "|".join(str(x) for x in (
        lease.get("status"), lease.get("ends_at"), pay.get("id"), pay.get("status"),
        pay.get("paid_sats"), machine.get("state"), machine.get("login")))


def checkout(pay: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The checkout of an open request: the unified URI (for what is still due), the
    address and the invoice apart, the amount, and the seconds left."""
    ln = pay.get("lightning") or {}
    expires = _parse(pay["expires_at"])
    partial = 0 < pay["paid_sats"] < pay["amount_sats"]
    return {
        "id": pay["id"], "purpose": pay["purpose"], "hours": pay["hours"],
        "amount_sats": pay["amount_sats"], "amount_btc": pay["amount_btc"],
        "due_sats": pay["due_sats"], "due_btc": pay["due_btc"],
        "paid_sats": pay["paid_sats"], "partial": partial,
        "fiat_amount": pay.get("fiat_amount"), "currency": pay.get("currency"),
        "uri": pay["uri"], "address": pay.get("address"),
        # a Lightning invoice is for the whole amount: after a partial payment, on-chain
        "invoice": None if partial else ln.get("invoice"),
        "simulated": ln.get("simulated", False),
        "methods": pay.get("methods") or [],
        "expires_at": pay["expires_at"],
        "seconds_left": (expires - now).total_seconds() if expires else 0,
    }


def lease_page(state: dict[str, Any], receipts: list[dict[str, Any]], *, driver: str,
               now: datetime) -> dict[str, Any]:
    data = json.loads(encode(state))
    lease, pay, machine = data["lease"], data.get("payment"), data.get("machine")
    status = lease["status"]
    page: dict[str, Any] = {"lease": lease, "payment": pay, "machine": machine,
                            "receipts": json.loads(encode({"r": receipts}))["r"],
                            "checkout": None, "access": None, "driver": driver,
                            "phase": status, "seconds_left": None, "late_sats": 0}
    if pay is not None and pay["status"] == "new" and status in (
            "awaiting_payment", "active", "suspended"):
        page["checkout"] = checkout(pay, now)
    if status == "awaiting_payment":
        page["phase"] = "checkout" if page["checkout"] else "confirming"
    if status in ("active", "suspended") and lease.get("ends_at"):
        page["seconds_left"] = (_parse(lease["ends_at"]) - now).total_seconds()
        page["access"] = access(machine, driver)
    if status == "expired" and pay is not None:
        page["late_sats"] = pay["paid_sats"]
    page["confirm"] = pay if pay is not None and pay["status"] == "processing" else None
    return page


def access(machine: dict[str, Any] | None, driver: str) -> dict[str, Any]:
    """How to reach the machine, or why it cannot be reached yet."""
    if driver == "none" and machine is None:
        return {"ready": False, "message": "The operator sends the access details for "
                "this lease separately."}
    if machine is None:
        return {"ready": False, "message": MESSAGES["pending"]}
    state = machine.get("state")
    if state == "ready" and machine.get("login"):
        details = machine.get("details") or {}
        return {"ready": True, "login": machine["login"],
                "fingerprint": details.get("host_key_fingerprint"), "message": None}
    if state == "ready":
        return {"ready": False, "message": "Your machine is ready; the operator sends how "
                "to reach it."}
    return {"ready": False, "message": MESSAGES.get(state or "", MESSAGES["pending"])}
