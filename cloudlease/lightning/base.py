"""What every Lightning backend offers: make an invoice, report on many invoices in one
pass, cancel one where the node can, close.

Records are frozen dataclasses holding integers (msat), hex strings and UTC datetimes;
nothing here imports a third-party library, so importing ``cloudlease.lightning`` costs
nothing at CLI start-up. :func:`make_node` imports the one backend it builds.

Contract for every backend (each is tested against it):

- ``create_invoice`` returns an invoice only after it was decoded locally and checked
  (``bolt11check.check_invoice``): network prefix, amount, payment hash, expiry, description.
  Anything else is ``BackendError`` (exit 6) and nothing is returned. With
  ``description_hash`` (LNURL-pay: the SHA-256 of the metadata served) the invoice commits
  to that hash (``h``) instead of carrying the description, where the node can: the
  simulated node and LND do; Electrum (4.8) cannot (its RPC takes a memo only), so it
  carries ``description`` and says so (``supports_description_hash``).
- ``statuses`` asks the node with one list call per pass (a backend may need one more call
  in a pass where something settled, or a look-up for a hash missing from the list; never
  one call per watched invoice). It returns a status for every invoice passed in, keyed by
  payment hash; a node that does not know one of them, or answers for another amount or
  hash, is ``BackendError`` — uncertain data, never "unpaid".
- A ``paid`` status carries the node's settle time (authoritative for "late") and the
  preimage, checked: ``sha256(preimage) == payment_hash``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cloudlease.config.registry import LIGHTNING_NODES
from cloudlease.core.errors import BackendError, BadValue, LedgerError
from cloudlease.model.lightning import LnInvoice, LnState, LnStatus  # noqa: F401 - re-exported for backends

if TYPE_CHECKING:
    from cloudlease.config.lightning import LightningSettings
    from cloudlease.net import Http, Reply


@runtime_checkable
class LightningNode(Protocol):
    """A Lightning node that receives payments for cloudlease.

    Attributes:
        name: the backend name (``devchain``, ``electrum``, ``lnd``).
        simulated: True for the devchain's simulated node (label it in every output).
        supports_description_hash: whether its invoices can commit to a description hash.
    """

    name: str
    simulated: bool
    supports_description_hash: bool

    def create_invoice(self, amount_msat: int, description: str,
                       expiry_seconds: int, *,
                       description_hash: str | None = None) -> LnInvoice: ...

    def statuses(self, invoices: Sequence[LnInvoice]) -> dict[str, LnStatus]: ...

    def cancel(self, invoice: LnInvoice) -> bool: ...

    def close(self) -> None: ...


# -- helpers shared by the backends ------------------------------------------------------

MAX_DESCRIPTION_BYTES = 639  # BOLT11: the d field holds at most 639 bytes of UTF-8
MAX_EXPIRY_SECONDS = 31 * 24 * 3600
MAX_AMOUNT_MSAT = 21_000_000 * 100_000_000 * 1000


def check_request(amount_msat: object, description: object, expiry_seconds: object,
                  description_hash: object = None) -> None:
    """Refuse (BadValue, exit 2) what no node should be asked for."""
    if description_hash is not None and (not isinstance(description_hash, str) or
                                         not re.fullmatch(r"[0-9a-f]{64}", description_hash)):
        raise BadValue("a description hash is 64 lowercase hex digits (SHA-256)")
    if type(amount_msat) is not int or not 1 <= amount_msat <= MAX_AMOUNT_MSAT:
        raise BadValue(f"Lightning amount must be a whole number of msat from 1 to "
                       f"{MAX_AMOUNT_MSAT}: {amount_msat!r}")
    if not isinstance(description, str):
        raise BadValue("Lightning invoice description must be text")
    if len(description.encode()) > MAX_DESCRIPTION_BYTES:
        raise BadValue(f"Lightning invoice description is longer than "
                       f"{MAX_DESCRIPTION_BYTES} bytes")
    if any(ord(c) < 32 or ord(c) == 127 for c in description):
        raise BadValue("Lightning invoice description must not hold control characters")
    if type(expiry_seconds) is not int or not 60 <= expiry_seconds <= MAX_EXPIRY_SECONDS:
        raise BadValue(f"Lightning invoice expiry must be from 60 to {MAX_EXPIRY_SECONDS} "
                       f"seconds: {expiry_seconds!r}")


def utc_from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# -- asking a node over HTTP ----------------------------------------------------------------

MAX_ANSWER_BYTES = 32 * 1024 * 1024  # 1,000 open Electrum requests list as ~0.8 MB, LND ~1.5 MB

# What a failed call means for a node, by ``HttpError.kind``; anything else is a bad answer.
_FAILURE_CODES = {"timeout": "ln_timeout", "connect": "ln_down", "protocol": "ln_down",
                  "tls": "ln_tls"}


def ask_node(http: Http, method: str, url: str, *, shown: str, timeout: float,
             json_body: Any = None, headers: dict[str, str] | None = None,
             auth: tuple[str, str] | None = None, tls_problem: str | None = None) -> Reply:
    """One HTTP call to a node through ``cloudlease.net``: a total deadline of ``timeout``
    seconds, at most :data:`MAX_ANSWER_BYTES`, no redirect followed, credentials redacted.
    The reply for any status but 3xx (the client judges it); a call without a complete
    answer is BackendError (exit 6) coded ``ln_timeout``, ``ln_down``, ``ln_tls`` or
    ``ln_bad_answer``, naming the node by ``shown`` (a URL without its password).
    ``tls_problem`` is the message for a failed TLS handshake (say, not the pinned
    certificate)."""
    from cloudlease.net import HttpError

    try:
        return http.request(method, url, json_body=json_body, headers=headers, auth=auth,
                            timeout=timeout, max_bytes=MAX_ANSWER_BYTES)
    except ValueError as exc:  # the URL (config.toml checks it with the same parser)
        raise LedgerError(f"config.toml:lightning.url: {exc}", code="config_invalid") from None
    except HttpError as exc:
        code = _FAILURE_CODES.get(exc.kind, "ln_bad_answer")
        if exc.kind == "timeout":
            message = f"{shown} did not answer within {timeout:g} s"
        elif exc.kind == "connect":
            message = f"{shown} is not answering: {exc.reason}; is the node running?"
        elif exc.kind == "tls" and tls_problem:
            message = tls_problem
        else:
            message = f"{shown}: {exc.reason}"
        raise BackendError(message, code=code) from None


def looks_like_html(reply: Reply) -> bool:
    """A web page where a node's API was expected (a wrong port, a proxy's error page)."""
    head = reply.body[:200].lstrip().lower()
    return ("html" in reply.headers.get("content-type", "").lower()
            or head.startswith((b"<!doctype", b"<html")))


def make_node(settings: LightningSettings, home_path: str | os.PathLike[str],
              network: str) -> LightningNode:
    """The configured node. ``backend = "none"`` is BadValue (exit 2) saying how to
    configure one; a setting that cannot work (devchain off regtest, a missing or
    group/world-readable macaroon, a missing TLS certificate) is LedgerError (exit 5)
    naming ``config.toml:lightning.<key>``. Relative paths are taken from ``home_path``.
    Nothing talks to the node here."""
    home = Path(home_path)
    backend = settings.backend
    if backend == "none":
        raise BadValue(
            "no Lightning backend is configured: set [lightning] backend in config.toml "
            "(devchain on regtest, electrum or lnd), or run `cloudlease init --lightning "
            "BACKEND`; or pay on-chain with --method onchain", code="lightning_not_configured")
    node: LightningNode = LIGHTNING_NODES.load(backend).from_settings(settings, home, network)
    return node


def from_home(home: Path, path: str) -> Path:
    """A path from config.toml: relative ones are taken from the home."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else home / p
