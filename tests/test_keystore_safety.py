"""keys.toml is never read or written through a symbolic link, and ``wallet show`` says
when the keystore is missing or others can read it."""

from __future__ import annotations

import pytest

from cloudlease.bitcoin.keyfile import health
from cloudlease.bitcoin.keystore import KeyStore
from cloudlease.core.errors import LedgerError
from tests.conftest import home_files


@pytest.fixture
def linked(cli, home, tmp_path):
    """A home whose keys.toml is a symbolic link to a real keystore elsewhere."""
    lease = cli.json("rent", "--hours", "1")
    cli("devchain", "pay", lease["payment"]["id"])
    cli("devchain", "mine")
    cli("tick")
    keys = home / "keys.toml"
    target = tmp_path / "elsewhere-keys.toml"
    target.write_bytes(keys.read_bytes())
    target.chmod(0o600)
    keys.unlink()
    keys.symlink_to(target)
    return target


@pytest.mark.parametrize("args", [["rent", "--hours", "1"],
                                  ["wallet", "show", "--reveal", "--yes"],
                                  ["wallet", "sweep", "--to",
                                   "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"]])
def test_a_linked_keystore_is_refused(cli, home, linked, args):
    before = home_files(home)
    target_bytes = linked.read_bytes()
    result = cli(*args, code=5)
    assert "symbolic link" in result.stderr and "Traceback" not in result.stderr
    assert home_files(home) == before
    assert linked.read_bytes() == target_bytes
    assert (home / "keys.toml").is_symlink()


def test_keystore_api_refuses_links(tmp_path):
    real = tmp_path / "real.toml"
    store = KeyStore(real)
    store.new_key("regtest")
    link = tmp_path / "keys.toml"
    link.symlink_to(real)
    for action in (lambda s: s.load(), lambda s: s.new_key("regtest"), lambda s: s.save(),
                   lambda s: s.check_permissions()):
        with pytest.raises(LedgerError, match="symbolic link"):
            action(KeyStore(link))
    assert link.is_symlink()
    dangling = tmp_path / "dangling.toml"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(LedgerError, match="symbolic link"):
        KeyStore(dangling).new_key("regtest")
    assert not (tmp_path / "nowhere").exists()


def test_health(tmp_path):
    path = tmp_path / "keys.toml"
    assert health(path, expected=False)["problem"] is None
    assert "missing" in health(path, expected=True)["problem"]
    KeyStore(path).new_key("regtest")
    ok = health(path, expected=True)
    assert ok == {"path": str(path), "exists": True, "mode": "0600", "problem": None}
    path.chmod(0o644)
    bad = health(path, expected=True)
    assert bad["mode"] == "0644" and "readable by others" in bad["problem"]


def test_wallet_show_warns_about_a_readable_or_missing_keystore(cli, home):
    shown = cli.json("wallet", "show")
    assert shown["keystore"]["exists"] is False and shown["keystore"]["problem"] is None
    cli("rent", "--hours", "1")
    shown = cli.json("wallet", "show")
    assert shown["keystore"]["mode"] == "0600" and shown["keystore"]["problem"] is None
    keys = home / "keys.toml"
    keys.chmod(0o644)
    result = cli("wallet", "show", "--json")
    import json

    data = json.loads(result.stdout)
    assert "readable by others" in data["keystore"]["problem"]
    assert "readable by others" in result.stderr  # the note line
    human = cli("wallet", "show")
    assert "note:" in human.stderr and "readable by others" in human.stderr
    keys.chmod(0o600)
    keys.rename(home / "keys.toml.bak")
    data = cli.json("wallet", "show")
    assert "missing" in data["keystore"]["problem"]
