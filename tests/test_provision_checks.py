"""``[provision]`` is checked when config.toml is read, by every command (``verify``,
``tick``, ``lease list``...), not first when a paid lease fails to get its machine: the
drivers' state folder (never under /tmp; itself and every folder above it the operator's
or root's, writable by no one else; checked without creating it), the command driver's
program and the ssh-account driver's shell. Each is exit 5 naming the key."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.machine_helpers import set_provision
from tests.provision_parts import need


@pytest.fixture
def safe(tmp_path: Path) -> Iterator[Path]:
    """A fresh root-owned folder under /var/lib (not under /tmp), removed afterwards."""
    need(root=True)
    base = Path(f"/var/lib/cl-cfgtest-{uuid.uuid4().hex[:10]}")
    base.mkdir(mode=0o700)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def refused(cli, *, key: str = "provision.state_dir") -> str:
    """The message of the one problem every command gives (exit 5), checked on three."""
    messages = []
    for argv in (("verify",), ("tick",), ("lease", "list")):
        err = cli.json(*argv, code=5)
        assert err["code"] == "config_invalid" and f"config.toml:{key}:" in err["message"]
        messages.append(err["message"])
    assert len(set(messages)) == 1
    return messages[0]


def test_a_safe_state_dir_is_fine_and_not_created(cli, home, safe):
    set_provision(home, driver="ssh-account", state_dir=str(safe / "state"))
    cli("lease", "list")
    cli("verify")
    assert not (safe / "state").exists()
    (safe / "state").mkdir(mode=0o700)
    cli("lease", "list")
    set_provision(home, driver="ssh-account", state_dir=str(safe))  # the folder itself
    cli("lease", "list")


@pytest.mark.parametrize("state_dir", ["/tmp/cl-state", "/var/tmp/x/y", "/dev/shm"])
def test_a_state_dir_under_a_shared_tmp_is_refused(cli, home, state_dir):
    set_provision(home, driver="ssh-account", state_dir=state_dir)
    message = refused(cli)
    assert f"{state_dir} is under /" in message and "/var/lib/cloudlease" in message


def test_the_default_and_relative_state_dir_are_taken_from_the_home(cli, home):
    """The tests' home is under /tmp: <home>/provision is refused for a driver that keeps
    state, and so is a relative path; the command driver keeps none."""
    set_provision(home, driver="ssh-account")
    message = refused(cli)
    assert f'"" (= {home}/provision) is under /tmp' in message
    set_provision(home, driver="ssh-account", state_dir="machines")
    assert f"machines (= {home}/machines) is under /tmp" in refused(cli)
    set_provision(home, driver="command", command="/bin/true")
    cli("lease", "list")


def test_a_state_dir_that_leads_into_tmp_is_refused(cli, home, safe, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (safe / "link").symlink_to(target)
    set_provision(home, driver="ssh-account", state_dir=str(safe / "link" / "state"))
    assert "resolves to" in refused(cli) and str(target) in refused(cli)


def test_a_state_dir_of_another_user_is_refused(cli, home, safe):
    state = safe / "state"
    state.mkdir(mode=0o700)
    os.chown(state, 65534, 65534)
    set_provision(home, driver="ssh-account", state_dir=str(state))
    message = refused(cli)
    assert f"{state} belongs to uid 65534" in message and "or root" in message
    os.chown(state, 0, 0)
    cli("lease", "list")


def test_a_folder_others_can_write_above_the_state_dir_is_refused(cli, home, safe):
    os.chmod(safe, 0o775)
    set_provision(home, driver="podman", image="localhost/t:1",
                  state_dir=str(safe / "a" / "state"))
    message = refused(cli)
    assert f"{safe} can be written by other users (mode 0775)" in message
    assert f"chmod go-w {safe}" in message
    os.chmod(safe, 0o1777)  # sticky or not: someone else could make the folder first
    assert "mode 1777" in refused(cli)
    os.chmod(safe, 0o755)
    cli("lease", "list")


def test_a_state_dir_that_is_a_file_is_refused(cli, home, safe):
    (safe / "file").write_text("x")
    set_provision(home, driver="ssh-account", state_dir=str(safe / "file"))
    assert "is not a folder" in refused(cli)


def test_the_command_drivers_program_must_be_there(cli, home):
    set_provision(home, driver="command", command="/nonexistent/machine --flag")
    assert "/nonexistent/machine does not exist" in refused(cli, key="provision.command")
    script = home / "machine.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    set_provision(home, driver="command", command="./machine.sh")  # from the home
    assert f"{home}/machine.sh is not an executable file" in refused(
        cli, key="provision.command")
    script.chmod(0o700)
    cli("lease", "list")
    set_provision(home, driver="command", command="no-such-program-here --x")
    assert "'no-such-program-here' is not found on PATH" in refused(cli, key="provision.command")
    set_provision(home, driver="command", command="sh -c true")  # on PATH
    cli("lease", "list")


def test_the_ssh_account_shell_must_be_there(cli, home, safe):
    set_provision(home, driver="ssh-account", state_dir=str(safe / "s"),
                  shell="/bin/no-such-shell")
    assert "/bin/no-such-shell is not an executable file" in refused(cli, key="provision.shell")


def test_every_provisioning_problem_at_once(cli, home):
    """Keys and machine checks together: one exit 5 that lists each, one line each."""
    set_provision(home, driver="ssh-account", port_min=80, listen_address="localhost",
                  shell="/bin/no-such-shell", colour="red")
    err = cli.json("verify", code=5)
    keys = [p.split("config.toml:")[1].split(":")[0] for p in err["problems"]]
    assert keys == ["provision.colour", "provision.listen_address", "provision.port_min"]
    # the table's own rules and machine checks wait until its keys are sound
    set_provision(home, driver="ssh-account", port_min=23000, port_max=22000,
                  shell="/bin/no-such-shell")
    err = cli.json("verify", code=5)
    keys = [p.split("config.toml:")[1].split(":")[0] for p in err["problems"]]
    assert keys == ["provision.port_min", "provision.state_dir", "provision.shell"]
    human = cli("verify", code=5)
    lines = human.stderr.splitlines()
    assert lines[0] == f"error: {home}/config.toml has 3 problems"
    assert [line.split(":", 1)[0] for line in lines[1:]] == [f"  {home}/config.toml"] * 3
