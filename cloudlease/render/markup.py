"""Small pieces of Rich markup every view uses: escaped text, times, sats and statuses.

Nothing here imports Rich until it is called."""

from __future__ import annotations

from typing import Any


def esc(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


def when(value: Any) -> str:
    if not value:
        return "-"
    return str(value).replace("T", " ").replace("Z", " UTC")


def sats(value: Any) -> str:
    return "-" if value is None else f"{value:,} sat"


STATUS_STYLE = {"active": "green", "awaiting_payment": "yellow", "ended": "dim",
                "expired": "red", "cancelled": "dim", "suspended": "magenta",
                "new": "yellow", "processing": "cyan", "settled": "green",
                "invalid": "red", "pending": "yellow", "delivered": "green",
                "failed": "red"}


def status(s: str) -> str:
    return f"[{STATUS_STYLE.get(s, 'white')}]{s}[/]"


