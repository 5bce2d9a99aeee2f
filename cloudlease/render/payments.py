"""Payment display: the payment request panel with its BIP21 and Lightning URIs and QR
code, the wallet, sweeps and refunds."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from cloudlease.render.console import view
from cloudlease.render.markup import STATUS_STYLE, esc, sats, status, when
from cloudlease.render.tables import table


@view("request")
def _request(c: Console, r: dict) -> None:
    payment_panel(c, r)


def payment_panel(c: Console, r: dict, *, simulated: bool = False) -> None:
    """A request that can still be paid: what to pay, where, by when (URI, invoice, QR).
    Any other: what happened to it, what was paid and when, and the proof."""
    from rich.panel import Panel

    if not r.get("payable", r["status"] == "new"):
        title = f"payment request {r['id']}" + (" — simulated" if simulated or (
            r.get("lightning") or {}).get("simulated") else "")
        c.print(Panel(receipt(r), title=title, title_align="left", expand=False))
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
                 f"{ln.get('paid_msat') or 0:,} msat; preimage {ln['preimage']}")
    if r.get("refund_sats"):
        t.append(f"\nrefund due: {r['refund_sats']:,} sat (cloudlease pay refund {r['id']})",
                 style="bold red")
    if r.get("refunded_sats"):
        t.append(f"\nrefunded: {r['refunded_sats']:,} sat")
    return t


def _instructions(c: Console, r: dict, simulated: bool) -> None:
    from rich.panel import Panel
    from rich.text import Text

    lines = Text()
    due = r.get("due_sats", r["amount_sats"])
    if r["status"] == "new" and 0 < due < r["amount_sats"]:  # partly paid: ask for the rest
        lines.append(f"Pay {r['due_btc']} BTC", style="bold")
        lines.append(f"  ({due:,} sat still due: {r['paid_sats']:,} of "
                     f"{r['amount_sats']:,} sat paid)\n")
    else:
        lines.append(f"Pay {r['amount_btc']} BTC", style="bold")
        lines.append(f"  ({r['amount_sats']:,} sat")
        if r.get("fiat_amount") is not None:
            lines.append(f" ≈ {r['fiat_amount']} {r['currency']} at {r['rate']} "
                         f"{r['currency']}/BTC, {r['rate_source']}")
        lines.append(")\n")
    if r.get("address"):
        lines.append("to   ")
        lines.append(r["address"], style="bold cyan")
        lines.append("\n")
    ln = r.get("lightning")
    if ln and not 0 < due < r["amount_sats"]:  # an invoice is for the whole amount
        lines.append("or   " if r.get("address") else "over ")
        lines.append("Lightning", style="bold magenta")
        node = "simulated node" if ln.get("simulated") else ln.get("node") or "node"
        lines.append(f" ({node}): the invoice below\n")
    lines.append(f"by   {when(r['expires_at'])}   status ")
    lines.append(r["status"], style=STATUS_STYLE.get(r["status"], ""))
    if r.get("flags"):
        lines.append(f" [{', '.join(r['flags'])}]")
    if r.get("refund_sats"):
        lines.append(f"\nrefund due: {r['refund_sats']:,} sat", style="bold red")
    if ln and ln.get("preimage"):
        lines.append(f"\npaid over Lightning {when(ln['settled_at'])}, "
                     f"{ln['paid_msat']:,} msat; preimage {ln['preimage']}")
    title = f"payment request {r['id']}" + (" — simulated regtest chain" if simulated else "")
    if ln and ln.get("simulated"):
        title += " — simulated Lightning node"
    c.print(Panel(lines, title=title, title_align="left", expand=False))
    c.print(r["uri"], soft_wrap=True, markup=False)  # one line, so it copies whole
    if ln and r.get("address") and r["status"] in ("new", "processing") \
            and not 0 < due < r["amount_sats"]:
        c.print(ln["uri"], soft_wrap=True, markup=False)
    if r.get("qr"):
        c.print(r["qr"], no_wrap=True, crop=False, overflow="ignore", markup=False,
                highlight=False)


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
    c.print(f"[dim]{len(rows)} request{'s' if len(rows) != 1 else ''}[/]")
