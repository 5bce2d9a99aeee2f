"""The connection plumbing under ``net.Http``: which socket a call is using (so the
deadline's watchdog can cut it), whether it was reused, and the requests adapter whose
urllib3 pools use those tracked connections (and pin a certificate when asked)."""

from __future__ import annotations

import socket
import threading
from typing import Any


class Call:
    """One request in flight: its deadline and the connection the watchdog may cut."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.finished = False
        self.conn: Any = None
        self.reused = False  # sent on a kept-alive connection that had answered before
        self.lock = threading.Lock()

    def attach(self, conn: Any) -> None:
        with self.lock:
            if self.expired:
                raise TimeoutError("deadline passed")
            self.conn = conn

    def expire(self) -> None:
        with self.lock:
            if self.finished:
                return
            self.expired = True
            sock = getattr(self.conn, "sock", None)
        if sock is not None:
            try:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass


current = threading.local()


def tracking(conn_cls: type) -> type:
    """A urllib3 connection class that tells the current call which socket to cut."""

    class Tracked(conn_cls):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            call = getattr(current, "call", None)
            if call is not None:
                call.attach(self)
            super().connect()

        def request(self, *args: Any, **kwargs: Any) -> Any:
            call = getattr(current, "call", None)
            if call is not None:
                call.attach(self)
                call.reused = getattr(self, "_cl_sent", 0) > 0
            self._cl_sent = getattr(self, "_cl_sent", 0) + 1
            return super().request(*args, **kwargs)

    Tracked.__name__ = f"Tracked{conn_cls.__name__}"
    return Tracked


def tracked_adapter(pool_size: int, pin: str | None = None) -> Any:
    from requests.adapters import HTTPAdapter
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class Pool(HTTPConnectionPool):
        ConnectionCls = tracking(HTTPConnectionPool.ConnectionCls)

    class TlsPool(HTTPSConnectionPool):
        ConnectionCls = tracking(HTTPSConnectionPool.ConnectionCls)

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            if pin is not None:
                kwargs["assert_fingerprint"] = pin
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TlsPool}

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            if pin is not None:
                kwargs["assert_fingerprint"] = pin
            manager = super().proxy_manager_for(proxy, **kwargs)
            manager.pool_classes_by_scheme = {"http": Pool, "https": TlsPool}
            return manager

    return Adapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
