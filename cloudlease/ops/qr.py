"""QR codes of payment URIs, for the faces: a terminal rendering for the CLI, PNG and SVG
files (``pay show --qr-png``), and SVG text a web page can inline.

What a payment QR code carries is Bitcoin's business (upper-cased bech32 and BOLT11 in an
alphanumeric segment, the query as bytes: ``bitcoin/qr.py``), so it stays with the
adapter; drawing it is segno's. A face reaches both through here, like any other
adapter. Each function raises ``BadValue`` (exit 2) for a URI that is not a ``bitcoin:`` or
``lightning:`` URI or is too long for a QR code.
"""

from __future__ import annotations

import os


def terminal(uri: str, *, invert: bool = False) -> str:
    """Two modules per character cell in Unicode half blocks, with the quiet zone; works
    without colour (``invert`` for a dark-on-light terminal)."""
    from cloudlease.bitcoin.qr import terminal_qr

    return terminal_qr(uri, invert=invert)


def write_png(uri: str, path: str | os.PathLike[str], scale: int = 8) -> None:
    """Write the QR code as a PNG file, ``scale`` pixels a module."""
    from cloudlease.bitcoin.qr import write_png as write

    write(uri, path, scale)


def write_svg(uri: str, path: str | os.PathLike[str], scale: int = 8) -> None:
    """Write the QR code as an SVG file, ``scale`` units a module."""
    from cloudlease.bitcoin.qr import write_svg as write

    write(uri, path, scale)


def svg(uri: str, scale: int = 8) -> str:
    """The QR code as SVG markup without an XML declaration, to inline in a web page."""
    from cloudlease.bitcoin.qr import svg_text

    return svg_text(uri, scale)
