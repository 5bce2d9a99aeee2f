"""HTTP for every backend (Esplora, bitcoind, rate sources, the Lightning nodes and
webhooks): one way to parse a URL, one way to make a call, one way to say what went wrong.

``parse_url`` refuses a URL that could be read two ways. ``http://u:p@ss@host`` or a
password holding ``#``, ``/`` or ``?`` makes ``urlsplit`` take part of the password for the
host, which would then be printed and looked up in DNS: such characters must be
percent-encoded (``%40 %23 %2F %3F``). Control characters, spaces, backslashes and
non-ASCII text are refused too.

``Http.request`` bounds a call four ways:

- connect and read timeouts per socket operation (``requests``), and a **total deadline**
  per call: a watchdog shuts the call's socket down when the deadline passes, so a server
  that trickles one byte at a time (headers or body) is cut off on time. DNS resolution
  happens before there is a socket to shut down; it is bounded by the system resolver
  (typically a few seconds) and the call then fails at once, the deadline being past.
- the **size** of the answer: a ``Content-Length`` over the cap is refused before reading;
  the body is read in chunks counting the bytes on the wire, and decoded (gzip, deflate)
  here with a bounded output, so a compressed body that inflates to gigabytes stops at the
  cap. Any other ``Content-Encoding`` is refused.
- **no redirect is followed**, to any host: an API that moved is a configuration error
  to fix in config.toml, and following one could send credentials elsewhere. A 3xx answer
  raises ``HttpError`` naming the status and the redacted target.
- **every message is redacted**: URL passwords (raw, decoded, percent-encoded), the
  ``user:password`` pair and its base64 (what a Basic ``Authorization`` header carries,
  and what a hostile server may echo), secret header values such as a cookie or macaroon,
  plus anything shaped like ``Basic …``, ``Bearer …``, ``user:pass@`` or ``cookie=…``.

TLS is always verified: against the system CAs, or against one certificate (``verify`` a
path) whose SHA-256 fingerprint must match exactly (``pin``, LND's ``tls.cert``).
``trust_env=False`` keeps proxies, CA bundles and ``.netrc`` from the environment out
(a local node's credentials must not go to a proxy, nor a pin be replaced).

Durations come in as ``int``, ``Decimal`` or ``float`` seconds and become ``float`` only
at the socket call.
"""

from __future__ import annotations

from typing import Any

from cloudlease.net.redact import Redactor, snippet
from cloudlease.net.url import Url, is_loopback, parse_url

_CLIENT = ("DEFAULT_MAX_BYTES", "Http", "HttpError", "Reply")


def __getattr__(name: str) -> Any:
    """The client's names load it (requests and urllib3 come with it) only when asked:
    checking a URL in config.toml at every start-up needs ``parse_url`` alone."""
    if name in _CLIENT:
        from cloudlease.net import client

        return getattr(client, name)
    raise AttributeError(f"module 'cloudlease.net' has no attribute {name!r}")

__all__ = ["DEFAULT_MAX_BYTES", "Http", "HttpError", "Redactor", "Reply", "Url",
           "is_loopback", "parse_url", "snippet"]
