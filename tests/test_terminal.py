"""What people and cron see: piped output never wraps a value, tables at a terminal fit,
NO_COLOR means no ANSI at all, timestamps and --quiet for tick and watch, Ctrl-C while
waiting, confirmations for what cannot be undone, completion, -V. Real subprocesses and
real pseudo-terminals throughout."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudlease import __version__
from tests.conftest import run_cli
from tests.terminal_parts import ANSI, broken, run_pty, tokens

NOW1, NOW2 = "2026-03-01T10:00:00Z", "2026-04-02T09:00:00Z"
ALICE = "alice-the-long-named-investor"
EMAIL = "alice.the.investor@a-rather-long-domain-name.example.com"
PLAN = "gpu-hour-with-a-rather-long-plan-name"
REFUND = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    return {**env, "CLOUDLEASE_HOME": str(home), **extra}


def _run(home: Path, now: str, args: list[str], cols: int, code: int = 0) -> str:
    proc = run_cli(*args, env=env_for(home, CLOUDLEASE_NOW=now, COLUMNS=str(cols)))
    assert proc.returncode == code, (args, proc.returncode, proc.stderr)
    assert "\x1b" not in proc.stdout + proc.stderr, args  # a pipe: no ANSI, colour or not
    return proc.stdout + proc.stderr


# (time, args, exit code, read-only: run again at another width and compare)
SCENARIO = [
    (NOW1, ["tenant", "add", ALICE, "--email", EMAIL, "--refund-address", REFUND], 0, False),
    (NOW1, ["tenant", "add", "bob"], 0, False),
    (NOW1, ["pool", "add", "gpu", "--slots", "4", "--cost-per-hour", "10 sat",
            "--consideration", "revenue_share", "--investor-pct", "20",
            "--period-months", "3"], 0, False),
    (NOW1, ["plan", "add", PLAN, "--price-per-hour", "2000 sat", "--pool", "gpu"], 0, False),
    (NOW1, ["pool", "fund", "gpu", "--tenant", ALICE, "--amount", "600000 sat"], 0, False),
    (NOW1, ["devchain", "pay", "P-1"], 0, False),
    (NOW1, ["devchain", "mine"], 0, False),
    (NOW1, ["tick"], 0, False),
    (NOW1, ["rent", "--hours", "3", "--plan", PLAN, "--tenant", "bob", "--no-wait"], 0, False),
    (NOW1, ["devchain", "pay", "P-2", "--sats", "500"], 0, False),
    (NOW1, ["tick"], 0, False),
    (NOW1, ["pay", "check", "P-2"], 7, False),
    (NOW1, ["pay", "show", "P-2"], 0, False),
    (NOW1, ["rent", "--hours", "1", "--plan", "standard", "--no-wait"], 0, False),
    (NOW1, ["lease", "cancel", "L-2", "--yes"], 0, False),
    (NOW1, ["rent", "--hours", "2", "--plan", "standard", "--tenant", ALICE, "--no-wait"],
     0, False),
    (NOW1, ["devchain", "pay", "P-4"], 0, False),
    (NOW1, ["devchain", "mine"], 0, False),
    (NOW1, ["watch", "--count", "1", "--interval", "0.1"], 0, False),
    (NOW1, ["lease", "extend", "L-3", "--hours", "1"], 0, False),
    (NOW1, ["lease", "list"], 0, True),
    (NOW1, ["lease", "show", "L-1"], 0, False),
    (NOW1, ["lease", "show", "L-3"], 0, True),
    (NOW1, ["tenant", "list"], 0, False),
    (NOW1, ["tenant", "show", ALICE], 0, False),
    (NOW1, ["plan", "list"], 0, False),
    (NOW1, ["pool", "list"], 0, False),
    (NOW1, ["pool", "show", "gpu"], 0, True),
    (NOW1, ["risk"], 0, False),
    (NOW1, ["wallet", "show"], 0, True),
    (NOW2, ["tick"], 0, False),
    (NOW2, ["payout", "--pool", "gpu", "--period", "2026-03"], 0, False),
    (NOW2, ["invoice", "create", "--tenant", ALICE, "--period", "2026-03"], 0, False),
    (NOW2, ["invoice", "issue", "D-1"], 0, False),
    (NOW2, ["invoice", "list"], 0, True),
    (NOW2, ["invoice", "show", "D-1"], 0, False),
    (NOW2, ["invoice", "void", "D-1", "--reason", "wrong billing address", "--yes"], 0, False),
    (NOW2, ["export", "--format", "csv"], 0, False),
    (NOW2, ["hooks", "list"], 0, True),
    (NOW2, ["wallet", "sweep", "--to", REFUND, "--dry-run"], 0, False),
    (NOW2, ["risk"], 0, True),
    (NOW2, ["verify", "--full"], 0, True),
]


@pytest.mark.slow
def test_piped_output_never_breaks_a_value(cli, home):
    cfg = home / "config.toml"  # what an invoice needs to be issued
    cfg.write_text(cfg.read_text().replace('name = ""', 'name = "Example Compute Ltd"', 1)
                   .replace('address = ""', 'address = "1 Main St, Springfield"', 1))
    outputs = []
    for now, args, code, readonly in SCENARIO:
        narrow = _run(home, now, args, 80, code)
        if readonly:  # nothing in a pipe depends on the width
            assert _run(home, now, args, 1000, code) == narrow, args
        outputs.append((args, narrow))
    with sqlite3.connect(home / "ledger.db") as db:  # an edit behind cloudlease's back
        db.execute("UPDATE tenants SET email = 'x@example.com' WHERE name = 'bob'")
    outputs.append((["verify"], _run(home, NOW2, ["verify", "--full"], 80, 5)))
    dump = json.loads(run_cli("ledger", "dump", "--format", "json",
                              env=env_for(home)).stdout)
    values = tokens(dump) | {"awaiting_payment", "edited outside cloudlease",
                             "500 of 6,000 sat paid, 5,500 due"}
    for args, text in outputs:
        assert not broken(text, values), (args, broken(text, values), text)
    joined = "\n".join(text for _, text in outputs)
    for must in (EMAIL, PLAN, "600,000 sat", "awaiting_payment", "edited outside cloudlease",
                 "P-2: partial, 500 of 6,000 sat paid, 5,500 due"):
        assert any(must in line for line in joined.splitlines()), must
    assert max(len(line) for line in joined.splitlines()) > 80  # long lines stayed long


def _pty_home_env(home: Path, **extra: str) -> dict[str, str]:
    return env_for(home, TERM="xterm-256color", **extra)


def test_tables_at_a_terminal_fit_its_width_without_breaking_values(cli, home):
    cli("tenant", "add", ALICE, "--email", EMAIL, "--refund-address", REFUND)
    for _ in range(2):
        cli("rent", "--hours", "2", "--tenant", ALICE, "--no-wait")
    values = tokens(json.loads(cli("ledger", "dump", "--format", "json").stdout))
    for cols in (200, 80, 60):  # each value alone fits in 60 columns
        for args in (["lease", "list"], ["wallet", "show"], ["tenant", "list"]):
            code, p = run_pty(args, _pty_home_env(home, NO_COLOR="1"), cols=cols)
            text = p.text()
            assert code == 0, text
            assert not broken(text, values), (cols, args, broken(text, values))
            assert all(len(line) <= cols for line in text.splitlines()
                       if len(line.split()) > 1), (cols, args, text)  # one long value may
            if args == ["tenant", "list"]:
                assert EMAIL in text
    code, wide = run_pty(["lease", "list"], _pty_home_env(home, NO_COLOR="1"), cols=200)
    assert "lease  status" in wide.text() and "──────" in wide.text()  # a table when it fits
    code, narrow = run_pty(["lease", "list"], _pty_home_env(home, NO_COLOR="1"), cols=60)
    assert re.search(r"^lease\s+L-1$", narrow.text(), re.M)  # one block per row otherwise
    assert re.search(r"^status\s+awaiting_payment$", narrow.text(), re.M)


def test_no_color_means_no_ansi_at_all_even_at_a_terminal(cli, home):
    cli("rent", "--hours", "1", "--no-wait")
    coloured = run_pty(["lease", "list"], _pty_home_env(home))[1].raw()
    assert "\x1b[" in coloured  # colour and bold at a terminal by default
    for args in (["lease", "list"], ["lease", "show", "L-1"], ["tick"], ["lease", "--help"],
                 ["rent", "--help"], ["lease", "show", "L-99"], ["nope"]):
        code, p = run_pty(args, _pty_home_env(home, NO_COLOR="1"))
        assert "\x1b" not in p.raw(), (args, p.raw())
        assert p.text().strip()


def test_tick_and_watch_lines_carry_utc_time_and_quiet_prints_only_problems(cli, home,
                                                                             monkeypatch):
    monkeypatch.setenv("CLOUDLEASE_NOW", NOW1)
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")
    env = env_for(home, CLOUDLEASE_NOW=NOW1)
    proc = run_cli("tick", env=env)
    assert proc.returncode == 0 and proc.stdout.strip()
    assert all(stamp.match(line) for line in proc.stdout.splitlines())
    assert proc.stdout.startswith("2026-03-01T10:00:00Z checked")
    quiet = run_cli("tick", "--quiet", env=env)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")  # nothing changed
    lease = cli.json("rent", "--hours", "2")
    rid = lease["payment"]["id"]
    cli("devchain", "pay", rid, "--sats", "500")
    proc = run_cli("tick", "--quiet", env=env)
    assert proc.stdout == f"{NOW1} {rid}: partial, 500 of 2,000 sat paid, 1,500 due\n"
    assert run_cli("tick", "--quiet", env=env).stdout == ""  # said once
    cli("devchain", "pay", rid)
    cli("devchain", "mine")
    assert run_cli("tick", "--quiet", env=env).stdout == ""  # settled, active: no problem
    w = run_cli("watch", "--count", "2", "--interval", "0.1", env=env)
    assert w.returncode == 0 and w.stdout.splitlines()[-1] == "2 ticks run"
    late = env_for(home, CLOUDLEASE_NOW="2026-03-01T11:00:00Z")
    cli("rent", "--hours", "1")
    w = run_cli("watch", "--count", "1", "--interval", "0.1", "--quiet", env=late)
    assert re.fullmatch(r"2026-03-01T11:00:00Z P-\d+: new → expired\n"
                        r"2026-03-01T11:00:00Z L-\d+: awaiting_payment → expired\n", w.stdout)


def test_a_failed_hook_makes_tick_exit_9_and_the_change_stands(cli, home, tmp_path):
    hook = tmp_path / "fail.sh"
    hook.write_text("#!/bin/sh\necho 'provisioner down' >&2\nexit 1\n")
    hook.chmod(0o755)
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text().replace("[hooks]\n", f'[hooks]\nlease_active = "{hook}"\n'))
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    proc = run_cli("tick", "--json", env=env_for(home))
    assert proc.returncode == 9
    assert json.loads(proc.stdout)["hooks_failed"][0]["error"] == "exit 1: provisioner down"
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "hook_failed" and error["exit_code"] == 9
    assert cli.json("lease", "show", lease["id"])["status"] == "active"
    human = run_cli("tick", "--quiet", env=env_for(home))
    assert human.returncode == 9 and "lease_active E-1 to hook failed" in human.stdout
    assert human.stderr.startswith("error: 1 hook or webhook delivery failed")


def _wait_env(home: Path) -> dict[str, str]:
    return env_for(home, NO_COLOR="1")


def test_ctrl_c_while_rent_waits_exits_130_and_the_request_stays_open(cli, home):
    """Waits for what the status says (events, generous deadlines), never for a fixed
    time: on a busy machine the first poll may take seconds."""
    import queue
    import threading

    proc = subprocess.Popen([sys.executable, "-m", "cloudlease", "rent", "--hours", "2",
                             "--wait"], env=_wait_env(home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    err_lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            err_lines.append(line)
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def until(text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=max(0.01, deadline - time.monotonic())):
                    return
            except queue.Empty:
                break
        raise AssertionError(f"{text!r} not seen in {''.join(err_lines)!r}")

    try:
        until("P-1: waiting for 2,000 sat")
        cli("devchain", "pay", "P-1", "--sats", "500")
        until("P-1: 500 of 2,000 sat paid, 1,500 due by")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        proc.stdout.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=60)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    err = "".join(err_lines)
    assert proc.returncode == 130, err
    assert "request P-1 stays open" in err and "Traceback" not in err
    assert cli.json("pay", "show", "P-1")["status"] == "new"


def test_ctrl_c_at_a_terminal(cli, home):
    from tests.terminal_parts import Pty

    p = Pty([sys.executable, "-m", "cloudlease", "rent", "--hours", "1"],
            _pty_home_env(home, NO_COLOR="1"))
    p.read_until("Ctrl-C stops waiting", timeout=120)
    p.send(b"\x03")  # the terminal's interrupt key: SIGINT to the foreground process
    assert p.wait(120) == 130
    assert "stays open" in p.text() and "Traceback" not in p.text()
    assert "\x1b" not in p.raw()  # NO_COLOR: plain status lines, no spinner


@pytest.mark.parametrize("args,what", [
    (["lease", "cancel", "L-1"], "cancelling lease L-1"),
    (["tenant", "remove", "bob"], "removing tenant 'bob'"),
    (["init", "--force"], "init --force"),
    (["wallet", "show", "--reveal"], "printing private keys"),
    (["wallet", "sweep", "--to", REFUND], "sending a sweep"),
])
def test_destructive_commands_need_yes_without_a_terminal(cli, home, args, what):
    if args[0] != "init":  # init --force is refused (exit 4) on a home with history
        cli("tenant", "add", "bob")
        cli("rent", "--hours", "1")
    if args[1] == "sweep":  # something to sweep (else: exit 4, nothing to sweep)
        cli("devchain", "pay", "P-1")
        cli("devchain", "mine")
        cli("tick")
    before = cli.ledger_snapshot()
    for extra in ([], ["--json"]):
        proc = run_cli(*args, *extra, env=env_for(home), timeout=60)
        assert proc.returncode == 2, proc.stderr
        if extra and args[-1] == "--reveal":
            assert "never prints keys as JSON" in proc.stderr
        else:
            assert what in proc.stderr and "pass --yes" in proc.stderr
        assert "Aborted" not in proc.stderr and "wif" not in proc.stdout
    assert cli.ledger_snapshot() == before


def test_destructive_commands_ask_at_a_terminal(cli, home):
    cli("tenant", "add", "bob")
    cli("rent", "--hours", "1")
    env = _pty_home_env(home, NO_COLOR="1")
    code, p = run_pty(["lease", "cancel", "L-1"], env, prompt="[y/N]", answer="n\n")
    assert code == 2 and "not confirmed; nothing was changed" in p.text()
    assert cli.json("lease", "show", "L-1")["status"] == "awaiting_payment"
    code, p = run_pty(["lease", "cancel", "L-1"], env, prompt="Cancel lease L-1?", answer="y\n")
    assert code == 0 and cli.json("lease", "show", "L-1")["status"] == "cancelled"
    code, p = run_pty(["tenant", "remove", "bob"], env, prompt="[y/N]", answer="y\n")
    assert code == 0 and cli.json("tenant", "list") == []
    code, p = run_pty(["wallet", "show", "--reveal"], env, prompt="[y/N]", answer="y\n")
    assert code == 0 and re.search(r"bcrt1\S+\s+c[A-Za-z0-9]{51}", p.text())  # WIF shown
    code, p = run_pty(["lease", "cancel", "L-1"], env)  # refused before asking
    assert code == 4 and "[y/N]" not in p.text()


def test_shell_completion_and_version(home, tmp_path):
    env = env_for(home, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    script = ('eval "$(cloudlease --show-completion bash)"\n'
              "COMP_WORDS=(cloudlease le); COMP_CWORD=1; _cloudlease_completion cloudlease\n"
              'echo "${COMPREPLY[*]}"\n'
              'COMP_WORDS=(cloudlease hooks ""); COMP_CWORD=2; _cloudlease_completion cloudlease\n'
              'echo "${COMPREPLY[*]}"\n'
              "COMP_WORDS=(cloudlease rent --ho); COMP_CWORD=2; "
              "_cloudlease_completion cloudlease\n"
              'echo "${COMPREPLY[*]}"\n')
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                         timeout=60)
    first, hooks, rent = out.stdout.splitlines()
    assert set(first.split()) == {"lease", "ledger"}
    assert set(hooks.split()) == {"list", "redeliver"}
    assert "--hours" in rent.split()
    install = run_cli("--install-completion", "bash",
                      env={**env, "HOME": str(tmp_path), "SHELL": "/bin/bash"})
    assert install.returncode == 0
    assert (tmp_path / ".bash_completions" / "cloudlease.sh").exists()
    for flag in ("-V", "--version"):
        proc = run_cli(flag, env=env)
        assert (proc.returncode, proc.stdout) == (0, f"cloudlease {__version__}\n")
    assert ANSI.search(run_cli("--help", env=env).stdout) is None
