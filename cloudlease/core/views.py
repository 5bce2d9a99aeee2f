"""Records as JSON-ready dicts: the shapes ``--json`` promises (pure; no Rich, no I/O)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from cloudlease.core import bip21, running
from cloudlease.core.money import btc_text, format_decimal, plain
from cloudlease.model import (
    Contribution,
    Lease,
    MachineRecord,
    PaymentRequest,
    Payout,
    Plan,
    Pool,
    Tenant,
    Transfer,
)


def jsonable(value: Any) -> Any:
    """Decimals as exact strings, times as ISO 8601 UTC with Z, enums as their value."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value.value if isinstance(value, Enum) else value
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def json_default(value: Any) -> Any:
    """``json.dumps(default=...)``: what ``jsonable`` does, for the types JSON lacks, so
    the C encoder can write big documents without a Python pre-pass."""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def tenant(t: Tenant) -> dict[str, Any]:
    return {"name": t.name, "email": t.email, "refund_address": t.refund_address,
            "created_at": t.created_at, "ssh_keys": ssh_keys(t.ssh_keys),
            "billing_name": t.billing_name, "address": list(t.address),
            "country": t.country, "vat_id": t.vat_id, "credit_sats": t.credit_sats or 0}


def ssh_keys(keys: tuple[str, ...]) -> list[dict[str, str]]:
    """Public keys with their SHA256 fingerprints (as ``ssh-keygen -l`` prints them)."""
    import base64
    import hashlib

    out = []
    for key in keys:
        kind, body = key.split()[:2]
        digest = hashlib.sha256(base64.b64decode(body)).digest()
        out.append({"type": kind, "key": key, "fingerprint": "SHA256:" + base64.b64encode(
            digest).decode().rstrip("=")})
    return out


def plan(p: Plan) -> dict[str, Any]:
    return {"name": p.name, "price_per_hour_sats": p.price_sats,
            "price_per_hour_fiat": p.price_fiat, "currency": p.currency, "pool": p.pool,
            "created_at": p.created_at,
            "limits": {"cpus": p.cpus, "memory_bytes": p.memory_bytes, "pids": p.pids},
            "target": p.target, "min_minutes": p.min_minutes, "l402": bool(p.l402)}


def machine(rec: MachineRecord | None) -> dict[str, Any] | None:
    """A lease's machine as ``lease show --json`` and hook events show it: its state, the
    access details (``ssh.host``, ``ssh.port``, ``ssh.user``, and the ``login`` command),
    the last error and the driver's public facts. Never a secret."""
    if rec is None:
        return None
    ssh = ({"host": rec.ssh_host, "port": rec.ssh_port, "user": rec.ssh_user}
           if rec.ssh_host and rec.ssh_port and rec.ssh_user else None)
    login = f"ssh -p {ssh['port']} {ssh['user']}@{ssh['host']}" if ssh else None
    return {"driver": rec.driver, "state": rec.state, "ssh": ssh, "login": login,
            "error": rec.error, "blocked": rec.blocked, "attempts": rec.attempts,
            "action": rec.action, "host": rec.host, "created_at": rec.created_at,
            "updated_at": rec.updated_at, "details": dict(rec.details)}


def payable_uri(r: PaymentRequest) -> str:
    """The URI to pay now: after a partial payment it asks for what is still due (on-chain
    only: a Lightning invoice is for the whole amount and cannot be paid in part)."""
    due = r.due_sats
    if r.status != "new" or not r.address or due in (0, r.amount_sats):
        return r.uri
    return bip21.encode(r.address, due, label=r.label, message=r.message)


def request(r: PaymentRequest, now: datetime | None = None) -> dict[str, Any]:
    due = r.due_sats
    return {
        "id": r.id, "purpose": r.purpose, "lease": r.lease, "status": r.status,
        "flags": list(r.flags), "address": r.address, "amount_sats": r.amount_sats,
        "amount_btc": btc_text(r.amount_sats), "due_sats": due, "due_btc": btc_text(due),
        "uri": payable_uri(r), "hours": r.hours,
        "created_at": r.created_at, "expires_at": r.expires_at,
        "fiat_amount": r.fiat_amount, "currency": r.currency, "rate": r.rate,
        "rate_source": r.rate_source, "wallet": r.wallet, "address_index": r.address_index,
        "paid_sats": r.received_sats, "confirmed_sats": r.confirmed_sats,
        "txids": list(r.txids),
        "seen_at": r.seen_at, "settled_at": r.settled_at, "closed_reason": r.closed_reason,
        "tenant": r.tenant, "pool": r.pool, "invest_sats": r.invest_sats,
        "contribution": r.contribution, "first_seen_at": r.first_seen_at,
        "paid_at": r.paid_at, "refund_sats": r.refund_sats or 0,
        "methods": list(r.methods), "lightning": lightning(r),
        "refunded_sats": r.refunded_sats, "minutes": r.bought_minutes if r.minutes is not
        None or r.hours else None, "credit_used_sats": r.credit_used_sats or 0,
        "credit_kept_sats": r.credit_kept_sats or 0, "via": r.via,
        # can it still be paid? (new, and, with ``now``, inside its window; see payable)
        "payable": r.status == "new" and (now is None or now < r.expires_at),
    }


def payable(d: dict[str, Any], now: datetime) -> bool:
    """Whether a request (``request()``'s shape) can still be paid at ``now``: new and
    inside its window. Only such a request is shown with payment instructions (amount to
    pay, address, invoice, URI, QR code, deadline); any other shows what happened."""
    expires = d["expires_at"]
    if isinstance(expires, str):
        expires = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    return d["status"] == "new" and now < expires


def lightning(r: PaymentRequest) -> dict[str, Any] | None:
    """A request's Lightning invoice and, once paid, its proof of payment."""
    if not r.ln_invoice:
        return None
    return {"invoice": r.ln_invoice, "uri": f"lightning:{r.ln_invoice}",
            "payment_hash": r.ln_payment_hash, "amount_msat": r.ln_amount_msat,
            "expires_at": r.ln_expires_at, "paid_msat": r.ln_paid_msat,
            "settled_at": r.ln_settled_at, "preimage": r.ln_preimage}


def lease(lease_: Lease, requests: list[PaymentRequest] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": lease_.id, "status": lease_.status, "hours": lease_.hours,
        "paid_hours": lease_.paid_hours, "paid_minutes": lease_.minutes,
        "credit_sats": lease_.credit_sats or 0, "tenant": lease_.tenant, "plan": lease_.plan,
        "price_sats": lease_.price_sats, "price_fiat": lease_.price_fiat,
        "currency": lease_.currency, "created_at": lease_.created_at,
        "starts_at": lease_.starts_at, "ends_at": lease_.ends_at,
        "closed_at": lease_.closed_at, "idempotency_key": lease_.idempotency_key,
        "requests": list(lease_.requests), "pool": lease_.pool, "note": lease_.note,
    }
    if requests is not None:
        out["payment"] = request(requests[-1]) if requests else None
        out["payments"] = [request(r) for r in requests]
    return out


_LEASE_KEYS = ("id", "status", "hours", "paid_hours", "tenant", "plan", "price_sats",
               "price_fiat", "currency", "created_at", "starts_at", "ends_at", "closed_at",
               "idempotency_key", "requests", "pool", "note")
_LEASE_TIMES = frozenset({"created_at", "starts_at", "ends_at", "closed_at"})


def lease_rows(names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """``lease()``'s shape for many leases straight from their rows (columns ``names``),
    in the order given, without building records: listing 100k leases is mostly this."""
    import json

    at = [(key, names.index(key)) for key in _LEASE_KEYS]
    out = []
    for row in rows:
        item: dict[str, Any] = {}
        for key, i in at:
            value = row[i]
            if value is not None and key in _LEASE_TIMES:
                value = value.replace("+00:00", "Z")
            item[key] = value
        item["requests"] = json.loads(item["requests"]) if item["requests"] else []
        out.append(item)
    return out


def contribution(c: Contribution) -> dict[str, Any]:
    return {"id": c.id, "pool": c.pool, "tenant": c.tenant, "kind": c.kind,
            "amount_sats": c.amount_sats, "status": c.status, "created_at": c.created_at,
            "settled_at": c.settled_at, "startup": c.startup, "topup": c.topup,
            "request": c.request}


def pool(p: Pool) -> dict[str, Any]:
    return {"name": p.name, "slots": p.slots, "cost_per_hour_sats": p.cost_sats,
            "cost_per_hour_fiat": p.cost_fiat, "currency": p.currency,
            "consideration": p.consideration, "investor_pct": plain(p.investor_pct),
            "period_months": p.period_months,
            "return_multiple": plain(p.return_multiple) if p.return_multiple else None,
            "startup_weight": plain(p.startup_weight), "min_runway_hours": p.min_runway_hours,
            "target_runway_hours": p.target_runway_hours,
            "suspend_on_throttle": p.suspend_on_throttle, "throttled": p.throttled,
            "low_funds": p.low_funds, "created_at": p.created_at,
            "startup_ended_at": p.startup_ended_at,
            "phase": "start-up" if p.startup_ended_at is None else "running",
            "started_at": p.started_at, "run_seconds": running.meter(p)}


def payout(p: Payout) -> dict[str, Any]:
    return {"id": p.id, "pool": p.pool, "period": p.period, "consideration": p.consideration,
            "basis_sats": p.basis_sats, "distributable_sats": p.distributable_sats,
            "shares": dict(p.shares), "created_at": p.created_at}



def when_text(value: datetime | None) -> str:
    """A time as people read it: ``2026-06-01 10:15 UTC``."""
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def request_sentence(r: PaymentRequest) -> str:
    """Where a payment request stands, as one sentence (``pay check``, ``rent --wait``)."""
    paid, amount, due = r.received_sats, r.amount_sats, r.due_sats
    if r.status == "new":
        if paid:
            return (f"{r.id} is partly paid: {paid:,} of {amount:,} sat received, {due:,} sat "
                    f"still due by {when_text(r.expires_at)}.")
        return (f"{r.id} is waiting for its payment of {amount:,} sat (nothing received yet; "
                f"due by {when_text(r.expires_at)}).")
    if r.status == "processing":
        return (f"{r.id} is paid ({paid:,} sat) and waiting for confirmations: "
                f"{r.confirmed_sats:,} of {amount:,} sat confirmed so far.")
    if r.status == "settled":
        return f"{r.id} is settled: {amount:,} sat received and confirmed."
    reason = r.closed_reason or ("not paid in time" if r.status == "expired" else "invalid")
    text = f"{r.id} {'expired' if r.status == 'expired' else 'is invalid'}: {reason}."
    if "late" in r.flags and "accepted" not in r.flags:
        text += (f" A payment of {paid:,} sat arrived late; accept it with 'cloudlease pay "
                 f"accept {r.id}'.")
    return text


def partial_line(p: dict[str, Any]) -> str:
    """``tick``'s line for a partly paid request: ``P-3: partial, 500 of 2,000 sat paid,
    1,500 due``."""
    return (f"{p['id']}: partial, {p['paid_sats']:,} of {p['amount_sats']:,} sat paid, "
            f"{p['due_sats']:,} due")


def transfer(t: Transfer) -> dict[str, Any]:
    return {"id": t.id, "kind": t.kind, "status": t.status, "txid": t.txid,
            "to": t.to_address, "sats": t.sats, "fee_sats": t.fee_sats,
            "input_sats": t.input_sats, "inputs": list(t.inputs),
            "change_address": t.change_address, "change_sats": t.change_sats,
            "request": t.request, "tenant": t.tenant, "recorded": t.recorded,
            "created_at": t.created_at}
