"""Tables that never break a value: side by side when they fit the width, else one block
of ``column  value`` lines per row."""

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
        if self.__rich_measure__(console, options).minimum <= options.max_width:
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


def table(title: str | None, *columns: str) -> Table:
    t = _FitTable(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col, no_wrap=True)
    return t


