"""The consoles (stdout for results, stderr for notes and errors), the registry of views
and ``show``, which prints a command's data with the view of that name."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from rich.console import Console

from cloudlease.render.markup import esc

VIEWS: dict[str, Callable[[Console, Any], None]] = {}
PIPE_WIDTH = 100_000  # "never wrap": wider than any line cloudlease writes


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def _console(*, stderr: bool) -> Console:
    plain = {"color_system": None} if no_color() else {}
    console = Console(stderr=stderr, highlight=False, soft_wrap=stderr, **plain)
    if not console.is_terminal:  # a pipe or a file: never wrap a value
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=PIPE_WIDTH,
                          color_system=None)
    return console


@cache
def out() -> Console:
    return _console(stderr=False)


@cache
def err() -> Console:
    return _console(stderr=True)


def view(name: str) -> Callable:
    def deco(fn: Callable[[Console, Any], None]) -> Callable[[Console, Any], None]:
        VIEWS[name] = fn
        return fn

    return deco


def show(name: str, data: Any) -> None:
    VIEWS.get(name, _message)(out(), data)


def note(message: str) -> None:
    err().print(f"[dim]note:[/] {esc(message)}")


def error(message: str, details: Sequence[str] = ()) -> None:
    """``error: message``, then each of ``details`` on a line of its own, indented."""
    err().print(f"[bold red]error:[/] {esc(message)}")
    for line in details:
        err().print(f"  {esc(line)}")


@view("message")
def _message(c: Console, data: Any) -> None:
    if isinstance(data, dict) and "message" in data:
        c.print(esc(data["message"]))
    elif data is not None:
        c.print(esc(data))


@view("none")
def _none(c: Console, d: Any) -> None:
    return None

