"""``cloudlease invoice create|list|show|issue|void`` and ``cloudlease export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cloudlease.cli.common import STATE, Result, YesOpt, command, confirm, ctx

app = typer.Typer(help="Invoices, credit notes and anonymous-sales statements.",
                  no_args_is_help=True)

SHOW_FORMATS = ("table", "json", "md", "html")
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Write to this file instead of stdout.", show_default=False)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")]


def _data(inv) -> dict:
    from cloudlease.core import documents

    return documents.view(inv)


@command(app, "create")
def create(
    period: Annotated[str, typer.Option("--period", help="Month, YYYY-MM (operator's zone).",
                                        metavar="<YYYY-MM>")],
    tenant: Annotated[str | None, typer.Option(help="Tenant to invoice.")] = None,
    anonymous: Annotated[bool, typer.Option(
        "--anonymous", help="The anonymous-sales statement instead of a tenant's invoice.")
    ] = False,
    contributions: Annotated[bool, typer.Option(
        "--contributions", help="The tenant's contribution statement (investments, "
        "donations, consideration earned) instead of their rental invoice.")] = False,
) -> Result:
    """Build (or rebuild) a draft invoice or contribution statement for a month.

    From the period's settled rentals (an invoice), or with --contributions the
    tenant's investments, donations and consideration earned (a contribution statement,
    its own series).

    Example: cloudlease invoice create --tenant alice --period 2026-03
    """
    from cloudlease.core.errors import BadValue
    from cloudlease.ops import invoicing

    if (tenant is None) == (not anonymous):
        raise BadValue("give --tenant NAME for an invoice, or --anonymous for the "
                       "anonymous-sales statement (not both)")
    if anonymous and contributions:
        raise BadValue("--contributions is for a tenant's statement, not --anonymous")
    inv, notes = invoicing.create(ctx(), tenant, period,
                                  "contributions" if contributions else "invoice")
    return Result(_data(inv), "invoice", notes=notes)


@command(app, "list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's.")] = None,
    period: Annotated[str | None, typer.Option(help="Only this month (YYYY-MM).",
                                               metavar="<YYYY-MM>")] = None,
    status: Annotated[str | None, typer.Option(help="draft, issued or void.",
                                               metavar="[draft|issued|void]")] = None,
) -> Result:
    """List invoices, statements and credit notes.

    Example: cloudlease invoice list --status issued
    """
    from cloudlease.ops import invoicing

    rows = invoicing.listing(ctx(), tenant=tenant, period=period, status=status)
    return Result([_data(i) for i in rows], "invoice_list")


@command(app, "show")
def show(
    ref: Annotated[str, typer.Argument(metavar="ID", help="D-3 or INV-2026-0001.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, md or html.",
                                     metavar="[table|json|md|html]")
                   ] = "table",
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> Result:
    """Show an invoice as a table, JSON, Markdown or a printable HTML page.

    Example: cloudlease invoice show INV-2026-0001 --format html -o inv.html
    """
    from cloudlease.core.errors import BadValue
    from cloudlease.core.views import jsonable
    from cloudlease.ops import invoicing

    if fmt not in SHOW_FORMATS:
        raise BadValue(f"unknown format {fmt!r} (one of {', '.join(SHOW_FORMATS)})")
    if fmt == "table" and output is not None:
        raise BadValue("--format table is for the terminal; write md, html or json to a file")
    doc = invoicing.document(ctx(), ref)
    if fmt == "table":
        return Result(_strip(doc), "invoice")
    if fmt == "md":
        from cloudlease.core.documents import to_markdown

        text = to_markdown(doc)
    elif fmt == "html":
        text = invoicing.render_html(doc)
    else:
        text = json.dumps(jsonable(_strip(doc)), ensure_ascii=False, indent=2) + "\n"
    return _deliver(text, output, force, {"invoice": _strip(doc), "format": fmt})


def _strip(doc: dict) -> dict:
    """The invoice's JSON shape (the document adds display fields: times for people)."""
    return {k: v for k, v in doc.items() if k not in ("display", "timezone", "notes")} | {
        "lines": [{k: v for k, v in line.items() if k != "display"}
                  for line in doc["lines"]]}


def _deliver(text: str, output: Path | None, force: bool, summary: dict) -> Result:
    """Text to ``output`` (then a summary), or to stdout; with --json, a JSON summary
    (holding the text when there is no --output)."""
    from cloudlease.ops.invoicing import write_output

    if output is not None:
        written = write_output(output, text, force=force)
        summary["written"] = str(written)
        return Result(summary, "written")
    if STATE.json_mode:
        summary["content"] = text
        return Result(summary, "written")
    return Result({"content": text}, "document")


@command(app, "issue")
def issue(ref: Annotated[str, typer.Argument(metavar="ID", help="Draft id, e.g. D-3.")],
          force: Annotated[bool, typer.Option(
              "--force", help="Issue although the period is not over yet.")] = False,
          ) -> Result:
    """Give a draft the next gapless number and freeze it.

    INV-YYYY-NNNN (CST-YYYY-NNNN for a contribution statement), frozen with the seller's
    ([operator] in config.toml) and the tenant's billing details and the VAT. Refused
    while [operator] name or address is missing, and for a month not over yet unless
    --force. Issuing an issued invoice again changes nothing.

    Example: cloudlease invoice issue D-3
    """
    from cloudlease.ops import invoicing

    inv, issued_now = invoicing.issue(ctx(), ref, force=force)
    data = _data(inv)
    data["issued_now"] = issued_now
    notes = [] if issued_now else [f"{inv.id} was already issued as {inv.number}"]
    return Result(data, "invoice", notes=notes)


@command(app, "void")
def void(
    ref: Annotated[str, typer.Argument(metavar="ID", help="Issued invoice or statement.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the invoice).")],
    yes: YesOpt = False,
) -> Result:
    """Void an issued invoice and issue the credit note that cancels it.

    Its number is never reused. Asks first at a terminal; needs --yes elsewhere.

    Example: cloudlease invoice void INV-2026-0001 --reason 'wrong address' --yes
    """
    from cloudlease.ops import invoicing

    c = ctx()
    invoicing.void_reason(reason)
    inv = invoicing.check_voidable(c.read(), ref)  # refuse before asking
    confirm(f"Void {inv.number} and issue its credit note?", yes, f"voiding {inv.number}")
    inv, note = invoicing.void(c, ref, reason)
    return Result({"voided": _data(inv), "credit_note": _data(note)}, "invoice_void")


def export(
    fmt: Annotated[str, typer.Option("--format", "-f",
                                     help="csv, hledger, beancount or json.",
                                     metavar="[csv|hledger|beancount|json]")],
    period: Annotated[str | None, typer.Option(
        help="Only this month (YYYY-MM, operator's zone); default: everything.",
        metavar="<YYYY-MM>")] = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
) -> Result:
    """The books as journal entries (amounts in SAT).

    Settled payments, money held or owed back, contributions, payouts, sweeps, refunds
    and their mining fees, VAT; with the locked rate of each settlement as price
    directives. For hledger, beancount, a spreadsheet or a script.

    Example: cloudlease export --format hledger --period 2026-03 -o march.journal"""
    from cloudlease.ops import books

    text, count = books.export(ctx(), fmt, period)
    return _deliver(text, output, force, {"format": fmt, "period": period, "entries": count})


def register(root: typer.Typer) -> None:
    command(root, "export")(export)
