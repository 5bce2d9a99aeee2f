"""LND as the Lightning node, over its REST API (grpc-gateway JSON).

Shapes (LND's lightning.proto and REST docs): 64-bit integers travel as JSON strings
(``"value_msat": "21000000"``), ``bytes`` fields as base64 (``r_hash``, ``r_preimage``),
enums by name (``state``: ``OPEN``, ``ACCEPTED``, ``SETTLED``, ``CANCELED``). Errors are
``{"code": n, "message": "...", "details": []}`` with a non-2xx status.

- ``POST /v1/invoices {value_msat, memo, expiry, private: true}`` → ``{r_hash,
  payment_request, add_index, payment_addr}``. ``private`` adds route hints for private
  channels (harmless on a node with public ones).
- One list call per pass: ``GET /v1/invoices?reversed=true&index_offset=0&num_max_invoices=M``
  (all states, newest first by add_index). A pending-only list would not show what
  settled since the last pass; the newest-first window does, because an invoice keeps its
  add_index when it settles. The window holds at least every watched invoice plus 100,
  so one page covers them unless the node made many other invoices since; then pages go
  back (``index_offset = first_index_offset``, each twice as big as the last) until every
  watched one is found or a page reaches an hour before the oldest watched invoice (at
  most :data:`MAX_PAGES`).
- ``GET /v1/invoice/{r_hash hex}`` for a watched invoice the pages did not reach.
- ``POST /v2/invoices/cancel {payment_hash}`` cancels an unpaid invoice (``cancel``).

Authentication: the macaroon file, hex, in ``Grpc-Metadata-macaroon``; a missing or
group/world-readable file is LedgerError (exit 5) naming config.toml:lightning.macaroon.
TLS: the node's ``tls.cert`` is pinned, never verification turned off: it is the only CA
the session trusts and the server must present exactly that certificate (its SHA-256
fingerprint); anything else is BackendError (exit 6) before a byte is sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import ssl
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from cloudlease.config.lightning import macaroon_problem, redact_url, tls_cert_problem
from cloudlease.core import clock
from cloudlease.core.clock import seconds
from cloudlease.core.errors import BackendError, BadValue, LedgerError
from cloudlease.lightning.base import (
    LnInvoice,
    LnState,
    LnStatus,
    ask_node,
    check_request,
    from_home,
    looks_like_html,
    utc_from_unix,
)

if TYPE_CHECKING:
    from cloudlease.config.lightning import LightningSettings

CLOCK_SKEW = timedelta(seconds=5)
PAGE_EXTRA = 100
MAX_PAGE = 5000
MAX_PAGES = 20
_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class LndNode:
    """An LND node's invoices.

    Attributes:
        name: ``"lnd"``.
        simulated: False.
        calls: REST calls made so far (tests and benchmarks count them).
    """

    name = "lnd"
    simulated = False
    supports_description_hash = True

    @classmethod
    def from_settings(cls, settings: LightningSettings, home: Path, network: str) -> LndNode:
        return cls(settings.url, network=network,
                   macaroon=from_home(home, settings.macaroon),
                   tls_cert=from_home(home, settings.tls_cert),
                   timeout=settings.timeout_seconds)

    def __init__(self, url: str, *, network: str, macaroon: str | Path, tls_cert: str | Path,
                 timeout: Decimal | int = 10) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise BadValue(f"LND's REST URL must be https://host:port: {redact_url(url)}")
        self.network = network
        self.timeout = timeout
        self.base = f"https://{parts.netloc.rpartition('@')[2]}{parts.path.rstrip('/')}"
        self.shown = f"LND at {self.base}"
        mac, cert = Path(macaroon), Path(tls_cert)
        problem = macaroon_problem(mac)
        if problem:
            raise LedgerError(f"config.toml:lightning.macaroon: {problem}", code="config_invalid")
        problem = tls_cert_problem(cert)
        if problem:
            raise LedgerError(f"config.toml:lightning.tls_cert: {problem}", code="config_invalid")
        self._macaroon = mac.read_bytes().hex()
        pem = _CERT.search(cert.read_bytes())
        try:
            assert pem is not None
            der = ssl.PEM_cert_to_DER_cert(pem.group(0).decode("ascii"))
        except (AssertionError, ValueError, UnicodeDecodeError):
            raise LedgerError(f"config.toml:lightning.tls_cert: {cert} holds no readable "
                              "certificate", code="config_invalid") from None
        self.cert_path = cert
        self.fingerprint = hashlib.sha256(der).hexdigest()
        self._http: Any = None
        self.calls = 0

    # -- the one HTTP exchange ------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, what: str = "") -> Any:
        """One REST call; the decoded JSON answer, or BackendError."""
        if self._http is None:
            self._http = _pinned_http(self.cert_path, self.fingerprint, self._macaroon,
                                      seconds(self.timeout))
        self.calls += 1
        what = what or path.split("?")[0]
        answer = ask_node(
            self._http, method, self.base + path, shown=self.shown,
            timeout=seconds(self.timeout), json_body=body,
            headers={"Grpc-Metadata-macaroon": self._macaroon, "Accept": "application/json"},
            tls_problem=(f"{self.shown} presented a TLS certificate that is not the pinned "
                         f"one (config.toml:lightning.tls_cert = {self.cert_path}); refusing "
                         "to talk to it (if LND made a new tls.cert, copy it again)"))
        if looks_like_html(answer):
            raise BackendError(f"{self.shown} answered {what} with an HTML page, not LND's "
                               "REST API: is config.toml:lightning.url LND's REST port "
                               "(restlisten, 8080 by default)?", code="ln_bad_answer")
        try:
            doc = json.loads(answer.body) if answer.body.strip() else {}
        except ValueError:
            raise BackendError(f"{self.shown} answered {what} with something that is not "
                               f"JSON (HTTP {answer.status})", code="ln_bad_answer") from None
        if answer.status in (401, 403):
            raise BackendError(f"{self.shown} refused the macaroon in "
                               f"config.toml:lightning.macaroon (HTTP {answer.status}: "
                               f"{_message(doc)})", code="ln_auth")
        if answer.status != 200:
            raise _LndRefused(f"{self.shown} refused {what}: {_message(doc)} "
                              f"(HTTP {answer.status})", code="ln_rpc_error")
        if not isinstance(doc, dict):
            raise BackendError(f"{self.shown} answered {what} with a JSON "
                               f"{type(doc).__name__}, not an object", code="ln_bad_answer")
        return doc

    # -- the node -------------------------------------------------------------------------

    def create_invoice(self, amount_msat: int, description: str,
                       expiry_seconds: int, *,
                       description_hash: str | None = None) -> LnInvoice:
        check_request(amount_msat, description, expiry_seconds, description_hash)
        from cloudlease.lightning.bolt11check import check_invoice

        asked_at = clock.now()
        body = {"value_msat": str(amount_msat), "memo": description,
                "expiry": str(expiry_seconds), "private": True}
        if description_hash is not None:  # AddInvoice's description_hash (bytes: base64)
            body["description_hash"] = base64.b64encode(bytes.fromhex(description_hash)
                                                        ).decode("ascii")
        doc = self._call("POST", "/v1/invoices", body, what="AddInvoice")
        payment_hash = _b64hex(doc.get("r_hash"), self.shown, "r_hash")
        return check_invoice(doc.get("payment_request"), network=self.network,
                             amount_msat=amount_msat, description=description,
                             source=self.shown, payment_hash=payment_hash,
                             min_expires_at=asked_at + timedelta(seconds=expiry_seconds)
                             - CLOCK_SKEW, description_hash=description_hash)

    def statuses(self, invoices: Sequence[LnInvoice]) -> dict[str, LnStatus]:
        if not invoices:
            return {}
        wanted = {inv.payment_hash: inv for inv in invoices}
        found: dict[str, dict[str, Any]] = {}
        oldest = min(int(inv.created_at.timestamp()) for inv in invoices)
        page_size = min(MAX_PAGE, len(wanted) + PAGE_EXTRA)
        offset = 0
        for _ in range(MAX_PAGES):
            query = urlencode({"reversed": "true", "index_offset": offset,
                               "num_max_invoices": page_size})
            doc = self._call("GET", f"/v1/invoices?{query}", what="ListInvoices")
            page = doc.get("invoices")
            if not isinstance(page, list):
                raise BackendError(f"{self.shown} answered ListInvoices without a list of "
                                   "invoices", code="ln_bad_answer")
            for raw in page:
                if isinstance(raw, dict):
                    h = _b64hex(raw.get("r_hash"), self.shown, "r_hash")
                    if h in wanted:
                        found[h] = raw
            first = _int(doc.get("first_index_offset", 0), self.shown, "first_index_offset")
            older = any(_int(r.get("creation_date", 0), self.shown, "creation_date")
                        < oldest - 3600 for r in page if isinstance(r, dict))
            if len(found) == len(wanted) or len(page) < page_size or first <= 1 or older:
                break
            offset = first
            page_size = min(MAX_PAGE, 2 * page_size)
        out: dict[str, LnStatus] = {}
        for h, inv in wanted.items():
            raw = found.get(h)
            if raw is None:
                raw = self._lookup(h)
            out[h] = self._status(inv, raw)
        return out

    def _lookup(self, payment_hash: str) -> dict[str, Any]:
        try:
            raw = self._call("GET", f"/v1/invoice/{payment_hash}", what="LookupInvoice")
        except _LndRefused as exc:
            raise BackendError(f"{self.shown} does not know invoice {payment_hash[:16]}… "
                               f"({exc.message.split(': ', 1)[-1]})",
                               code="ln_unknown_invoice") from None
        if _b64hex(raw.get("r_hash"), self.shown, "r_hash") != payment_hash:
            raise BackendError(f"{self.shown} answered LookupInvoice {payment_hash[:16]}… with "
                               "another invoice", code="ln_wrong_hash")
        return raw

    def _status(self, inv: LnInvoice, raw: dict[str, Any]) -> LnStatus:
        h = inv.payment_hash
        value = _int(raw.get("value_msat", 0), self.shown, "value_msat")
        if value != inv.amount_msat:
            raise BackendError(f"{self.shown} reports invoice {h[:16]}… for {value} msat, but "
                               f"it is for {inv.amount_msat} msat", code="ln_wrong_amount")
        request = raw.get("payment_request")
        if isinstance(request, str) and request and request.lower() != inv.bolt11:
            raise BackendError(f"{self.shown} reports another invoice under payment hash "
                               f"{h[:16]}…", code="ln_wrong_hash")
        state = raw.get("state")
        state = {0: "OPEN", 1: "SETTLED", 2: "CANCELED", 3: "ACCEPTED"}.get(state, state)
        past = clock.now() >= inv.expires_at
        if state == "OPEN":
            return LnStatus(h, LnState.EXPIRED if past else LnState.OPEN)
        if state == "ACCEPTED":  # a held HTLC, not settled: not paid yet
            return LnStatus(h, LnState.OPEN)
        if state == "CANCELED":  # LND cancels expired invoices itself
            return LnStatus(h, LnState.EXPIRED if past else LnState.CANCELLED)
        if state != "SETTLED":
            raise BackendError(f"{self.shown} reports state {state!r} for invoice {h[:16]}…",
                               code="ln_bad_answer")
        from cloudlease.lightning.bolt11check import check_preimage

        preimage = check_preimage(_b64hex(raw.get("r_preimage"), self.shown, "r_preimage"),
                                  h, source=self.shown)
        paid = _int(raw.get("amt_paid_msat", 0), self.shown, "amt_paid_msat")
        settled = _int(raw.get("settle_date", 0), self.shown, "settle_date")
        if paid < inv.amount_msat or settled <= 0:
            raise BackendError(f"{self.shown} reports invoice {h[:16]}… settled with "
                               f"{paid} msat at {settled}, which cannot be", code="ln_bad_answer")
        return LnStatus(h, LnState.PAID, paid, utc_from_unix(settled), preimage)

    def cancel(self, invoice: LnInvoice) -> bool:
        """Cancel an unpaid invoice: True when it can no longer be paid, False when LND
        says it is already settled."""
        body = {"payment_hash": base64.b64encode(bytes.fromhex(invoice.payment_hash)).decode()}
        try:
            self._call("POST", "/v2/invoices/cancel", body, what="CancelInvoice")
        except _LndRefused as exc:
            if "already settled" in exc.message.lower():
                return False
            raise BackendError(exc.message, code="ln_rpc_error") from None
        return True

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


class _LndRefused(BackendError):
    """LND answered with an error document (not an auth failure)."""


def _pinned_http(cert_path: Path, fingerprint: str, macaroon: str, timeout: float) -> Any:
    """An HTTP client that trusts only ``cert_path`` and requires the server's certificate
    to be exactly it (its SHA-256 fingerprint), never shows the macaroon, and takes
    nothing from the environment: no CA bundle in place of the pin, no proxy that would
    see the macaroon."""
    from cloudlease.net import Http

    return Http(timeout=timeout, connect_timeout=timeout, verify=str(cert_path),
                pin=fingerprint, secrets=[macaroon], trust_env=False, pool_size=1)


def _message(doc: Any) -> str:
    if isinstance(doc, dict):
        for key in ("message", "error"):
            if isinstance(doc.get(key), str):
                return " ".join(doc[key].split())[:160]
    return "no message"


def _int(value: Any, shown: str, field: str) -> int:
    """A grpc-gateway int64 (a JSON string of digits; a number is accepted too)."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return int(value)
    raise BackendError(f"{shown} sent a malformed {field}: {str(value)[:30]!r}",
                       code="ln_bad_answer")


def _b64hex(value: Any, shown: str, field: str) -> str:
    """A 32-byte grpc-gateway bytes field (base64, standard or URL-safe) as hex."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 32:
            return raw.hex()
    raise BackendError(f"{shown} sent a malformed {field} (not 32 bytes of base64)",
                       code="ln_bad_answer")
