"""The example webhook receiver (examples/webhooks/receiver.py) answers every malformed,
non-ASCII or forged Cloudlease-Signature header with 400 or 401, never an exception and
never a dropped connection: property tests over arbitrary header bytes, through its
``verify`` and over a real socket to the running receiver."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO

SECRET = "whsec-test-0123456789-abcdef"
BODY = json.dumps({"id": "E-1", "event": "lease_active"}).encode()
CRLF = (b"\r", b"\n")


def _load():
    spec = importlib.util.spec_from_file_location(
        "example_receiver_props", REPO / "examples" / "webhooks" / "receiver.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver = _load()


def signed(body: bytes = BODY, stamp: int | None = None) -> str:
    stamp = int(time.time()) if stamp is None else stamp
    mac = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"


# headers: any bytes (as http.server hands them over, latin-1), any text, and the right
# shape with wrong insides
HEADERS = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.text(max_size=300),
    st.builds(lambda t, v: f"t={t},v1={v}", st.text(max_size=20), st.text(max_size=80)),
    st.builds(lambda t, v: f"t={t},v1={v}", st.integers(-10**30, 10**30),
              st.text(alphabet="0123456789abcdefABCDEF", min_size=60, max_size=68)),
    st.builds(lambda t, v: f"t={t},v1={v}", st.integers(0, 2**40),
              st.binary(max_size=80).map(lambda b: b.decode("latin-1"))),
)


@settings(max_examples=400, deadline=None)
@given(header=HEADERS)
def test_verify_rejects_any_header_with_400_or_401(header):
    with pytest.raises(receiver.Rejected) as caught:
        receiver.verify(SECRET, header, BODY)
    assert caught.value.status in (400, 401), (header, caught.value)


def test_verify_still_takes_a_genuine_signature_and_says_which_is_which():
    assert receiver.verify(SECRET, signed(stamp=1_700_000_000), BODY,
                           now=1_700_000_000) == 1_700_000_000
    for header, status in [(None, 401), ("", 401), ("t=1", 401), ("v1=" + "a" * 64, 401),
                           ("t=١٢٣,v1=" + "a" * 64, 400),  # digits, but not ASCII ones
                           ("t=1,v1=é" + "a" * 63, 400), ("t=1;v1=x", 400),
                           ("t=1_000,v1=" + "a" * 64, 400), ("t=1,t=2,v1=" + "a" * 64, 400),
                           ("t=1,v1=" + "a" * 64, 401)]:  # well formed, wrong
        with pytest.raises(receiver.Rejected) as caught:
            receiver.verify(SECRET, header, BODY)
        assert caught.value.status == status, header


# --- over a real socket ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    acted: list[dict] = []
    srv = receiver.make_server(SECRET, acted.append)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[:2]
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=30)


def post(address: tuple[str, int], headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """A raw HTTP/1.1 POST (header bytes exactly as given); the answer's status, or 0
    when the connection closed without one."""
    head = b"".join(k + b": " + v + b"\r\n" for k, v in headers)
    request = (b"POST /hook HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + head
               + b"\r\n" + body)
    with socket.create_connection(address, timeout=60) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0


HEADER_BYTES = st.binary(max_size=500).filter(lambda b: not any(c in b for c in CRLF))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=HEADER_BYTES)
def test_the_running_receiver_answers_any_signature_bytes_with_400_or_401(server, value):
    status = post(server, [(b"Content-Type", b"application/json"),
                           (b"Content-Length", str(len(BODY)).encode()),
                           (b"Cloudlease-Signature", value)], BODY)
    assert status in (400, 401), (value, status)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=HEADER_BYTES)
def test_the_running_receiver_answers_any_content_length_with_a_status(server, value):
    status = post(server, [(b"Content-Length", value),
                           (b"Cloudlease-Signature", signed().encode())], BODY)
    assert status in (400, 401, 413), (value, status)


def test_a_signed_body_that_is_not_an_event_is_400_and_the_receiver_goes_on(server):
    for body in (b"not json", b"\xff\xfe", b"[1, 2]", b'{"no": "id"}', b'{"id": null}'):
        headers = [(b"Content-Length", str(len(body)).encode()),
                   (b"Cloudlease-Signature", signed(body).encode())]
        assert post(server, headers, body) == 400, body
    genuine = [(b"Content-Length", str(len(BODY)).encode()),
               (b"Cloudlease-Signature", signed().encode())]
    assert post(server, genuine, BODY) == 204  # after all that, still serving
