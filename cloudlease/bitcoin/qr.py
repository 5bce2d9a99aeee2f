"""QR codes for payment URIs: the payload, a terminal rendering, PNG and SVG files.

Payload (:func:`qr_text`): for a bech32/bech32m address the scheme and the address are
upper-cased (``BITCOIN:BC1Q...``), as BIP173 suggests; the query is left exactly as it
is, since percent-encoded values are case-sensitive, except a BIP321 ``lightning=`` invoice
(bech32 too), which is upper-cased and kept last. BIP21 schemes and bech32 strings are
case-insensitive, so wallets read it as the same URI. Base58 addresses are case-sensitive,
so their URI is used unchanged (the invoice is still upper-cased). A Lightning-only
request's ``lightning:<BOLT11>`` becomes ``LIGHTNING:LNBC...``.

Encoding: the upper-case head goes in an *alphanumeric* segment (5.5 bits a character),
the query, if any, in a *byte* segment, and an upper-case invoice at its end in another
alphanumeric segment, so the code is as small as a mixed-content QR code can be. Error
correction is at least M (segno raises it when that costs no size), and
Micro QR is never used (few phone scanners read it).

segno is imported inside the functions that need it.
"""

from __future__ import annotations

import io
import os
from typing import Any

from cloudlease.bitcoin.address import is_bech32
from cloudlease.core.errors import BadValue

_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
QUIET_ZONE = 4  # modules of light border the QR spec asks for

# Half-block characters keyed by (top is drawn, bottom is drawn).
_HALF_BLOCKS = {
    (False, False): " ",
    (True, False): "\u2580",
    (False, True): "\u2584",
    (True, True): "\u2588",
}


def _split_uri(uri: str) -> tuple[str, str]:
    """``(address, "?query" or "")`` of a ``bitcoin:`` URI; ``BadValue`` otherwise."""
    if not isinstance(uri, str) or uri[:8].lower() != "bitcoin:":
        raise BadValue("a payment QR code needs a bitcoin: or lightning: URI")
    address, sep, query = uri[8:].partition("?")
    if not address:
        raise BadValue("the bitcoin: URI has no address")
    return address, sep + query


_LN_PARAM = "&lightning="


def qr_text(uri: str) -> str:
    """The text a payment QR code carries (see the module doc)."""
    if isinstance(uri, str) and uri[:10].lower() == "lightning:":
        return "LIGHTNING:" + uri[10:].upper()
    address, query = _split_uri(uri)
    head, sep, invoice = query.rpartition(_LN_PARAM)
    if sep and invoice:
        query = head + sep + invoice.upper()
    if is_bech32(address):
        return "BITCOIN:" + address.upper() + query
    return uri[:8] + address + query


def _segments(payload: str) -> list[str] | str:
    """Split an upper-case ``BITCOIN:ADDR`` head from the query: segno then encodes each
    part in its best mode (alphanumeric head, byte query)."""
    head, sep, query = payload.partition("?")
    if not sep or not all(ch in _ALNUM for ch in head):
        return payload
    parts = [head, sep + query]
    rest, ln, invoice = query.rpartition(_LN_PARAM)
    if ln and invoice and all(ch in _ALNUM for ch in invoice):
        parts = [head, sep + rest + ln, invoice]
    return parts


def make_qr(uri: str) -> Any:
    """The ``segno.QRCode`` for ``uri`` (payload from :func:`qr_text`)."""
    import segno

    payload = qr_text(uri)
    try:
        return segno.make(_segments(payload), error="M", micro=False, boost_error=True)
    except segno.DataOverflowError:
        raise BadValue(
            f"payment URI too long for a QR code ({len(payload)} characters); "
            "shorten the label or message"
        ) from None


def terminal_qr(uri: str, *, invert: bool = False, border: int = QUIET_ZONE) -> str:
    """A compact text QR code: two modules per character cell, Unicode half blocks.

    Works without colour. By default *light* modules are drawn (blocks in the terminal's
    foreground colour), which reads correctly on the usual light-on-dark terminal; pass
    ``invert=True`` for a dark-on-light terminal. Ends with a newline.
    """
    if isinstance(border, bool) or not isinstance(border, int) or border < 0:
        raise BadValue("QR border must be a non-negative integer")
    qr = make_qr(uri)
    rows = [[bool(module) for module in row] for row in qr.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))  # the padding row is light
    draw_dark = invert
    lines = []
    for top, bottom in zip(rows[0::2], rows[1::2], strict=True):
        cells = (
            _HALF_BLOCKS[(t == draw_dark, b == draw_dark)] for t, b in zip(top, bottom, strict=True)
        )
        lines.append("".join(cells))
    return "\n".join(lines) + "\n"


def _check_scale(scale: int) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 100:
        raise BadValue(f"QR scale must be an integer from 1 to 100, not {scale!r}")
    return scale


def write_png(uri: str, path: str | os.PathLike[str], scale: int = 8) -> None:
    """Write the QR code as a PNG, ``scale`` pixels a module, with the quiet zone."""
    make_qr(uri).save(os.fspath(path), kind="png", scale=_check_scale(scale), border=QUIET_ZONE)


def write_svg(uri: str, path: str | os.PathLike[str], scale: int = 8) -> None:
    """Write the QR code as an SVG, ``scale`` units a module, with the quiet zone."""
    make_qr(uri).save(os.fspath(path), kind="svg", scale=_check_scale(scale), border=QUIET_ZONE)


def svg_text(uri: str, scale: int = 8) -> str:
    """The QR code as SVG markup without an XML declaration (to inline in a page)."""
    out = io.BytesIO()
    make_qr(uri).save(out, kind="svg", scale=_check_scale(scale), border=QUIET_ZONE,
                      xmldecl=False)
    return out.getvalue().decode()
