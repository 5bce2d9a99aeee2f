"""The tick loop, in a thread of its own beside the event loop (``ops/serving.py`` says
what each pass does): the full pass every ``[serve] chain_poll_seconds``, a Lightning
pass every ``serving.LN_POLL`` seconds in between. A failing pass (a backend down, the
ledger locked by a long cron run) is one line in the log and is tried again; the loop
never dies of it. After a pass that changed something, the live-status hub is poked.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cloudlease.core import clock
from cloudlease.core.errors import CloudleaseError
from cloudlease.ops import serving
from cloudlease.ops.context import Context

log = logging.getLogger("cloudlease.web.tick")
IDLE = 1.0  # seconds between looks when no Lightning node is configured


class Ticker(threading.Thread):
    """The loop (``start``; ``stop`` ends it after the pass under way)."""

    def __init__(self, ctx: Context, chain_poll: float,
                 on_change: Callable[[], None] = lambda: None) -> None:
        super().__init__(name="cloudlease-tick", daemon=True)
        self.ctx = ctx
        self.chain_poll = chain_poll
        self.on_change = on_change
        self._halt = threading.Event()
        self._wake = threading.Event()
        self.passes = 0
        self.last_full: datetime | None = None
        self.last_error: str | None = None
        self.last_ln: datetime | None = None
        self.ln_error: str | None = None

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 60) -> None:
        self._halt.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        node: Any = None
        next_full = 0.0
        try:
            while not self._halt.is_set():
                if node is None and self.ctx.settings.lightning.enabled:
                    node = self._guard("lightning", serving.node, self.ctx)
                if time.monotonic() >= next_full:
                    next_full = time.monotonic() + self.chain_poll
                    report = self._guard("tick", serving.full_pass, self.ctx, node)
                    if report is not None:
                        self.last_full, self.last_error = clock.now(), None
                        self._changed(serving.changed(report))
                elif node is not None:
                    probe = self._guard("lightning", serving.lightning_pass, self.ctx, node)
                    if probe is not None:
                        self.last_ln, self.ln_error = clock.now(), None
                        self._changed(serving.changed(probe.report))
                self.passes += 1
                wait = serving.LN_POLL if node is not None else IDLE
                self._wake.wait(max(0.0, min(wait, next_full - time.monotonic())))
                self._wake.clear()
        finally:
            if node is not None:
                node.close()
            self.ctx.close()
            log.info("tick loop stopped")

    def _changed(self, changed: bool) -> None:
        if changed:
            self.on_change()

    def _guard(self, what: str, step: Callable[..., Any], *args: Any) -> Any:
        try:
            return step(*args)
        except CloudleaseError as exc:
            message = f"{what}: {exc.message} (exit {int(exc.exit_code)}; retrying)"
        except Exception as exc:  # a bug must not stop the payments being seen
            if os.environ.get("CLOUDLEASE_DEBUG"):
                log.exception("%s: internal error", what)
            message = f"{what}: internal error: {type(exc).__name__}: {exc}"
        if what == "tick":
            changed_msg = message != self.last_error
            self.last_error = message
        else:
            changed_msg = message != self.ln_error
            self.ln_error = message
        if changed_msg:  # once per distinct trouble, not four times a second
            log.warning("%s", message)
        return None

    def health(self) -> dict[str, Any]:
        """How the loop is doing, for ``/healthz``."""
        stale = self.last_full is None or \
            (clock.now() - self.last_full).total_seconds() > self.chain_poll * 3 + 30
        return {"running": self.is_alive(), "last_pass": self.last_full,
                "error": self.last_error, "lightning_error": self.ln_error,
                "ok": self.is_alive() and self.last_error is None and not stale}
