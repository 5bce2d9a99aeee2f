"""JSON-RPC to bitcoind: an explicit ``id`` on every call, batches, credentials from the
URL or the node's cookie file, and every failure as ``BackendError`` with the credentials
redacted (raw, percent-encoded, or as the base64 a server echoes back).

HTTP goes through ``cloudlease.net.Http`` (a total deadline per call, a size cap, no
redirects). The RPC URL must parse one way only: a password holding a raw ``@``, ``#``,
``/`` or ``?`` is refused with a request to percent-encode it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from cloudlease.core.errors import BackendError, BadValue

SATS_PER_BTC = Decimal(100_000_000)
_BATCH_CHUNK = 1000  # requests per JSON-RPC batch

# Bitcoin Core RPC error codes used here.
RPC_INVALID_ADDRESS_OR_KEY = -5  # also "Transaction not in mempool"
RPC_WALLET_ERROR = -4  # also "Wallet ... already exists"
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_ALREADY_LOADED = -35





class BitcoindRPCError(BackendError):
    """The node answered with a JSON-RPC error object (``rpc_code`` is its code)."""

    def __init__(self, message: str, *, rpc_code: int | None, method: str) -> None:
        super().__init__(message)
        self.rpc_code = rpc_code
        self.method = method


def btc_to_sats(value: Any) -> int:
    """A BTC amount as parsed from JSON (Decimal or int) to integer satoshis, exactly."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise BackendError(f"bitcoind sent an amount that is not a number: {value!r}")
    try:
        sats = Decimal(value) * SATS_PER_BTC
        integral = sats.to_integral_value()
    except InvalidOperation as exc:
        raise BackendError(f"bitcoind sent an invalid amount: {value!r}") from exc
    if sats != integral:
        raise BackendError(f"bitcoind sent an amount finer than a satoshi: {value}")
    return int(integral)


def signals_rbf(raw_hex: str) -> bool:
    """True when any input of the raw transaction has nSequence < 0xfffffffe (BIP125)."""
    raw = bytes.fromhex(raw_hex)
    pos = 4  # version

    def varint() -> int:
        nonlocal pos
        first = raw[pos]
        pos += 1
        if first < 0xFD:
            return first
        width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
        value = int.from_bytes(raw[pos : pos + width], "little")
        pos += width
        return value

    if raw[pos] == 0 and raw[pos + 1] != 0:  # segwit marker and flag
        pos += 2
    n_inputs = varint()
    signals = False
    for _ in range(n_inputs):
        pos += 36  # previous txid and output index
        script_len = varint()  # (not `pos += varint()`: that reads pos before the call)
        pos += script_len  # scriptSig
        if pos + 4 > len(raw):
            raise ValueError("truncated transaction")
        if int.from_bytes(raw[pos : pos + 4], "little") < 0xFFFFFFFE:
            signals = True
        pos += 4
    return signals


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BackendError(f"bitcoind sent a malformed {what}: {value!r}")
    return value



class JsonRpc:
    """A JSON-RPC 1.0 client for one node (and its watch wallet's endpoint).

    Args:
        url: ``http://user:password@host:port`` (credentials optional when a cookie file is
            given; any path in the URL is kept as the RPC root).
        wallet: the wallet whose endpoint ``wallet=True`` calls go to.
        cookie_file: the node's ``.cookie`` (``__cookie__:secret``); read at every request
            (it changes when the node restarts) and preferred over credentials in the URL.
        timeout: seconds for each HTTP request.
        session: a ``requests.Session`` to share; one is made (and closed by ``close``)
            when none is given.
    """

    def __init__(self, url: str, *, wallet: str, cookie_file: str | None = None,
                 timeout: float = 10.0, session: Any = None) -> None:
        from cloudlease.net import Http, parse_url

        try:
            parsed = parse_url(url)
        except ValueError as exc:
            raise BadValue(f"bitcoind RPC URL must look like http://user:password@host:port: "
                           f"{exc}") from None
        if not wallet:
            raise BadValue("bitcoind watch wallet name must not be empty")
        self._base = parsed.base().rstrip("/")
        self.url = self._base  # safe to show: no credentials
        self._user = parsed.username
        self._password = parsed.password
        self.wallet = wallet
        self.cookie_file = cookie_file
        self.timeout = timeout
        self._session = session
        self._own_session = session is None
        self._ids = itertools.count(1)
        # a body may be large (a batch of 1000 gettransaction with their hex), never huge
        self.http = Http(timeout=timeout, session=session, pool_size=2, max_bytes=64 << 20)
        self.http.redact.add(self._password, self._user)

    def close(self) -> None:
        """Close the HTTP session if this client made it."""
        self.http.close()

    # --- calls ----------------------------------------------------------------------------
    def call(
        self, method: str, *params: Any, wallet: bool = False, timeout: float | None = None
    ) -> Any:
        """One JSON-RPC call. A single dict argument is sent as named parameters."""
        p: Any = params[0] if len(params) == 1 and isinstance(params[0], dict) else list(params)
        rid = next(self._ids)
        answer = self._post(
            {"jsonrpc": "1.0", "id": rid, "method": method, "params": p},
            method=method,
            wallet=wallet,
            timeout=timeout,
        )
        result, error = self._unpack(answer, rid, method)
        if error is not None:
            raise error
        return result

    def _batch(
        self, calls: Sequence[tuple[str, Any]], *, wallet: bool = False
    ) -> list[tuple[Any, BitcoindRPCError | None]]:
        """Many calls in JSON-RPC batches; per call (result, error-or-None), in order."""
        out: list[tuple[Any, BitcoindRPCError | None]] = []
        for start in range(0, len(calls), _BATCH_CHUNK):
            chunk = calls[start : start + _BATCH_CHUNK]
            ids = [next(self._ids) for _ in chunk]
            body = [
                {"jsonrpc": "1.0", "id": rid, "method": m, "params": p}
                for rid, (m, p) in zip(ids, chunk, strict=True)
            ]
            label = f"batch of {len(chunk)} {chunk[0][0]}"
            answer = self._post(body, method=label, wallet=wallet, timeout=None)
            if isinstance(answer, dict) and answer.get("error") is not None:
                # A node that rejects the whole batch answers with one error object.
                raise self._unpack(answer, None, label)[1] or BackendError(label)
            if not isinstance(answer, list):
                raise BackendError(f"bitcoind at {self.url} sent a malformed answer to {label}")
            by_id = {item.get("id"): item for item in answer if isinstance(item, dict)}
            for rid, (method, _) in zip(ids, chunk, strict=True):
                if rid not in by_id:
                    raise BackendError(
                        f"bitcoind at {self.url} left call id {rid} ({method}) unanswered"
                    )
                out.append(self._unpack(by_id[rid], rid, method))
        return out

    def _unpack(
        self, answer: Any, rid: int | None, method: str
    ) -> tuple[Any, BitcoindRPCError | None]:
        if not isinstance(answer, dict) or ("result" not in answer and "error" not in answer):
            raise BackendError(f"bitcoind at {self.url} sent a malformed answer to {method}")
        if rid is not None and "id" in answer and answer["id"] != rid:
            raise BackendError(
                f"bitcoind at {self.url} answered {method} with id {answer['id']!r}, not {rid}"
            )
        error = answer.get("error")
        if error is not None:
            if isinstance(error, dict):
                code = error.get("code")
                message = str(error.get("message", error))
            else:
                code, message = None, str(error)
            rpc_code = code if isinstance(code, int) and not isinstance(code, bool) else None
            text = self._redact(
                f"bitcoind at {self.url}: {method} failed: {message} (RPC error {code})"
            )
            return None, BitcoindRPCError(text, rpc_code=rpc_code, method=method)
        return answer.get("result"), None

    def _post(self, payload: Any, *, method: str, wallet: bool, timeout: float | None) -> Any:
        from cloudlease.net import HttpError

        url = self._base + (f"/wallet/{quote(self.wallet, safe='')}" if wallet else "/")
        where = f"bitcoind at {self.url}"
        auth = self._auth()
        limit = self.timeout if timeout is None else timeout
        try:
            reply = self.http.post(url, body=json.dumps(payload).encode(), auth=auth,
                                   headers={"Content-Type": "application/json"},
                                   timeout=limit)
        except HttpError as exc:
            if exc.kind == "timeout":
                raise BackendError(f"{where} did not answer {method} within {limit:g} s") \
                    from None
            if exc.kind == "connect":
                reason = "connection refused" if "refused" in exc.reason else \
                    "connection failed"
                raise BackendError(f"cannot reach {where}: {reason} ({method})") from None
            raise BackendError(f"request to {where} failed: {exc.reason} ({method})") \
                from None
        status, body = reply.status, reply.body
        if status == 401:
            raise BackendError(
                f"{where} rejected the RPC credentials (HTTP 401); check rpcuser/rpcpassword "
                "in the URL or the cookie file"
            )
        if status == 403:
            raise BackendError(f"{where} refused access (HTTP 403); check rpcallowip")
        if not body or not body.strip():
            raise BackendError(
                f"{where} sent an empty answer (HTTP {status}) to {method}"
                + (" (was the request id lost?)" if status == 204 else "")
            )
        try:
            answer = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            if status >= 400:
                raise BackendError(f"{where} failed with HTTP {status} ({method})") from None
            raise BackendError(f"{where} sent malformed JSON (HTTP {status}) to {method}") from None
        if status >= 400 and not (isinstance(answer, dict) and answer.get("error") is not None):
            raise BackendError(f"{where} failed with HTTP {status} ({method})")
        return answer

    def _auth(self) -> tuple[str, str] | None:
        if self.cookie_file:
            try:
                with open(self.cookie_file, encoding="utf-8") as fh:
                    cookie = fh.read().strip()
            except OSError as exc:
                raise BackendError(
                    f"cannot read the bitcoind cookie file {self.cookie_file}: "
                    f"{exc.strerror or exc}"
                ) from None
            user, sep, secret = cookie.partition(":")
            if not sep or not secret:
                raise BackendError(f"bitcoind cookie file {self.cookie_file} is malformed")
            self.http.redact.add(secret, user)
            return user, secret
        if self._user is not None:
            return self._user, self._password or ""
        return None

    def _redact(self, text: str) -> str:
        return self.http.redact(text)



def _raise_first(results: list[tuple[Any, BitcoindRPCError | None]]) -> list[Any]:
    for _, error in results:
        if error is not None:
            raise error
    return [result for result, _ in results]
