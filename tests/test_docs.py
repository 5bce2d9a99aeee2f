"""Every command has help text and is named in the README; every exit code is documented."""

from __future__ import annotations

import re

import typer

from cloudlease.cli.main import app
from cloudlease.errors import ExitCode
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def commands() -> list[tuple[str, object]]:
    out = []
    for cmd in app.registered_commands:
        out.append((cmd.name, cmd.callback))
    for group in app.registered_groups:
        sub: typer.Typer = group.typer_instance
        for cmd in sub.registered_commands:
            out.append((f"{group.name} {cmd.name}", cmd.callback))
    return out


def test_every_command_has_help():
    missing = [name for name, callback in commands() if not (callback.__doc__ or "").strip()]
    assert not missing, missing


def test_every_command_is_in_the_readme():
    listed = " ".join(re.findall(r"```\n(init .*?)```", README, re.S))
    for name, _ in commands():
        group, _, sub = name.partition(" ")
        if sub:
            assert re.search(rf"\b{group} [a-z|]*\b{sub}\b", listed), name
        else:
            assert re.search(rf"\b{group}\b", listed), name


def test_every_exit_code_is_documented():
    for code in ExitCode:
        assert re.search(rf"^\| {int(code)} \| ", README, re.M), code


def test_every_command_takes_json():
    for name, callback in commands():
        params = typer.main.get_params_from_function(callback)
        assert "json_out" in params, name
