"""Invoices and accounting exports over a home: gather settled history (hot ledger and
sealed archive), make drafts, issue, void, render documents, write files.

Sealed segments never change, so ``create`` reads them before taking the ledger lock and,
under the lock, reads only the hot ledger and any segment sealed in the meantime: the
lock is held for milliseconds even over 100,000 sealed leases.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cloudlease import clock, exports, invoices, validate
from cloudlease.context import Context
from cloudlease.errors import BadValue, Conflict, LedgerError, NotFound
from cloudlease.ledger import archive
from cloudlease.ledger.state import Ledger, normalize_id
from cloudlease.model import Invoice, InvoiceStatus, Lease, PaymentRequest

Window = tuple[datetime, datetime] | None
R = TypeVar("R", Lease, PaymentRequest)


def timezone(ctx: Context) -> ZoneInfo:
    """The operator's time zone (``[operator] timezone``; UTC when not set)."""
    return invoices.zone(getattr(ctx.settings, "operator_timezone", "UTC") or "UTC")


# -- settled history ------------------------------------------------------------------
@dataclass
class History:
    """Settled payments in a window, and what lines need to describe them.

    Attributes:
        requests: settled payment requests whose settlement falls in the window.
        leases: the leases those requests pay for.
        settled: lease id → (settled_at, request id, hours) of each of its settled
            payments, at any time (to work out which hours an extension covers).
        segments: the archive segments read.
    """

    requests: dict[str, PaymentRequest] = field(default_factory=dict)
    leases: dict[str, Lease] = field(default_factory=dict)
    settled: dict[str, list[tuple[datetime, str, int]]] = field(default_factory=dict)
    segments: set[str] = field(default_factory=set)

    def merge(self, other: History) -> History:
        self.requests.update(other.requests)
        self.leases.update(other.leases)
        for lid, rows in other.settled.items():
            mine = self.settled.setdefault(lid, [])
            mine.extend(r for r in rows if r not in mine)
        self.segments |= other.segments
        return self

    def covers(self) -> dict[str, tuple[datetime, datetime]]:
        out: dict[str, tuple[datetime, datetime]] = {}
        for lid, lease in self.leases.items():
            out.update(invoices.coverage(lease, self.settled.get(lid, [])))
        return out


@cache
def _converters(cls: type) -> dict[str, Any]:
    """Per field of a record class, how to turn its JSON value back into a Python one."""
    out: dict[str, Any] = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        base = args[0] if typing.get_origin(hint) in (types.UnionType, typing.Union) else hint
        if base is datetime:
            out[name] = datetime.fromisoformat
        elif base is Decimal:
            out[name] = Decimal
        elif typing.get_origin(base) is tuple:
            out[name] = tuple
        elif isinstance(base, type) and issubclass(base, StrEnum):
            members = base._value2member_map_  # a dict look-up; the class call is slow
            out[name] = lambda v, m=members, b=base: m.get(v) or b(v)
    return out


def _sealed(cls: type[R], data: dict[str, Any], where: str) -> R:
    """A record from a sealed segment. The segment's SHA-256 was checked against the
    ledger when it was loaded, so its records are exactly what the tool wrote: convert
    them directly (seven times faster than ``from_json``'s field-by-field checks), and
    fall back to ``from_json`` only to name what is wrong with an odd one."""
    conv = _converters(cls)
    try:
        return cls(**{k: conv[k](v) if k in conv and v is not None else v
                      for k, v in data.items()})
    except (TypeError, ValueError, ArithmeticError):
        return cls.from_json(data, where)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def read_history(ctx: Context, ledger: Ledger, window: Window, *, hot: bool = True,
                 skip: Iterable[str] = ()) -> History:
    """Settled payments in ``window`` from the sealed segments (except ``skip``) and,
    with ``hot``, from the hot ledger. Only matching records are fully parsed."""
    hist = History()
    skip = set(skip)
    for number in sorted(ledger.archives, key=int):
        if number in skip:
            continue
        sealed_at = _when(ledger.archives[number].get("sealed_at"))
        if window is not None and sealed_at is not None and sealed_at < window[0]:
            # sealed before the window opened: everything in it settled earlier
            hist.segments.add(number)
            continue
        seg = archive.load_segment(ctx.home, number, ledger.archives[number])
        hist.segments.add(number)
        raw_leases = seg.get("leases", {})
        for rid, data in seg.get("requests", {}).items():
            if data.get("status") != "settled":
                continue
            when = _when(data.get("settled_at"))
            if when is None:
                raise LedgerError(f"archive {number}: requests.{rid} is settled without a "
                                  "valid settled_at")
            lid = data.get("lease")
            if lid:
                hist.settled.setdefault(lid, []).append((when, rid, data.get("hours") or 0))
            if window is not None and not window[0] <= when < window[1]:
                continue
            hist.requests[rid] = _sealed(PaymentRequest, data,
                                         f"archive {number}: requests.{rid}")
            if lid in raw_leases and lid not in hist.leases:
                hist.leases[lid] = _sealed(Lease, raw_leases[lid],
                                           f"archive {number}: leases.{lid}")
    if hot:
        for req in ledger.requests.values():
            if req.status != "settled" or req.settled_at is None:
                continue
            if req.lease:
                hist.settled.setdefault(req.lease, []).append(
                    (req.settled_at, req.id, req.hours or 0))
            if window is None or window[0] <= req.settled_at < window[1]:
                hist.requests[req.id] = req
                if req.lease in ledger.leases:
                    hist.leases[req.lease] = ledger.leases[req.lease]
    return hist


def _find_missing_leases(ctx: Context, ledger: Ledger, hist: History) -> None:
    """Leases of found requests that were not next to them (a lease is sealed with its
    requests, so this is for odd histories): the hot ledger, then one archive pass."""
    wanted = {r.lease for r in hist.requests.values() if r.lease} - set(hist.leases)
    for lid in [x for x in wanted if x in ledger.leases]:
        hist.leases[lid] = ledger.leases[lid]
        wanted.discard(lid)
    if wanted and ledger.archives:
        for lease in archive.iter_leases(ctx.home, ledger):
            if lease.id in wanted:
                hist.leases[lease.id] = lease


# -- invoices -------------------------------------------------------------------------
def find(ledger: Ledger, ref: str) -> Invoice:
    """An invoice by draft id (``D-3``, ``3``) or number (``INV-2026-0001``)."""
    text = ref.strip()
    inv = ledger.invoices.get(normalize_id(text, "D"))
    if inv is None:
        inv = next((i for i in ledger.invoices.values()
                    if i.number and i.number.upper() == text.upper()), None)
    if inv is None:
        raise NotFound(f"no invoice {ref!r} (see 'cloudlease invoice list')")
    return inv


def _known_tenant(ledger: Ledger, name: str) -> None:
    if name not in ledger.tenants:  # a removed tenant keeps its history and invoices
        raise NotFound(f"no tenant named {name!r} (see 'cloudlease tenant list')")


def create(ctx: Context, tenant: str | None, period: str) -> tuple[Invoice, list[str]]:
    """A draft for ``tenant`` (``None``: the anonymous-sales statement) and ``period``;
    an existing draft for the same tenant and period is rebuilt in place."""
    tz = timezone(ctx)
    now = clock.now()
    period = invoices.check_period(period, tz, now)
    window = invoices.period_bounds(period, tz)
    snapshot = ctx.read()
    if tenant is not None:
        _known_tenant(snapshot, tenant)
    sealed = read_history(ctx, snapshot, window, hot=False)
    kind = "invoice" if tenant is not None else "statement"
    notes: list[str] = []
    who = tenant if tenant is not None else "anonymous sales"
    with ctx.transaction(f"invoice create {who} {period}") as ledger:
        if tenant is not None:
            _known_tenant(ledger, tenant)
        same = [i for i in ledger.invoices.values() if i.tenant == tenant and
                i.period == period and i.kind == kind and i.status != InvoiceStatus.VOID]
        issued = [i for i in same if i.status == InvoiceStatus.ISSUED]
        if issued:
            raise Conflict(f"{who} already has {issued[0].number} for {period}; void it "
                           f"('cloudlease invoice void {issued[0].number} --reason ...') to "
                           "correct it")
        hist = read_history(ctx, ledger, window, skip=sealed.segments).merge(sealed)
        _find_missing_leases(ctx, ledger, hist)
        lines = invoices.build_lines(
            tenant, period, tz, requests=hist.requests.values(), leases=hist.leases,
            covers=hist.covers(), contributions=ledger.contributions.values(),
            payouts=ledger.payouts.values(),
            request_by_id={**ledger.requests, **hist.requests})
        total = sum(int(line["sats"]) for line in lines)
        if same:
            inv = same[0]
            if inv.lines != tuple(lines):
                inv = inv.replace(lines=tuple(lines), total_sats=total, created_at=now)
                notes.append(f"draft {inv.id} rebuilt from the ledger as it is now")
            else:
                notes.append(f"draft {inv.id} is already up to date")
        else:
            inv = Invoice(id=ledger.next_id("invoice"), period=period,
                          status=InvoiceStatus.DRAFT, created_at=now, tenant=tenant,
                          lines=tuple(lines), total_sats=total, kind=kind)
        ledger.invoices[inv.id] = inv
    if not lines:
        notes.append(f"nothing settled for {who} in {period}: the draft is empty and cannot "
                     "be issued")
    if window[1] > now:
        notes.append(f"{period} is not over yet; create the draft again to refresh it")
    return inv, notes


def listing(ctx: Context, *, tenant: str | None = None, period: str | None = None,
            status: str | None = None) -> list[Invoice]:
    ledger = ctx.read()
    if tenant is not None:
        _known_tenant(ledger, tenant)
    if period is not None:
        period = invoices.parse_period(period)
    if status is not None and status not in {s.value for s in InvoiceStatus}:
        raise BadValue(f"unknown status {status!r} (one of draft, issued, void)")
    rows = [i for i in ledger.invoices.values()
            if (tenant is None or i.tenant == tenant) and (period is None or i.period == period)
            and (status is None or i.status == status)]
    return sorted(rows, key=lambda i: int(i.id.rpartition("-")[2]))


def issue(ctx: Context, ref: str) -> tuple[Invoice, bool]:
    """Give a draft the next gapless number and freeze it. Issuing an issued invoice
    again returns it unchanged (False): one invoice never gets two numbers."""
    tz = timezone(ctx)
    with ctx.transaction(f"invoice issue {ref}") as ledger:
        inv = find(ledger, ref)
        if inv.status == InvoiceStatus.ISSUED:
            return inv, False
        if inv.status == InvoiceStatus.VOID:
            raise Conflict(f"invoice {inv.number or inv.id} is void; create a new draft")
        if not inv.lines:
            raise Conflict(f"draft {inv.id} is empty (nothing settled for "
                           f"{inv.tenant or 'anonymous sales'} in {inv.period}); there is "
                           "nothing to issue")
        if sum(int(line["sats"]) for line in inv.lines) != inv.total_sats:
            raise LedgerError(f"draft {inv.id}: total is not the sum of its lines; create it "
                              "again")
        now = clock.now()
        year = now.astimezone(tz).year
        key = invoices.counter_key(inv.kind, year)
        n = ledger.counters.get(key, 0) + 1
        number = invoices.make_number(inv.kind, year, n)
        if any(i.number == number for i in ledger.invoices.values()):
            raise LedgerError(f"number {number} is already taken (the {key} counter was "
                              "edited?); run 'cloudlease verify'")
        ledger.counters[key] = n
        inv = inv.replace(status=InvoiceStatus.ISSUED, number=number, issued_at=now)
        inv = inv.replace(content_sha256=invoices.content_sha256(inv))
        ledger.invoices[inv.id] = inv
    return inv, True


def void(ctx: Context, ref: str, reason: str) -> tuple[Invoice, Invoice]:
    """Void an issued invoice or statement and issue the credit note that cancels it."""
    reason = validate.free_text(reason.strip(), "reason")
    if not reason:
        raise BadValue("say why with --reason")
    with ctx.transaction(f"invoice void {ref}") as ledger:
        inv = find(ledger, ref)
        if inv.kind == "credit_note":
            raise Conflict(f"{inv.number} is a credit note; credit notes cannot be voided")
        if inv.status == InvoiceStatus.DRAFT:
            raise Conflict(f"{inv.id} is a draft; only an issued invoice can be voided (a "
                           "draft is rebuilt by 'invoice create')")
        if inv.status == InvoiceStatus.VOID:
            raise Conflict(f"{inv.number} is already void (credit note "
                           f"{invoices.credit_note_number(inv.number or '')})")
        assert inv.number is not None
        now = clock.now()
        inv = inv.replace(status=InvoiceStatus.VOID, voided_at=now, void_reason=reason)
        ledger.invoices[inv.id] = inv
        note = Invoice(id=ledger.next_id("invoice"), period=inv.period,
                       status=InvoiceStatus.ISSUED, created_at=now, tenant=inv.tenant,
                       lines=tuple(invoices.credit_lines(inv.lines)),
                       total_sats=-inv.total_sats,
                       number=invoices.credit_note_number(inv.number), issued_at=now,
                       credit_note_for=inv.number, kind="credit_note")
        note = note.replace(content_sha256=invoices.content_sha256(note))
        ledger.invoices[note.id] = note
    return inv, note


def document(ctx: Context, ref: str) -> dict[str, Any]:
    ledger = ctx.read()
    inv = find(ledger, ref)
    tenant = ledger.tenants.get(inv.tenant or "")
    return invoices.document(inv, seller_name=ctx.settings.operator_name,
                             seller_address=ctx.settings.operator_address,
                             buyer_email=tenant.email if tenant else None,
                             timezone=timezone(ctx).key)


def render_html(doc: Mapping[str, Any]) -> str:
    """One self-contained printable page from templates/invoice.html.j2 (autoescaped)."""
    from importlib import resources

    import jinja2

    source = resources.files("cloudlease").joinpath("templates/invoice.html.j2")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source.read_text("utf-8")).render(doc=doc)


def write_output(path: Path, text: str, *, force: bool = False) -> Path:
    """Write a document or journal; an existing file is refused unless ``force``."""
    from cloudlease.ledger.fsio import atomic_write

    if path.is_dir():
        raise BadValue(f"{path} is a directory; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise BadValue(f"{path} exists; pass --force to overwrite it")
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise BadValue(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


# -- exports --------------------------------------------------------------------------
def export(ctx: Context, fmt: str, period: str | None = None) -> tuple[str, int]:
    """Journal text in ``fmt`` and how many entries it holds."""
    if fmt not in exports.FORMATS:
        raise BadValue(f"unknown format {fmt!r} (one of {', '.join(exports.FORMATS)})")
    tz = timezone(ctx)
    window = None
    if period is not None:
        period = invoices.check_period(period, tz, clock.now())
        window = invoices.period_bounds(period, tz)
    ledger = ctx.read()
    hist = read_history(ctx, ledger, window)
    _find_missing_leases(ctx, ledger, hist)
    entries = exports.build_entries(tz, requests=hist.requests.values(), leases=hist.leases,
                                    contributions=ledger.contributions.values(),
                                    payouts=ledger.payouts.values(), period=period)
    text = exports.render(fmt, entries, period=period, timezone=tz.key,
                          tenants=ledger.tenants)
    return text, len(entries)
