"""A light check of a wallet descriptor or extended public key, cheap enough for every
command: config.toml's ``wallet.descriptor`` is checked on each load, and importing embit
and parsing with it (what ``bitcoin.wallet.parse_wallet_source`` does before the first
address is derived) costs some 25 ms, more than a whole ``lease list``.

:func:`problem` looks only for what is certainly wrong, so it never refuses what the wallet
code accepts (tests/test_descriptors.py holds the two side by side): whitespace is ignored
as the wallet code ignores it; then a private key anywhere (never echoed), a character
descriptors do not allow, a wrong ``#checksum`` (BIP380), a shape the wallet code does not
read, unbalanced brackets, no wildcard or a hardened one, and for each extended key its
base58 checksum (a mistyped or truncated key), its version (public, of this network), its
point on the curve, and no hardened step after it. Bare keys follow the wallet code's
SLIP-132 rules (xpub/tpub → pkh, ypub/upub → sh(wpkh), zpub/vpub → wpkh; Ypub/Zpub...
need a full multisig descriptor).

Pure: no I/O, nothing imported beyond the standard library.
"""

from __future__ import annotations

import hashlib
import re

INPUT_CHARSET = ("0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
                 "ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ")
CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_INPUT_INDEX = {ch: i for i, ch in enumerate(INPUT_CHARSET)}
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_P = 2**256 - 2**32 - 977  # secp256k1's field

MAIN = ("mainnet",)
TEST = ("testnet", "testnet4", "signet", "regtest")
# SLIP-132 public versions → (name, networks, script of a bare key or None for multisig)
PUBLIC = {
    "0488b21e": ("xpub", MAIN, "pkh"), "049d7cb2": ("ypub", MAIN, "sh-wpkh"),
    "04b24746": ("zpub", MAIN, "wpkh"), "0295b43f": ("Ypub", MAIN, None),
    "02aa7ed3": ("Zpub", MAIN, None), "043587cf": ("tpub", TEST, "pkh"),
    "044a5262": ("upub", TEST, "sh-wpkh"), "045f1cf6": ("vpub", TEST, "wpkh"),
    "024289ef": ("Upub", TEST, None), "02575483": ("Vpub", TEST, None),
}
PRIVATE = {"0488ade4", "049d7878", "04b2430c", "0295b005", "02aa7a99", "04358394",
           "044a4e28", "045f18bc", "024285b5", "02575048"}
TOP = ("tr(", "sh(", "wsh(", "wpkh(", "pkh(")
# every function the wallet code (embit) reads, and the miniscript wrappers (a:, v:, ...);
# tests/test_descriptors.py checks them against embit's own lists
FUNCTIONS = frozenset({
    "tr", "sh", "wsh", "wpkh", "pkh", "pk", "pk_k", "pk_h", "older", "after", "sha256",
    "hash256", "ripemd160", "hash160", "andor", "and_v", "and_b", "and_n", "or_b", "or_c",
    "or_d", "or_i", "thresh", "multi", "sortedmulti", "multi_a", "sortedmulti_a"})
WRAPPERS = "asctdvjnlu"

_TOKEN = re.compile(r"[1-9A-HJ-NP-Za-km-z]{50,}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_BARE = re.compile(r"(\[[0-9a-fA-F]{8}(?:/[0-9]+['hH]?)*\])?([1-9A-HJ-NP-Za-km-z]{100,120})")
_STEPS = re.compile(r"(?:/(?:[0-9]+|\*|<[0-9]+['hH]?(?:;[0-9]+['hH]?)*>)['hH]?)*")
_CALL = re.compile(r"([A-Za-z0-9_]*:)?([A-Za-z0-9_]+)\(")
_ARGUMENT = re.compile(r"(?<=[(,\]])[^(),\[\]/{}<>#*]{20,}(?=[),/])")
_ORIGIN = re.compile(r"\[[0-9a-fA-F]{8}(?:/[0-9]+['hH]?)*\]")
_HARDENED_WILDCARD = re.compile(r"\*['hH]")
_PRIVATE = "holds a private key: give the watch-only descriptor or xpub (never the xprv)"


def checksum(body: str) -> str | None:
    """The BIP380 checksum of a descriptor body, or None if it holds a character
    descriptors do not allow."""
    symbols = []
    groups = []
    for ch in body:
        pos = _INPUT_INDEX.get(ch)
        if pos is None:
            return None
        symbols.append(pos & 31)
        groups.append(pos >> 5)
        if len(groups) == 3:
            symbols.append(groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if groups:
        value = 0
        for g in groups:
            value = value * 3 + g
        symbols.append(value)
    symbols += [0] * 8
    c = 1
    for value in symbols:
        top = c >> 35
        c = ((c & 0x7FFFFFFFF) << 5) ^ value
        if top:
            if top & 1:
                c ^= 0xF5DEE51989
            if top & 2:
                c ^= 0xA9FDCA3312
            if top & 4:
                c ^= 0x1BAB10E32D
            if top & 8:
                c ^= 0x3706B1677A
            if top & 16:
                c ^= 0x644D626FFD
    c ^= 1
    return "".join(CHECKSUM_CHARSET[(c >> (5 * (7 - i))) & 31] for i in range(8))


def b58check(text: str) -> bytes | None:
    """The payload of a base58check string, or None when it is not one."""
    number = 0
    for ch in text:
        digit = _B58_INDEX.get(ch)
        if digit is None:
            return None
        number = number * 58 + digit
    pad = len(text) - len(text.lstrip("1"))
    raw = b"\0" * pad + (number.to_bytes((number.bit_length() + 7) // 8, "big")
                         if number else b"")
    if len(raw) < 5:
        return None
    payload, check = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != check:
        return None
    return payload


def problem(text: str, network: str) -> str | None:
    """What is certainly wrong with ``text`` as a watch-only wallet for ``network`` (a
    descriptor or a bare extended public key), or None."""
    text = "".join(text.split())  # pasted descriptors often carry line breaks
    if not text:
        return "is empty"
    if _holds_private_key(text):
        return _PRIVATE
    if "(" not in text:
        return _bare_key(text, network)
    return _descriptor(text, network)


def _holds_private_key(text: str) -> bool:
    for token in _TOKEN.findall(text):
        if token[1:4] == "prv":
            return True
        payload = b58check(token)
        if payload is None:
            continue
        if len(payload) == 78 and payload[:4].hex() in PRIVATE:
            return True
        if len(payload) in (33, 34) and payload[0] in (0x80, 0xEF):
            return True
    return False


def _bare_key(text: str, network: str) -> str | None:
    match = _BARE.fullmatch(text)
    if match is None:
        return "is not a descriptor or an extended public key (xpub/ypub/zpub/tpub/...)"
    key = match.group(2)
    found = _key(key, network)
    if found:
        return found
    name, _networks, script = PUBLIC[(b58check(key) or b"")[:4].hex()]
    if script is None:
        return (f"a bare {name} is for multisig: give the full descriptor, e.g. "
                "wsh(sortedmulti(...))")
    return None


def _descriptor(text: str, network: str) -> str | None:
    body, sep, given = text.partition("#")
    expected = checksum(body)
    if expected is None:
        return "contains a character descriptors do not allow"
    if sep and given != expected:
        return f"descriptor checksum #{given} is wrong (expected #{expected})"
    if not body.startswith(TOP):
        return "is not a descriptor the wallet reads: it starts with wpkh(, sh(, wsh(, pkh( or tr("
    if not _balanced(body):
        return "has unbalanced brackets"
    if _HARDENED_WILDCARD.search(body):
        return "has a hardened wildcard (*h), which cannot be derived watch-only; use /0/*"
    if "*" not in body:
        return ("has no wildcard (/*): it gives one address, and every payment request "
                "needs a fresh one")
    for origin in re.finditer(r"\[[^\]]*\]?", body):
        if not _ORIGIN.fullmatch(origin.group()):
            return (f"has a malformed key origin {origin.group()[:40]!r} (expected "
                    "[8 hex digits/steps...], e.g. [73c5da0a/84h/0h/0h])")
    for match in _TOKEN.finditer(body):
        found = _token(body, match, network)
        if found:
            return found
    for match in _CALL.finditer(body):
        wrappers, name = match.group(1) or "", match.group(2)
        if name not in FUNCTIONS or not set(wrappers[:-1]) <= set(WRAPPERS):
            return f"has an unknown function {match.group()!r}"
    for match in _ARGUMENT.finditer(body):
        found = _argument(match.group())
        if found:
            return found
    return None


def _argument(text: str) -> str | None:
    """What is wrong with a long argument (a key or a hash), or None."""
    if _HEX.fullmatch(text):
        if len(text) not in (40, 64, 66, 130):
            return (f"has {len(text)} hex digits at {_short(text)}: a public key has 66 (64 "
                    "x-only), a hash 40 or 64")
        if len(text) == 66 and text[:2] in ("02", "03") and not _on_curve(bytes.fromhex(text)):
            return f"{_short(text)} is not a valid public key"
        return None
    if not _TOKEN.fullmatch(text):
        return f"has a malformed key {_short(text)}"
    return None  # a base58 key: checked with the other tokens


def _token(body: str, match: re.Match[str], network: str) -> str | None:
    """What is wrong with a long base58 run of a descriptor and the steps after it."""
    if _HEX.fullmatch(match.group()):
        return None  # a public key or a hash in hex
    found = _key(match.group(), network)
    if found:
        return found
    steps = _STEPS.match(body, match.end())
    if re.search(r"['hH]", steps.group()):
        return (f"has a hardened step after the public key {_short(match.group())}, which "
                "cannot be derived watch-only")
    if body[steps.end():steps.end() + 1] not in (")", ","):
        return (f"has a malformed path after the key {_short(match.group())} (expected steps "
                "such as /0/*)")
    return None


def _balanced(body: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{", ">": "<"}
    stack: list[str] = []
    for ch in body:
        if ch in "([{<":
            stack.append(ch)
        elif ch in pairs and (not stack or stack.pop() != pairs[ch]):
            return False
    return not stack and body.endswith(")")


def _key(text: str, network: str) -> str | None:
    """What is wrong with one extended public key, or None."""
    payload = b58check(text)
    if payload is None:
        return (f"extended key {_short(text)} has a bad checksum (a character is wrong, "
                "missing or extra)")
    info = PUBLIC.get(payload[:4].hex()) if len(payload) == 78 else None
    if info is None:
        return f"{_short(text)} is not an extended public key"
    name, networks, _script = info
    if network not in networks:
        where = networks[0] if len(networks) == 1 else \
            f"{', '.join(networks[:-1])} or {networks[-1]}"
        return f"key {_short(text)} ({name}) is for {where}, but this home is on {network}"
    if not _on_curve(payload[45:]):
        return f"{_short(text)} does not hold a valid public key"
    return None


def _on_curve(key: bytes) -> bool:
    if len(key) != 33 or key[0] not in (2, 3):
        return False
    x = int.from_bytes(key[1:], "big")
    return x < _P and pow((x * x * x + 7) % _P, (_P - 1) // 2, _P) == 1


def _short(key: str) -> str:
    return key[:12] + "…" if len(key) > 16 else key
