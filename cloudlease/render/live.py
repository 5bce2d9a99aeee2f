"""The live status line while a command waits (a spinner at a terminal, plain lines
elsewhere and with NO_COLOR)."""

from __future__ import annotations

from cloudlease.render.console import err, no_color


class _Live:
    def __init__(self, text: str) -> None:
        self.plain = no_color() or not err().is_terminal
        self.last = ""
        if self.plain:
            self._line(text)
            return
        from rich.console import Console
        from rich.status import Status

        # a console that wraps between words: the status line is never cut at the edge
        # (stderr's own console leaves long lines to the terminal, which a live display
        # cannot redraw)
        console = Console(stderr=True, highlight=False, soft_wrap=False)
        self.status = Status(text, console=console)

    def _line(self, text: str) -> None:
        if text != self.last:  # plain lines: one per change, never cursor movements
            self.last = text
            err().print(text, markup=False)

    def __enter__(self):
        if self.plain:
            return self._line
        self.status.__enter__()
        return self.status.update

    def __exit__(self, *exc: object) -> None:
        if not self.plain:
            self.status.__exit__(None, None, None)


def live_status(text: str) -> _Live:
    """A spinner with a status line on stderr (plain lines when not a terminal)."""
    return _Live(text)


