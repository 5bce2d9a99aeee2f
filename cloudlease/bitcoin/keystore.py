"""``keys.toml``: private keys for the quick-start ``keys`` wallet, and sweeping them.

One key per payment request, made with ``bit`` and paid to at the native segwit (P2WPKH)
address of its compressed public key. The file::

    # cloudlease keystore: private keys. Keep it secret: mode 0600, never share or commit.
    schema_version = 1

    [keys.bcrt1q...]
    wif = "c..."
    network = "regtest"

Safety rules:
- the file is written atomically (temp file in the same folder created 0600, fsync,
  ``os.replace``, fsync of the folder) and never with wider permissions;
- a keystore that group or others may read or write, or that another user owns, is
  refused (``LedgerError``) before it is read;
- a keystore that is a symbolic link (or not a regular file) is refused on every open
  (``O_NOFOLLOW``) and before every write: a link would let the keys be read from, or
  written to, a place nobody checks;
- no private key ever appears in an exception message or a ``repr``.

Locking is the caller's business: hold the ledger lock from :meth:`KeyStore.load` (or the
first call that loads) to :meth:`KeyStore.save`.

Signing (:func:`sweep_transaction`) uses embit, not bit: bit 0.8.0 signs segwit inputs
only as P2SH-P2WPKH (it always writes a scriptSig) and skips native P2WPKH outputs.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Sequence
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from cloudlease.bitcoin.address import p2wpkh_address, parse_address, validate_address
from cloudlease.bitcoin.networks import TEST_FAMILY, check_network, describe
from cloudlease.errors import BadValue, LedgerError
from cloudlease.ledger.fsio import atomic_write

SCHEMA_VERSION = 1
_HEADER = "# cloudlease keystore: private keys. Keep it secret: mode 0600, never share or commit.\n"
_RBF_SEQUENCE = 0xFFFFFFFD  # BIP125: lets the operator bump a stuck sweep
_MAX_FEE_RATE = Decimal(10_000)  # sat/vB; anything above is surely a typo


def _wif_networks(wif: str) -> tuple[Any, tuple[str, ...]]:
    """Decode a WIF into an embit private key and the networks its prefix belongs to.

    Raises ``BadValue`` without ever quoting the key.
    """
    from embit import ec
    from embit.base import EmbitError

    try:
        key = ec.PrivateKey.from_wif(wif.strip())
    except (EmbitError, ValueError, TypeError, AttributeError, IndexError):
        raise BadValue("the private key given is not a valid WIF key") from None
    if not key.compressed:
        raise BadValue("the private key given is uncompressed; P2WPKH needs a compressed key")
    prefix = key.network["wif"] if key.network else None
    if prefix == b"\x80":
        return key, ("mainnet",)
    if prefix == b"\xef":
        return key, TEST_FAMILY
    raise BadValue("the private key given has an unknown WIF prefix")


class KeyStore:
    """The private keys in one ``keys.toml``.

    Attributes:
        path: the keystore file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._keys: dict[str, dict[str, str]] = {}
        self._loaded = False
        self.torn = False  # load() dropped a torn last entry (a crash mid-append)

    def __repr__(self) -> str:
        count = len(self._keys) if self._loaded else "?"
        return f"KeyStore({str(self.path)!r}, keys={count})"

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._keys)

    def __contains__(self, address: object) -> bool:
        self._ensure_loaded()
        return isinstance(address, str) and address.strip().lower() in self._lookup_keys()

    # -- reading ---------------------------------------------------------------------------

    def check_permissions(self) -> None:
        """Refuse (``LedgerError``) a keystore that others may read or write, or own, or
        that is a symbolic link."""
        try:
            self._check_mode(self.path.lstat())
        except FileNotFoundError:
            return

    def _open(self, flags: int) -> int:
        """``os.open`` that never follows a symbolic link (ELOOP becomes a clear error)."""
        try:
            return os.open(self.path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link_error(self.path) from None
            raise

    def _check_mode(self, info: os.stat_result) -> None:
        if stat.S_ISLNK(info.st_mode):
            raise _link_error(self.path)
        if not stat.S_ISREG(info.st_mode):
            raise LedgerError(f"{self.path} is not a regular file; cloudlease refuses it")
        mode = stat.S_IMODE(info.st_mode)
        fix = f"run chmod 600 {self.path}"
        if mode & 0o044:
            raise LedgerError(f"{self.path.name} is readable by others (mode {mode:04o}); {fix}")
        if mode & 0o022:
            raise LedgerError(f"{self.path.name} is writable by others (mode {mode:04o}); {fix}")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise LedgerError(f"{self.path.name} belongs to another user (uid {info.st_uid})")

    def load(self) -> KeyStore:
        """Read the file (a missing file is an empty keystore). Returns ``self``.

        The mode is checked on the opened file (``fstat``), so it is the file read.
        """

        try:
            with os.fdopen(self._open(os.O_RDONLY), "rb") as handle:
                self._check_mode(os.fstat(handle.fileno()))
                raw = handle.read()
        except FileNotFoundError:
            self._keys, self._loaded = {}, True
            return self
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            self._keys = self._validated(_parse(raw))
        except LedgerError:
            # A crash while appending a key leaves at most a torn last table, whose
            # address was never handed out: drop it, or fail on anything worse.
            cut = raw.rfind(b"\n[keys.")
            if cut < 0:
                raise
            try:
                self._keys = self._validated(_parse(raw[: cut + 1]))
            except LedgerError:
                raise LedgerError(f"{self.path.name} is damaged beyond its last entry; "
                                  "restore it from a backup") from None
            self.torn = True
        self._loaded = True
        return self

    def _validated(self, data: dict[str, Any]) -> dict[str, dict[str, str]]:
        name = self.path.name
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise LedgerError(f"{name} has no valid schema_version")
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"{name} has schema_version {version}; this cloudlease reads up to "
                f"{SCHEMA_VERSION}: upgrade cloudlease"
            )
        keys = data.get("keys", {})
        if not isinstance(keys, dict):
            raise LedgerError(f"{name}: [keys] must be a table")
        result: dict[str, dict[str, str]] = {}
        for address, entry in keys.items():
            # Addresses are checked by verify(), not on every load: new_key loads the whole
            # store, and decoding every address made a rent cost O(keys) in bech32 work.
            if not isinstance(entry, dict) or not isinstance(entry.get("wif"), str):
                raise LedgerError(f"{name}: key for {address} has no wif string")
            network = entry.get("network")
            if network is not None and not isinstance(network, str):
                raise LedgerError(f"{name}: key for {address} has a bad network")
            result[address] = {k: v for k, v in entry.items() if k in ("wif", "network")}
        return result

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.load()

    def _lookup_keys(self) -> dict[str, str]:
        """Canonical address → stored address (bech32 is matched case-insensitively)."""
        return {addr.lower(): addr for addr in self._keys}

    # -- queries ---------------------------------------------------------------------------

    def addresses(self, network: str | None = None) -> list[str]:
        """Addresses with a key here, in file order; only ``network``'s when given."""
        self._ensure_loaded()
        if network is None:
            return list(self._keys)
        network = check_network(network)
        return [
            addr
            for addr, entry in self._keys.items()
            if entry.get("network", network) == network and network in parse_address(addr).networks
        ]

    def wif_for(self, address: str) -> str:
        """The WIF private key for ``address``; ``LedgerError`` when the keystore lacks it."""
        self._ensure_loaded()
        stored = self._lookup_keys().get(address.strip().lower()) if address else None
        if stored is None:
            raise LedgerError(f"no private key for {address} in {self.path.name}")
        return self._keys[stored]["wif"]

    def verify(self) -> list[str]:
        """Check every key pays its address and fits its network; return the problems.

        An empty list means the keystore is sound. Messages never quote a key.
        """
        self._ensure_loaded()
        problems = []
        for address, entry in self._keys.items():
            try:
                parsed = parse_address(address)
            except BadValue:
                problems.append(f"{address!r} is not a valid address")
                continue
            network = entry.get("network") or parsed.networks[0]
            try:
                if network not in parsed.networks:
                    raise BadValue(f"address is not for {network}")
                key, key_networks = _wif_networks(entry["wif"])
                if network not in key_networks:
                    raise BadValue(f"its key is for {describe(key_networks)}")
                if p2wpkh_address(key.sec(), network) != parsed.address:
                    raise BadValue("its key does not pay to it")
            except BadValue as exc:
                problems.append(f"{address}: {exc}")
        return problems

    # -- changes ---------------------------------------------------------------------------

    def add(self, address: str, wif: str, network: str | None = None) -> None:
        """Add a key in memory (call :meth:`save`). The WIF must pay to ``address``.

        ``network`` defaults to the only network the address fits, and is required for
        addresses that several networks share (``tb1...``) only if you want it recorded.
        """
        self._ensure_loaded()
        parsed = parse_address(address)
        if network is not None:
            network = check_network(network)
            validate_address(address, network)
        elif len(parsed.networks) == 1:
            network = parsed.networks[0]
        key, key_networks = _wif_networks(wif)
        if not set(key_networks) & set(parsed.networks):
            raise BadValue(
                f"the private key given is for {describe(key_networks)}, "
                f"but address {parsed.address} is for {describe(list(parsed.networks))}"
            )
        target = network or parsed.networks[0]
        if p2wpkh_address(key.sec(), target) != parsed.address:
            raise BadValue(f"the private key given does not pay to {parsed.address}")
        existing = self._lookup_keys().get(parsed.address)
        if existing is not None:
            if self._keys[existing]["wif"] != wif.strip():
                raise BadValue(f"{parsed.address} already has a different key")
            return
        entry = {"wif": wif.strip()}
        if network is not None:
            entry["network"] = network
        self._keys[parsed.address] = entry

    def new_key(self, network: str) -> tuple[str, str]:
        """Make a key with bit, store it durably, and return ``(address, wif)``.

        The key is on disk (fsynced) before the address is handed out, so no address is
        ever shown whose key is not saved. It is *appended* as one ``[keys.ADDR]`` table:
        a rent costs the same with ten keys or a hundred thousand, where rewriting the
        whole file grew with every key. A crash mid-append can only leave a torn last
        table — a key whose address was never handed out — which ``load`` drops and the
        next append repairs.
        """
        import bit
        import tomli_w

        network = check_network(network)
        key = bit.PrivateKey() if network == "mainnet" else bit.PrivateKeyTestnet()
        address = p2wpkh_address(key.public_key, network)
        wif = key.to_wif()
        entry = {"wif": wif, "network": network}
        if not os.path.lexists(self.path):
            self._ensure_loaded()
            self._keys[address] = entry
            self.save()
            return address, wif
        chunk = "\n" + tomli_w.dumps({"keys": {address: entry}})
        fd = self._open(os.O_RDWR | os.O_APPEND)
        try:
            info = os.fstat(fd)
            self._check_mode(info)
            if not _clean_tail(fd, info.st_size):
                os.close(fd)
                fd = -1
                self.load()  # drops the torn table
                self.save()
                fd = self._open(os.O_RDWR | os.O_APPEND)
            os.write(fd, chunk.encode("utf-8"))
            os.fsync(fd)
        finally:
            if fd >= 0:
                os.close(fd)
        if self._loaded:
            self._keys[address] = entry
        return address, wif

    def save(self) -> None:
        """Write the file atomically with mode 0600 (see the module doc)."""
        import tomli_w

        self._ensure_loaded()
        text = _HEADER + tomli_w.dumps({"schema_version": SCHEMA_VERSION, "keys": self._keys})
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path.is_symlink():  # os.replace would swap the link for a file silently
            raise _link_error(self.path)
        atomic_write(self.path, text.encode("utf-8"), mode=0o600)


def _link_error(path: Path) -> LedgerError:
    return LedgerError(f"{path} is a symbolic link; cloudlease refuses to read or write keys "
                       "through one: put the keystore file itself there (mode 0600)")


def health(path: str | os.PathLike[str], *, expected: bool) -> dict[str, Any]:
    """What ``wallet show`` reports about the keystore, without reading any key.

    ``expected``: the wallet is a keys wallet that has handed out addresses, so the file
    must exist. Returns ``{"path", "exists", "mode" ("0600" or None), "problem"}`` where
    ``problem`` is one line for a note (None when all is well): missing while expected, a
    symbolic link, not a regular file, readable or writable by others, another user's.
    """
    path = Path(path)
    result: dict[str, Any] = {"path": str(path), "exists": False, "mode": None,
                              "problem": None}
    try:
        info = path.lstat()
    except FileNotFoundError:
        if expected:
            result["problem"] = (f"the keystore {path} is missing: the keys of the addresses "
                                 "handed out are not here; restore it from a backup")
        return result
    except OSError as exc:
        result["problem"] = f"cannot check the keystore {path}: {exc.strerror}"
        return result
    result["exists"] = True
    result["mode"] = f"{stat.S_IMODE(info.st_mode):04o}"
    try:
        KeyStore(path)._check_mode(info)
    except LedgerError as exc:
        result["problem"] = exc.message
    return result


def _parse(raw: bytes) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        # tomllib messages give a position, never the content.
        raise LedgerError(f"keys.toml is not valid TOML ({exc})") from None


def _clean_tail(fd: int, size: int) -> bool:
    """Whether the file's last table is whole (so appending after it is safe)."""
    tail = os.pread(fd, min(size, 1024), max(0, size - 1024))
    if not tail.endswith(b"\n"):
        return False
    start = tail.rfind(b"\n[keys.")
    if start < 0:
        return b"[keys." not in tail  # only the header so far
    try:
        table = _parse(tail[start + 1:])
    except LedgerError:
        return False
    entries = list(table.get("keys", {}).values())
    return len(entries) == 1 and isinstance(entries[0], dict) and "wif" in entries[0]


# -- sweeping -------------------------------------------------------------------------------


def sign_p2wpkh_input(tx: Any, index: int, key: Any, amount_sats: int) -> None:
    """Sign input ``index`` of an embit ``Transaction`` spending a P2WPKH output (BIP143).

    The scriptCode of a P2WPKH input is the P2PKH script of the key; the witness is
    ``[signature + SIGHASH_ALL, public key]`` and the scriptSig stays empty.
    """
    from embit import script
    from embit.transaction import SIGHASH

    pub = key.get_public_key()
    digest = tx.sighash_segwit(index, script.p2pkh(pub), amount_sats, SIGHASH.ALL)
    tx.vin[index].witness = script.witness_p2wpkh(key.sign(digest), pub, SIGHASH.ALL)


def sweep_vsize(n_inputs: int, output_script: bytes) -> int:
    """Upper bound of the virtual size of a sweep: P2WPKH inputs, one output.

    Signatures are counted at 72 bytes (embit grinds low-R ones of at most 71).
    """
    base = 4 + _varint_len(n_inputs) + 41 * n_inputs + 1 + 8 + _varint_len(len(output_script))
    base += len(output_script) + 4
    witness = 2 + n_inputs * (1 + 1 + 72 + 1 + 33)
    weight = base * 4 + witness
    return -(-weight // 4)


def dust_limit(output_script: bytes) -> int:
    """Bitcoin Core's dust threshold for an output (3 sat/vB to spend it)."""
    out_size = 8 + _varint_len(len(output_script)) + len(output_script)
    segwit = len(output_script) >= 4 and output_script[0] in (0, *range(0x51, 0x61))
    spend_size = 67 if segwit and output_script[1] + 2 == len(output_script) else 148
    return (out_size + spend_size) * 3


def _varint_len(n: int) -> int:
    return 1 if n < 0xFD else 3 if n <= 0xFFFF else 5


def sweep_transaction(
    keys: Sequence[str],
    to_address: str,
    fee_rate_sat_vb: int | Decimal,
    utxos: Iterable[Any],
    *,
    network: str,
) -> str:
    """Build and sign a transaction moving every UTXO to ``to_address``; return raw hex.

    ``utxos`` are objects with ``txid`` (hex), ``vout``, ``sats`` and ``address``
    (``backends.base.Received`` fits). Each must pay the P2WPKH address of one of ``keys``
    (WIF strings). The fee is ``ceil(vsize × fee_rate)``; inputs signal RBF (BIP125).
    Raises ``BadValue`` for a bad address or rate, an unknown UTXO address, a duplicated
    UTXO, or nothing left above the dust limit after the fee.
    """
    from embit.script import Script
    from embit.transaction import Transaction, TransactionInput, TransactionOutput

    network = check_network(network)
    destination = validate_address(to_address, network)
    out_script = parse_address(destination).script_pubkey
    if isinstance(fee_rate_sat_vb, bool) or not isinstance(fee_rate_sat_vb, int | Decimal):
        raise BadValue("fee rate must be an int or Decimal number of sat/vB")
    rate = Decimal(fee_rate_sat_vb)
    if not rate.is_finite() or rate < 1 or rate > _MAX_FEE_RATE:
        raise BadValue(f"fee rate {rate} sat/vB is out of range (1 to {_MAX_FEE_RATE})")

    by_address: dict[str, Any] = {}
    for wif in keys:
        key, key_networks = _wif_networks(wif)
        if network not in key_networks:
            raise BadValue(f"a private key given is for {describe(key_networks)}, not {network}")
        by_address[p2wpkh_address(key.sec(), network)] = key

    spends: list[tuple[Any, Any]] = []
    seen: set[tuple[str, int]] = set()
    for utxo in utxos:
        outpoint = (str(utxo.txid).lower(), int(utxo.vout))
        if outpoint in seen:
            raise BadValue(f"UTXO {outpoint[0]}:{outpoint[1]} is listed twice")
        seen.add(outpoint)
        if isinstance(utxo.sats, bool) or not isinstance(utxo.sats, int) or utxo.sats <= 0:
            raise BadValue(f"UTXO {outpoint[0]}:{outpoint[1]} has a bad amount")
        key = by_address.get(str(utxo.address).lower())
        if key is None:
            raise BadValue(f"no private key given for UTXO address {utxo.address}")
        spends.append((utxo, key))
    if not spends:
        raise BadValue("nothing to sweep: no UTXOs given")

    total = sum(utxo.sats for utxo, _ in spends)
    vsize = sweep_vsize(len(spends), out_script)
    fee = int((rate * vsize).to_integral_value(rounding=ROUND_CEILING))
    amount = total - fee
    if amount < dust_limit(out_script):
        raise BadValue(
            f"nothing to sweep: {total} sat minus a {fee} sat fee leaves less than the dust limit"
        )

    try:
        vin = [
            TransactionInput(bytes.fromhex(utxo.txid), int(utxo.vout), sequence=_RBF_SEQUENCE)
            for utxo, _ in spends
        ]
    except ValueError:
        raise BadValue("a UTXO txid is not hex") from None
    if any(len(inp.txid) != 32 for inp in vin):
        raise BadValue("a UTXO txid is not 32 bytes")
    tx = Transaction(version=2, vin=vin, vout=[TransactionOutput(amount, Script(out_script))])
    for index, (utxo, key) in enumerate(spends):
        sign_p2wpkh_input(tx, index, key, utxo.sats)
    return tx.serialize().hex()
