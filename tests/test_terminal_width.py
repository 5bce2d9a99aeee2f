"""Nothing is cut or split inside a value at any width from 60 columns: help (every
command), tables at a terminal, the payment summary; piped tables are plain (a header
line, one tab-separated record per line); QR codes only at a terminal or with --qr; the
quick start's rent on a 100×40 terminal keeps the amount, the address and the deadline,
the QR code and the whole status line on screen. Real pseudo-terminals where it matters."""

from __future__ import annotations

import os
import re
import sys

import pytest

from cloudlease.cli.main import GROUPS, TOP_LEVEL
from tests.terminal_parts import Pty, run_pty, screen
from tests.test_terminal import _pty_home_env, env_for

WIDTHS = (60, 80, 100, 120)


def commands(cli) -> list[list[str]]:
    out = [[name] for name in TOP_LEVEL]
    for group in GROUPS:
        out.append([group])
        help_text = cli(group, "--help").stdout
        block = help_text.split("Commands:", 1)[1]
        out += [[group, line.split()[0]] for line in block.splitlines() if line.strip()]
    return out


HELP_ALL = """
import contextlib, io, sys
from cloudlease.cli.main import app
for line in sys.stdin.read().splitlines():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            app([*line.split(), "--help"], prog_name="cloudlease")
        except SystemExit:
            pass
    sys.__stdout__.write(f"=== {line}\\n{buf.getvalue()}")
"""


def helps(cli, cols: int) -> dict[str, str]:
    """Every command's --help as a ``cols``-wide terminal gets it: one fresh process that
    asks each in turn with COLUMNS set (in-process, CliRunner pins Click's width at 80)."""
    import subprocess

    names = "\n".join(" ".join(a) for a in commands(cli))
    out = subprocess.run([sys.executable, "-c", HELP_ALL], input=names, capture_output=True,
                         text=True, timeout=300,
                         env={**os.environ, "COLUMNS": str(cols), "NO_COLOR": "1"})
    assert out.returncode == 0, out.stderr
    texts = {}
    for block in out.stdout.split("=== ")[1:]:
        name, _, text = block.partition("\n")
        texts[name] = text
    assert len(texts) > 40
    return texts


def test_help_never_cuts_or_splits_a_value(cli, home):
    for cols in WIDTHS:
        for name, text in helps(cli, cols).items():
            assert "…" not in text, (cols, name)
            assert "completion" not in text, (cols, name)  # the root command's only
            for word in re.findall(r"\[[a-z_0-9|]+\]|<[a-z-]+>", text):
                assert any(word in line for line in text.splitlines()), (cols, name, word)
            for line in text.splitlines():  # a longer line is one word or an example
                assert len(line) <= cols or len(line.split()) == 1 or "Example:" in line \
                    or line.startswith("      "), (cols, name, line)
    text = helps(cli, 100)["init"]
    assert "[mainnet|testnet|testnet4|signet|regtest]" in text
    assert "xpub/ypub/zpub/tpub/upub/vpub" in text
    root = cli("--help").stdout
    assert "--install-completion" in root and "--show-completion" in root


@pytest.mark.parametrize("cols", [60, 100])
def test_help_at_a_real_terminal(home, cols):
    code, p = run_pty(["init", "--help"], _pty_home_env(home), cols=cols)
    assert code == 0
    text = p.text()
    assert "[mainnet|testnet|testnet4|signet|regtest]" in text and "…" not in text
    assert "xpub/ypub/zpub/tpub/upub/vpub" in text


def test_piped_tables_are_plain_records(cli, home):
    for _ in range(2):
        cli("rent", "--hours", "2", "--no-wait")
    lines = cli("lease", "list").stdout.splitlines()
    assert lines[0].split("\t") == ["lease", "status", "hours", "paid", "tenant", "plan",
                                    "ends"]
    assert [line.split("\t")[0] for line in lines[1:]] == ["L-1", "L-2"]
    assert all(line.count("\t") == 6 for line in lines)
    for args in (["pay", "list"], ["wallet", "show"], ["plan", "list"]):
        out = cli(*args).stdout
        assert not set(out) & set("┃│┏━└─╭"), args
    assert "█" not in cli("pay", "show", "P-1").stdout  # no QR code to a pipe...
    assert "█" in cli("pay", "show", "P-1", "--qr").stdout  # ...unless asked


@pytest.mark.parametrize("cols", WIDTHS)
def test_the_payment_summary_never_folds_a_value(home, cols):
    env = _pty_home_env(home, NO_COLOR="1")
    code, p = run_pty(["rent", "--hours", "2", "--no-wait", "--qr"], env, cols=cols)
    assert code == 0
    text = p.text()
    address = re.search(r"bcrt1[0-9a-z]{39}", text).group(0)
    for value in (address, "0.00002 BTC", "2,000 sat"):
        assert any(value in line for line in text.splitlines()), (cols, value)


def test_rent_on_a_100_by_40_terminal_keeps_what_to_pay_on_screen(home):
    """The quick start: rent waits at a 100×40 terminal. The last 40 rows show the whole
    QR code, the amount, the address, the deadline and the whole status line."""
    p = Pty([sys.executable, "-m", "cloudlease", "rent", "--hours", "2"],
            env_for(home, TERM="xterm-256color"), cols=100, rows=40)
    try:
        p.read_until("Ctrl-C stops waiting", timeout=120)
        shown = screen(p.raw(), 100, 40)
    finally:
        p.send(b"\x03")
        assert p.wait(120) == 130
    text = "\n".join(shown)
    assert "Pay 0.00002 BTC" in text and re.search(r"to\s+bcrt1[0-9a-z]{39}", text), text
    assert re.search(r"by\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text), text
    assert "P-1: waiting for 2,000 sat, due by" in text and "Ctrl-C stops waiting" in text
    qr = [i for i, line in enumerate(shown) if set(line.strip()) <= set("█▀▄ ") and
          line.strip()]
    assert qr and shown[qr[0]].strip() == "█" * len(shown[qr[0]].strip())  # its top edge
    assert len(qr) >= 30  # the compact code (the Lightning invoice alone), all of it
