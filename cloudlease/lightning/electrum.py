"""An Electrum daemon as the Lightning node, over its JSON-RPC 2.0 interface.

The daemon (Electrum 4.8.3, checked against its source and a real regtest network) answers
HTTP POST on ``rpchost:rpcport`` with basic auth (``rpcuser``/``rpcpassword``); the URL in
config.toml carries them: ``http://user:password@127.0.0.1:7777``. Params go by name.

- ``add_request {amount: "<BTC>", memo, expiry, lightning: true}`` makes an invoice; the
  answer holds ``lightning_invoice``, ``rhash`` (= ``request_id``, the payment hash),
  ``amount_msat``, ``status`` and ``can_receive`` (inbound capacity suffices). Amounts are
  BTC decimals of whole sats: Electrum requests have no msat precision.
- ``list_requests {pending: true}`` is the one call per pass: the requests still payable,
  so its cost follows the open requests, not the wallet's history (about 0.9 s for 1,000
  open ones here: the daemon signs each invoice again as it lists it). In 4.8.3 the
  filters are exclusive (``pending`` wins over ``expired`` over ``paid``; asking for pending
  and paid gives pending only), so a watched request missing from that list (it was paid
  or expired since the last pass) is looked up with ``get_request {request_id}``, or, when
  more than :data:`LOOKUP_MAX` are missing, with one unfiltered ``list_requests`` (every
  request with its status: 0 unpaid, 1 expired, 3 paid with its ``preimage``).
  "Request not found" means the wallet forgot the request or another wallet is loaded:
  an error, never "unpaid".
- ``lightning_history`` gives the settle time (the arrival time of the payment's HTLCs) and
  the amount received; it is called only in a pass where a watched invoice is paid. In
  the instant between the daemon marking a request paid and its HTLC being settled in
  the channel, the payment is not in the history yet: that pass reports the invoice as
  still open, the next one as paid.
- A listed request is matched to ours by payment hash and amount, not by invoice text:
  Electrum makes and signs the BOLT11 text again each time it lists a request, and the
  route hints in it change with the channel (after a reconnect the text differs).
- There is no cancel: ``cancel`` returns False (the other way to pay is ignored).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from cloudlease.config.lightning import redact_url
from cloudlease.core import clock
from cloudlease.core.clock import seconds
from cloudlease.core.errors import BackendError, BadValue
from cloudlease.lightning.base import (
    LnInvoice,
    LnState,
    LnStatus,
    ask_node,
    check_request,
    looks_like_html,
    utc_from_unix,
)

if TYPE_CHECKING:
    from pathlib import Path

    from cloudlease.config.lightning import LightningSettings

PR_UNPAID, PR_EXPIRED, PR_UNKNOWN, PR_PAID = 0, 1, 2, 3
RECEIVED = 1  # electrum.lnworker.PaymentDirection.RECEIVED
CLOCK_SKEW = timedelta(seconds=5)  # an invoice may start this much before our clock
LOOKUP_MAX = 3  # more watched requests than this left the pending list: list them all


class ElectrumNode:
    """An Electrum daemon's Lightning wallet.

    Attributes:
        name: ``"electrum"``.
        simulated: False.
        calls: JSON-RPC calls made so far (tests and benchmarks count them).
    """

    name = "electrum"
    simulated = False
    # Electrum 4.8's add_request (and add_hold_invoice) take a memo only, and its
    # lnworker.get_bolt11_invoice always writes the ``d`` field: an invoice cannot commit
    # to a description hash. LNURL-pay invoices then carry the metadata's text as ``d``
    # (wallets no longer check the hash: LUD-06 since lnurl/luds#234; Electrum's own
    # LNURL client never did).
    supports_description_hash = False

    @classmethod
    def from_settings(cls, settings: LightningSettings, home: Path, network: str
                      ) -> ElectrumNode:
        return cls(settings.url, network=network, timeout=settings.timeout_seconds)

    def __init__(self, url: str, *, network: str, timeout: Decimal | int = 10) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadValue(f"not an Electrum daemon URL: {redact_url(url)}")
        self.network = network
        self.timeout = timeout
        self.shown = f"the Electrum daemon at {redact_url(url)}"
        host = parts.netloc.rpartition("@")[2]
        self._endpoint = urlunsplit((parts.scheme, host, parts.path or "/", "", ""))
        self._auth = (parts.username or "", parts.password or "")
        self._http: Any = None
        self._next_id = 1
        self.calls = 0

    # -- the one HTTP exchange ------------------------------------------------------------

    def _call(self, method: str, params: dict[str, Any]) -> Any:
        """One JSON-RPC 2.0 call; its result, or BackendError saying what went wrong."""
        if self._http is None:
            from cloudlease.net import Http

            # nothing from the environment: no proxy (it would see the password), no .netrc
            self._http = Http(timeout=seconds(self.timeout),
                              connect_timeout=seconds(self.timeout), trust_env=False,
                              pool_size=1)
        call_id = self._next_id
        self._next_id += 1
        self.calls += 1
        answer = ask_node(self._http, "POST", self._endpoint, shown=self.shown,
                          timeout=seconds(self.timeout), auth=self._auth,
                          json_body={"jsonrpc": "2.0", "id": call_id, "method": method,
                                     "params": params})
        if answer.status == 401 or answer.status == 403:
            raise BackendError(f"{self.shown} refused the RPC user and password in "
                               f"config.toml:lightning.url (HTTP {answer.status})",
                               code="ln_auth")
        if looks_like_html(answer):
            raise BackendError(f"{self.shown} answered with an HTML page, not JSON-RPC: is "
                               "config.toml:lightning.url the daemon's RPC address?",
                               code="ln_bad_answer")
        if answer.status != 200:
            raise BackendError(f"{self.shown} answered {method} with HTTP {answer.status} "
                               f"({_snippet(answer.body)})", code="ln_bad_answer")
        try:
            doc = json.loads(answer.body)
        except ValueError:
            raise BackendError(f"{self.shown} answered {method} with something that is not "
                               f"JSON ({_snippet(answer.body)})", code="ln_bad_answer") from None
        if not isinstance(doc, dict) or doc.get("id") != call_id:
            raise BackendError(f"{self.shown} answered {method} with a malformed JSON-RPC "
                               "document (no matching id)", code="ln_bad_answer")
        error = doc.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else None
            message = message if isinstance(message, str) else json.dumps(error)[:200]
            if "wallet not loaded" in message.lower():
                raise BackendError(
                    f"{self.shown} has no wallet loaded: load it with `electrum load_wallet` "
                    "(with the daemon's own -D/--regtest/-w options), then retry",
                    code="ln_wallet_not_loaded")
            if "password required" in message.lower():
                raise BackendError(f"{self.shown} has a locked wallet: unlock it (`electrum "
                                   "unlock`) or load it with its password", code="ln_wallet_locked")
            raise BackendError(f"{self.shown} refused {method}: {_oneline(message)}",
                               code="ln_rpc_error")
        if "result" not in doc:
            raise BackendError(f"{self.shown} answered {method} without a result",
                               code="ln_bad_answer")
        return doc["result"]

    # -- the node -------------------------------------------------------------------------

    def create_invoice(self, amount_msat: int, description: str,
                       expiry_seconds: int, *,
                       description_hash: str | None = None) -> LnInvoice:
        """An invoice carrying ``description`` (``description_hash`` cannot be honoured
        here, see ``supports_description_hash``; the caller decides with that flag)."""
        check_request(amount_msat, description, expiry_seconds, description_hash)
        if amount_msat % 1000:
            raise BadValue(f"Electrum invoices are whole sats; {amount_msat} msat is not")
        from cloudlease.core.money import btc_text
        from cloudlease.lightning.bolt11check import check_invoice

        asked_at = clock.now()
        req = self._call("add_request", {"amount": btc_text(amount_msat // 1000),
                                         "memo": description, "expiry": expiry_seconds,
                                         "lightning": True})
        if not isinstance(req, dict) or req.get("is_lightning") is not True:
            raise BackendError(f"{self.shown} did not make a Lightning request (answer: "
                               f"{_snippet(json.dumps(req).encode())})", code="ln_bad_answer")
        payment_hash = req.get("rhash")
        if not isinstance(payment_hash, str) or payment_hash != req.get("request_id"):
            raise BackendError(f"{self.shown} answered add_request without a payment hash",
                               code="ln_bad_answer")
        if req.get("amount_msat") != amount_msat:
            raise BackendError(f"{self.shown} made a request for {req.get('amount_msat')!r} "
                               f"msat, but we asked for {amount_msat} msat",
                               code="ln_wrong_amount")
        bolt11 = req.get("lightning_invoice")
        if not bolt11:
            raise BackendError(f"{self.shown} made no BOLT11 invoice: its wallet has no "
                               "Lightning (a wallet created from a seed with Lightning keys "
                               "is needed)", code="ln_no_lightning")
        if req.get("can_receive") is False:
            raise BackendError(
                f"{self.shown} cannot receive {amount_msat // 1000} sat now: its channels "
                "lack inbound capacity (open or rebalance a channel, or pay on-chain with "
                "--method onchain)", code="ln_no_capacity")
        return check_invoice(bolt11, network=self.network, amount_msat=amount_msat,
                             description=description, source=self.shown,
                             payment_hash=payment_hash,
                             min_expires_at=asked_at + timedelta(seconds=expiry_seconds)
                             - CLOCK_SKEW)

    def statuses(self, invoices: Sequence[LnInvoice]) -> dict[str, LnStatus]:
        if not invoices:
            return {}
        found = self._requests({"pending": True})
        gone = [inv.payment_hash for inv in invoices if inv.payment_hash not in found]
        if len(gone) > LOOKUP_MAX:
            found.update(self._requests({}))
        for payment_hash in gone:
            if payment_hash not in found:
                found[payment_hash] = self._lookup(payment_hash)
        out: dict[str, LnStatus] = {}
        paid: list[tuple[LnInvoice, str]] = []
        for inv in invoices:
            req = found[inv.payment_hash]
            self._check_same(inv, req)
            status = req.get("status")
            if status == PR_UNPAID:
                out[inv.payment_hash] = LnStatus(inv.payment_hash, LnState.OPEN)
            elif status == PR_EXPIRED:
                out[inv.payment_hash] = LnStatus(inv.payment_hash, LnState.EXPIRED)
            elif status == PR_PAID:
                from cloudlease.lightning.bolt11check import check_preimage

                paid.append((inv, check_preimage(req.get("preimage"), inv.payment_hash,
                                                 source=self.shown)))
            else:
                raise BackendError(f"{self.shown} reports status {status!r} for invoice "
                                   f"{inv.payment_hash[:16]}…, which cloudlease does not know",
                                   code="ln_bad_answer")
        if paid:
            settled = self._settled()
            for inv, preimage in paid:
                item = settled.get(inv.payment_hash)
                if item is None:  # paid, HTLC not settled in the channel yet: next pass
                    out[inv.payment_hash] = LnStatus(inv.payment_hash, LnState.OPEN)
                    continue
                amount, when, hist_preimage = item
                if hist_preimage not in (None, preimage) or amount < inv.amount_msat:
                    raise BackendError(f"{self.shown} reports a payment for invoice "
                                       f"{inv.payment_hash[:16]}… that does not match it "
                                       f"({amount} msat)", code="ln_bad_answer")
                out[inv.payment_hash] = LnStatus(inv.payment_hash, LnState.PAID, amount,
                                                 utc_from_unix(when), preimage)
        return out

    def _requests(self, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """``list_requests`` with ``params``, keyed by payment hash."""
        listed = self._call("list_requests", params)
        if not isinstance(listed, list):
            raise BackendError(f"{self.shown} answered list_requests with a "
                               f"{type(listed).__name__}, not a list", code="ln_bad_answer")
        return {req["rhash"]: req for req in listed
                if isinstance(req, dict) and isinstance(req.get("rhash"), str)}

    def _lookup(self, payment_hash: str) -> dict[str, Any]:
        try:
            req = self._call("get_request", {"request_id": payment_hash})
        except BackendError as exc:
            if "request not found" in exc.message.lower():
                raise BackendError(f"{self.shown} does not know invoice {payment_hash[:16]}… "
                                   "(deleted from the wallet, or another wallet loaded?)",
                                   code="ln_unknown_invoice") from None
            raise
        if not isinstance(req, dict) or req.get("rhash") != payment_hash:
            raise BackendError(f"{self.shown} answered get_request {payment_hash[:16]}… with "
                               "another request", code="ln_wrong_hash")
        return req

    def _check_same(self, inv: LnInvoice, req: dict[str, Any]) -> None:
        if req.get("amount_msat") != inv.amount_msat:
            raise BackendError(f"{self.shown} reports invoice {inv.payment_hash[:16]}… for "
                               f"{req.get('amount_msat')!r} msat, but it is for "
                               f"{inv.amount_msat} msat", code="ln_wrong_amount")
        # Not the invoice text: Electrum signs it again each time it lists a request, and
        # the route hints in it change when the channel does (after a reconnect, say).
        if req.get("is_lightning") is not True:
            raise BackendError(f"{self.shown} reports request {inv.payment_hash[:16]}… as not "
                               "a Lightning request", code="ln_wrong_hash")

    def _settled(self) -> dict[str, tuple[int, int, str | None]]:
        """Received payments: payment hash → (msat, settle time, preimage)."""
        history = self._call("lightning_history", {})
        if not isinstance(history, list):
            raise BackendError(f"{self.shown} answered lightning_history with a "
                               f"{type(history).__name__}, not a list", code="ln_bad_answer")
        out: dict[str, tuple[int, int, str | None]] = {}
        for item in history:
            if not (isinstance(item, dict) and item.get("type") == "payment"
                    and item.get("direction") == RECEIVED):
                continue
            h, amount, when = item.get("payment_hash"), item.get("amount_msat"), \
                item.get("timestamp")
            if (isinstance(h, str) and type(amount) is int and amount > 0
                    and type(when) is int and when > 0):
                pre = item.get("preimage")
                out[h] = (amount, when, pre.lower() if isinstance(pre, str) else None)
        return out

    def cancel(self, invoice: LnInvoice) -> bool:
        """Electrum cannot cancel an invoice (deleting the request would only forget it)."""
        return False

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None


def _oneline(text: str, limit: int = 160) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _snippet(body: bytes, limit: int = 60) -> str:
    text = body[:limit * 2].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text)
    return repr(_oneline(text, limit)) if text.strip() else "an empty body"


