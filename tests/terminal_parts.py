"""Helpers for terminal tests: cloudlease in a real pseudo-terminal, ANSI codes, and a
check that no value is broken across lines."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
EDGE = "│┃|"


class Pty:
    """cloudlease (or any argv) with a pseudo-terminal as its controlling terminal and
    stdin/stdout/stderr, ``cols`` wide."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int = 80,
                 rows: int = 40) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.buf = b""
        self.status: int | None = None

    def read_until(self, text: str | bytes, timeout: float = 120) -> str:
        want = text if isinstance(text, str) else text.decode()
        deadline = time.monotonic() + timeout
        while want not in self.text() and want not in self.raw():
            if not self._read(deadline - time.monotonic()):
                raise AssertionError(f"{want!r} not seen; got {self.text()[-3000:]!r}")
        return self.text()

    def _read(self, timeout: float) -> bool:
        if timeout <= 0:
            return False
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.buf += chunk
        return bool(chunk)

    def send(self, data: str | bytes) -> None:
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def wait(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self._read(max(0.01, deadline - time.monotonic())):
            pass
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
                os.close(self.fd)
                return self.status
            time.sleep(0.02)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"still running after {timeout}s: {self.text()!r}")

    def raw(self) -> str:
        return self.buf.decode(errors="replace")

    def text(self) -> str:
        return ANSI.sub("", self.raw()).replace("\r\n", "\n")


def run_pty(args: list[str], env: dict[str, str], *, cols: int = 80, answer: str | None = None,
            prompt: str | None = None, timeout: float = 120) -> tuple[int, Pty]:
    p = Pty([sys.executable, "-m", "cloudlease", *args], env, cols=cols)
    if prompt is not None:
        p.read_until(prompt, timeout)
        p.send(answer or "")
    code = p.wait(timeout)
    return code, p


def tokens(doc: Any) -> set[str]:
    """Values a person reads, in the forms cloudlease prints them, from a JSON document
    (``ledger dump --format json``): names, ids, addresses, statuses, amounts, times."""
    out: set[str] = set()

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(k)
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int):
            if value >= 1000:
                out.add(f"{value:,} sat")
                if value >= 100_000:
                    out.add(f"{value:,}")
        elif isinstance(value, str) and 4 <= len(value) <= 200 and "\n" not in value:
            try:
                when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                when = None
            if when is not None and "T" in value:
                out.add(when.strftime("%Y-%m-%d %H:%M:%S UTC"))
            elif not value.startswith(("{", "[")):
                out.add(value)

    walk(doc)
    return out


def broken(text: str, values: Iterable[str]) -> list[str]:
    """Values split across two lines: the first part ending a line (or a table cell) and
    the rest starting the next line (or the same cell one line down)."""
    lines = text.splitlines()
    found = []
    for value in values:
        if len(value) < 4 or any(value in line for line in lines):
            continue
        for cut in range(2, len(value) - 1):
            head, tail = value[:cut], value[cut:]
            end = re.compile(re.escape(head) + rf"\s*([{EDGE}]|$)")
            start = re.compile(rf"(^|[{EDGE}])\s*" + re.escape(tail))
            pairs = zip(lines, lines[1:], strict=False)
            if any(end.search(a) and start.search(b) for a, b in pairs):
                found.append(f"{value!r} as {head!r} / {tail!r}")
                break
    return found


def screen(raw: str, cols: int, rows: int) -> list[str]:
    """What a ``cols`` × ``rows`` terminal shows at the end of ``raw`` (roughly: each
    line wrapped at ``cols``, a carriage return redrawing its line, ANSI codes dropped):
    the last ``rows`` rows."""
    out: list[str] = []
    for line in ANSI.sub("", raw).replace("\r\n", "\n").split("\n"):
        line = line.rsplit("\r", 1)[-1]
        while len(line) > cols:
            out.append(line[:cols])
            line = line[cols:]
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out[-rows:]
