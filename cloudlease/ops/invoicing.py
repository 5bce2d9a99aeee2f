"""Invoices and accounting exports over a home: gather settled history, make drafts,
issue, void, render documents, write files.

History is read through indexes (settled payments by settlement time, a tenant's leases),
in a read session; the write that stores a draft then checks every row the lines came
from against the audit chain, so a draft is never built from a row edited behind the
tool's back, and the writer lock is held only for the write itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cloudlease.core import clock, documents, invoices, periods, tax, validate
from cloudlease.core.errors import BadValue, Conflict, LedgerError, NotFound
from cloudlease.ledger.session import Ledger, normalize_id
from cloudlease.model import (
    Contribution,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Lease,
    PaymentRequest,
    Payout,
    Tenant,
)
from cloudlease.ops.context import Context

Window = tuple[datetime, datetime] | None
ALL = object()  # every tenant, anonymous sales included (exports)


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
        contributions: the contributions settled in the window (of the tenant).
        payouts: the payouts of the window's months.
        contribution_requests: the requests that paid those contributions.
    """

    requests: dict[str, PaymentRequest] = field(default_factory=dict)
    leases: dict[str, Lease] = field(default_factory=dict)
    settled: dict[str, list[tuple[datetime, str, int]]] = field(default_factory=dict)
    contributions: list[Contribution] = field(default_factory=list)
    payouts: list[Payout] = field(default_factory=list)
    contribution_requests: dict[str, PaymentRequest] = field(default_factory=dict)

    def covers(self) -> dict[str, tuple[datetime, datetime]]:
        out: dict[str, tuple[datetime, datetime]] = {}
        for lid, lease in self.leases.items():
            out.update(invoices.coverage(lease, self.settled.get(lid, [])))
        return out


def read_history(ledger: Ledger, window: Window, tenant: Any = ALL,
                 period: str | None = None) -> History:
    """Settled payments in ``window`` (everything when None) of ``tenant`` (a name; None for
    anonymous sales; ALL for everyone), with their leases, contributions and payouts."""
    hist = History()
    found = ledger.requests.settled(window, tenant=None if tenant is ALL else tenant,
                                    anonymous=tenant is None)
    hist.requests = {r.id: r for r in found}
    hist.leases = ledger.leases.many(r.lease for r in found if r.lease)
    others = ledger.requests.many(rid for lease in hist.leases.values()
                                  for rid in lease.requests if rid not in hist.requests)
    for req in [*found, *others.values()]:
        if req.lease and req.status == "settled" and req.settled_at is not None:
            hist.settled.setdefault(req.lease, []).append(
                (req.settled_at, req.id, req.bought_minutes))
    if tenant is None:
        return hist
    hist.contributions = ledger.contributions.settled(
        window, tenant=None if tenant is ALL else tenant)
    hist.contribution_requests = ledger.requests.many(
        c.request for c in hist.contributions if c.request)
    hist.payouts = (ledger.payouts.of_period(period) if period is not None
                    else ledger.payouts.all())
    return hist


# -- invoices -------------------------------------------------------------------------
def find(ledger: Ledger, ref: str) -> Invoice:
    """An invoice by draft id (``D-3``) or number (``INV-2026-0001``, ``CST-…``, ``STM-…``,
    a credit note ``…-CN``); anything else is exit 2 naming the two forms."""
    import re

    text = ref.strip()
    if text[:2].upper() == "D-":
        inv = ledger.invoices.get(normalize_id(text, "D"))
    elif re.fullmatch(r"[A-Za-z]{2,5}-[0-9]{4}-[0-9]{1,9}(-[Cc][Nn])?", text):
        inv = ledger.invoices.by_number(text.upper())
    else:
        raise BadValue(f"{ref!r} is not an invoice id: use a draft id D-<n> (e.g. D-3) or "
                       "a number (e.g. INV-2026-0001)", code="bad_id")
    if inv is None:
        raise NotFound(f"no invoice {ref!r} (see 'cloudlease invoice list')")
    return inv


def _known_tenant(ledger: Ledger, name: str) -> None:
    if ledger.tenants.get(name) is None:  # a removed tenant keeps its history and invoices
        raise NotFound(f"no tenant named {name!r} (see 'cloudlease tenant list')")


def create(ctx: Context, tenant: str | None, period: str, kind: str = "invoice"
           ) -> tuple[Invoice, list[str]]:
    """A draft for ``tenant`` (``None``: the anonymous-sales statement) and ``period``:
    ``kind`` ``invoice`` (rentals) or ``contributions`` (investments, donations and
    consideration earned); an existing draft of the same kind is rebuilt in place."""
    tz = timezone(ctx)
    now = clock.now()
    period = invoices.check_period(period, tz, now)
    window = invoices.period_bounds(period, tz)
    snapshot = ctx.read()
    if tenant is not None:
        _known_tenant(snapshot, tenant)
    elif kind == "contributions":
        raise BadValue("a contribution statement is for a tenant: give --tenant NAME")
    hist = read_history(snapshot, window, tenant, period)
    build = dict(requests=hist.requests.values(), leases=hist.leases, covers=hist.covers(),
                 contributions=hist.contributions, payouts=hist.payouts,
                 request_by_id={**hist.contribution_requests, **hist.requests})
    lines = invoices.build_lines(tenant, period, tz, kind=kind, **build)
    record = snapshot.tenants.get(tenant) if tenant is not None else None
    vat = treatment(ctx, record, kind, tenant)
    vat_dict = vat.to_dict() if vat is not None else {}
    lines = tax.apply(lines, vat, invoices.minor_units(ctx.settings.currency))
    total = sum(int(line["sats"]) for line in lines)
    kind = kind if tenant is not None else "statement"
    notes: list[str] = []
    who = tenant if tenant is not None else "anonymous sales"
    with ctx.transaction(f"invoice create {who} {period}") as ledger:
        ledger.check_loaded(snapshot)  # the lines come from rows the chain vouches for
        if tenant is not None:
            _known_tenant(ledger, tenant)
        same = ledger.invoices.not_void(tenant, period, kind)
        issued = [i for i in same if i.status == InvoiceStatus.ISSUED]
        if issued:
            raise Conflict(f"{who} already has {issued[0].number} for {period}; void it "
                           f"('cloudlease invoice void {issued[0].number} --reason ...') to "
                           "correct it")
        if same:
            inv = same[0]
            if inv.lines != tuple(lines) or inv.tax != vat_dict:
                inv = inv.replace(lines=tuple(lines), total_sats=total, created_at=now,
                                  tax=vat_dict)
                notes.append(f"draft {inv.id} rebuilt from the ledger as it is now")
            else:
                notes.append(f"draft {inv.id} is already up to date")
        else:
            inv = Invoice(id=ledger.next_id("invoice"), period=period,
                          status=InvoiceStatus.DRAFT, created_at=now, tenant=tenant,
                          lines=tuple(lines), total_sats=total, kind=InvoiceKind(kind),
                          tax=vat_dict)
        ledger.invoices[inv.id] = inv
    if not lines:
        notes.append(f"nothing {'contributed or earned' if kind == 'contributions' else 'settled'}"
                     f" for {who} in {period}: the draft is empty and cannot be issued")
    if kind == "invoice":
        other = invoices.build_lines(tenant, period, tz, kind="contributions", **build)
        if other:
            notes.append(f"{tenant} also has {len(other)} contribution or consideration "
                         f"line(s) in {period}; they go on a contribution statement: "
                         f"cloudlease invoice create --tenant {_quoted(tenant)} --period "
                         f"{period} --contributions")
    if window[1] > now:
        notes.append(f"{period} is not over yet; create the draft again to refresh it "
                     "(issuing it now needs --force)")
    return inv, notes


def _quoted(name: str | None) -> str:
    import shlex

    return shlex.quote(name or "")


def treatment(ctx: Context, tenant: Tenant | None, kind: str, name: str | None
              ) -> tax.Treatment | None:
    """How VAT applies to ``kind`` for this buyer (None: no VAT at all, contributions)."""
    if kind == "contributions":
        return None
    s = ctx.settings
    anonymous = name is None
    return tax.decide(seller_country=getattr(s, "operator_country", ""),
                      buyer_country=None if anonymous or tenant is None else tenant.country,
                      buyer_vat_id=None if anonymous or tenant is None else tenant.vat_id,
                      rates=getattr(s, "tax_rates", {}),
                      reverse_charge=getattr(s, "tax_reverse_charge", True))


def _parties(ctx: Context, ledger: Ledger, inv: Invoice) -> tuple[dict, dict,
                                                                   tax.Treatment | None]:
    """Seller, buyer and VAT treatment as issuing ``inv`` now would freeze them."""
    record = ledger.tenants.get(inv.tenant) if inv.tenant else None
    return (documents.seller_details(ctx.settings),
            documents.buyer_details(record, inv.tenant),
            treatment(ctx, record, inv.kind, inv.tenant))


def missing_details(seller: Mapping[str, Any], vat: tax.Treatment | None,
                    ctx: Context) -> list[str]:
    """What ``[operator]`` lacks for this document: a name and an address always; a
    country and a VAT id when VAT rates are configured (the seller charges VAT), and a VAT
    id on any document with VAT or a reverse charge."""
    missing = [k for k in ("name", "address") if not seller.get(
        "address_lines" if k == "address" else k)]
    charging = bool(getattr(ctx.settings, "tax_rates", {}))
    if charging and not seller.get("country"):
        missing.append("country")
    if (charging or vat is not None and vat.kind != tax.NONE) and not seller.get("vat_id"):
        missing.append("vat_id")
    return missing


def listing(ctx: Context, *, tenant: str | None = None, period: str | None = None,
            status: str | None = None) -> list[Invoice]:
    ledger = ctx.read()
    if tenant is not None:
        _known_tenant(ledger, tenant)
    if period is not None:
        period = invoices.parse_period(period)
    if status is not None and status not in {s.value for s in InvoiceStatus}:
        raise BadValue(f"unknown status {status!r} (one of draft, issued, void)")
    return ledger.invoices.listing(tenant=tenant, period=period, status=status)


def issue(ctx: Context, ref: str, *, force: bool = False) -> tuple[Invoice, bool]:
    """Give a draft the next gapless number and freeze it, with the seller's and buyer's
    details and the VAT as they are now. Issuing an issued invoice again returns it
    unchanged (False): one invoice never gets two numbers. A period not over yet is
    refused unless ``force``; so is a seller without the details the document needs."""
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
        end = invoices.period_bounds(inv.period, tz)[1]
        if end > now and not force:
            raise Conflict(f"{inv.period} is not over until {periods.human_time(end, tz)}: "
                           f"issue {inv.id} after that, or pass --force to issue it now")
        seller, buyer, vat = _parties(ctx, ledger, inv)
        missing = missing_details(seller, vat, ctx)
        if seller.get("vat_id"):
            try:
                tax.normalize_vat_id(seller["vat_id"], seller.get("country"))
            except BadValue as exc:
                raise Conflict(f"cannot issue {inv.id}: [operator] vat_id in "
                               f"{ctx.home.config} is not valid: {exc.message}") from None
        if missing:
            keys = ", ".join(f"[operator] {k}" for k in missing)
            raise Conflict(f"cannot issue {inv.id}: the document needs {keys}; set "
                           f"{'it' if len(missing) == 1 else 'them'} in "
                           f"{ctx.home.config} and issue again")
        lines = tax.apply(inv.lines, vat, invoices.minor_units(ctx.settings.currency))
        year = now.astimezone(tz).year
        key = invoices.counter_key(inv.kind, year)
        n = ledger.counter(key) + 1
        number = invoices.make_number(inv.kind, year, n)
        if ledger.invoices.number_taken(number):
            raise LedgerError(f"number {number} is already taken (the {key} counter was "
                              "edited?); run 'cloudlease verify'")
        ledger.set_counter(key, n)
        inv = inv.replace(status=InvoiceStatus.ISSUED, number=number, issued_at=now,
                          lines=tuple(lines), seller=seller, buyer=buyer,
                          tax=vat.to_dict() if vat is not None else {})
        inv = inv.replace(content_sha256=invoices.content_sha256(inv))
        ledger.invoices[inv.id] = inv
    return inv, True


def check_voidable(ledger: Ledger, ref: str) -> Invoice:
    """The invoice, if it can be voided (issued, not a credit note); else exit 4."""
    inv = find(ledger, ref)
    if inv.kind == "credit_note":
        raise Conflict(f"{inv.number} is a credit note; credit notes cannot be voided")
    if inv.status == InvoiceStatus.DRAFT:
        raise Conflict(f"{inv.id} is a draft; only an issued invoice can be voided (a "
                       "draft is rebuilt by 'invoice create')")
    if inv.status == InvoiceStatus.VOID:
        raise Conflict(f"{inv.number} is already void (credit note "
                       f"{invoices.credit_note_number(inv.number or '')})")
    return inv


def void_reason(reason: str) -> str:
    reason = validate.free_text(reason.strip(), "reason")
    if not reason:
        raise BadValue("say why with --reason")
    return reason


def void(ctx: Context, ref: str, reason: str) -> tuple[Invoice, Invoice]:
    """Void an issued invoice or statement and issue the credit note that cancels it."""
    reason = void_reason(reason)
    with ctx.transaction(f"invoice void {ref}") as ledger:
        inv = check_voidable(ledger, ref)
        assert inv.number is not None
        now = clock.now()
        inv = inv.replace(status=InvoiceStatus.VOID, voided_at=now, void_reason=reason)
        ledger.invoices[inv.id] = inv
        note = Invoice(id=ledger.next_id("invoice"), period=inv.period,
                       status=InvoiceStatus.ISSUED, created_at=now, tenant=inv.tenant,
                       lines=tuple(invoices.credit_lines(inv.lines)),
                       total_sats=-inv.total_sats,
                       number=invoices.credit_note_number(inv.number), issued_at=now,
                       credit_note_for=inv.number, kind=InvoiceKind.CREDIT_NOTE,
                       seller=inv.seller, buyer=inv.buyer, tax=inv.tax)
        note = note.replace(content_sha256=invoices.content_sha256(note))
        ledger.invoices[note.id] = note
    return inv, note


def document(ctx: Context, ref: str) -> dict[str, Any]:
    """The printable document: an issued one with what was frozen into it (its seller,
    buyer, VAT and time zone, whatever config.toml says now); a draft as issuing it now
    would make it."""
    ledger = ctx.read()
    inv = find(ledger, ref)
    if inv.status == InvoiceStatus.DRAFT:
        seller, buyer, vat = _parties(ctx, ledger, inv)
        inv = inv.replace(lines=tuple(tax.apply(inv.lines, vat, invoices.minor_units(
            ctx.settings.currency))), tax=vat.to_dict() if vat is not None else {})
        frozen = vat.to_dict() if vat is not None else {}
        tz = timezone(ctx)
    else:
        seller, buyer, frozen = inv.seller, inv.buyer, inv.tax
        if not buyer:  # issued before details were frozen into documents
            record = ledger.tenants.get(inv.tenant) if inv.tenant else None
            buyer = {"name": inv.tenant or "Anonymous customers"} | (
                {"email": record.email} if record is not None and record.email else {})
        if not seller:
            seller = documents.seller_details(ctx.settings)
        tz = invoices.zone(seller.get("timezone") or timezone(ctx).key)
    return documents.document(inv, seller=seller, buyer=buyer, treatment=frozen, tz=tz)


def render_html(doc: Mapping[str, Any]) -> str:
    """One self-contained printable page from templates/invoice.html.j2 (autoescaped)."""
    from importlib import resources

    import jinja2

    source = resources.files("cloudlease").joinpath("templates/invoice.html.j2")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    return env.from_string(source.read_text("utf-8")).render(
        doc=doc, total_rows=documents.total_rows(doc))


def write_output(path: Path, text: str, *, force: bool = False) -> Path:
    """Write a document or journal; an existing file is refused unless ``force``."""
    from cloudlease.files.fsio import atomic_write

    if path.is_dir():
        raise BadValue(f"{path} is a directory; give a file name")
    if (path.exists() or path.is_symlink()) and not force:
        raise BadValue(f"{path} exists; pass --force to overwrite it")
    try:
        atomic_write(path, text.encode("utf-8"))
    except OSError as exc:
        raise BadValue(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
