"""A simulated Lightning node beside the devchain, for regtest demos, CI and drills.

It issues real BOLT11 invoices (``lnbcrt…``), signed with a node key kept in its state file,
that any BOLT11 decoder reads; ``pay`` plays the customer's wallet and refuses what a real
node refuses. Nothing leaves the machine.

State lives in ``devchain-ln.json`` beside ``devchain.json`` (not inside it): the chain file
is parsed and cached by every chain read, keyed by its mtime, so Lightning writes there
would throw that cache away and make every invoice rewrite the whole chain (and the
reverse). Two files, two locks, each rewritten whole: a locked read-modify-write through
``fsio.atomic_write`` (temp file, fsync, rename, fsync of the folder); readers take no lock
and always see a whole file. Mode 0600: it holds the node key and unrevealed preimages.

Times come from ``cloudlease.core.clock.now()`` (``CLOUDLEASE_NOW`` pins them).

Errors: unknown invoice ``NotFound``; paying an expired, paid or cancelled invoice
``Conflict``; a wrong amount ``BadValue``; a corrupt or unreadable state file or a lock
held too long ``LedgerError``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudlease.core import clock
from cloudlease.core.errors import BackendError, BadValue, Conflict, LedgerError, NotFound
from cloudlease.lightning.base import (
    LnInvoice,
    LnState,
    LnStatus,
    check_request,
    utc_from_unix,
)

if TYPE_CHECKING:
    from cloudlease.config.lightning import LightningSettings

FORMAT = "cloudlease-devchain-ln"
VERSION = 1
LOCK_WAIT = 5.0
SOURCE = "the simulated Lightning node"
_HASH = re.compile(r"[0-9a-f]{64}")


def _fresh_state() -> dict[str, Any]:
    from coincurve import PrivateKey

    return {"format": FORMAT, "version": VERSION, "network": "regtest",
            "node_key": PrivateKey().secret.hex(), "invoices": {}}


class DevNode:
    """The simulated node whose state is ``path`` (normally ``<home>/devchain-ln.json``).

    Attributes:
        name: ``"devchain"``.
        simulated: True: label it as simulated in every output.
    """

    name = "devchain"
    simulated = True
    supports_description_hash = True
    network = "regtest"

    @classmethod
    def from_settings(cls, settings: LightningSettings, home: Path, network: str) -> DevNode:
        if network != "regtest":
            raise LedgerError(
                f"config.toml:lightning.backend = \"devchain\" is a simulated node for regtest "
                f"only, but this home is on {network}; use electrum or lnd",
                code="config_invalid")
        return cls(home / "devchain-ln.json")

    def __init__(self, path: str | os.PathLike[str], *, lock_wait: float = LOCK_WAIT) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_wait = lock_wait

    # -- files -------------------------------------------------------------------------

    def _load(self) -> dict[str, Any] | None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            state = json.loads(data)
        except ValueError:
            raise LedgerError(f"{self.path} is not valid JSON", code="devnode_invalid") from None
        problem = None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            problem = "not a simulated Lightning node file"
        elif state.get("version") != VERSION:
            problem = f"unsupported version {state.get('version')!r} (this build reads {VERSION})"
        elif not (isinstance(state.get("node_key"), str) and _HASH.fullmatch(state["node_key"])
                  and isinstance(state.get("invoices"), dict)):
            problem = "missing or malformed fields"
        if problem:
            raise LedgerError(f"{self.path} is invalid: {problem}", code="devnode_invalid")
        return state

    def _save(self, state: dict[str, Any]) -> None:
        from cloudlease.files.fsio import atomic_write

        data = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
        try:
            atomic_write(self.path, data, mode=0o600)
        except OSError as exc:  # one line at the top, naming the file and what to do
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    @contextmanager
    def _change(self) -> Iterator[dict[str, Any]]:
        from cloudlease.files.fsio import FileLock

        if not self.path.parent.is_dir():
            raise LedgerError(f"no folder {self.path.parent} for the simulated Lightning node")
        with FileLock(self.lock_path, timeout=self.lock_wait, what=str(self.path)):
            state = self._load() or _fresh_state()
            yield state
            self._save(state)

    def _state(self) -> dict[str, Any]:
        return self._load() or {"invoices": {}, "node_key": None}

    # -- the node ------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        """The node's public key (33 bytes, hex); made and saved on first use."""
        from coincurve import PrivateKey

        state = self._load()
        if state is None:
            with self._change() as state:
                pass
        return PrivateKey(bytes.fromhex(state["node_key"])).public_key.format().hex()

    def create_invoice(self, amount_msat: int, description: str,
                       expiry_seconds: int, *,
                       description_hash: str | None = None) -> LnInvoice:
        """A new signed ``lnbcrt`` invoice, checked like any node's before it is returned
        (committing to ``description_hash`` instead of carrying ``description`` when given)."""
        check_request(amount_msat, description, expiry_seconds, description_hash)
        from coincurve import PrivateKey

        from cloudlease.lightning.bolt11check import check_invoice
        from cloudlease.lightning.bolt11sign import encode_invoice

        now = clock.now()
        created = int(now.timestamp())
        if not 0 < created < 2**35:  # BOLT11 timestamps are 35 bits (until the year 3058)
            raise BackendError(f"{SOURCE} cannot date an invoice {now:%Y-%m-%d}: BOLT11 "
                               "timestamps end in the year 3058 (pay on-chain with --method "
                               "onchain)", code="ln_bad_invoice")
        preimage = secrets.token_bytes(32)
        payment_hash = hashlib.sha256(preimage).hexdigest()
        with self._change() as state:
            key = state["node_key"]
            bolt11 = encode_invoice(key, amount_msat, description, payment_hash,
                                    secrets.token_bytes(32).hex(), created, expiry_seconds,
                                    description_hash=description_hash)
            state["invoices"][payment_hash] = {
                "bolt11": bolt11, "amount_msat": amount_msat, "description": description,
                "created": created, "expiry": expiry_seconds, "preimage": preimage.hex(),
                "state": "open", "settled": None, "paid_msat": 0,
            }
        payee = PrivateKey(bytes.fromhex(key)).public_key.format().hex()
        return check_invoice(bolt11, network="regtest", amount_msat=amount_msat,
                             description=description, source=SOURCE,
                             payment_hash=payment_hash, payee=payee,
                             min_expires_at=utc_from_unix(created + expiry_seconds),
                             description_hash=description_hash)

    def statuses(self, invoices: Sequence[LnInvoice]) -> dict[str, LnStatus]:
        """One read of the state file for the whole pass."""
        state = self._state()
        now = clock.now()
        out: dict[str, LnStatus] = {}
        for inv in invoices:
            rec = state["invoices"].get(inv.payment_hash)
            if rec is None:
                raise BackendError(f"{SOURCE} ({self.path.name}) does not know invoice "
                                   f"{inv.payment_hash[:16]}… (was the file replaced?)",
                                   code="ln_unknown_invoice")
            if rec["amount_msat"] != inv.amount_msat:
                raise BackendError(f"{SOURCE} has invoice {inv.payment_hash[:16]}… for "
                                   f"{rec['amount_msat']} msat, not {inv.amount_msat} msat",
                                   code="ln_wrong_amount")
            if rec["bolt11"] != inv.bolt11:
                raise BackendError(f"{SOURCE} has another invoice under payment hash "
                                   f"{inv.payment_hash[:16]}…", code="ln_wrong_hash")
            out[inv.payment_hash] = _status(inv.payment_hash, rec, now)
        return out

    def cancel(self, invoice: LnInvoice) -> bool:
        """Cancel an unpaid invoice (as LND can): True when it can no longer be paid,
        False when it is already paid."""
        with self._change() as state:
            rec = state["invoices"].get(invoice.payment_hash)
            if rec is None:
                raise NotFound(f"{SOURCE} has no invoice {invoice.payment_hash}")
            if rec["state"] == "paid":
                return False
            rec["state"] = "cancelled"
        return True

    def close(self) -> None:
        """Nothing to release (no connection is held)."""

    # -- the customer's side -----------------------------------------------------------

    def pay(self, bolt11_or_hash: str, amount_msat: int | None = None,
            now: datetime | None = None) -> LnStatus:
        """Pay an invoice of this node as a customer's wallet would; returns its paid status.

        ``amount_msat`` defaults to the invoice amount. Refused as a real node refuses:
        an unknown invoice (NotFound), an expired, cancelled or already paid one
        (Conflict), less than the amount or more than twice it (BadValue; BOLT 4 lets a
        payer overpay up to twice, and the node records what arrived)."""
        if now is None:
            now = clock.now()
        payment_hash = self._hash_of(bolt11_or_hash)
        if amount_msat is not None and (type(amount_msat) is not int or amount_msat <= 0):
            raise BadValue(f"amount must be a positive whole number of msat: {amount_msat!r}")
        with self._change() as state:
            rec = state["invoices"].get(payment_hash)
            if rec is None:
                raise NotFound(f"{SOURCE} has no invoice with payment hash {payment_hash}")
            status = _status(payment_hash, rec, now)
            if status.state == LnState.PAID:
                raise Conflict(f"invoice {payment_hash[:16]}… is already paid (at "
                               f"{status.settled_at:%Y-%m-%d %H:%M:%S}Z); a node does not "
                               "take the same payment twice")
            if status.state == LnState.CANCELLED:
                raise Conflict(f"invoice {payment_hash[:16]}… was cancelled; it cannot be paid")
            if status.state == LnState.EXPIRED:
                expired = utc_from_unix(rec["created"] + rec["expiry"])
                raise Conflict(f"invoice {payment_hash[:16]}… expired at "
                               f"{expired:%Y-%m-%d %H:%M:%S}Z; the node refuses payment")
            paid = rec["amount_msat"] if amount_msat is None else amount_msat
            if paid < rec["amount_msat"]:
                raise BadValue(f"invoice {payment_hash[:16]}… asks for {rec['amount_msat']} "
                               f"msat; the node refuses {paid} msat (less than the amount)")
            if paid > 2 * rec["amount_msat"]:
                raise BadValue(f"invoice {payment_hash[:16]}… asks for {rec['amount_msat']} "
                               f"msat; the node refuses {paid} msat (more than twice it)")
            rec.update(state="paid", settled=int(now.timestamp()), paid_msat=paid)
            return _status(payment_hash, rec, now)

    def _hash_of(self, bolt11_or_hash: str) -> str:
        if not isinstance(bolt11_or_hash, str) or not bolt11_or_hash.strip():
            raise BadValue("give a BOLT11 invoice (lnbcrt…) or its payment hash")
        text = bolt11_or_hash.strip().lower()
        if text.startswith("lightning:"):
            text = text[len("lightning:"):]
        if _HASH.fullmatch(text):
            return text
        if not text.startswith("ln"):
            raise BadValue(f"not a BOLT11 invoice or payment hash: {bolt11_or_hash[:40]!r}")
        from cloudlease.lightning.bolt11check import decode

        try:
            decoded = decode(text, source="the invoice given")
        except BackendError as exc:
            raise BadValue(exc.message) from None
        if decoded.currency != "bcrt":
            raise BadValue(f"invoice is not for regtest (ln{decoded.currency}…); the "
                           "simulated node is regtest only")
        if decoded.payee != self.node_id:
            raise NotFound("that invoice was not made by this simulated node "
                           f"(signed by {decoded.payee[:16]}…)")
        return decoded.payment_hash


def _status(payment_hash: str, rec: dict[str, Any], now: datetime) -> LnStatus:
    if rec["state"] == "paid":
        return LnStatus(payment_hash, LnState.PAID, rec["paid_msat"],
                        utc_from_unix(rec["settled"]), rec["preimage"])
    if rec["state"] == "cancelled":
        return LnStatus(payment_hash, LnState.CANCELLED)
    if int(now.timestamp()) >= rec["created"] + rec["expiry"]:
        return LnStatus(payment_hash, LnState.EXPIRED)
    return LnStatus(payment_hash, LnState.OPEN)
