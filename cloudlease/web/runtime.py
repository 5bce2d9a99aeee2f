"""What the routes share: the home, a ledger context per worker thread, the tick loop,
the live-status hub, and the caps on open unpaid requests.

Operations are blocking (SQL, a node's HTTP API, a driver): they run on a small pool of
worker threads (``WORKERS``), each with its own ``Context`` and so its own database
connection; the event loop only moves bytes. Writes serialise on the ledger's lock as
they do between CLI processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from cloudlease.ops import storefront
from cloudlease.ops.context import Context
from cloudlease.web.errors import HttpError

T = TypeVar("T")
WORKERS = 8


class Runtime:
    """One per server process (see the module doc)."""

    def __init__(self, home: Path, lock_timeout: float | None = None) -> None:
        self.home = Path(home)
        self.lock_timeout = lock_timeout
        self._local = threading.local()
        self._contexts: list[Context] = []
        self._lock = threading.Lock()
        self.limiter = anyio.CapacityLimiter(WORKERS)
        first = self.ctx()
        first.read()  # a home without a ledger fails here, before anything listens
        self.settings = first.settings
        self.serve = self.settings.serve
        self._unpaid: dict[str, list[str]] = {}  # client → request ids it opened
        self._client_locks: dict[str, asyncio.Lock] = {}
        self.hub: Any = None
        self.ticker: Any = None

    def ctx(self) -> Context:
        """This thread's context (made on first use)."""
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = Context.at(self.home, self.lock_timeout)
            self._local.ctx = ctx
            with self._lock:
                self._contexts.append(ctx)
        return ctx

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(ctx, *args, **kwargs)`` on a worker thread."""
        return await anyio.to_thread.run_sync(
            partial(self._run, fn, args, kwargs), limiter=self.limiter)

    def _run(self, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        return fn(self.ctx(), *args, **kwargs)

    def close(self) -> None:
        with self._lock:
            for ctx in self._contexts:
                ctx.close()
            self._contexts.clear()

    # -- caps on open unpaid requests (each holds a fresh address) ----------------------
    def client_lock(self, client: str) -> asyncio.Lock:
        """One payment request made at a time per client, so its cap holds."""
        lock = self._client_locks.get(client)
        if lock is None:
            if len(self._client_locks) > 10_000:
                self._client_locks = {k: v for k, v in self._client_locks.items()
                                      if v.locked()}
            lock = self._client_locks[client] = asyncio.Lock()
        return lock

    async def check_caps(self, client: str) -> None:
        """429 (nothing stored) when this client, or everyone together, has as many open
        unpaid requests as ``[serve]`` allows. A client's own requests are counted by this
        process; the global count is the ledger's."""
        mine = self._unpaid.get(client, [])
        if mine:
            mine = await self.call(storefront.still_unpaid, mine)
            if mine:
                self._unpaid[client] = mine
            else:
                self._unpaid.pop(client, None)
        if len(mine) >= self.serve.max_open_unpaid_per_client:
            raise HttpError(429, "too_many_unpaid", "this address has "
                            f"{len(mine)} unpaid payment requests open; pay one or let it "
                            "expire first", {"Retry-After": "60"})
        if await self.call(storefront.open_unpaid) >= self.serve.max_open_unpaid:
            raise HttpError(429, "too_many_unpaid", "too many unpaid payment requests are "
                            "open right now; try again in a few minutes",
                            {"Retry-After": "60"})

    def opened(self, client: str, request_id: str | None) -> None:
        if request_id is None:
            return
        mine = self._unpaid.setdefault(client, [])
        if request_id not in mine:
            mine.append(request_id)
        if len(self._unpaid) > 100_000:  # forget the oldest clients first
            for key in list(self._unpaid)[:10_000]:
                del self._unpaid[key]

    def wake(self) -> None:
        """A request was made: the loop asks the node now, the hub looks again."""
        if self.ticker is not None:
            self.ticker.wake()
        if self.hub is not None:
            self.hub.poke()
