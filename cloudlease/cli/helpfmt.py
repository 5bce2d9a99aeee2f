"""``--help`` that never cuts or splits a value, at any width.

Typer's Rich help lays options out in a table that folds a long metavar mid-word
(``[mainnet|testnet|testnet4|s`` / ``ignet|regtest]``) and cuts long help words with an
ellipsis (``xpub/ypub/zpub/tpub/upub/v…``). Click's own text formatter is simpler and
wraps between words, but still cuts a word longer than the space left, and splits at
hyphens. So every command is given Click's formatter (``rich_markup_mode`` off) with a
wrapper that breaks lines only at spaces: a long word starts a line of its own and is
never cut, and an ``Example:`` line (a command to copy) is never wrapped. The same help
goes to a terminal, a pipe or a file, with no ANSI code.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

try:  # typer >= 0.26 carries its own copy of Click
    from typer import _click as click  # type: ignore[attr-defined]
    from typer._click._textwrap import TextWrapper  # type: ignore[import-not-found]
    from typer._click.formatting import iter_rows, measure_table, term_len  # type: ignore
except ImportError:  # pragma: no cover - older typer uses Click itself
    import click  # type: ignore[no-redef]
    from click._textwrap import TextWrapper  # type: ignore[no-redef]
    from click.formatting import iter_rows, measure_table, term_len  # type: ignore[no-redef]

MAX_WIDTH = 100  # help lines stop here on a wider terminal (easier to read)
COMPLETION = ("install_completion", "show_completion")  # the root command's only


class _WholeWords(TextWrapper):
    """Breaks only at spaces: a word longer than the line goes on a line of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, break_long_words=False, break_on_hyphens=False, **kwargs)

    _handle_long_word = textwrap.TextWrapper._handle_long_word


def wrap(text: str, width: int, initial_indent: str = "", subsequent_indent: str = "",
         preserve_paragraphs: bool = False) -> str:
    """Click's ``wrap_text`` (paragraphs, ``\\b`` blocks kept as they are), whole words."""
    text = text.expandtabs()
    wrapper = _WholeWords(width, initial_indent=initial_indent,
                          subsequent_indent=subsequent_indent, replace_whitespace=False)
    if not preserve_paragraphs:
        return wrapper.fill(text)
    paragraphs: list[tuple[int, bool, str]] = []
    buf: list[str] = []
    indent: int | None = None

    def flush() -> None:
        if buf:  # "\b" blocks and examples (a command to copy) keep their lines
            raw = buf[0].strip() == "\b" or buf[0].startswith("Example:")
            if raw and buf[0].strip() != "\b":
                buf.insert(0, "\b")
            paragraphs.append((indent or 0, raw, "\n".join(buf[1:]) if raw else " ".join(buf)))
            buf.clear()

    for line in text.splitlines():
        if not line:
            flush()
            indent = None
            continue
        if indent is None:
            indent = term_len(line) - term_len(line.lstrip())
            line = line.lstrip()
        buf.append(line)
    flush()
    out = []
    for n, raw, par in paragraphs:
        with wrapper.extra_indent(" " * n):
            out.append(wrapper.indent_only(par) if raw else wrapper.fill(par))
    return "\n\n".join(out)


class WholeWordFormatter(click.HelpFormatter):
    """Click's help formatter, wrapping only between words (see the module doc)."""

    def __init__(self, indent_increment: int = 2, width: int | None = None,
                 max_width: int | None = None) -> None:
        super().__init__(indent_increment, width, max_width or MAX_WIDTH)

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        prefix = "Usage: " if prefix is None else prefix
        head = f"{prefix:>{self.current_indent}}{prog} "
        width = self.width - self.current_indent
        if width >= term_len(head) + 20:
            self.write(wrap(args, width, head, " " * term_len(head)))
        else:
            pad = " " * (max(self.current_indent, term_len(prefix)) + 4)
            self.write(f"{head}\n" + wrap(args, width, pad, pad))
        self.write("\n")

    def write_text(self, text: str) -> None:
        pad = " " * self.current_indent
        self.write(wrap(text, self.width, pad, pad, preserve_paragraphs=True) + "\n")

    def write_dl(self, rows: Sequence[tuple[str, str]], col_max: int = 30,
                 col_spacing: int = 2) -> None:
        rows = list(rows)
        widths = measure_table(rows)
        first_col = min(widths[0], col_max) + col_spacing if widths else col_spacing
        for first, second in iter_rows(rows, 2):
            if self.current_indent + term_len(first) > self.width:  # option / metavar
                head, _, rest = first.rpartition(" ")
                if head:
                    self.write(f"{'':>{self.current_indent}}{head}\n")
                    first = f"    {rest}"
            self.write(f"{'':>{self.current_indent}}{first}")
            if not second:
                self.write("\n")
                continue
            if term_len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - term_len(first)))
            else:  # a long option and metavar: its help starts on the next line
                self.write("\n" + " " * (first_col + self.current_indent))
            lines = wrap(second, max(self.width - first_col - 2, 20),
                         preserve_paragraphs=True).splitlines() or [""]
            self.write(f"{lines[0]}\n")
            for line in lines[1:]:
                self.write(f"{'':>{first_col + self.current_indent}}{line}\n")


class HelpContext(click.Context):
    formatter_class = WholeWordFormatter


def plain_help(command: Any, *, root: bool = False) -> None:
    """Give ``command`` (and everything under it) the whole-word help, and leave the shell
    completion options (``--install-completion``, ``--show-completion``) to the root."""
    command.context_class = HelpContext
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    if not root:
        command.params = [p for p in command.params if p.name not in COMPLETION]
    for sub in getattr(command, "commands", {}).values():
        plain_help(sub)
