"""Tables that never break a value: at a terminal, side by side when they fit the width,
else one block of ``column  value`` lines per row; to a pipe or a file, a header line and
one tab-separated line per record."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text


class _FitTable(Table):
    """A table that never breaks a value: every column is no-wrap, and when the values
    cannot fit side by side in the width there is, each row becomes a block of
    ``column  value`` lines instead."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not console.is_terminal:  # a pipe or a file: plain lines for cut, awk, grep
            yield from _tsv(self.columns, self.row_count)
            return
        if self.__rich_measure__(console, options).maximum <= options.max_width:
            yield from super().__rich_console__(console, options)
            return
        yield from _records(self.columns, self.row_count)


def _records(columns: Iterable[Any], rows: int) -> RenderResult:
    cols = list(columns)
    cells = [list(col.cells) for col in cols]
    width = max((len(str(col.header)) for col in cols), default=0)
    for i in range(rows):
        for n, col in enumerate(cols):
            cell = cells[n][i]
            if not isinstance(cell, str | Text) or not str(col.header):
                continue  # a bar or an unnamed column: decoration only
            text = Text.from_markup(cell) if isinstance(cell, str) else cell.copy()
            line = Text(f"{str(col.header):<{width}}  ", style="bold" if n == 0 else "")
            line.append_text(text)
            line.overflow = "fold"
            yield line
        if i < rows - 1:
            yield Text("")


def _plain(cell: Any) -> str:
    text = Text.from_markup(cell) if isinstance(cell, str) else cell
    return " ".join(str(getattr(text, "plain", text)).split())  # no tab or newline inside


def _tsv(columns: Iterable[Any], rows: int) -> RenderResult:
    """A header line, then one line per record, values separated by a tab (no box, no
    padding, no colour); unnamed decoration columns (a bar) are left out."""
    from rich.segment import Segment

    cols = [col for col in columns if str(col.header)]
    cells = [list(col.cells) for col in cols]
    # segments, not Text: Text would expand the tabs into spaces
    yield Segment("\t".join(str(col.header) for col in cols))
    yield Segment.line()
    for i in range(rows):
        yield Segment("\t".join(_plain(cells[n][i]) for n in range(len(cols))))
        yield Segment.line()


def footer(c: Console, text: str) -> None:
    """A line under a table for people (``3 leases``): only at a terminal, so that a pipe
    gets the header and the records alone."""
    if c.is_terminal:
        c.print(f"[dim]{text}[/]")


def table(title: str | None, *columns: str) -> Table:
    """A table of records: a bold header over a rule and columns two spaces apart (no side
    borders: the width goes to the values, so more of them fit side by side)."""
    from rich import box

    t = _FitTable(title=title, title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col in columns:
        t.add_column(col, no_wrap=True)
    return t


