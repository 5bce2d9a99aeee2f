"""Parts for the ``cloudlease serve`` tests: the server as a real process on a port from
the kernel, an HTTP client, and Debian's chromium driven by Playwright.

The server is started as an operator would (``python -m cloudlease serve --port 0``); the
port it got is read from its ``listening on`` line, and it is ready when ``/healthz``
answers 200. Stopping it is SIGTERM and waiting for its exit code (0), so every test also
checks the clean shutdown; its stderr (the access log) is kept for the tests to read.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import in_ci

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
STARTUP = 60.0  # seconds a server may take to answer /healthz on a busy machine


class Served:
    """A running ``cloudlease serve``."""

    def __init__(self, proc: subprocess.Popen, url: str, log: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.log = log
        self.http = httpx.Client(base_url=url, timeout=30, follow_redirects=False)

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, **kw)

    def log_text(self) -> str:
        return "".join(self.log)

    def stop(self, timeout: float = 60) -> int:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@contextmanager
def served(home: Path, *extra: str, env: dict[str, str] | None = None,
           expect_exit: int | None = 0) -> Iterator[Served]:
    full = {**os.environ, "CLOUDLEASE_HOME": str(home), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "cloudlease", "serve", "--port", "0",
                             *extra], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=full)
    log: list[str] = []
    port: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.append(line)
            m = re.search(r"listening on (http://\S+)", line)
            if m and not port:
                port.append(m.group(1))
                found.set()
        found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    server = None
    try:
        assert found.wait(STARTUP) and port, f"serve did not start: {''.join(log)}"
        server = Served(proc, port[0], log)
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                if server.api("GET", "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"serve never healthy: {''.join(log)}"
            assert proc.poll() is None, f"serve exited: {''.join(log)}"
            time.sleep(0.1)
        yield server
    finally:
        code = server.stop() if server is not None else (proc.kill(), proc.wait())[1]
        reader.join(10)
        if proc.stderr is not None:
            proc.stderr.close()
    if expect_exit is not None:
        assert code == expect_exit, f"serve exited {code}: {''.join(log)}"


def events(server: Served, token: str, until: Any, timeout: float = 30) -> list[dict]:
    """Read ``status`` events of a lease until ``until(event)`` is true; all of them."""
    seen: list[dict] = []
    with httpx.Client(base_url=server.url, timeout=timeout) as c, \
            c.stream("GET", f"/api/v1/leases/{token}/events") as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        deadline = time.monotonic() + timeout
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "status":
                seen.append(json.loads(line[6:]))
                if until(seen[-1]):
                    return seen
            assert time.monotonic() < deadline, f"no such event in {seen}"
    raise AssertionError(f"stream ended: {seen}")


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        reason = "no /usr/bin/chromium (apt-get install chromium)"
        if in_ci():
            pytest.fail(f"CI is set, so browser tests may not skip: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium under Playwright (its own browser download is never used)."""
    need_chromium()
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def zbar(png: Path) -> list[str]:
    """What ``zbarimg`` reads in a screenshot (every QR code's text)."""
    if not Path("/usr/bin/zbarimg").exists():
        reason = "no zbarimg (apt-get install zbar-tools)"
        if in_ci():
            pytest.fail(f"CI is set, so QR tests may not skip: {reason}")
        pytest.skip(reason)
    out = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sbinary", str(png)],
                         capture_output=True, timeout=60)
    return [line for line in out.stdout.decode("utf-8", "replace").splitlines() if line]
