"""Every test gets its own HOME and CLOUDLEASE_HOME: no test touches the real ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloudlease.cli.main import app

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user" / "data"))
    monkeypatch.setenv("CLOUDLEASE_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    for var in ("CLOUDLEASE_NOW", "CLOUDLEASE_RPC_URL", "CLOUDLEASE_DEBUG"):
        monkeypatch.delenv(var, raising=False)
    return home


class Cli:
    """Runs cloudlease in-process with CliRunner; ``json`` adds --json and parses stdout."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int | None = 0, input: str | None = None):
        result = self.runner.invoke(app, list(args), input=input, catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (
                f"exit {result.exit_code} != {code}\nstdout: {result.stdout}\n"
                f"stderr: {result.stderr}")
        return result

    def json(self, *args: str, code: int | None = 0):
        result = self(*args, "--json", code=code)
        if result.stdout.strip():  # a document (exit 0, or a status such as 7 or 8)
            return json.loads(result.stdout)
        return json.loads(result.stderr.strip().splitlines()[-1])["error"]

    def ledger_bytes(self) -> bytes:
        return (self.home / "ledger.toml").read_bytes()


@pytest.fixture
def cli(isolated: Path) -> Cli:
    return Cli(isolated)


@pytest.fixture
def home(cli: Cli) -> Path:
    """An initialised regtest home with the starter plan."""
    cli("init")
    return cli.home


def home_files(home: Path) -> dict[str, bytes]:
    """Every file under a home with its bytes: a refused command must change none."""
    return {str(p.relative_to(home)): p.read_bytes()
            for p in sorted(home.rglob("*")) if p.is_file() and not p.is_symlink()}


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    """cloudlease in a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "cloudlease", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, check=check)


def release_together(procs: list[subprocess.Popen], timeout: float = 120) -> list[str]:
    """Start workers at the same moment: each prints ``ready`` once imported and waits for
    ``go`` on stdin. Returns their stdout, in order; a worker that fails fails the test."""
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        outputs = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err
            outputs.append(out)
        return outputs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            if not p.stdout.closed:
                p.communicate()


@pytest.fixture
def esplora_home(home: Path):
    """The home switched to the esplora backend, served by ``devchain serve`` on loopback."""
    import threading

    from cloudlease.bitcoin.devserver import serve

    server = serve(home / "devchain.json", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cfg = home / "config.toml"
    text = cfg.read_text().replace('kind = "devchain"', 'kind = "esplora"')
    cfg.write_text(text.replace('"http://127.0.0.1:3002"', f'"{server.url}"'))
    try:
        yield home
    finally:
        server.shutdown()
        server.server_close()
