"""What the named queries share: the order of numbered ids and time windows as SQL
parameters. Each mixin here is mixed into ``session.Table`` (which gives it ``where``,
``count``, ``rows`` and ``name``), so a named query loads records the way any other
look-up does: cached in the session, and checked against the audit chain in a write."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

# ``L-2`` before ``L-10``: ids are a prefix and a number (every id'd table's key)
BY_NUMBER = "CAST(substr(id, 3) AS INTEGER)"

Window = tuple[datetime, datetime] | None  # [start, end) in UTC; None: all time


def window(column: str, span: Window) -> tuple[str, list[str]]:
    """`` AND column >= ? AND column < ?`` and its parameters (nothing for all time)."""
    if span is None:
        return "", []
    return f" AND {column} >= ? AND {column} < ?", [span[0].isoformat(), span[1].isoformat()]


class Named:
    """The base of every mixin: what ``session.Table`` gives it (declared for readers and
    type checkers only; at run time the table's own methods answer)."""

    if TYPE_CHECKING:
        name: str

        def where(self, clause: str = "", params: Iterable[Any] = (), *,
                  order: str | None = None, limit: int | None = None) -> list[Any]: ...

        def count(self, clause: str = "", params: Iterable[Any] = ()) -> int: ...

        def rows(self, clause: str = "", params: Iterable[Any] = (), *,
                 order: str | None = None) -> Iterator[tuple]: ...


class Tenanted(Named):
    """For tables with a ``tenant`` column (indexed on each of them)."""

    def count_of_tenant(self, name: str) -> int:
        """How many rows name the tenant (history that keeps a removed tenant's name)."""
        return self.count("tenant = ?", (name,))
