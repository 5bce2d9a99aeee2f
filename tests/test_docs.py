"""Every command has help text and is named in the README; every exit code is documented."""

from __future__ import annotations

import re

import pytest
import typer

from cloudlease.cli.main import app
from cloudlease.core.errors import ExitCode
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def commands() -> list[tuple[str, object]]:
    """Every command, from the lazy root's tables (nothing is registered on ``app``
    itself until a command is asked for)."""
    import importlib

    from cloudlease.cli.main import GROUPS, TOP_LEVEL

    out = []
    for name, (module, register) in TOP_LEVEL.items():
        holder = typer.Typer()
        getattr(importlib.import_module(module), register)(holder)
        out += [(name, c.callback) for c in holder.registered_commands if c.name == name]
    for group, module in GROUPS.items():
        sub: typer.Typer = importlib.import_module(module).app
        out += [(f"{group} {c.name}", c.callback) for c in sub.registered_commands]
    assert len(out) > 40, out
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


def test_every_command_has_an_example():
    missing = [name for name, callback in commands()
               if f"Example: cloudlease {name}" not in (callback.__doc__ or "")]
    assert not missing, missing


CHOICES = {
    ("init", "--network"): "[mainnet|testnet|testnet4|signet|regtest]",
    ("init", "--backend"): "[devchain|esplora|bitcoind]",
    ("rent", "--hours"): "<int>",
    ("lease extend", "--hours"): "<int>",
    ("lease list", "--status"): "<status>",  # the choices, too long for 60 columns, in its help
    ("pool add", "--consideration"): "[revenue_share|ownership|fixed_return]",
    ("pool fund", "--kind"): "[investment|donation]",
    ("invoice show", "--format"): "[table|json|md|html]",
    ("invoice list", "--status"): "[draft|issued|void]",
    ("export", "--format"): "[csv|hledger|beancount|json]",
    ("ledger dump", "--format"): "[toml|json]",
}


def _help(name: str) -> str:
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("name", sorted({n for n, _ in CHOICES}))
def test_options_show_their_type_or_choices(name):
    text = _help(name)
    for (cmd, option), metavar in CHOICES.items():
        if cmd == name:
            line = next(x for x in text.splitlines()
                        if re.search(rf"^  (-\w, )?{re.escape(option)}\s", x))
            assert metavar in line, line


def test_no_option_is_left_without_its_kind():
    """Every option that takes a value names a type (<int>, <path>, <amount>...) or its
    choices; only free text shows <str>, and then its help says what it is."""
    for name, callback in commands():
        for param in typer.main.get_params_from_function(callback).values():
            info = param.default
            if not isinstance(info, typer.models.OptionInfo) or param.annotation is bool:
                continue
            metavar = info.metavar
            if metavar is None:
                continue
            assert metavar.startswith(("<", "[")) or metavar.isupper(), (name, metavar)


def test_the_python_example_runs_as_shown(tmp_path, capsys):
    """README's "Using cloudlease from Python": the example runs against a fresh home and
    prints exactly what the README says it prints."""
    section = README.split("## Using cloudlease from Python", 1)[1].split("\n## ", 1)[0]
    code, printed = re.findall(r"```(?:python|text)\n(.*?)```", section, re.S)[:2]
    assert '"/tmp/demo"' in code
    code = code.replace('"/tmp/demo"', repr(str(tmp_path / "demo")))
    exec(compile(code, "README.md (Using cloudlease from Python)", "exec"), {})
    assert capsys.readouterr().out == printed


def test_the_facade_lists_its_modules():
    """``cloudlease.ops`` names every operations module (they load when first named) and
    each says what it holds."""
    import importlib

    from cloudlease import ops

    files = {p.stem for p in (REPO / "cloudlease" / "ops").glob("*.py")} - {"__init__"}
    assert set(ops.MODULES) == files
    for name in ops.MODULES:
        assert importlib.import_module(f"cloudlease.ops.{name}").__doc__, name
        assert getattr(ops, name).__name__ == f"cloudlease.ops.{name}"
    assert "open" in ops.__all__ and ops.__doc__ and "Context" in ops.__doc__
