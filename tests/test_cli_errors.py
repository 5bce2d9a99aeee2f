"""Every error is one line (or one JSON document with --json) with the exit code of
docs/design.md: Click's usage errors, file system errors, a full or closed stdout, dates and
numbers out of range. Never a traceback, never a boxed panel, never exit 1."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import home_files, run_cli

USAGE_ERRORS = [
    ["rent"],                                   # a missing option
    ["bogus"],                                  # an unknown command
    ["tenant", "bogus"],                        # an unknown subcommand
    ["rent", "--hours", "1", "--bogus"],        # an unknown option
    ["pool", "add", "p", "--slots", "x", "--cost-per-hour", "1 sat",
     "--consideration", "ownership", "--investor-pct", "1"],  # a wrong type
    ["lease", "show"],                          # a missing argument
    ["lease", "show", "L-1", "L-2"],            # an extra argument
    ["rent", "--hours"],                        # an option without its value
    ["devchain", "mine", "0"],                  # out of a declared range
    ["watch", "--interval", "0.01"],            # below a declared minimum
]


def _json_error(stderr: str) -> dict:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    doc = json.loads(lines[0])
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message", "exit_code"}
    return doc["error"]


@pytest.mark.parametrize("args", USAGE_ERRORS)
@pytest.mark.parametrize("where", ["first", "last", "none"])
def test_usage_errors_honour_json_anywhere(cli, home, args, where):
    full = ["--json", *args] if where == "first" else [*args, "--json"] \
        if where == "last" else list(args)
    before = home_files(home)
    result = cli(*full, code=2)
    assert result.stdout == ""
    if where == "none":
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "╭" not in result.stderr and "Usage:" not in result.stderr
    else:
        err = _json_error(result.stderr)
        assert err["exit_code"] == 2 and err["message"]
        assert err["code"] in ("usage", "bad_value")  # `--hours --json`: a bad hours value
    assert "Traceback" not in result.stderr
    assert home_files(home) == before


def test_usage_error_in_a_real_process_is_json(home):
    proc = run_cli("pool", "add", "p", "--json", "--slots", "1_0")
    assert proc.returncode == 2 and proc.stdout == ""
    err = _json_error(proc.stderr)
    assert "--slots" in err["message"] and "ASCII digits" in err["message"]
    proc = run_cli("rent")
    assert proc.returncode == 2 and proc.stderr.startswith("error: Missing option '--hours'")
    assert proc.stderr.count("\n") == 1


def test_help_and_version_still_work(cli):
    assert "Usage" in cli("--help").stdout
    assert "Usage" in cli("rent", "--help").stdout
    assert cli("--version").stdout.startswith("cloudlease ")


# -- dates and durations --------------------------------------------------------------------

@pytest.mark.parametrize("now", ["9999-12-31T23:59:59Z", "9000-01-01T00:00:00Z",
                                 "2008-12-31T00:00:00Z", "0001-01-01T00:00:00Z",
                                 "9999-12-31T23:59:59-01:00", "tomorrow", "２０２６-01-01"])
def test_cloudlease_now_out_of_range_is_exit_2(cli, home, now, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", now)
    before = home_files(home)
    for args in (["rent", "--hours", "1"], ["tick"]):
        err = cli.json(*args, code=2)
        assert "CLOUDLEASE_NOW" in err["message"]
    assert home_files(home) == before


def test_the_latest_time_still_leaves_room_for_a_year_of_rental(cli, home, monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", "8999-12-31T23:59:59Z")
    # on-chain: BOLT11 invoices cannot be dated after 3058 (tests/test_lightning_flow.py)
    lease = cli.json("rent", "--hours", "8784", "--method", "onchain")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    cli.json("tick")
    assert cli.json("lease", "show", lease["id"])["status"] == "active"


@pytest.mark.parametrize("args", [
    ["invoice", "create", "--anonymous", "--period", "9999-12"],
    ["invoice", "create", "--anonymous", "--period", "2026-13"],
    ["invoice", "list", "--period", "0000-01"],
    ["export", "--format", "csv", "--period", "9999-12"],
    ["payout", "--pool", "p", "--period", "9999-12"],
    ["risk", "--as-of", "9999-12-31"],
    ["risk", "--as-of", "9999-12-31T23:59:59-05:00"],
])
def test_dates_out_of_range_are_exit_2(cli, home, args):
    before = home_files(home)
    err = cli.json(*args, code=2)
    assert "range" in err["message"] or "YYYY-MM" in err["message"]
    assert home_files(home) == before


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e400", "1" * 30, "99999999999",
                                   "NaN", "-inf", "0x10"])
@pytest.mark.parametrize("args", [["watch", "--count", "1", "--interval"],
                                  ["--lock-timeout"], ["tick", "--lock-timeout"]])
def test_durations_are_finite_and_bounded(cli, home, value, args):
    full = [*args, value] + (["tick"] if args == ["--lock-timeout"] else [])
    result = cli(*full, code=2)
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


# -- the file system and stdout -------------------------------------------------------------

def test_a_directory_where_a_file_belongs_is_exit_5(cli, home):
    (home / "ledger.lock").unlink()
    (home / "ledger.lock").mkdir()
    err = cli.json("rent", "--hours", "1", code=5)
    assert "ledger.lock" in err["message"] and "directory" in err["message"]


@pytest.mark.parametrize("code,word", [(errno.ENOSPC, "disk is full"),
                                       (errno.EDQUOT, "quota"),
                                       (errno.EROFS, "read-only"),
                                       (errno.EACCES, "owns the cloudlease home")])
def test_file_system_errors_are_one_line_exit_5(cli, home, monkeypatch, code, word):
    """The keystore's fsync fails the way the kernel would (tests/test_ledger.py fills a
    real small file system under the SQLite ledger)."""
    target = str(home / "keys.toml")

    def failing_fsync(fd):
        raise OSError(code, os.strerror(code), target)

    before = cli.ledger_snapshot()
    monkeypatch.setattr(os, "fsync", failing_fsync)
    err = cli.json("rent", "--hours", "1", "--method", "onchain", code=5)
    assert target in err["message"] and word in err["message"]
    human = cli("rent", "--hours", "1", "--method", "onchain", code=5)
    assert human.stderr.startswith("error: ") and human.stderr.count("\n") == 1
    monkeypatch.undo()
    assert cli.ledger_snapshot() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_a_home_this_user_cannot_write_is_exit_5(cli, home):
    home.chmod(0o555)
    try:
        err = cli.json("tenant", "add", "alice", code=5)
        assert str(home) in err["message"]
    finally:
        home.chmod(0o755)


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_stdout_full_is_one_line_and_not_exit_0(home, json_flag):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "cloudlease", "tenant", "list",
                               *json_flag], stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=60)
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "No space left" in proc.stderr


@pytest.mark.parametrize("args", [["lease", "list"], ["lease", "list", "--json"],
                                  ["--help"]])
def test_closed_pipe_is_silent_exit_141(cli, home, args):
    for _ in range(3):
        cli("rent", "--hours", "1")
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "cloudlease", *args], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_a_prompt_without_an_answer_is_exit_2_on_its_own_line(cli, home):
    cli("rent", "--hours", "1")
    result = cli("wallet", "show", "--reveal", input="", code=2)
    # no terminal to ask at: not even a prompt, one line saying that --yes is needed
    assert result.stderr.startswith("error: printing private keys (--reveal) cannot be "
                                    "undone; pass --yes") and result.stderr.count("\n") == 1
    assert "wif" not in result.stdout and "Traceback" not in result.stderr
