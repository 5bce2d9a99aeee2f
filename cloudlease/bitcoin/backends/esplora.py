"""Chain backend over the Esplora HTTP API (Blockstream, mempool.space, self-hosted electrs).

HTTP goes through ``cloudlease.net.Http``: one shared session (keep-alive, a pool sized to
the worker count), a total deadline per request (a server trickling bytes is cut off), a
cap on the answer's size before and after decoding (a gzip bomb stops at the cap), no
redirects, and messages with every credential redacted. Each call tries the base URLs in
turn, starting with the one that last answered; 429 (honouring Retry-After, capped), 5xx,
refused connections and timeouts are retried with exponential backoff. Anything else that
is not a well-formed answer (4xx, 3xx, 204, an empty body, bad JSON, a wrong shape, too
large) is not retried on that base. When no base gives a trustworthy answer the call
raises ``BackendError`` naming the URL (without any user:password@ or query string).

``received`` scans addresses concurrently: ``/address/:a/txs`` (up to 50 mempool and the
first 25 confirmed), then ``/txs/chain/:last_seen_txid`` while a page of confirmed txs is
full. Whenever the listing shows any transaction, ``/address/:a`` is read too and must
agree with it: the same number of confirmed and unconfirmed transactions, and the same
count and sum of outputs funding the address. A listing that is cut short (more than 50
mempool txs), lists one txid twice with different contents, or disagrees with the address
totals is read again once (it may have changed between two reads), then refused with
``BackendError``: contradictory answers are uncertain data, never a payment.

Times: a confirmed output's ``first_seen`` is its block time; Esplora has no mempool
first-seen time, so an unconfirmed output has none (``lifecycle`` then bounds it by the
last look that did not see it). ``tip`` reads ``/blocks/tip/hash`` and that block's
``/block/:hash/status`` (height and whether it is still best), so height and hash are one
consistent pair; ``orphaned`` asks ``/block/:hash/status`` (electrs answers
``in_best_chain: false`` for a block it does not have as well).

Parsing the answers (and refusing malformed ones) is ``esplora_answers``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from cloudlease.bitcoin.backends.base import Addresses, ChainTip, Received, utc_from_unix
from cloudlease.bitcoin.backends.esplora_answers import (
    HEX64,
    Malformed,
    Stats,
    Tx,
    parse_block_status,
    parse_hash,
    parse_height,
    parse_page,
    parse_stats,
    parse_utxos,
)
from cloudlease.core.clock import seconds
from cloudlease.core.errors import BackendError, BadValue, LedgerError
from cloudlease.net import Http, HttpError, parse_url, snippet

if TYPE_CHECKING:
    from cloudlease.config import Settings
    from cloudlease.files.home import Home

CHAIN_PAGE = 25
MEMPOOL_MAX = 50
MAX_PAGES = 100_000
_ADDRESS = re.compile(r"[A-Za-z0-9]{1,120}")


class _Retryable(Exception):
    def __init__(self, reason: str, delay: float = 0.0) -> None:
        super().__init__(reason)
        self.delay = delay


def redact(url: str) -> str:
    """The URL without user:password@ and without its query string (it may hold a key)."""
    try:
        return parse_url(url).redacted()
    except ValueError:
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.hostname or "?", "", "", ""))


def _retry_after(value: str | None, cap: float) -> float:
    if not value:
        return 0.0
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(seconds(value), cap)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
        return min(max(when.timestamp() - time.time(), 0.0), cap)
    except (TypeError, ValueError, OverflowError):
        return 0.0


class EsploraBackend:
    """Backend over one or more Esplora base URLs (e.g. ``https://blockstream.info/api``).

    Attributes:
        name: "esplora".
        base_urls: the bases, tried in turn.
        requests_made: HTTP requests sent so far (every attempt counts).
    """

    name = "esplora"

    @classmethod
    def from_settings(cls, settings: Settings, home: Home) -> EsploraBackend:
        if not settings.esplora_urls:
            raise LedgerError("backend.esplora_urls is empty in config.toml",
                              code="config_invalid")
        t = settings.backend_timeout
        return cls(list(settings.esplora_urls), timeout=(min(3.05, t), t))

    def __init__(
        self,
        base_urls: list[str],
        *,
        timeout: float | tuple[float, float] = (3.05, 10),
        retries: int = 3,
        backoff: float = 0.5,
        max_workers: int = 8,
        session: Any = None,
        retry_after_cap: float = 10.0,
        max_bytes: int = 4 << 20,
    ) -> None:
        if isinstance(base_urls, str):
            base_urls = [base_urls]
        bases = [str(u).strip().rstrip("/") for u in base_urls or [] if str(u).strip()]
        if not bases:
            raise BadValue("esplora needs at least one base URL")
        for url in bases:
            try:
                parse_url(url)
            except ValueError as exc:
                raise BadValue(f"esplora base URL: {exc}") from None
        if type(retries) is not int or retries < 0:
            raise BadValue(f"retries must be a whole number, 0 or more: {retries!r}")
        if type(max_workers) is not int or max_workers < 1:
            raise BadValue(f"max_workers must be at least 1: {max_workers!r}")
        connect, total = timeout if isinstance(timeout, tuple) else (min(3.05, timeout),
                                                                       timeout)
        self.base_urls = bases
        self.timeout = timeout
        self.retries = retries
        self.backoff = seconds(backoff)
        self.retry_after_cap = seconds(retry_after_cap)
        self.max_workers = max_workers
        self.requests_made = 0
        self._count_lock = threading.Lock()
        self._preferred = 0  # index of the base that answered last
        # connect: the TCP/TLS connect; total: the deadline of one whole request
        self.http = Http(timeout=total, connect_timeout=connect, pool_size=max_workers,
                         session=session, max_bytes=max_bytes)

    @property
    def session(self) -> Any:
        return self.http.session

    def close(self) -> None:
        """Close the session (only when this backend made it)."""
        self.http.close()

    def __enter__(self) -> EsploraBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP ---------------------------------------------------------------------------

    def _count(self) -> None:
        with self._count_lock:
            self.requests_made += 1

    def _attempt(self, url: str, parse: Callable[[bytes], Any]) -> Any:
        self._count()
        try:
            reply = self.http.get(url)
        except HttpError as exc:
            if exc.retryable:
                raise _Retryable(exc.reason) from None
            raise Malformed(exc.reason) from None
        status = reply.status
        if status == 429:
            delay = _retry_after(reply.headers.get("retry-after"), self.retry_after_cap)
            raise _Retryable("HTTP 429 (rate limited)", delay)
        if status >= 500:
            raise _Retryable(f"HTTP {status}")
        if status != 200:
            raise Malformed(f"HTTP {status}")
        return parse(reply.body)

    def broadcast(self, raw_hex: str) -> str:
        """``POST /tx``: relay a signed transaction; its txid. A base that refuses it (HTTP
        400: the node's own reason) is final; a base that is down is skipped."""
        problems = []
        for base in self.base_urls:
            self._count()
            try:
                reply = self.http.post(base + "/tx", body=raw_hex.strip().encode())
            except HttpError as exc:
                problems.append(f"{redact(base)}: {exc.reason}")
                continue
            text = reply.text().strip()
            if reply.status == 200 and re.fullmatch(r"[0-9a-f]{64}", text):
                return text
            if reply.status == 400:
                raise BadValue(f"{redact(base)} refused the transaction: "
                               f"{self.http.redact(snippet(text, 200))}")
            problems.append(f"{redact(base)}: HTTP {reply.status}")
        raise BackendError(f"no esplora base relayed the transaction: {'; '.join(problems)}")

    def unspent(self, addresses: Iterable[str]) -> dict[str, list[Received]]:
        """``/address/:a/utxo`` for each address."""

        return {address: [Received(address, txid, vout, value, height, False)
                          for txid, vout, value, height in
                          self._get(f"/address/{address}/utxo", parse_utxos)]
                for address in dict.fromkeys(addresses)}

    def _get(self, path: str, parse: Callable[[bytes], Any]) -> Any:
        """GET ``path`` from the bases in turn, with retries; the parsed answer or BackendError."""
        n = len(self.base_urls)
        start = self._preferred
        alive = [(start + i) % n for i in range(n)]
        last: dict[int, str] = {}
        attempts = 0
        for round_ in range(self.retries + 1):
            delay = 0.0
            for index in list(alive):
                url = self.base_urls[index] + path
                attempts += 1
                try:
                    value = self._attempt(url, parse)
                except _Retryable as exc:
                    last[index] = f"{redact(url)}: {exc}"
                    delay = max(delay, exc.delay)
                    continue
                except Malformed as exc:
                    last[index] = f"{redact(url)}: {exc}"
                    alive.remove(index)
                    continue
                self._preferred = index
                return value
            if not alive or round_ == self.retries:
                break
            time.sleep(max(delay, self.backoff * 2**round_))
        detail = "; ".join(last[i] for i in sorted(last))
        raise BackendError(f"esplora gave no trustworthy answer ({attempts} attempts): {detail}")

    # -- Backend protocol ------------------------------------------------------------------

    def tip_height(self) -> int:
        return self._get("/blocks/tip/height", parse_height)

    def tip(self) -> ChainTip:
        """The tip's hash, then that block's height: one consistent pair (if a reorg
        replaces the block in between, read again; three tries)."""
        for _ in range(3):
            block_hash = self._get("/blocks/tip/hash", parse_hash)
            best, height = self._get(f"/block/{block_hash}/status", parse_block_status)
            if best and height is not None:
                return ChainTip(height, block_hash)
        raise BackendError("esplora: the tip kept changing while it was read")

    def orphaned(self, hashes: Iterable[str]) -> set[str]:
        out = set()
        for block_hash in dict.fromkeys(hashes):
            if not isinstance(block_hash, str) or not HEX64.fullmatch(block_hash):
                continue  # not a block hash: nothing to ask
            best, _ = self._get(f"/block/{block_hash.lower()}/status", parse_block_status)
            if not best:
                out.add(block_hash)
        return out

    def watch(self, addresses: Addresses) -> None:
        """Nothing to do: Esplora indexes every address."""

    def received(self, addresses: Addresses) -> dict[str, list[Received]]:
        wanted = list(dict.fromkeys(addresses))
        for address in wanted:
            if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
                raise BadValue(f"not an address: {address!r}")
        if len(wanted) <= 1 or self.max_workers == 1:
            return {a: self._received_one(a) for a in wanted}
        from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

        result: dict[str, list[Received]] = {}
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(wanted))) as pool:
            futures = {pool.submit(self._received_one, a): a for a in wanted}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in done:
                if future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
            for future, address in futures.items():
                result[address] = future.result()
        return {a: result[a] for a in wanted}

    def _received_one(self, address: str) -> list[Received]:
        problem = ""
        for _ in range(2):
            txs, problem = self._scan(address)
            if not problem:
                return [
                    Received(address, tx.txid, n, sats, tx.height, tx.rbf,
                             utc_from_unix(tx.block_time) if tx.block_time is not None
                             else None, tx.block_hash)
                    for tx in txs
                    for n, paid_to, sats in tx.outputs
                    if paid_to == address
                ]
        raise BackendError(f"esplora: no complete, consistent answer for {address}: {problem}")

    def _scan(self, address: str) -> tuple[list[Tx], str]:
        """Every transaction of the address (deduplicated), and "" — or what makes the
        answer unusable (cut short, changed while read, contradicting itself)."""
        base = f"/address/{quote(address, safe='')}"
        seen, mempool, problem = self._history(address, base)
        if problem or not seen:
            return list(seen.values()), problem
        stats = self._get(base, parse_stats)
        return list(seen.values()), _disagreement(address, seen.values(), mempool, stats)

    def _history(self, address: str, base: str) -> tuple[dict[str, Tx], int, str]:
        """The address's transactions by txid (the first page: mempool and the first chain
        page, then chain pages while they are full), how many were unconfirmed, and a
        transaction listed twice with different contents ("" when none)."""
        first = self._get(base + "/txs", parse_page)
        seen: dict[str, Tx] = {}
        problem = _add(seen, first)
        mempool = sum(1 for tx in first if not tx.confirmed)
        page = [tx for tx in first if tx.confirmed]
        for _ in range(MAX_PAGES):
            if len(page) < CHAIN_PAGE:
                break
            page = self._get(f"{base}/txs/chain/{page[-1].txid}", parse_page)
            if any(not tx.confirmed for tx in page):
                raise BackendError(f"esplora: an unconfirmed transaction in {address}'s chain page")
            if page and all(tx.txid in seen for tx in page):
                raise BackendError(f"esplora: paging {address}'s history does not advance")
            problem = _add(seen, page) or problem
        return seen, mempool, problem


def _add(seen: dict[str, Tx], txs: list[Tx]) -> str:
    """Add ``txs`` to ``seen``; the last one already there with other contents, in words."""
    problem = ""
    for tx in txs:
        if seen.setdefault(tx.txid, tx) != tx:
            problem = f"transaction {tx.txid} is listed twice with different contents"
    return problem


def _disagreement(address: str, txs: Iterable[Tx], mempool: int, stats: Stats) -> str:
    """How the transactions listed disagree with the address totals ("" when they agree):
    counts and sums of what paid the address, confirmed and unconfirmed; or a mempool
    listing cut short."""
    listed = {True: [0, 0, 0], False: [0, 0, 0]}  # confirmed? → tx count, funded count, sum
    for tx in txs:
        part = listed[tx.confirmed]
        part[0] += 1
        for _, paid_to, sats in tx.outputs:
            if paid_to == address:
                part[1] += 1
                part[2] += sats
    if mempool >= MEMPOOL_MAX and stats.mempool[0] > mempool:
        return f"lists more than {MEMPOOL_MAX} unconfirmed transactions"
    if tuple(listed[True]) != stats.chain or tuple(listed[False]) != stats.mempool:
        return (f"the listing (confirmed {tuple(listed[True])}, unconfirmed "
                f"{tuple(listed[False])}) disagrees with the address totals (confirmed "
                f"{stats.chain}, unconfirmed {stats.mempool}) as (txs, outputs, sats)")
    return ""
