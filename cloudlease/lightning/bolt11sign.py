"""Encode and sign a BOLT11 invoice (the simulated node's invoices; tests' invoices).

Written from BOLT11 itself rather than with the ``bolt11`` package's encoder, for two
reasons: that encoder writes a wrong amount for whole multiples of 1,000 BTC (it divides
by 1,000 once more than its multiplier says: 2,625,000 BTC comes out as ``2625``), and
an encoder independent of the decoder that checks the result makes the property tests
mean something. Signing is coincurve's recoverable ECDSA over sha256(hrp || data).
"""

from __future__ import annotations

import hashlib

from embit.bech32 import convertbits

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
MSAT_PER_BTC = 100_000_000_000
FEATURES = (1 << 8) | (1 << 14) | (1 << 17)  # var_onion_optin, payment_secret required; mpp


def amount_text(msat: int) -> str:
    """The shortest exact BOLT11 amount: ``21000000`` msat → ``210u``."""
    if type(msat) is not int or msat <= 0:
        raise ValueError(f"amount must be a positive whole number of msat: {msat!r}")
    for unit, per_unit in (("", MSAT_PER_BTC), ("m", 10**8), ("u", 10**5), ("n", 100)):
        if msat % per_unit == 0:
            return f"{msat // per_unit}{unit}"
    return f"{msat * 10}p"


def _u5_bytes(data: bytes) -> list[int]:
    """Bytes as bech32's 5-bit groups, the last one zero-padded."""
    return convertbits(data, 8, 5)


def _u5_int(value: int, groups: int | None = None) -> list[int]:
    out = []
    while value or (groups is None and not out):
        out.append(value & 31)
        value >>= 5
    if groups is not None:
        out += [0] * (groups - len(out))
        if len(out) != groups:
            raise ValueError("value too large for its field")
    return out[::-1]


def _bytes_u5(groups: list[int]) -> bytes:
    """5-bit groups back as bytes, the last one zero-padded (what BOLT11 signs)."""
    return bytes(convertbits(groups, 5, 8))


def _field(tag: str, value: list[int]) -> list[int]:
    if len(value) >= 1024:
        raise ValueError(f"field {tag} is too long")
    return [CHARSET.index(tag), len(value) >> 5, len(value) & 31, *value]


def _checksum(hrp: str, data: list[int]) -> list[int]:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data + [0] * 6:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    polymod = chk ^ 1
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def encode_invoice(key_hex: str, amount_msat: int, description: str, payment_hash: str,
                   payment_secret: str, created: int, expiry: int,
                   currency: str = "bcrt", min_final_cltv: int = 18,
                   description_hash: str | None = None) -> str:
    """A BOLT11 invoice signed with the private key ``key_hex`` (``currency`` is the
    prefix after ``ln``: ``bc``, ``tb``, ``tbs`` or ``bcrt``). With ``description_hash``
    (64 hex digits) the invoice commits to it (``h``) instead of carrying ``description``."""
    from coincurve import PrivateKey

    hrp = "ln" + currency + amount_text(amount_msat)
    data = _u5_int(created, 7)
    data += _field("p", _u5_bytes(bytes.fromhex(payment_hash)))
    data += _field("s", _u5_bytes(bytes.fromhex(payment_secret)))
    if description_hash is not None:
        data += _field("h", _u5_bytes(bytes.fromhex(description_hash)))
    else:
        data += _field("d", _u5_bytes(description.encode()))
    data += _field("x", _u5_int(expiry))
    data += _field("c", _u5_int(min_final_cltv))
    data += _field("9", _u5_int(FEATURES))
    message = hrp.encode() + _bytes_u5(data)
    signature = PrivateKey(bytes.fromhex(key_hex)).sign_recoverable(
        message, hasher=lambda m: hashlib.sha256(m).digest())
    data += _u5_bytes(signature)  # 64 bytes r||s, then the recovery id: 104 groups
    return hrp + "1" + "".join(CHARSET[g] for g in data + _checksum(hrp, data))
