"""Payment display: the payment request panel with its BIP21 and Lightning URIs and QR
code, the wallet, sweeps and refunds."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from cloudlease.render.console import view
from cloudlease.render.markup import STATUS_STYLE, esc, sats, status, when
from cloudlease.render.tables import footer, table


@view("request")
def _request(c: Console, r: dict) -> None:
    payment_panel(c, r)


def payment_panel(c: Console, r: dict, *, simulated: bool = False) -> None:
    """A request that can still be paid: what to pay, where, by when (URI, invoice, QR).
    Any other: what happened to it, what was paid and when, and the proof."""

    if not r.get("payable", r["status"] == "new"):
        title = f"payment request {r['id']}" + (" (simulated)" if simulated or (
            r.get("lightning") or {}).get("simulated") else "")
        boxed(c, title, receipt(r).split("\n"))
        return
    _instructions(c, r, simulated)


def receipt(r: dict) -> Any:
    """What happened to a request that can no longer be paid: its status, what was paid
    and when, and the proof (txids, Lightning preimage); never an amount to pay."""
    from rich.text import Text

    t = Text()
    st, paid, amount = r["status"], r.get("paid_sats") or 0, r["amount_sats"]
    t.append(st, style=STATUS_STYLE.get(st, ""))
    if r.get("flags"):
        t.append(f" [{', '.join(r['flags'])}]")
    if st == "settled":
        t.append(f" {when(r.get('settled_at'))}: {paid:,} of {amount:,} sat received")
    elif st == "processing":
        t.append(f": {paid:,} of {amount:,} sat paid, waiting for confirmations "
                 f"({r.get('confirmed_sats') or 0:,} sat confirmed)")
    elif st == "new":  # its window has passed; the next pass marks it expired
        t.append(f": its window closed {when(r['expires_at'])}; it can no longer be paid"
                 + (f" ({paid:,} of {amount:,} sat received)" if paid else ""))
    else:
        reason = r.get("closed_reason") or ("not paid in time" if st == "expired" else
                                            "not confirmed in time")
        t.append(f" {when(r['expires_at'])}: {reason}; "
                 + (f"{paid:,} of {amount:,} sat received" if paid else "nothing received"))
    if r.get("paid_at") and st != "settled":
        t.append(f"\npaid {when(r['paid_at'])}")
    for txid in r.get("txids") or []:
        t.append(f"\non-chain txid {txid}")
    ln = r.get("lightning") or {}
    if ln.get("preimage"):
        t.append(f"\npaid over Lightning {when(ln.get('settled_at'))}, "
                 f"{ln.get('paid_msat') or 0:,} msat")
        t.append(f"\npreimage {ln['preimage']}")
    if r.get("refund_sats"):
        t.append(f"\nrefund due: {r['refund_sats']:,} sat (cloudlease pay refund {r['id']})",
                 style="bold red")
    if r.get("refunded_sats"):
        t.append(f"\nrefunded: {r['refunded_sats']:,} sat")
    return t


def _instructions(c: Console, r: dict, simulated: bool) -> None:
    """What to pay, where and by when. The URIs first (one line each, so they copy
    whole), then the QR code, then the summary — amount, address, deadline — last, right
    above the live status of ``rent --wait``: on a 100×40 terminal the QR code and the
    summary are what stays on screen (a short terminal gets the compact QR code of the
    Lightning invoice alone: cli/lease.py)."""
    from rich.text import Text

    due = r.get("due_sats", r["amount_sats"])
    partial = r["status"] == "new" and 0 < due < r["amount_sats"]
    ln = r.get("lightning")
    c.print(r["uri"], soft_wrap=True, markup=False)
    if ln and r.get("address") and not partial:
        c.print(ln["uri"], soft_wrap=True, markup=False)
    if r.get("qr"):
        c.print(r["qr"], no_wrap=True, crop=False, overflow="ignore", markup=False,
                highlight=False, end="")
    lines = []
    if partial:  # partly paid: ask for the rest
        lines.append(Text.assemble((f"Pay {r['due_btc']} BTC", "bold"),
                                   f"  ({due:,} sat still due)"))
        lines.append(Text(f"     {r['paid_sats']:,} of {r['amount_sats']:,} sat paid so far"))
    else:
        lines.append(Text.assemble((f"Pay {r['amount_btc']} BTC", "bold"),
                                   f"  ({r['amount_sats']:,} sat)"))
        if r.get("fiat_amount") is not None:
            lines.append(Text(f"     ≈ {r['fiat_amount']} {r['currency']} at {r['rate']} "
                              f"{r['currency']}/BTC ({r['rate_source']})"))
    if r.get("address"):
        lines.append(Text.assemble("to   ", (r["address"], "bold cyan")))
    if ln and not partial:  # an invoice is for the whole amount
        node = "simulated node" if ln.get("simulated") else ln.get("node") or "node"
        where = ("the QR code" if r.get("qr_of") == "lightning" else "the invoice above")
        lines.append(Text.assemble("or   " if r.get("address") else "over ",
                                   ("Lightning", "bold magenta"), f" ({node}): {where}"))
    lines.append(Text.assemble(f"by   {when(r['expires_at'])}   status ",
                               (r["status"], STATUS_STYLE.get(r["status"], "")),
                               f" [{', '.join(r['flags'])}]" if r.get("flags") else ""))
    if r.get("refund_sats"):
        lines.append(Text(f"refund due: {r['refund_sats']:,} sat", style="bold red"))
    sim = simulated or bool(ln and ln.get("simulated"))
    boxed(c, f"payment request {r['id']}" + (" (simulated)" if sim else ""), lines)


def boxed(c: Console, title: str, lines: list) -> None:
    """Lines in a panel when the widest fits the terminal; else the same lines plain, each
    on its own (a value is never folded to fit a box)."""
    from rich.panel import Panel
    from rich.text import Text

    width = max((line.cell_len for line in lines), default=0) + 4
    if width <= c.width and len(title) + 6 <= c.width:
        c.print(Panel(Text("\n").join(lines), title=title, title_align="left", expand=False))
        return
    c.print(title, style="bold")
    for line in lines:
        c.print(line, soft_wrap=True)


@view("wallet")
def _wallet(c: Console, d: dict) -> None:
    c.print(f"{d['kind']} wallet on {d['network']}"
            + (f", next index {d['next_index']}" if d.get("next_index") is not None else "")
            + f"; {sats(d['received_sats'])} received to {len(d['addresses'])} addresses")
    if d.get("descriptor"):
        c.print(f"  {esc(d['descriptor'])}", soft_wrap=True)
    t = table(None, "address", "request", "lease", "status", "amount", "received")
    for a in d["addresses"]:
        t.add_row(a["address"], a["request"], a.get("lease") or "-", status(a["status"]),
                  sats(a["amount_sats"]), sats(a["received_sats"]))
    if d["addresses"]:
        c.print(t)
    for k in d.get("keys", []):
        c.print(f"  {k['address']}  {k['wif']}", markup=False)


@view("sweep")
def _sweep(c: Console, d: dict) -> None:
    verb = "sent" if d["broadcast"] else "signed, not sent (dry run)"
    c.print(f"sweep {verb}: {d['inputs']} output(s), {sats(d['input_sats'])} in, "
            f"{sats(d['output_sats'])} to {d['to']}, fee {sats(d['fee_sats'])}")
    c.print(f"txid {d['txid']}")
    if not d["broadcast"]:
        c.print(d["raw_hex"], soft_wrap=True, markup=False)


@view("refund")
def _refund(c: Console, d: dict) -> None:
    t, r = d["transfer"], d["request"]
    if t is None:
        c.print(f"refund of {r['id']} signed, not sent (dry run); still owed back: "
                f"{sats(d['refund_due_sats'])}")
        if d.get("raw_hex"):
            c.print(d["raw_hex"], soft_wrap=True, markup=False)
        return
    how = "recorded (sent from your own wallet)" if t["recorded"] else t["status"]
    c.print(f"refund {t['id']} of {r['id']} {how}: {sats(t['sats'])} to {t['to']}, "
            f"fee {sats(t['fee_sats'])}")
    c.print(f"txid {t['txid']}")
    if d["refund_due_sats"]:
        c.print(f"still owed back on {r['id']}: {sats(d['refund_due_sats'])}")


@view("request_list")
def _request_list(c: Console, rows: list) -> None:
    if not rows:
        c.print("no payment requests")
        return
    t = table(None, "request", "status", "for", "amount", "paid", "methods", "when")
    for r in rows:
        what = r.get("lease") or r.get("contribution") or r["purpose"]
        at = (f"pay by {when(r['expires_at'])}" if r.get("payable") else
              f"settled {when(r['settled_at'])}" if r["status"] == "settled" else
              f"closed {when(r['expires_at'])}" if r["status"] in ("expired", "invalid")
              else when(r["expires_at"]))
        flags = f" [{', '.join(r['flags'])}]" if r["flags"] else ""
        t.add_row(r["id"], status(r["status"]) + esc(flags), esc(what),
                  sats(r["amount_sats"]), sats(r["paid_sats"]), "+".join(r["methods"]), at)
    c.print(t)
    footer(c, f"{len(rows)} request{'s' if len(rows) != 1 else ''}")
