"""``[serve]``: how ``cloudlease serve`` listens and what it lets strangers do.

The keys and their checks are declared in ``schema.SCHEMA["serve"]``; this is the checked
result as the web face (``cloudlease/web/``) takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class ServeSettings:
    """Checked ``[serve]`` settings.

    Attributes:
        host: the address to listen on (127.0.0.1: behind a reverse proxy on this host).
        port: the TCP port.
        public_url: the URL tenants reach the server at (``https://rent.example.com``),
            used for the lease links the API returns; "" = the request's own host.
        trusted_proxies: peers (addresses or networks) whose ``X-Forwarded-For`` is
            believed; anyone else's is ignored.
        plans: the plans offered ("" / empty = every plan).
        rate_limit_per_minute: requests one client may make a minute (a token bucket of
            this size, refilled at this rate); more is 429 with Retry-After.
        max_open_unpaid: unpaid payment requests that may be open at once, from anyone
            (each holds an address: the wallet's gap limit).
        max_open_unpaid_per_client: the same, for one client.
        chain_poll_seconds: how often the built-in tick loop asks the chain (Lightning
            is asked every quarter second while an invoice is open).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    trusted_proxies: tuple[str, ...] = ()
    plans: tuple[str, ...] = ()
    rate_limit_per_minute: int = 120
    max_open_unpaid: int = 200
    max_open_unpaid_per_client: int = 5
    chain_poll_seconds: Decimal = Decimal(10)
