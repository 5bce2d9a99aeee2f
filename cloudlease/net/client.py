"""The HTTP client: deadline, size cap, no redirects, redacted errors (see
``cloudlease.net``)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cloudlease.core.clock import seconds
from cloudlease.core.errors import BackendError
from cloudlease.net.redact import Redactor, snippet
from cloudlease.net.transport import Call, current, tracked_adapter
from cloudlease.net.url import parse_url

DEFAULT_MAX_BYTES = 4 << 20  # 4 MiB: an Esplora page of 50 transactions is ~100 kB
_CHUNK = 16384


class HttpError(BackendError):
    """An HTTP call that gave no usable answer (exit 6).

    Attributes:
        kind: ``timeout`` (connect/read timeout or the deadline), ``connect`` (refused,
            reset, DNS), ``too_large``, ``redirect``, ``encoding``, ``protocol`` (a
            malformed or truncated answer), ``tls``.
        url: the redacted URL.
        reason: what went wrong, without the URL (already redacted).
    """

    def __init__(self, message: str, *, kind: str, url: str, reason: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.url = url
        if not reason:
            reason = message.removeprefix(f"{url}: ").removeprefix(f"{url} ")
        self.reason = reason  # the message without the URL

    @property
    def retryable(self) -> bool:
        return self.kind in ("timeout", "connect")


@dataclass(frozen=True)
class Reply:
    """A complete answer: status, headers (lower-case names) and the decoded body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str  # redacted
    redact: Any = field(default=lambda text: text, repr=False, compare=False)

    def json(self) -> Any:
        """The body as JSON: numbers with a point as ``Decimal``, no NaN or Infinity;
        ``HttpError(kind="protocol")`` if it is not JSON."""
        def refuse(name: str) -> Any:
            raise ValueError(name)

        if not self.body.strip():
            raise HttpError(f"{self.url} sent an empty answer (HTTP {self.status})",
                            kind="protocol", url=self.url)
        try:
            return json.loads(self.body, parse_float=Decimal, parse_constant=refuse)
        except (ValueError, RecursionError):
            kind = self.headers.get("content-type", "?").split(";")[0]
            raise HttpError(self.redact(
                f"{self.url} sent something that is not JSON (HTTP {self.status}, "
                f"{snippet(kind, 40)}: {snippet(self.body, 60)})"),
                kind="protocol", url=self.url) from None

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


# -- the client ---------------------------------------------------------------------------

class Http:
    """HTTP calls with a deadline, a size cap, no redirects and redacted errors.

    Args:
        timeout: the total deadline of one call, in seconds (connect, send, headers and
            body together).
        connect_timeout: for the TCP/TLS connect alone (default: min(3.05, timeout)).
        max_bytes: the most a body may hold, on the wire and decoded.
        secrets: strings never to show (``Redactor``); URL passwords and ``auth`` given to
            ``request`` are added automatically.
        verify: True (system CAs), False is refused, or a path to a CA bundle or a pinned
            self-signed certificate (LND's ``tls.cert``).
        pool_size: connections kept per host (the number of threads calling at once).
        session: a ``requests.Session`` to use (it gets this module's adapter mounted).
        pin: the SHA-256 fingerprint (hex) the server's certificate must have, checked by
            urllib3 (``assert_fingerprint``) after the TLS handshake and before a byte of
            the request is sent; give ``verify`` the certificate's path as well.
        trust_env: False makes the session ignore the environment: proxies (which would
            see headers such as a macaroon), ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``
            and ``.netrc`` credentials. Applies to the session this client makes.
    """

    def __init__(self, *, timeout: float | int | Decimal = 10,
                 connect_timeout: float | int | Decimal | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, secrets: Iterable[str] = (),
                 verify: bool | str = True, pool_size: int = 8,
                 user_agent: str = "cloudlease", session: Any = None,
                 pin: str | None = None, trust_env: bool = True) -> None:
        if verify is False:
            raise ValueError("TLS verification cannot be turned off; pin the certificate")
        if pin is not None and (len(pin) != 64 or not all(c in "0123456789abcdef"
                                                           for c in pin.lower())):
            raise ValueError("a pin is the certificate's SHA-256 fingerprint: 64 hex digits")
        self.timeout = _seconds(timeout)
        self.connect_timeout = _seconds(connect_timeout) if connect_timeout is not None \
            else min(3.05, self.timeout)
        self.max_bytes = max_bytes
        self.verify = verify
        self.redact = Redactor(secrets)
        self.requests_made = 0
        self._count_lock = threading.Lock()
        self._own = session is None
        self._pool_size = pool_size
        self._pin = pin
        self._trust_env = trust_env
        self._user_agent = user_agent
        self._session = session
        if session is not None:
            self._mount(session)

    def _mount(self, session: Any) -> None:
        adapter = tracked_adapter(self._pool_size, self._pin)
        session.mount("http://", adapter)
        session.mount("https://", adapter)

    @property
    def session(self) -> Any:
        if self._session is None:
            import requests

            session = requests.Session()
            session.trust_env = self._trust_env
            session.headers["User-Agent"] = self._user_agent
            self._mount(session)
            self._session = session
        return self._session

    def close(self) -> None:
        if self._own and self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, **kwargs: Any) -> Reply:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Reply:
        return self.request("POST", url, **kwargs)

    def request(self, method: str, url: str, *, body: bytes | str | None = None,
                json_body: Any = None, headers: Mapping[str, str] | None = None,
                auth: tuple[str, str] | None = None,
                timeout: float | int | Decimal | None = None,
                max_bytes: int | None = None) -> Reply:
        """One call. Returns the ``Reply`` for any status but 3xx (the caller judges 4xx and
        5xx); raises ``HttpError`` for anything that is not a complete, bounded answer."""
        import http.client

        import requests
        import urllib3

        parsed = parse_url(url)
        shown = parsed.redacted()
        self.redact.add(parsed.password, parsed.username)
        if auth is not None:
            self.redact.add(auth[1], auth[0])
        if parsed.username is not None and auth is None:
            auth = (parsed.username, parsed.password or "")
        target = parsed.base() + (f"?{parsed.query}" if parsed.query else "")
        limit = self.max_bytes if max_bytes is None else max_bytes
        total = self.timeout if timeout is None else _seconds(timeout)
        if json_body is not None:
            body = json.dumps(json_body, default=str).encode()
        all_headers = {"Accept-Encoding": "gzip, deflate"}
        if json_body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        with self._count_lock:
            self.requests_made += 1
        call = Call(time.monotonic() + total)
        watchdog = threading.Timer(total, call.expire)
        watchdog.daemon = True
        current.call = call
        watchdog.start()
        response = None
        try:
            try:
                for attempt in (1, 2):
                    try:
                        response = self.session.request(
                            method, target, data=body, headers=all_headers, auth=auth,
                            timeout=(min(self.connect_timeout, total), total), stream=True,
                            allow_redirects=False, verify=self.verify)
                        break
                    except requests.exceptions.ConnectionError:
                        # A kept-alive connection the server closed as we reused it (its
                        # idle timeout racing our request) fails before any answer: a GET
                        # is sent again once, on a new connection (as browsers do).
                        if not (attempt == 1 and call.reused and method == "GET"
                                and not call.expired):
                            raise
                reply = self._read(response, shown, limit, call)
            except HttpError:
                raise
            except requests.exceptions.SSLError as exc:
                raise self._fail(call, shown, total, "tls",
                                 f"TLS failed ({_reason(exc)})") from None
            except (TimeoutError, requests.exceptions.Timeout,
                    urllib3.exceptions.TimeoutError):
                raise self._fail(call, shown, total, "timeout", "timed out") from None
            except requests.exceptions.ConnectionError as exc:
                raise self._fail(call, shown, total, "connect",
                                 f"connection failed ({_reason(exc)})") from None
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError,
                    http.client.HTTPException, OSError, ValueError) as exc:
                raise self._fail(call, shown, total, "protocol",
                                 f"broken answer ({_reason(exc)})") from None
        except BaseException:
            if response is not None:
                response.close()  # the connection is not reused
            raise
        finally:
            with call.lock:
                call.finished = True
            watchdog.cancel()
            current.call = None
        release = getattr(response.raw, "release_conn", None)
        if release is not None:
            release()  # read to the end: the connection may be reused (keep-alive)
        return reply

    def _fail(self, call: Call, url: str, total: float, kind: str, what: str) -> HttpError:
        if call.expired:
            kind, what = "timeout", f"timed out: no complete answer within {total:g} s"
        what = self.redact(what)
        return HttpError(f"{url}: {what}", kind=kind, url=url, reason=what)

    def _read(self, response: Any, url: str, limit: int, call: Call) -> Reply:
        status = response.status_code
        headers = {k.lower(): v for k, v in response.headers.items()}
        if 300 <= status < 400:
            where = headers.get("location", "")
            try:
                where = parse_url(where).redacted() if "://" in where else snippet(where, 80)
            except ValueError:
                where = "an unusable address"
            raise HttpError(self.redact(
                f"{url}: the server redirects (HTTP {status}) to {where}; cloudlease does not "
                "follow redirects: put the final URL in config.toml"), kind="redirect", url=url)
        length = headers.get("content-length")
        if length is not None:
            if not length.strip().isdigit():
                raise HttpError(f"{url}: malformed Content-Length", kind="protocol", url=url)
            if int(length) > limit:
                raise HttpError(f"{url}: the answer is {int(length):,} bytes, more than the "
                                f"{limit:,} allowed", kind="too_large", url=url)
        decoder = _decoder(headers.get("content-encoding", ""), url)
        raw = response.raw
        wire = 0
        out = bytearray()
        while True:
            if call.expired:
                raise TimeoutError("deadline")
            chunk = raw.read(_CHUNK, decode_content=False)
            if not chunk:
                break
            wire += len(chunk)
            if wire > limit:
                raise HttpError(f"{url}: the answer is more than the {limit:,} bytes allowed",
                                kind="too_large", url=url)
            out += decoder.feed(chunk, limit - len(out))
        out += decoder.finish(limit - len(out))
        if call.expired:
            raise TimeoutError("deadline")
        return Reply(status, headers, bytes(out), url, self.redact)


class _Identity:
    def feed(self, data: bytes, room: int) -> bytes:
        return data

    def finish(self, room: int) -> bytes:
        return b""


class _Inflate:
    """zlib/gzip decoding that never produces more than ``room`` bytes."""

    def __init__(self, wbits: int, url: str) -> None:
        self._z = zlib.decompressobj(wbits)
        self._url = url

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self._z.decompress(data, room + 1)
        except zlib.error:
            raise HttpError(f"{self._url}: the compressed answer is corrupt",
                            kind="encoding", url=self._url) from None
        if len(out) > room or self._z.unconsumed_tail:
            raise HttpError(f"{self._url}: the answer inflates past the size allowed "
                            "(a compression bomb?)", kind="too_large", url=self._url)
        return out

    def finish(self, room: int) -> bytes:
        try:
            out = self._z.flush()
        except zlib.error:
            raise HttpError(f"{self._url}: the compressed answer is corrupt",
                            kind="encoding", url=self._url) from None
        if len(out) > room:
            raise HttpError(f"{self._url}: the answer inflates past the size allowed",
                            kind="too_large", url=self._url)
        if not self._z.eof:
            raise HttpError(f"{self._url}: the compressed answer is truncated",
                            kind="encoding", url=self._url)
        return out


def _decoder(encoding: str, url: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return _Inflate(16 + zlib.MAX_WBITS, url)
    if encoding == "deflate":
        return _Inflate(zlib.MAX_WBITS, url)
    raise HttpError(f"{url}: unsupported Content-Encoding {snippet(encoding, 30)!r}",
                    kind="encoding", url=url)


def _seconds(value: float | int | Decimal) -> float:
    """Seconds as the float a socket wants: finite, more than 0, at most a day."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"a timeout must be a number of seconds, not {value!r}")
    result = seconds(value)
    if not 0 < result <= 86400:
        raise ValueError(f"a timeout must be more than 0 and at most 86400 s, not {value}")
    return result


def _reason(exc: BaseException) -> str:
    """The innermost useful reason of a requests/urllib3 exception, in a few words."""
    seen: set[int] = set()
    current: BaseException | None = exc
    last = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        last = current
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (
            nested[0] if nested else current.__cause__ or current.__context__)
    if isinstance(last, ConnectionRefusedError):
        return "connection refused"
    if isinstance(last, socket.gaierror):
        return "host name not found"
    if isinstance(last, OSError) and last.strerror:
        return last.strerror
    text = str(last)
    text = re.sub(r"<[^>]*>", "", text)  # urllib3 puts object reprs in its messages
    text = re.sub(r"HTTP(S)?ConnectionPool\([^)]*\):?", "", text)
    return snippet(text, 100) or type(last).__name__
