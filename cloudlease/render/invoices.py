"""Views of invoices, credit notes, exported documents and written files."""

from __future__ import annotations

from rich.console import Console

from cloudlease.render.console import view
from cloudlease.render.markup import esc, sats, when
from cloudlease.render.tables import footer, table

_INVOICE_STYLE = {"draft": "yellow", "issued": "green", "void": "red"}


def _invoice_status(s: str) -> str:
    return f"[{_INVOICE_STYLE.get(s, 'white')}]{s}[/]"


def _fiat_totals(t: dict) -> str:
    return ", ".join(f"{v} {k}" for k, v in t["fiat"].items()) or "-"


@view("invoice")
def _invoice(c: Console, d: dict) -> None:
    who = esc(d.get("tenant") or "anonymous sales")
    draft = d["status"] == "draft"  # the title says so already ("Draft invoice D-1")
    c.print(f"[bold]{esc(d['title'])}[/]" + (f" ({d['id']})" if d.get("number") else "")
            + ("" if draft else f" {_invoice_status(d['status'])}") + f": {who}, "
            f"{d['period']}")
    if d.get("credit_note_for"):
        c.print(f"  cancels {d['credit_note_for']}")
    if d.get("issued_at"):
        c.print(f"  issued {when(d['issued_at'])}, content sha256 {d['content_sha256']}")
    if d["status"] == "void":
        c.print(f"  [red]void[/] since {when(d['voided_at'])}: {esc(d['void_reason'])}")
    tax = d["totals"].get("tax")
    if d["lines"]:
        cols = ["date", "description", "ref"] + (["net", "VAT"] if tax else []) + \
            ["sats", "fiat"]
        t = table(None, *cols)
        for line in d["lines"]:
            fiat = f"{line['fiat']} {line['currency']}" if "fiat" in line else "-"
            vat = [f"{line['net_sats']:,}" if "net_sats" in line else "-",
                   f"{line['tax_sats']:,}" if "tax_sats" in line else "-"] if tax else []
            t.add_row(line["date"], esc(line["description"]), line["ref"], *vat,
                      f"{line['sats']:,}", fiat)
        c.print(t)
    else:
        c.print("  no lines: nothing for this tenant in this period")
    tot = d["totals"]
    if tax:
        fiat = f" ({tax['tax_fiat']} {tax['currency']})" if "tax_fiat" in tax else ""
        c.print(f"  net {tax['net_sats']:,} sat, VAT {d['tax'].get('rate', '')} % "
                f"{tax['tax_sats']:,} sat{fiat}")
    if d.get("tax", {}).get("note"):
        c.print(f"  [dim]{esc(d['tax']['note'])}[/]")
    missing = tot["lines_without_fiat"]
    why = (f"{missing} line(s) without a locked rate" if tot["fiat"] else
           "priced in bitcoin, with no exchange rate locked for these payments")
    c.print(f"  [bold]total {tot['sats']:,} sat[/] ({tot['btc']} BTC)"
            + (f"; {_fiat_totals(tot)}" if tot["fiat"] and tot["fiat_complete"] else "")
            + (f" [dim](no fiat total: {why})[/]" if missing else ""))


@view("invoice_list")
def _invoice_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no invoices yet: cloudlease invoice create --tenant NAME --period YYYY-MM")
        return
    t = table(None, "id", "number", "kind", "status", "tenant", "period", "total", "fiat")
    for d in rows:
        t.add_row(d["id"], d.get("number") or "-", d["kind"].replace("_", " "),
                  _invoice_status(d["status"]), esc(d.get("tenant") or "(anonymous)"),
                  d["period"], sats(d["total_sats"]),
                  _fiat_totals(d["totals"]) if d["totals"].get("fiat_complete", True) else "-")
    c.print(t)
    footer(c, f"{len(rows)} document{'s' if len(rows) != 1 else ''}")


@view("invoice_void")
def _invoice_void(c: Console, d: dict) -> None:
    v, n = d["voided"], d["credit_note"]
    c.print(f"{v['number']} is now {_invoice_status('void')}: {esc(v['void_reason'])}")
    c.print(f"credit note [bold]{n['number']}[/] ({n['id']}) issued for "
            f"{sats(n['total_sats'])}")


@view("document")
def _document(c: Console, d: dict) -> None:
    c.file.write(d["content"])  # exact text (HTML, Markdown, a journal): no Rich markup
    c.file.flush()


@view("written")
def _written(c: Console, d: dict) -> None:
    what = f"{d['entries']} entries ({d['format']})" if "entries" in d else \
        f"{d['invoice']['title']} ({d['format']})"
    c.print(f"[green]✓[/] wrote {what} to {esc(d.get('written', 'stdout'))}")


