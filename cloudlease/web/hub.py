"""Live status: every open ``/api/v1/leases/<token>/events`` stream is a subscriber to its
lease, and one task per process watches the ledger for all of them.

The watcher looks at the audit chain's head (one cheap query) every ``LOOK`` seconds, and
at once when poked (a pass of the tick loop, or a request here, changed something). Only
when the head moved does it read the watched leases again, all in one read, and send a
``status`` event to the subscribers of each lease whose state (``leasepage.state``: the
lease, its payment and its machine) changed. So a change made by another process — a
cron ``tick``, the other ``serve`` of a shared ledger — reaches the page as well, and a
thousand idle streams cost one query every ``LOOK`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from cloudlease.core.views import json_default
from cloudlease.ops import leasepage

log = logging.getLogger("cloudlease.web.hub")
LOOK = 0.5        # seconds between looks at the ledger's head
KEEPALIVE = 15.0  # seconds between comments on an idle stream (proxies close silent ones)


def encode(state: dict[str, Any]) -> str:
    return json.dumps(state, default=json_default, separators=(",", ":"))


class Hub:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.subs: dict[str, set[asyncio.Queue[str | None]]] = {}
        self.last: dict[str, str] = {}
        self.version: int | None = None
        self.closing = False
        self._poke: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._poke = asyncio.Event()
        self._task = asyncio.create_task(self._watch())

    def poke(self) -> None:
        """Look now (thread-safe: the tick loop calls it from its thread)."""
        if self._loop is not None and self._poke is not None and not self.closing:
            self._loop.call_soon_threadsafe(self._poke.set)

    def subscribe(self, lease_id: str, state: str) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=16)
        self.subs.setdefault(lease_id, set()).add(queue)
        self.last.setdefault(lease_id, state)
        self.version = None  # the state read for it may predate the last look: look again
        return queue

    def unsubscribe(self, lease_id: str, queue: asyncio.Queue[str | None]) -> None:
        queues = self.subs.get(lease_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self.subs[lease_id]
                self.last.pop(lease_id, None)

    def close(self) -> None:
        """End every stream (SIGTERM): each gets None and returns."""
        self.closing = True
        for queues in self.subs.values():
            for q in queues:
                _offer(q, None)
        if self._poke is not None:
            self._poke.set()

    async def stop(self) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _watch(self) -> None:
        assert self._poke is not None
        while not self.closing:
            try:
                await asyncio.wait_for(self._poke.wait(), LOOK)
            except TimeoutError:
                pass
            self._poke.clear()
            if not self.subs or self.closing:
                continue
            try:
                await self._look()
            except Exception as exc:  # the ledger busy, say: look again next time
                log.warning("live status: %s: %s", type(exc).__name__, exc)

    async def _look(self) -> None:
        version = await self.runtime.call(leasepage.version)
        if version == self.version:
            return
        self.version = version
        watched = list(self.subs)
        states = await self.runtime.call(leasepage.states, watched)
        for lease_id, state in states.items():
            text = encode(state)
            if self.last.get(lease_id) == text or lease_id not in self.subs:
                continue
            self.last[lease_id] = text
            for q in list(self.subs.get(lease_id, ())):
                _offer(q, text)


def _offer(q: asyncio.Queue[str | None], item: str | None) -> None:
    """Queue an event; a subscriber too slow to keep up gets the latest state only."""
    while True:
        try:
            q.put_nowait(item)
            return
        except asyncio.QueueFull:
            try:
                q.get_nowait()
            except asyncio.QueueEmpty:
                pass
