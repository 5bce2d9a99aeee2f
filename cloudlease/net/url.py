"""URLs that parse one way only (see ``cloudlease.net``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

_MAX_URL = 2048
_URL_CHARS = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@/?%\[\]-]+")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?")
_ENCODE_HINT = ("percent-encode '@', '#', '/', '?' and ':' inside a user name or password "
                "(%40, %23, %2F, %3F, %3A)")


@dataclass(frozen=True)
class Url:
    """A URL that parses one way only.

    Attributes:
        scheme: lower case.
        host: the host name or IP address (IPv6 without brackets); "" for a local socket.
        port: the port, or None for the scheme's default.
        path: the path ("" or starting with "/").
        query: the query string without "?" ("" when none).
        username, password: decoded user information, or None.
    """

    scheme: str
    host: str
    port: int | None
    path: str
    query: str = ""
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host + (f":{self.port}" if self.port is not None else "")

    def base(self) -> str:
        """scheme://host:port/path: no credentials and no query (safe to send and show)."""
        return f"{self.scheme}://{self.netloc}{self.path}"

    def redacted(self) -> str:
        """What a message may show: no credentials, no query (it may hold a key)."""
        return self.base()

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(text: str, *, schemes: Iterable[str] = ("http", "https"),
              loopback_http: bool = False, host_required: bool = True) -> Url:
    """``text`` as a ``Url``, or ``ValueError`` saying why (never echoing a password).

    ``loopback_http``: plain ``http`` is allowed only to a loopback host (127.0.0.0/8, ::1,
    localhost); other hosts need ``https``.
    """
    schemes = tuple(schemes)
    if not isinstance(text, str) or not text:
        raise ValueError("a URL is required")
    if len(text) > _MAX_URL:
        raise ValueError(f"URL is longer than {_MAX_URL} characters")
    if not text.isascii():
        raise ValueError("URL has non-ASCII characters; percent-encode them (or use the "
                         "host's punycode name)")
    if not _URL_CHARS.fullmatch(text):
        raise ValueError("URL has spaces, control characters, quotes, backslashes or '#'; "
                         + _ENCODE_HINT)
    if _PERCENT.search(text):
        raise ValueError("URL has a '%' that is not a percent-encoding (%XX)")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in schemes:
        raise ValueError(f"URL must start with {' or '.join(s + '://' for s in schemes)}")
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    if "@" in tail:
        raise ValueError("URL has an '@' after the host, so it could be read two ways; "
                         + _ENCODE_HINT)
    userinfo, at, hostport = authority.rpartition("@")
    if at and "@" in userinfo:
        raise ValueError("URL has more than one '@' before the host; " + _ENCODE_HINT)
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user)
        password = unquote(secret) if colon else None
    host, port = _host_port(hostport)
    if not host and host_required:
        raise ValueError("URL has no host")
    path, _, query = tail.partition("?")
    if scheme == "http" and loopback_http and not is_loopback(host):
        raise ValueError("plain http is allowed only to this machine (127.0.0.1, ::1, "
                         "localhost); use https")
    return Url(scheme, host, port, path, query, username, password)


def _host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        close = hostport.find("]")
        host, rest = hostport[1:close], hostport[close + 1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError("URL has a malformed IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise ValueError("URL has a malformed host")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text = hostport.partition(":")
        port_text = port_text if colon else None
        if ":" in (port_text or ""):
            raise ValueError("URL has a malformed host or port; " + _ENCODE_HINT)
        if host and not _HOST.fullmatch(host):
            raise ValueError(f"URL has a malformed host; {_ENCODE_HINT}")
    if port_text is None or port_text == "":
        if port_text == "":
            raise ValueError("URL has an empty port")
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or not 1 <= int(port_text) <= 65535:
        raise ValueError("URL has an invalid port (1 to 65535); " + _ENCODE_HINT)
    return host, int(port_text)
