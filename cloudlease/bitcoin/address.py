"""Bitcoin address checks and P2WPKH address making.

Checksums and encodings come from embit (``embit.bech32`` is Pieter Wuille's BIP173/BIP350
reference code, ``embit.base58`` the Base58Check code); this module only classifies what
those functions report so that a refusal says *why*: a bad checksum, a malformed address,
or an address of another network.

Rules (BIP173, BIP350, BIP141):
- segwit v0 uses bech32, v1..v16 use bech32m; anything else is refused;
- the witness program is 2..40 bytes, and exactly 20 or 32 bytes for v0;
- the address is all lower case or all upper case; the canonical form is lower case;
- base58 addresses are 21 bytes (a version byte and a 20-byte hash) with a valid checksum.

v2..v16 addresses are valid per BIP350 and accepted, as that BIP asks of senders.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloudlease.bitcoin.networks import (
    BECH32_HRP,
    TEST_FAMILY,
    check_network,
    embit_net,
    mismatch_message,
    networks_for_hrp,
)
from cloudlease.core.errors import BadValue

if TYPE_CHECKING:
    from embit.bech32 import Encoding

#: base58 version byte → (address kind, networks using it).
_BASE58_VERSIONS: dict[int, tuple[str, tuple[str, ...]]] = {
    0x00: ("p2pkh", ("mainnet",)),
    0x05: ("p2sh", ("mainnet",)),
    0x6F: ("p2pkh", TEST_FAMILY),
    0xC4: ("p2sh", TEST_FAMILY),
}

_KNOWN_HRPS = frozenset(BECH32_HRP.values())


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    """A syntactically valid address.

    Attributes:
        address: canonical text (lower case for bech32/bech32m).
        kind: ``p2pkh``, ``p2sh``, ``p2wpkh``, ``p2wsh``, ``p2tr`` or ``witness_vN``.
        networks: every network the address is valid on.
        script_pubkey: the output script it pays to (bytes).
    """

    address: str
    kind: str
    networks: tuple[str, ...]
    script_pubkey: bytes


def _shown(addr: str) -> str:
    """The address as quoted in a message (cut when it is long garbage)."""
    return addr if len(addr) <= 100 else addr[:60] + "…"


def _bad(addr: str, why: str) -> BadValue:
    return BadValue(f"invalid address {_shown(addr)}: {why}")


def _bech32_hrp(addr: str) -> str | None:
    """The human-readable part when ``addr`` looks like a bech32 string, else None."""
    pos = addr.rfind("1")
    if pos < 1:
        return None
    return addr[:pos].lower()


def _parse_segwit(addr: str, hrp: str) -> ParsedAddress:
    """A bech32 or bech32m string (BIP173), then the witness program it carries (BIP141,
    BIP350), then what kind of output that pays."""
    from embit import bech32

    low = addr.lower()
    encoding, data = _bech32_data(addr, hrp)
    version, program = _witness_program(addr, encoding, data)
    # Cross-check with the reference decoder: it must agree with every rule above.
    if bech32.decode(hrp, low) != (version, program):  # pragma: no cover - belt and braces
        raise _bad(addr, "malformed segwit address")
    if version == 0:
        kind = "p2wpkh" if len(program) == 20 else "p2wsh"
    elif version == 1 and len(program) == 32:
        kind = "p2tr"
    else:
        kind = f"witness_v{version}"
    opcode = 0 if version == 0 else 0x50 + version
    spk = bytes([opcode, len(program)]) + bytes(program)
    return ParsedAddress(low, kind, tuple(networks_for_hrp(hrp)), spk)


def _bech32_data(addr: str, hrp: str) -> tuple[Encoding, list[int]]:
    """The encoding (bech32 or bech32m) and the 5-bit data of a well-formed string with a
    valid checksum."""
    from embit import bech32

    if addr.lower() != addr and addr.upper() != addr:
        raise _bad(addr, "mixes upper and lower case (BIP173)")
    if len(addr) > 90:
        raise _bad(addr, "too long for bech32 (over 90 characters)")
    low = addr.lower()
    data_part = low[len(hrp) + 1 :]
    if any(ch not in bech32.CHARSET for ch in data_part):
        raise _bad(addr, "contains a character not used in bech32 (malformed)")
    if len(data_part) < 6:
        raise _bad(addr, "too short for a bech32 checksum (malformed)")
    encoding, got_hrp, data = bech32.bech32_decode(low)
    if encoding is None:
        raise _bad(addr, "bad checksum (mistyped or altered)")
    if got_hrp != hrp or not data:
        raise _bad(addr, "empty data part (malformed)")
    return encoding, data


def _witness_program(addr: str, encoding: Encoding, data: list[int]
                     ) -> tuple[int, list[int]]:
    """The witness version and program, each checked against the rules of its version."""
    from embit import bech32

    version = data[0]
    if version > 16:
        raise _bad(addr, f"invalid witness version {version} (malformed)")
    program = bech32.convertbits(data[1:], 5, 8, False)
    if program is None:
        raise _bad(addr, "invalid padding in the witness program (malformed)")
    if not 2 <= len(program) <= 40:
        raise _bad(addr, f"invalid witness program length {len(program)} (malformed)")
    if version == 0 and len(program) not in (20, 32):
        raise _bad(addr, f"segwit v0 program must be 20 or 32 bytes, not {len(program)}")
    if version == 0 and encoding != bech32.Encoding.BECH32:
        raise _bad(addr, "segwit v0 must use bech32, not bech32m (BIP350)")
    if version > 0 and encoding != bech32.Encoding.BECH32M:
        raise _bad(addr, f"segwit v{version} must use bech32m, not bech32 (BIP350)")
    return version, program


def _parse_base58(addr: str) -> ParsedAddress:
    from embit import base58

    if any(ch not in base58.B58_DIGITS for ch in addr):
        raise _bad(addr, "not a Bitcoin address (not bech32, and not valid base58)")
    try:
        payload = base58.decode_check(addr)
    except ValueError:
        raise _bad(addr, "bad checksum (mistyped or altered)") from None
    if len(payload) != 21:
        raise _bad(addr, f"wrong length for a base58 address ({len(payload)} bytes, malformed)")
    version = payload[0]
    if version not in _BASE58_VERSIONS:
        raise _bad(addr, f"not a Bitcoin address (unknown version byte 0x{version:02x})")
    kind, networks = _BASE58_VERSIONS[version]
    digest = payload[1:]
    if kind == "p2pkh":
        spk = b"\x76\xa9\x14" + digest + b"\x88\xac"
    else:
        spk = b"\xa9\x14" + digest + b"\x87"
    return ParsedAddress(addr, kind, networks, spk)


def parse_address(addr: str) -> ParsedAddress:
    """Parse an address of any known network; raise ``BadValue`` saying what is wrong."""
    if not isinstance(addr, str):
        raise BadValue("an address must be text")
    addr = addr.strip()
    if not addr:
        raise BadValue("empty address")
    hrp = _bech32_hrp(addr)
    if hrp is not None and hrp in _KNOWN_HRPS:
        return _parse_segwit(addr, hrp)
    try:
        return _parse_base58(addr)
    except BadValue:
        # A bech32-shaped string with a foreign prefix (ltc1..., tc1...) gets a clearer word.
        if hrp is not None and len(addr) - len(hrp) - 1 >= 6 and _looks_bech32(addr):
            raise _bad(addr, f"unknown prefix {hrp!r}: not a Bitcoin address") from None
        raise


def _looks_bech32(addr: str) -> bool:
    """True when the part after the last '1' is made only of bech32 characters."""
    from embit import bech32

    data = addr[addr.rfind("1") + 1 :].lower()
    return all(ch in bech32.CHARSET for ch in data)


def validate_address(addr: str, network: str) -> str:
    """Check ``addr`` is a valid address on ``network``; return its canonical form.

    The canonical form is lower case for bech32/bech32m addresses and unchanged for base58.
    Raises ``BadValue`` for a bad checksum, a malformed address, or an address of another
    network (the message names the network(s) it is for).
    """
    network = check_network(network)
    parsed = parse_address(addr)
    if network not in parsed.networks:
        raise BadValue(
            mismatch_message(f"address {parsed.address}", list(parsed.networks), network)
        )
    return parsed.address


def networks_of_address(addr: str) -> list[str]:
    """Every network on which ``addr`` is valid; ``BadValue`` if it is not an address."""
    return list(parse_address(addr).networks)


def script_pubkey_of(addr: str, network: str) -> bytes:
    """The output script paying ``addr`` (checked for ``network``)."""
    validate_address(addr, network)
    return parse_address(addr).script_pubkey


def is_bech32(addr: str) -> bool:
    """True for a valid segwit address (bech32 or bech32m) of any known network."""
    try:
        parsed = parse_address(addr)
    except BadValue:
        return False
    return parsed.kind not in ("p2pkh", "p2sh")


def p2wpkh_address(pubkey33: bytes, network: str) -> str:
    """The native segwit (P2WPKH, bech32) address of a compressed public key."""
    from embit import ec, script
    from embit.base import EmbitError

    network = check_network(network)
    if not isinstance(pubkey33, bytes | bytearray) or len(pubkey33) != 33:
        raise BadValue("a P2WPKH address needs a 33-byte compressed public key")
    if pubkey33[0] not in (2, 3):
        raise BadValue("a P2WPKH address needs a compressed public key (02/03 prefix)")
    try:
        pub = ec.PublicKey.parse(bytes(pubkey33))
    except (EmbitError, ValueError):
        raise BadValue("not a valid secp256k1 public key") from None
    return script.p2wpkh(pub).address(embit_net(network))
