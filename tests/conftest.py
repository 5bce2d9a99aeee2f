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
    for var in ("CLOUDLEASE_NOW", "CLOUDLEASE_RPC_URL", "CLOUDLEASE_DEBUG",
                "CLOUDLEASE_LEDGER_URL"):
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

    def ledger_snapshot(self) -> str:
        """Everything the ledger holds (every table, the audit chain included), to check
        that a refused command changed nothing."""
        return ledger_snapshot(self.home)


def ledger_snapshot(home: Path) -> str:
    """Every row of every table (audit chain and change log included), in a stable order,
    from SQLite or PostgreSQL alike."""
    from cloudlease.ledger import schema
    from cloudlease.ops.context import Context

    ctx = Context.at(home)
    try:
        db = ctx.db()
        out = []
        for table in [s.name for s in schema.SPECS] + ["audit", "audit_rows", "ledger_touch"]:
            rows = db.query(f"SELECT * FROM {table}")
            out.append(f"{table}: " + repr(sorted(map(repr, rows))))
        return "\n".join(out)
    finally:
        ctx.close()


# -- engines: the ledger in SQLite (the home) or PostgreSQL (a database per test) -----------
def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def need_postgres() -> str:
    """The test cluster's superuser URL (scripts/pg-cluster); skip without one, fail in CI."""
    url = os.environ.get("CLOUDLEASE_TEST_PG_URL", "")
    if not url:
        reason = ("no PostgreSQL: run `bash scripts/pg-cluster start && eval \"$(bash "
                  "scripts/pg-cluster env)\"` to run the shared-ledger tests")
        if in_ci():
            pytest.fail(f"CI is set, so PostgreSQL tests may not skip: {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database for one test; yields its URL, drops it afterwards."""
    import uuid

    import psycopg

    admin = need_postgres()
    name = f"cl_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _test_vpub() -> str:
    """BIP84 account 0 of the "abandon ... about" test mnemonic, as a vpub (regtest)."""
    from embit import bip32, bip39
    from embit.networks import NETWORKS

    root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed("abandon " * 11 + "about"),
                                 version=NETWORKS["test"]["xprv"])
    acct = root.derive("m/84h/1h/0h").to_public()
    acct.version = NETWORKS["test"]["zpub"]
    return acct.to_base58()


VPUB = _test_vpub()
ENGINES = ["sqlite", "postgresql"]


def make_home(cli: Cli, engine: str, url: str | None, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An initialised regtest home whose ledger is on ``engine`` (PostgreSQL homes use a
    watch-only wallet, as a shared ledger must)."""
    if engine == "postgresql":
        assert url is not None
        monkeypatch.setenv("CLOUDLEASE_LEDGER_URL", url)
        cli("init", "--xpub", VPUB)
    else:
        cli("init")
    return cli.home


@pytest.fixture(params=ENGINES)
def engine_home(request, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Like ``home``, once on each engine."""
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    return make_home(cli, request.param, url, monkeypatch)


@pytest.fixture
def cli(isolated: Path) -> Cli:
    return Cli(isolated)


@pytest.fixture
def home(cli: Cli) -> Path:
    """An initialised regtest home with the starter plan."""
    cli("init")
    return cli.home


keys_home = home  # for modules that run ``home`` on both engines but need a keys wallet


def home_files(home: Path) -> dict[str, bytes]:
    """Every file under a home with its bytes: a refused command must change none (the
    ledger's -shm index is left out: SQLite may touch it on a mere read)."""
    return {str(p.relative_to(home)): p.read_bytes()
            for p in sorted(home.rglob("*")) if p.is_file() and not p.is_symlink()
            and not p.name.endswith("-shm")}


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


# -- an LND node's certificates and macaroon (tests/lnd_server.py plays the node) --------

@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The node's TLS certificate and key, and another pair it must not be mistaken for."""
    from tests.lnd_server import make_cert

    folder = tmp_path_factory.mktemp("lnd-certs")
    cert, key = make_cert(folder, "tls")
    other_cert, other_key = make_cert(folder, "other")
    return {"cert": cert, "key": key, "other_cert": other_cert, "other_key": other_key}


@pytest.fixture
def macaroon(tmp_path: Path) -> Path:
    """The invoice macaroon in a 0600 file, as the operator keeps it."""
    from tests.lnd_server import MACAROON

    path = tmp_path / "invoice.macaroon"
    path.write_bytes(MACAROON)
    path.chmod(0o600)
    return path
