"""``[serve]``: how ``cloudlease serve`` listens and what it lets strangers do; the
checked settings the web face (``cloudlease/web/``) takes."""

from __future__ import annotations

from decimal import Decimal

from cloudlease.config.checks import names, networks, seconds, text, url, whole
from cloudlease.config.schema import Section, setting


class ServeSettings(Section):
    """``[serve]``: the tenants' storefront, checkout pages and JSON API."""

    host: str = setting(text(253, blank=False), "127.0.0.1",
                        "the address to listen on (127.0.0.1 behind a reverse proxy)")
    port: int = setting(whole(1, 65535), 8080, "the TCP port")
    public_url: str = setting(url("https", "http"), "",
                              "the URL tenants reach the server at, for the lease links the "
                              "API returns (\"\" = the request's own host)")
    trusted_proxies: tuple[str, ...] = setting(networks(), (),
                                               "peers whose X-Forwarded-For is believed")
    plans: tuple[str, ...] = setting(names(), (), "the plans offered ([] = every plan)")
    rate_limit_per_minute: int = setting(whole(1, 1_000_000), 120,
                                         "requests one client may make a minute; more is 429")
    max_open_unpaid: int = setting(whole(1, 1_000_000), 200,
                                   "unpaid requests open at once, from anyone (each holds an "
                                   "address: the wallet's gap limit)")
    max_open_unpaid_per_client: int = setting(whole(1, 10_000), 5, "the same, per client")
    chain_poll_seconds: Decimal = setting(seconds(), Decimal(10),
                                          "how often the built-in tick loop asks the chain "
                                          "(Lightning: every 0.25 s while an invoice is open)")
