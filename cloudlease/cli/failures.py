"""How a failure is worded and written, with no state of its own.

``os_error`` turns an OSError that reached the top into one line naming the path and what
to do (exit 5 for the file system, 6 for the network); ``write_error`` writes an error as
that one line (control characters escaped) or, with ``--json``, as a JSON document on
stderr; ``silence_stdout`` and ``EXIT_BROKEN_PIPE`` are for output that could not be
written. ``common.fail`` and ``common.output_failed`` use them with the invocation's state.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import unicodedata
from collections.abc import Sequence

from cloudlease.core.errors import ExitCode

EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a process killed by SIGPIPE


def os_error(exc: OSError) -> tuple[str, str, int]:
    """(message, code, exit code) for an OSError that reached the top: one line naming the
    path and what to do; exit 5 for the file system, 6 for the network."""
    import socket

    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror) and not exc.filename:
        return (f"network error: {exc.strerror or exc}", "backend_unavailable",
                int(ExitCode.BACKEND))
    path = exc.filename if exc.filename is not None else "a file"
    if exc.filename2 is not None:
        path = f"{exc.filename} -> {exc.filename2}"
    why = exc.strerror or str(exc) or type(exc).__name__
    hint = {
        errno.ENOSPC: "the disk is full; free some space and run the command again",
        errno.EDQUOT: "the disk quota is used up; free some space and run the command again",
        errno.EROFS: "the file system is read-only; use a writable home (--home)",
        errno.EACCES: "check that this user owns the cloudlease home and can write to it",
        errno.EPERM: "check that this user owns the cloudlease home and can write to it",
        errno.EISDIR: "a directory is where a file should be; move it away",
        errno.ENOTDIR: "a file is where a directory should be; move it away",
        errno.ELOOP: "a symbolic link is where a file should be; replace it with the file",
    }.get(exc.errno or 0, "")
    message = f"cannot use {path}: {why}" + (f" ({hint})" if hint else "")
    return message, "file_system", int(ExitCode.LEDGER)


def silence_stdout() -> None:
    """Point stdout at /dev/null so that the flush at exit cannot fail a second time."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        return  # not a real file (tests capture it)
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def one_line(message: str) -> str:
    """The message on one line, with control characters shown as escapes (a hostile
    server's text must not move the cursor or recolour the terminal)."""
    text = " ".join(str(message).split())
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        text = "".join(repr(ch)[1:-1] if unicodedata.category(ch) in ("Cc", "Cf") else ch
                       for ch in text)
    return text


def write_error(message: str, code: str, exit_code: int, json_mode: bool,
                problems: Sequence[str] = (), headline: str | None = None) -> None:
    """One line; or, for an error that found several ``problems`` at once, the
    ``headline`` and then one line per problem (``--json``: the message, which holds them
    all, and a ``problems`` list)."""
    message = one_line(message)
    lines = [one_line(p) for p in problems]
    if json_mode:
        error: dict[str, object] = {"code": code, "message": message, "exit_code": exit_code}
        if lines:
            error["problems"] = lines
        sys.stderr.write(json.dumps({"error": error}) + "\n")
    else:
        from cloudlease import render

        if lines:
            render.error(one_line(headline or message), details=lines)
        else:
            render.error(message)
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
