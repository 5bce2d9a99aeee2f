"""Serve the devchain over the Esplora HTTP API, on loopback only.

``serve(path)`` returns a bound, listening ``ThreadingHTTPServer``; the caller runs
``serve_forever()`` (in a thread or not) and later ``shutdown()`` and ``server_close()``.
Each request reads ``devchain.json`` afresh (a parsed view is reused until the file
changes), so payments, blocks and reorgs made by other processes show at once.

Endpoints (as Blockstream's esplora / electrs): ``/blocks/tip/height``, ``/blocks/tip/hash``,
``/address/:a``, ``/address/:a/txs``, ``/address/:a/txs/chain[/:last_seen_txid]``,
``/address/:a/txs/mempool``, ``/tx/:txid``, ``/tx/:txid/status``, ``/block/:hash/status``
(as electrs: ``{"in_best_chain": false}`` for a block not in the best chain, known or not).
Anything else is a 404.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from cloudlease.bitcoin.devchain import Devchain, regtest_script
from cloudlease.bitcoin.devchain_view import ChainView
from cloudlease.core.errors import BadValue, CloudleaseError

_TXID = "([0-9a-f]{64})"
_ADDR = "([^/]+)"
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/blocks/tip/height"), "tip_height"),
    (re.compile(r"/blocks/tip/hash"), "tip_hash"),
    (re.compile(rf"/address/{_ADDR}"), "address"),
    (re.compile(rf"/address/{_ADDR}/txs"), "address_txs"),
    (re.compile(rf"/address/{_ADDR}/txs/chain"), "address_chain"),
    (re.compile(rf"/address/{_ADDR}/txs/chain/{_TXID}"), "address_chain"),
    (re.compile(rf"/address/{_ADDR}/txs/mempool"), "address_mempool"),
    (re.compile(rf"/address/{_ADDR}/utxo"), "address_utxo"),
    (re.compile(rf"/tx/{_TXID}"), "tx"),
    (re.compile(rf"/tx/{_TXID}/status"), "tx_status"),
    (re.compile(rf"/block/{_TXID}/status"), "block_status"),
]


class _Reply(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


class DevchainServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer answering Esplora requests from a devchain file.

    Attributes:
        devchain: the chain served.
        prefix: a base path such as ``/api`` ("" for none).
        url: the base URL to give an Esplora client, e.g. ``http://127.0.0.1:40123/api``.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        devchain: Devchain,
        prefix: str,
        log: Callable[[str], None] | None,
        family: socket.AddressFamily,
    ) -> None:
        self.address_family = family
        self.devchain = devchain
        self.prefix = prefix
        self.log = log
        super().__init__(address, _Handler)
        host, port = self.server_address[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{shown}:{port}{prefix}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client hanging up mid-answer is normal (timeouts in fault drills); say nothing
        if self.log:
            self.log(f"error answering {client_address}")


class _Handler(BaseHTTPRequestHandler):
    server: DevchainServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real Esplora servers
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server_version = "cloudlease-devchain"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.log:
            self.server.log(format % args)

    def do_GET(self) -> None:  # noqa: N802
        try:
            status, body, kind = 200, *self._answer()
        except _Reply as reply:
            status, body, kind = reply.status, reply.body, "text/plain"
        except CloudleaseError as exc:  # an unreadable devchain.json: say so, as a 500
            status, body, kind = 500, exc.message, "text/plain"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        """``POST /tx``: broadcast a raw transaction (a sweep of devchain outputs)."""
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1_000_000)).decode(errors="replace")
        if path != f"{self.server.prefix}/tx":
            status, text = 404, "Not Found"
        else:
            try:
                status, text = 200, self.server.devchain.broadcast(body)
            except CloudleaseError as exc:
                status, text = 400, f"sendrawtransaction RPC error: {exc.message}"
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self) -> tuple[str, str]:
        path = urlsplit(self.path).path
        prefix = self.server.prefix
        if prefix:
            if not path.startswith(prefix + "/"):
                raise _Reply(404, "Not Found")
            path = path[len(prefix) :]
        for pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if match:
                view = self.server.devchain.view()
                value = getattr(self, "_" + name)(view, *(unquote(g) for g in match.groups()))
                if isinstance(value, str):
                    return value, "text/plain"
                return json.dumps(value, separators=(",", ":")), "application/json"
        raise _Reply(404, "Not Found")

    @staticmethod
    def _address_ok(address: str) -> str:
        try:
            return regtest_script(address)[0]
        except BadValue:
            raise _Reply(400, "Invalid Bitcoin address") from None

    def _tip_height(self, view: ChainView) -> str:
        return str(view.height)

    def _tip_hash(self, view: ChainView) -> str:
        return view.tip_hash

    def _address(self, view: ChainView, address: str) -> Any:
        return view.address_stats(self._address_ok(address))

    def _address_txs(self, view: ChainView, address: str) -> Any:
        return view.first_page(self._address_ok(address))

    def _address_chain(self, view: ChainView, address: str, last_seen: str | None = None) -> Any:
        return view.chain_txs(self._address_ok(address), last_seen)

    def _address_mempool(self, view: ChainView, address: str) -> Any:
        return view.mempool_txs(self._address_ok(address))

    def _address_utxo(self, view: ChainView, address: str) -> Any:
        return view.utxos(self._address_ok(address))

    def _tx(self, view: ChainView, txid: str) -> Any:
        tx = view.tx(txid)
        if tx is None:
            raise _Reply(404, "Transaction not found")
        return tx

    def _tx_status(self, view: ChainView, txid: str) -> Any:
        return self._tx(view, txid)["status"]

    def _block_status(self, view: ChainView, block_hash: str) -> Any:
        height = view.block_height(block_hash)
        if height is None:
            return {"in_best_chain": False}
        status: dict[str, Any] = {"in_best_chain": True, "height": height, "next_best": None}
        if height < view.height:
            status["next_best"] = view.hash_at(height + 1)
        return status


def _loopback(host: str) -> tuple[str, socket.AddressFamily]:
    if host == "localhost":
        return "127.0.0.1", socket.AF_INET
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise BadValue(f"not an IP address: {host!r} (the devchain serves loopback only)") from None
    if not ip.is_loopback:
        raise BadValue(f"refusing to serve the devchain on {host}: loopback addresses only")
    return str(ip), socket.AF_INET6 if ip.version == 6 else socket.AF_INET


def serve(
    devchain_path: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    prefix: str = "",
    log: Callable[[str], None] | None = None,
) -> DevchainServer:
    """Bind an Esplora-shaped server for the devchain at ``devchain_path`` and return it
    listening (not yet serving: call ``serve_forever()``). Loopback hosts only; port 0
    picks a free port (see ``server.url``). ``prefix`` such as ``/api`` adds a base path;
    ``log`` receives one line per request (silent by default)."""
    address, family = _loopback(host)
    if type(port) is not int or not 0 <= port <= 65535:
        raise BadValue(f"port must be from 0 to 65535: {port!r}")
    prefix = prefix.strip()
    if prefix and (not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix):
        raise BadValue(f"prefix must look like /api: {prefix!r}")
    try:
        return DevchainServer((address, port), Devchain(devchain_path), prefix, log, family)
    except OSError as exc:
        raise BadValue(f"cannot listen on {address}:{port}: {exc.strerror or exc}") from None
