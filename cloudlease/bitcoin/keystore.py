"""``keys.toml``: private keys for the quick-start ``keys`` wallet.

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

The file's safety is in ``keyfile``; decoding and signing with the keys in ``signing``;
sweeping them in ``sweep``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cloudlease.bitcoin.address import p2wpkh_address, parse_address, validate_address
from cloudlease.bitcoin.keyfile import check_mode, clean_tail, open_nofollow, parse, write_private
from cloudlease.bitcoin.networks import check_network, describe
from cloudlease.bitcoin.signing import wif_networks
from cloudlease.core.errors import BadValue, LedgerError

SCHEMA_VERSION = 1
_HEADER = "# cloudlease keystore: private keys. Keep it secret: mode 0600, never share or commit.\n"


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
            check_mode(self.path, self.path.lstat())
        except FileNotFoundError:
            return

    def load(self) -> KeyStore:
        """Read the file (a missing file is an empty keystore). Returns ``self``.

        The mode is checked on the opened file (``fstat``), so it is the file read.
        """

        try:
            with os.fdopen(open_nofollow(self.path, os.O_RDONLY), "rb") as handle:
                check_mode(self.path, os.fstat(handle.fileno()))
                raw = handle.read()
        except FileNotFoundError:
            self._keys, self._loaded = {}, True
            return self
        except OSError as exc:
            raise LedgerError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            self._keys = self._validated(parse(raw))
        except LedgerError:
            # A crash while appending a key leaves at most a torn last table, whose
            # address was never handed out: drop it, or fail on anything worse.
            cut = raw.rfind(b"\n[keys.")
            if cut < 0:
                raise
            try:
                self._keys = self._validated(parse(raw[: cut + 1]))
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
                key, key_networks = wif_networks(entry["wif"])
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
        key, key_networks = wif_networks(wif)
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
        fd = open_nofollow(self.path, os.O_RDWR | os.O_APPEND)
        try:
            info = os.fstat(fd)
            check_mode(self.path, info)
            if not clean_tail(fd, info.st_size):
                os.close(fd)
                fd = -1
                self.load()  # drops the torn table
                self.save()
                fd = open_nofollow(self.path, os.O_RDWR | os.O_APPEND)
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
        write_private(self.path, text.encode("utf-8"))
