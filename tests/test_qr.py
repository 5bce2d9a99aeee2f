"""QR payloads, decoded back with zxing-cpp from the PNG and from the terminal text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import segno
import zxingcpp
from PIL import Image

from cloudlease.bitcoin.bip21 import make_uri
from cloudlease.bitcoin.qr import QUIET_ZONE, make_qr, qr_text, terminal_qr, write_png, write_svg
from cloudlease.core.errors import BadValue

BECH32 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
TAPROOT = "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
BASE58 = "1LqBGSKuX5yYUonjxT5qGfpUsXKYYWeabA"
REGTEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"

URIS = [
    make_uri(BECH32, 20_000, label="Lease 42", message="2 h of compute"),
    make_uri(TAPROOT, 1),
    make_uri(BASE58, 123_456_789, label="Zoë & Björn = 100% #1 + 🚀", message="日本語のメモ"),
    make_uri(REGTEST, None),
    make_uri(BECH32, 5_000, label="naïve café ✓"),
]


def decode(image: Image.Image, *, try_invert: bool = False) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, try_invert=try_invert)]


def test_payload_uppercases_bech32_only() -> None:
    uri = make_uri(BECH32, 20_000, label="Lease 42")
    assert qr_text(uri) == f"BITCOIN:{BECH32.upper()}?amount=0.0002&label=Lease%2042"
    assert qr_text(make_uri(REGTEST, None)) == "BITCOIN:" + REGTEST.upper()
    base58 = make_uri(BASE58, 1, label="x")
    assert qr_text(base58) == base58  # base58 is case-sensitive: unchanged


def test_query_part_is_never_changed() -> None:
    uri = make_uri(BECH32, 1, label="aBc%dEf")
    assert qr_text(uri).split("?", 1)[1] == uri.split("?", 1)[1]


@pytest.mark.parametrize("bad", ["", "bc1qxyz", "bitcoin:", "http://x"])
def test_refuses_what_is_not_a_bitcoin_uri(bad: str) -> None:
    with pytest.raises(BadValue):
        qr_text(bad)


@pytest.mark.parametrize("uri", URIS)
def test_png_decodes_to_the_exact_payload(uri: str, tmp_path: Path) -> None:
    path = tmp_path / "request.png"
    write_png(uri, path)
    with Image.open(path) as image:
        assert decode(image) == [qr_text(uri)]


def test_png_scale(tmp_path: Path) -> None:
    uri = URIS[0]
    qr = make_qr(uri)
    write_png(uri, tmp_path / "a.png", scale=3)
    with Image.open(tmp_path / "a.png") as image:
        side = (qr.symbol_size(scale=1, border=0)[0] + 2 * QUIET_ZONE) * 3
        assert image.size == (side, side)
    with pytest.raises(BadValue):
        write_png(uri, tmp_path / "b.png", scale=0)


def test_segments_make_a_smaller_code() -> None:
    uri = URIS[0]
    plain = segno.make(qr_text(uri), error="M", micro=False)
    assert make_qr(uri).version < plain.version
    assert make_qr(uri).error in ("M", "Q", "H")
    assert not make_qr(make_uri(BECH32, None)).is_micro


def test_svg_is_written(tmp_path: Path) -> None:
    path = tmp_path / "request.svg"
    write_svg(URIS[0], path, scale=4)
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    side = (make_qr(URIS[0]).symbol_size(scale=1, border=0)[0] + 2 * QUIET_ZONE) * 4
    assert root.get("width") == str(side)


def terminal_to_image(text: str, *, drawn_is_dark: bool, scale: int = 6) -> Image.Image:
    """Rebuild the module matrix from half-block text and draw it as pixels."""
    top = {" ": False, "\u2580": True, "\u2584": False, "\u2588": True}
    bottom = {" ": False, "\u2580": False, "\u2584": True, "\u2588": True}
    rows: list[list[bool]] = []
    for line in text.rstrip("\n").split("\n"):
        rows.append([top[ch] for ch in line])
        rows.append([bottom[ch] for ch in line])
    width, height = len(rows[0]), len(rows)
    image = Image.new("L", (width * scale, height * scale), 255)
    for y, row in enumerate(rows):
        for x, drawn in enumerate(row):
            if drawn == drawn_is_dark:
                image.paste(0, (x * scale, y * scale, (x + 1) * scale, (y + 1) * scale))
    return image


@pytest.mark.parametrize("uri", URIS)
def test_terminal_qr_decodes_on_a_dark_terminal(uri: str) -> None:
    text = terminal_qr(uri)
    assert set(text) <= {" ", "\u2580", "\u2584", "\u2588", "\n"}
    assert "\x1b" not in text  # no colour codes
    # Default: blocks are light (the foreground of a light-on-dark terminal).
    assert decode(terminal_to_image(text, drawn_is_dark=False)) == [qr_text(uri)]


def test_terminal_qr_inverted_for_a_light_terminal() -> None:
    text = terminal_qr(URIS[0], invert=True)
    assert decode(terminal_to_image(text, drawn_is_dark=True)) == [qr_text(URIS[0])]


def test_terminal_qr_is_compact() -> None:
    qr = make_qr(URIS[0])
    modules = qr.symbol_size(scale=1, border=0)[0] + 2 * QUIET_ZONE
    lines = terminal_qr(URIS[0]).rstrip("\n").split("\n")
    assert len(lines) == (modules + 1) // 2
    assert all(len(line) == modules for line in lines)


def test_too_long_for_a_qr_code() -> None:
    with pytest.raises(BadValue, match="too long for a QR code"):
        make_qr(make_uri(BECH32, 1, message="🚀" * 2000))
