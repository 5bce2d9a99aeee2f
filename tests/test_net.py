"""net.Http against hostile servers on loopback (raw sockets in threads): slow trickles,
huge and compressed bodies, redirects, echoed credentials, HTML, contradictory lengths.
And the URL rules that keep a password from being read as a host."""

from __future__ import annotations

import base64
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator

import pytest

from cloudlease.bitcoin.backends.bitcoind import BitcoindBackend
from cloudlease.bitcoin.backends.esplora import EsploraBackend
from cloudlease.core.errors import BackendError, BadValue, ExitCode
from cloudlease.net import Http, HttpError, Redactor, parse_url

PASSWORD = "s3cr@t#pw/x"  # every character that breaks a URL when not percent-encoded
ENCODED = "s3cr%40t%23pw%2Fx"

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    """A TCP server on 127.0.0.1 that reads one request and runs ``handler`` on it."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, rest = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(data)
                self.handler(conn, head)
            except OSError:
                pass  # the client cut us off: what these tests want

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for srv in servers:
        srv.close()


def reply(status: str, body: bytes, headers: dict[str, str] | None = None,
          length: int | None = None) -> Handler:
    def handle(conn: socket.socket, head: bytes) -> None:
        lines = [f"HTTP/1.1 {status}"]
        hdrs = {"Content-Length": str(len(body) if length is None else length),
                **(headers or {})}
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return handle


def trickle_body(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(100000):
        conn.sendall(b"7")
        time.sleep(0.2)


def trickle_headers(conn: socket.socket, head: bytes) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10000:
        conn.sendall(bytes([byte]))
        time.sleep(0.2)


def stream_forever(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    while True:
        conn.sendall(b"[" * 65536)


def _bomb(size: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    return z.compress(b"\0" * size) + z.flush()


BOMB = _bomb(256 << 20)  # 256 MiB of zeros in ~250 kB of gzip


def echo_authorization(conn: socket.socket, head: bytes) -> None:
    auth = [line.decode() for line in head.split(b"\r\n")
            if line.lower().startswith((b"authorization", b"cookie"))]
    body = ('{"result": null, "error": {"code": -1, "message": "you sent '
            + " | ".join(auth) + '"}, "id": 1}').encode()
    reply("500 Internal Server Error", body)(conn, head)


# -- the deadline ------------------------------------------------------------------------------

@pytest.mark.parametrize("handler", [trickle_body, trickle_headers],
                         ids=["body", "headers"])
def test_a_trickle_is_cut_off_at_the_deadline(serve, handler):
    """Each byte arrives well within the read timeout, yet the call ends at the deadline."""
    srv = serve(handler)
    http = Http(timeout=1.0, connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(HttpError) as err:
        http.get(srv.url + "/x")
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 2.0, elapsed
    assert err.value.kind == "timeout" and "within 1 s" in str(err.value)
    assert err.value.exit_code == ExitCode.BACKEND


def test_the_deadline_holds_for_each_esplora_attempt(serve):
    srv = serve(trickle_body)
    backend = EsploraBackend([srv.url], timeout=(1, 0.8), retries=1, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(BackendError, match="timed out"):
        backend.tip_height()
    assert time.monotonic() - started < 3.0
    assert backend.requests_made == 2


def test_a_bitcoind_trickle_is_cut_off(serve):
    srv = serve(trickle_body)
    with BitcoindBackend(srv.url, timeout=0.8) as b:
        started = time.monotonic()
        with pytest.raises(BackendError, match="within 0.8 s"):
            b.tip_height()
        assert time.monotonic() - started < 2.0


# -- the size cap ------------------------------------------------------------------------------

def test_a_declared_huge_body_is_refused_before_reading(serve):
    srv = serve(reply("200 OK", b"[]", length=10 << 30))
    with pytest.raises(HttpError, match="more than the") as err:
        Http(timeout=5).get(srv.url + "/x")
    assert err.value.kind == "too_large"


def test_an_endless_body_stops_at_the_cap(serve):
    srv = serve(stream_forever)
    started = time.monotonic()
    with pytest.raises(HttpError) as err:
        Http(timeout=5, max_bytes=1 << 20).get(srv.url + "/x")
    assert err.value.kind == "too_large" and time.monotonic() - started < 3


def test_a_gzip_bomb_stops_at_the_cap(serve):
    srv = serve(reply("200 OK", BOMB, {"Content-Encoding": "gzip"}))
    with pytest.raises(HttpError, match="inflates past") as err:
        Http(timeout=10, max_bytes=1 << 20).get(srv.url + "/x")
    assert err.value.kind == "too_large"


def test_an_esplora_gzip_bomb_is_exit_6(serve):
    srv = serve(reply("200 OK", BOMB, {"Content-Encoding": "gzip"}))
    backend = EsploraBackend([srv.url], timeout=(1, 10), retries=0)
    with pytest.raises(BackendError, match="inflates past") as err:
        backend.received(["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"])
    assert err.value.exit_code == ExitCode.BACKEND


def test_gzip_and_deflate_within_the_cap_are_decoded(serve):
    body = b'{"ok": 1.5}' * 1000
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    srv = serve(reply("200 OK", gz.compress(body) + gz.flush(), {"Content-Encoding": "gzip"}))
    assert Http(timeout=5).get(srv.url).body == body
    srv = serve(reply("200 OK", zlib.compress(body), {"Content-Encoding": "deflate"}))
    assert Http(timeout=5).get(srv.url).body == body


@pytest.mark.parametrize("encoding,body,fragment", [
    ("br", b"\x0b\x02\x80hello\x03", "unsupported Content-Encoding"),
    ("gzip", b"not gzip at all", "corrupt"),
    ("gzip", _bomb(100_000)[:-6], "truncated"),
])
def test_bad_encodings_are_refused(serve, encoding, body, fragment):
    srv = serve(reply("200 OK", body, {"Content-Encoding": encoding}))
    with pytest.raises(HttpError, match=fragment):
        Http(timeout=5).get(srv.url)


# -- contradictory or malformed answers ---------------------------------------------------------

def test_a_body_shorter_than_its_content_length_is_an_error(serve):
    srv = serve(reply("200 OK", b"[1, 2]", length=1000))
    with pytest.raises(HttpError) as err:
        Http(timeout=5).get(srv.url)
    assert err.value.kind == "protocol"


def test_two_different_content_lengths_are_an_error(serve):
    srv = serve(reply("200 OK", b"812", {"content-length": "3", "Content-Length": "1"},
                      length=3))
    with pytest.raises(HttpError):
        Http(timeout=5).get(srv.url)


def test_bytes_past_the_content_length_are_not_read_as_the_next_answer(serve):
    """A server that sends more than it declared must not smuggle a second answer into
    the next request on the same connection."""
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n999"
    srv = serve(reply("200 OK", b"812" + smuggled, length=3))
    backend = EsploraBackend([srv.url], timeout=(1, 3), retries=0, max_workers=1)
    assert backend.tip_height() == 812
    assert backend.tip_height() == 812


@pytest.mark.parametrize("body,ctype", [
    (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    (b"", "application/json"),
    (b'{"a": NaN}', "application/json"),
])
def test_html_or_empty_instead_of_json(serve, body, ctype):
    srv = serve(reply("200 OK", body, {"Content-Type": ctype}))
    answer = Http(timeout=5).get(srv.url)
    with pytest.raises(HttpError) as err:
        answer.json()
    assert err.value.kind == "protocol" and "\n" not in str(err.value)
    backend = EsploraBackend([srv.url], timeout=(1, 3), retries=0)
    with pytest.raises(BackendError):
        backend.received(["bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"])
    with BitcoindBackend(srv.url, timeout=3) as b, pytest.raises(BackendError):
        b.tip_height()


# -- redirects -----------------------------------------------------------------------------------

def test_a_redirect_to_another_host_is_not_followed(serve):
    other = serve(reply("200 OK", b"812"))
    target = other.url.replace("127.0.0.1", "localhost") + "/api?key=topsecret"
    srv = serve(reply("302 Found", b"", {"Location": target}))
    with pytest.raises(HttpError) as err:
        Http(timeout=5).get(srv.url.replace("http://", f"http://bob:{ENCODED}@") + "/x")
    assert err.value.kind == "redirect" and "does not follow redirects" in str(err.value)
    assert "topsecret" not in str(err.value) and "s3cr" not in str(err.value)
    assert other.requests == []


def test_a_redirect_on_the_same_host_is_not_followed_either(serve):
    srv = serve(reply("301 Moved Permanently", b"", {"Location": "/elsewhere"}))
    backend = EsploraBackend([srv.url], timeout=(1, 3), retries=2)
    with pytest.raises(BackendError, match="redirect"):
        backend.tip_height()
    assert backend.requests_made == 1  # a configuration error: not retried


# -- credentials ---------------------------------------------------------------------------------

def test_an_echoed_authorization_header_is_redacted(serve):
    srv = serve(echo_authorization)
    url = srv.url.replace("http://", f"http://alice:{ENCODED}@")
    with BitcoindBackend(url, timeout=3) as b, pytest.raises(BackendError) as err:
        b.tip_height()
    message = str(err.value)
    b64 = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert "you sent" in message
    for form in (PASSWORD, ENCODED, b64, "alice:"):
        assert form not in message
    assert b"Authorization: Basic " + b64.encode() in srv.requests[0]  # it was sent


def test_an_echoed_cookie_is_redacted(serve, tmp_path):
    srv = serve(echo_authorization)
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    with BitcoindBackend(srv.url, cookie_file=str(cookie), timeout=3) as b, \
            pytest.raises(BackendError) as err:
        b.tip_height()
    assert "0f1e2d3c4b5a" not in str(err.value)
    assert base64.b64encode(b"__cookie__:0f1e2d3c4b5a69788796a5b4c3d2e1f0").decode() \
        not in str(err.value)


def test_an_echoed_password_in_esplora_errors_is_redacted(serve):
    body = f"nope, {PASSWORD} is wrong; Authorization: Basic Zm9vOmJhcg==".encode()
    srv = serve(reply("400 Bad Request", body))
    url = srv.url.replace("http://", f"http://bob:{ENCODED}@")
    backend = EsploraBackend([url], timeout=(1, 3), retries=0)
    with pytest.raises(BadValue) as err:
        backend.broadcast("00")
    assert PASSWORD not in str(err.value) and "Zm9vOmJhcg" not in str(err.value)


def test_redactor_covers_every_form():
    r = Redactor()
    r.add("p@ss word", "user")
    text = ("p@ss word | p%40ss%20word | user:p@ss word | "
            + base64.b64encode(b"user:p@ss word").decode()
            + " | https://x:y@host/ | Cookie: session=abc123 | Bearer eyJhbGciOi")
    out = r(text)
    for leak in ("p@ss", "p%40ss", "dXNlcjpw", "x:y@", "abc123", "eyJhbGciOi"):
        assert leak not in out, out


# -- URLs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("url,fragment", [
    ("http://user:p@ss@127.0.0.1:8332", "more than one '@'"),
    ("http://user:pa#ss@127.0.0.1:8332", "'#'"),
    ("http://user:pa/ss@127.0.0.1:8332", "'@' after the host"),
    ("http://user:pa?ss@127.0.0.1:8332", "'@' after the host"),
    ("http://user:pa ss@127.0.0.1:8332", "spaces"),
    ("http://user:pässword@127.0.0.1", "non-ASCII"),
    ("http://127.0.0.1:8332\\@evil", "backslashes"),
    ("http://127.0.0.1:99999", "port"),
    ("http://127.0.0.1:", "empty port"),
    ("http://%zz@host", "percent-encoding"),
    ("ftp://host", "http://"),
    ("http://", "no host"),
    ("http://ho_st", "malformed host"),
])
def test_ambiguous_urls_are_refused(url, fragment):
    with pytest.raises(ValueError) as err:
        parse_url(url)
    assert fragment in str(err.value)
    assert "ss@" not in str(err.value) and "pa" not in str(err.value).split("(")[0][-5:]


def test_an_ambiguous_rpc_url_is_refused_without_a_dns_lookup(monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("no host may be looked up")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(BadValue, match="percent-encode") as err:
        BitcoindBackend("http://user:p@ss#zebra@127.0.0.1:8332")
    assert "zebra" not in str(err.value) and "ss#" not in str(err.value)


def test_percent_encoded_credentials_are_decoded_once():
    url = parse_url(f"http://alice:{ENCODED}@[::1]:8332/wallet/w?x=1")
    assert (url.username, url.password) == ("alice", PASSWORD)
    assert (url.host, url.port, url.path, url.query) == ("::1", 8332, "/wallet/w", "x=1")
    assert url.redacted() == "http://[::1]:8332/wallet/w" and PASSWORD not in repr(url)


def test_plain_http_only_to_loopback_when_asked():
    for ok in ("http://127.0.0.1:9/x", "http://[::1]/x", "http://localhost:1/",
               "https://hooks.example.com/x"):
        parse_url(ok, loopback_http=True)
    with pytest.raises(ValueError, match="https"):
        parse_url("http://hooks.example.com/x", loopback_http=True)


def test_keep_alive_reuses_the_connection(serve):
    seen: list[int] = []

    def counting(conn: socket.socket, head: bytes) -> None:
        seen.append(id(conn))
        reply("200 OK", b"812")(conn, head)
        # keep the connection open for a second request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        seen.append(id(conn))
        reply("200 OK", b"813")(conn, head)

    srv = serve(counting)
    with Http(timeout=5) as http:
        assert http.get(srv.url).body == b"812"
        assert http.get(srv.url).body == b"813"
    assert len(seen) == 2 and seen[0] == seen[1]


def _closes_when_reused(answered: list[int]) -> Handler:
    """Answers once, keeps the connection open, then closes it the moment a second request
    arrives on it (a server's keep-alive timeout racing the client's next request)."""
    def handle(conn: socket.socket, head: bytes) -> None:
        answered.append(len(answered))
        reply("200 OK", str(812 + len(answered) - 1).encode())(conn, head)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    return handle  # closing with linger 0: the client's request meets a reset


def test_a_get_on_a_connection_the_server_just_closed_is_sent_again(serve):
    answered: list[int] = []
    srv = serve(_closes_when_reused(answered))
    with Http(timeout=5) as http:
        assert http.get(srv.url).body == b"812"
        assert http.get(srv.url).body == b"813"  # the reused connection died: a new one
    assert len(srv.requests) == 2  # one per connection (the second died unanswered)


def test_a_post_on_a_connection_the_server_just_closed_is_not_sent_again(serve):
    answered: list[int] = []
    srv = serve(_closes_when_reused(answered))
    with Http(timeout=5) as http:
        assert http.post(srv.url, body=b"{}").body == b"812"
        with pytest.raises(HttpError) as err:
            http.post(srv.url, body=b"{}")  # the server may have acted on it: not repeated
    assert err.value.kind in ("connect", "protocol")
    assert len(srv.requests) == 1  # no new connection


def test_tls_verification_cannot_be_turned_off():
    with pytest.raises(ValueError):
        Http(verify=False)


def test_a_pin_is_a_sha256_fingerprint():
    with pytest.raises(ValueError, match="64 hex digits"):
        Http(pin="ab:cd")
    Http(pin="AB" * 32)  # upper case is fine; a wrong one is tested in test_lightning_lnd.py


def test_trust_env_false_takes_no_proxy_from_the_environment(serve, monkeypatch):
    # A proxy that does not exist: a session that read the environment could not connect.
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    srv = serve(reply("200 OK", b"ok"))
    with Http(timeout=5, trust_env=False) as http:
        assert http.get(srv.url).body == b"ok"
    with Http(timeout=5) as http, pytest.raises(HttpError):
        http.get(srv.url)
