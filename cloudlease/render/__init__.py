"""Everything people see: the only package that knows Rich.

Each view takes the JSON-ready data a command returned (the same data ``--json``
prints), so the two outputs never disagree.

Where output goes decides how it looks:
- a pipe or a file: no ANSI codes and no wrapping at all, whatever COLUMNS says: a line
  is as long as it needs to be, so ``grep``, ``cut`` and ``awk`` see every value whole;
- a terminal: colour, and tables that fit its width; a table whose values cannot fit
  side by side is shown as one block per row (``column  value`` lines) rather than
  breaking a number, an address or an id across lines;
- ``NO_COLOR`` set (https://no-color.org): no ANSI codes at all, bold and the live
  spinner included (the wait status is then printed as plain lines).

The modules: ``console`` (the consoles, the view registry, ``show``, notes and errors),
``markup`` (escaping, times, sats, statuses), ``tables`` (width-safe tables), ``live``
(the wait status) and the views by subject: ``accounts`` (home, tenants, plans),
``leases``, ``payments`` (the payment request panel with its QR code, wallet, sweeps,
refunds), ``checks`` (verify, pay check, tick, hooks), ``pools`` and ``invoices``.

Importing this package loads Rich; the CLI imports it only when it prints for people.
"""

from __future__ import annotations

# Each views module registers its views with ``view`` when it is imported.
from cloudlease.render import accounts, checks, invoices, leases, payments, pools  # noqa: F401
from cloudlease.render.console import (
    PIPE_WIDTH,
    VIEWS,
    err,
    error,
    no_color,
    note,
    out,
    show,
    view,
)
from cloudlease.render.live import live_status

__all__ = ["PIPE_WIDTH", "VIEWS", "err", "error", "live_status", "no_color", "note", "out",
           "show", "view"]
