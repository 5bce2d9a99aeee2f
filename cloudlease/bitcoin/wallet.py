"""Watch-only descriptor wallets: parse what the operator gives, derive fresh addresses.

The operator gives either an output descriptor (``wpkh(...)``, ``sh(wpkh(...))``,
``pkh(...)``, ``tr(...)``, ``wsh(sortedmulti(...))``, anything embit parses; with or without
its ``#checksum``; key origins allowed) or a bare extended public key. Bare keys follow the
SLIP-132 convention of the wallets that export them:

=============  ==========================  ================
version        script                      BIP
=============  ==========================  ================
xpub / tpub    ``pkh(KEY/0/*)``            BIP44 (legacy)
ypub / upub    ``sh(wpkh(KEY/0/*))``       BIP49 (nested)
zpub / vpub    ``wpkh(KEY/0/*)``           BIP84 (native)
=============  ==========================  ================

:func:`parse_wallet_source` returns one canonical descriptor string for the *receive*
branch, with every key in plain ``xpub``/``tpub`` form (as Bitcoin Core writes them), ``h``
for hardened steps and a fresh checksum. A multipath ``<0;1>`` step becomes its first
(receive) element, as BIP389 defines. That string is what the ledger stores.

Refused (``BadValue``): malformed text or a wrong checksum; any private key (xprv, tprv,
WIF); a key of another network; a hardened step or hardened wildcard after a public key
(it cannot be derived watch-only); a descriptor without a wildcard (one address only).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from cloudlease.bitcoin.networks import TEST_FAMILY, check_network, embit_net, mismatch_message
from cloudlease.core.errors import BadValue

HARDENED = 0x80000000

# SLIP-132 version bytes → (name, networks, script for a bare key or None, is_private).
_MAIN = ("mainnet",)
_VERSIONS: dict[bytes, tuple[str, tuple[str, ...], str | None, bool]] = {
    bytes.fromhex("0488b21e"): ("xpub", _MAIN, "pkh", False),
    bytes.fromhex("049d7cb2"): ("ypub", _MAIN, "sh-wpkh", False),
    bytes.fromhex("04b24746"): ("zpub", _MAIN, "wpkh", False),
    bytes.fromhex("0295b43f"): ("Ypub", _MAIN, None, False),
    bytes.fromhex("02aa7ed3"): ("Zpub", _MAIN, None, False),
    bytes.fromhex("043587cf"): ("tpub", TEST_FAMILY, "pkh", False),
    bytes.fromhex("044a5262"): ("upub", TEST_FAMILY, "sh-wpkh", False),
    bytes.fromhex("045f1cf6"): ("vpub", TEST_FAMILY, "wpkh", False),
    bytes.fromhex("024289ef"): ("Upub", TEST_FAMILY, None, False),
    bytes.fromhex("02575483"): ("Vpub", TEST_FAMILY, None, False),
    bytes.fromhex("0488ade4"): ("xprv", _MAIN, None, True),
    bytes.fromhex("049d7878"): ("yprv", _MAIN, None, True),
    bytes.fromhex("04b2430c"): ("zprv", _MAIN, None, True),
    bytes.fromhex("0295b005"): ("Yprv", _MAIN, None, True),
    bytes.fromhex("02aa7a99"): ("Zprv", _MAIN, None, True),
    bytes.fromhex("04358394"): ("tprv", TEST_FAMILY, None, True),
    bytes.fromhex("044a4e28"): ("uprv", TEST_FAMILY, None, True),
    bytes.fromhex("045f18bc"): ("vprv", TEST_FAMILY, None, True),
    bytes.fromhex("024285b5"): ("Uprv", TEST_FAMILY, None, True),
    bytes.fromhex("02575048"): ("Vprv", TEST_FAMILY, None, True),
}
_STANDARD_PUB = {_MAIN: bytes.fromhex("0488b21e"), TEST_FAMILY: bytes.fromhex("043587cf")}

_WATCH_ONLY = "watch-only only: this descriptor holds a private key"
_B58_TOKEN = re.compile(r"[1-9A-HJ-NP-Za-km-z]{50,}")
_BARE_KEY = re.compile(r"^(\[[0-9a-fA-F]{8}(?:/[0-9]+['hH]?)*\])?([1-9A-HJ-NP-Za-km-z]{100,120})$")
_HARDENED_WILDCARD = re.compile(r"\*['hH]")


def _short(key_text: str) -> str:
    return key_text[:12] + "…" if len(key_text) > 16 else key_text


def _holds_private_key(text: str) -> bool:
    """True when any base58 token in ``text`` is an extended private key or a WIF key.

    Checked on the raw text before parsing, so that no parser error message can ever echo
    private key material.
    """
    from embit import base58

    for token in _B58_TOKEN.findall(text):
        if token[1:4] == "prv":
            return True
        try:
            payload = base58.decode_check(token)
        except ValueError:
            continue
        if len(payload) == 78 and _VERSIONS.get(payload[:4], ("", (), None, False))[3]:
            return True
        if len(payload) in (33, 34) and payload[0] in (0x80, 0xEF):
            return True
    return False


def _bare_key_descriptor(text: str, network: str) -> str:
    """Turn a bare (optionally origin-prefixed) SLIP-132 public key into a descriptor."""
    from embit import base58

    match = _BARE_KEY.match(text)
    if match is None:
        raise BadValue("not a descriptor or an extended public key (xpub/ypub/zpub/tpub/...)")
    origin, key_text = match.group(1) or "", match.group(2)
    try:
        payload = base58.decode_check(key_text)
    except ValueError:
        raise BadValue(f"extended key {_short(key_text)} has a bad checksum") from None
    if len(payload) != 78 or payload[:4] not in _VERSIONS:
        raise BadValue(f"{_short(key_text)} is not an extended public key")
    name, networks, script, _private = _VERSIONS[payload[:4]]
    if network not in networks:
        what = f"key {_short(key_text)} ({name})"
        raise BadValue(mismatch_message(what, list(networks), network))
    if script is None:
        raise BadValue(
            f"a bare {name} is for multisig: give the full descriptor, e.g. wsh(sortedmulti(...))"
        )
    key = origin + key_text + "/0/*"
    return {"pkh": f"pkh({key})", "sh-wpkh": f"sh(wpkh({key}))", "wpkh": f"wpkh({key})"}[script]


def _check_checksum(text: str) -> str:
    """Strip and verify a ``#checksum``; return the descriptor body."""
    from embit.descriptor.checksum import checksum

    body, sep, given = text.partition("#")
    try:
        expected = checksum(body)
    except Exception:
        raise BadValue("descriptor contains a character descriptors do not allow") from None
    if sep and given != expected:
        raise BadValue(f"descriptor checksum #{given} is wrong (expected #{expected})")
    return body


def _parse_descriptor(body: str) -> Any:
    from embit.descriptor import Descriptor

    if _HARDENED_WILDCARD.search(body):
        raise BadValue("a hardened wildcard (*h) cannot be derived watch-only; use /0/*")
    try:
        return Descriptor.from_string(body)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        if "Hardened derivation is not allowed" in reason:
            raise BadValue(
                "a hardened step after a public key cannot be derived watch-only"
            ) from None
        raise BadValue(f"malformed descriptor ({reason})") from None


def _check_keys(desc: Any, network: str) -> None:
    """Refuse private keys and keys of another network; normalise versions to xpub/tpub."""
    for key in desc.keys:
        if key.is_private:
            raise BadValue(_WATCH_ONLY)
        if not key.is_extended:
            continue
        hd = key.key
        info = _VERSIONS.get(bytes(hd.version))
        if info is None:
            raise BadValue("descriptor holds an extended key with an unknown version")
        name, networks, _script, _private = info
        if network not in networks:
            what = f"key {_short(hd.to_base58())} ({name})"
            raise BadValue(mismatch_message(what, list(networks), network))
        hd.version = _STANDARD_PUB[networks]


def parse_wallet_source(text: str, network: str) -> str:
    """Validate a descriptor or bare xpub/ypub/zpub/tpub/upub/vpub for ``network``.

    Returns the canonical receive-branch descriptor with its checksum, e.g.
    ``wpkh([73c5da0a/84h/0h/0h]xpub.../0/*)#checksum``. Raises ``BadValue`` (see module doc).
    """
    from embit.descriptor.checksum import add_checksum

    network = check_network(network)
    if not isinstance(text, str) or not text.strip():
        raise BadValue("empty wallet descriptor")
    text = "".join(text.split())  # pasted descriptors often carry line breaks
    if _holds_private_key(text):
        raise BadValue(_WATCH_ONLY)
    if "(" not in text:
        text = _bare_key_descriptor(text, network)
    body = _check_checksum(text)
    desc = _parse_descriptor(body)
    if not desc.is_wildcard:
        raise BadValue(
            "descriptor has no wildcard (/*): it gives one address, and every payment request "
            "needs a fresh one"
        )
    if desc.num_branches > 1:
        desc = desc.branch(0)  # BIP389: the first element of <0;1> is the receive branch
    _check_keys(desc, network)
    try:
        desc.derive(0).address(embit_net(network))
    except Exception as exc:
        raise BadValue(f"descriptor cannot derive addresses ({str(exc)[:80]})") from None
    return add_checksum(str(desc))


class DescriptorWallet:
    """Derives receive addresses from a watch-only descriptor.

    The descriptor is parsed once; for keys of the common ``KEY/.../*`` shape the fixed
    steps before the wildcard are derived once too, so each address costs one child
    derivation per key instead of re-walking the whole path.

    Attributes:
        descriptor: the canonical descriptor string (see :func:`parse_wallet_source`).
        network: the network addresses are encoded for.
    """

    def __init__(self, descriptor: str, network: str) -> None:
        self.network = check_network(network)
        self.descriptor = parse_wallet_source(descriptor, self.network)
        self._net = embit_net(self.network)
        desc = _parse_descriptor(self.descriptor.partition("#")[0])
        _check_keys(desc, self.network)
        self._desc = _prederive(desc)

    def __repr__(self) -> str:
        return f"DescriptorWallet({self.descriptor!r}, {self.network!r})"

    def address_at(self, index: int) -> str:
        """The receive address at ``index`` (0 ≤ index < 2**31)."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise BadValue(f"address index must be an integer, not {index!r}")
        if not 0 <= index < HARDENED:
            raise BadValue(f"address index {index} is out of range (0 to {HARDENED - 1})")
        return self._desc.derive(index).address(self._net)

    def addresses(self, start: int, count: int) -> list[str]:
        """``count`` consecutive receive addresses from ``start``."""
        return [self.address_at(i) for i in range(start, start + count)]


@functools.lru_cache(maxsize=8)
def descriptor_wallet(descriptor: str, network: str) -> DescriptorWallet:
    """A wallet parsed once per process (parsing and checking a descriptor costs more than
    deriving an address)."""
    return DescriptorWallet(descriptor, network)


def _prederive(desc: Any) -> Any:
    """Replace ``xpub/a/b/*`` keys by ``xpub_ab/*`` so that derivation walks one step.

    Works on the parsed key objects in place; origins are not needed for addresses. Keys of
    another shape (wildcard not last, no derivation) are left alone.
    """
    from embit.descriptor.arguments import AllowedDerivation, KeyOrigin

    for key in desc.keys:
        der = key.allowed_derivation
        if not key.is_extended or der is None:
            continue
        steps = der.indexes
        if len(steps) < 2 or steps[-1] is not None:
            continue
        if not all(isinstance(step, int) for step in steps[:-1]):
            continue
        key.key = key.key.derive(list(steps[:-1]))
        key.allowed_derivation = AllowedDerivation([None])
        if key.origin is None:
            # embit computes a child fingerprint per derive() when there is no origin;
            # an empty origin skips that (origins play no part in addresses).
            key.origin = KeyOrigin(b"\x00" * 4, [])
    return desc
