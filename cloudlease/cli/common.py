"""What every command shares: --json, --home, --lock-timeout, results and errors.

Commands return a ``Result``; ``command`` wraps them so that ``--json`` prints one JSON
document, errors become one line (JSON on stderr with ``--json``) and the exit code of
docs/design.md, and nothing but an internal error ever shows a traceback (and then only with
CLOUDLEASE_DEBUG=1).

``RootGroup`` (the root command's class) does the same for what happens before a command
runs: Click's usage errors (a missing option, a bad choice, an unknown command, a wrong
type) become the same one line or JSON document, exit 2, with ``--json`` anywhere on the
command line. It also gives every int and float parameter the one number syntax of
``validate`` (``numbers.harden``: Click's own would read ``1_0`` as 10, ``١٢`` as 12 and
``nan`` as a float).

A file system error (full disk, read-only or foreign home, a directory where a file should
be) is one line naming the path, exit 5; a network ``OSError`` that escaped a backend is
exit 6. Failing to write the output: a closed pipe (``| head -0``) exits 141 silently, as
Unix tools do on SIGPIPE; any other write error on stdout (``> /dev/full``) is one line on
stderr, exit 5.
"""

from __future__ import annotations

import errno
import functools
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.26 carries its own copy of Click
    from typer import _click as click  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older typer uses Click itself
    import click  # type: ignore[no-redef]

from cloudlease.cli.failures import (
    EXIT_BROKEN_PIPE,
    os_error,
    silence_stdout,
    write_error,
)
from cloudlease.cli.numbers import harden
from cloudlease.core import clock, validate
from cloudlease.core.errors import BadValue, CloudleaseError, ExitCode, LedgerError


@dataclass
class Result:
    """A command's outcome: data for --json, a view name for people, an exit code."""

    data: Any
    view: str = "message"
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)
    error: tuple[str, str] | None = None  # (code, message) for a non-zero exit


@dataclass
class State:
    json_mode: bool = False
    home: Path | None = None
    lock_timeout: float | None = None
    argv_json: bool = False  # --json somewhere on the command line: errors are JSON
    _ctx: Any = None

    def reset(self, **values: Any) -> None:
        """Fresh state for one invocation (tests run many in one process); what the root
        command saw on the command line stays."""
        self.close()
        argv_json = self.argv_json
        self.__init__(**values)  # type: ignore[misc]
        self.argv_json = argv_json

    def close(self) -> None:
        """Close the ledger connection this invocation opened, if any."""
        if self._ctx is not None:
            self._ctx.close()

    def context(self, *, create_default: bool = False) -> Any:
        """The Context for this run. A home that does not exist is exit 5 naming it, and
        nothing is created — except the default home by the quick start (``rent`` at a
        terminal passes ``create_default``) and by ``init``."""
        if self._ctx is None:
            from cloudlease.ops.context import Context, default_home

            explicit = self.home or os.environ.get("CLOUDLEASE_HOME")
            if explicit:
                ctx = Context.at(explicit, self.lock_timeout)
                if not ctx.exists():
                    raise LedgerError(f"no cloudlease ledger at {ctx.home.path} (run "
                                      f"'cloudlease init --home {ctx.home.path}')",
                                      code="ledger_missing")
            else:
                ctx = Context.at(default_home(), self.lock_timeout)
                if not ctx.exists() and not create_default:
                    raise LedgerError(
                        f"no cloudlease home at {ctx.home.path} (the default home): run "
                        "'cloudlease init' to make one, or 'cloudlease rent --hours 2' at a "
                        "terminal for a regtest one; or give --home", code="ledger_missing")
                if not ctx.exists():
                    from cloudlease.ops.home import init

                    init(ctx.home.path, lock_timeout=ctx.lock_timeout)
                    note(f"created a new regtest home at {ctx.home.path} (simulated chain and "
                         "Lightning node, starter plan 'standard'); see 'cloudlease init "
                         "--help' for others")
            self._ctx = ctx
        return self._ctx


STATE = State()


def note(message: str) -> None:
    """A line for people on stderr (never on stdout, which --json keeps clean)."""
    from cloudlease import render

    render.note(message)


def ctx() -> Any:
    return STATE.context()


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
HomeOpt = Annotated[Path | None, typer.Option(
    "--home", help="cloudlease home (default: $CLOUDLEASE_HOME, else the user data dir).",
    show_default=False)]
LockOpt = Annotated[float | None, typer.Option(
    "--lock-timeout", help="Seconds to wait for the ledger lock (default 5, at most 3600).",
    min=0, max=3600, show_default=False)]

# Text options that hold a number or a month, checked by name before the command runs
# (the operation parses them again; this makes sure only the one syntax reaches it).
_TEXT_GATES: dict[str, Callable[[str], object]] = {
    "investor_pct": lambda t: validate.number(
        t, "--investor-pct", expect="a percentage from 0 to 100"),
    "startup_weight": lambda t: validate.number(
        t, "--startup-weight", expect="a weight from 1 to 10"),
    "return_multiple": lambda t: validate.number(
        t, "--return-multiple", low=1, high=1000,
        expect="a multiple of at least 1 and at most 1000 (e.g. 1.5)"),
    "fee_rate": lambda t: validate.number(t, "--fee-rate", expect="a fee rate in sat/vB"),
    "period": lambda t: clock.parse_period(t, "--period"),
}
YesOpt = Annotated[bool, typer.Option(
    "--yes", "-y", help="Do it without asking (scripts, cron and --json must pass it).")]


def can_ask() -> bool:
    """Whether a question can be put to a person: a terminal, and not --json."""
    return not STATE.json_mode and sys.stdin.isatty()


def confirm(question: str, yes: bool, what: str) -> None:
    """Ask before something that cannot be undone: at a terminal a y/N question (on
    stderr), elsewhere (a pipe, cron, --json) ``--yes`` is required, exit 2 without it.
    Declining is exit 2 too, and nothing is changed."""
    if yes:
        return
    if not can_ask():
        why = "--json never asks" if STATE.json_mode else "there is no terminal to ask at"
        raise BadValue(f"{what} cannot be undone; pass --yes to confirm ({why})",
                       code="confirmation_required")
    try:
        agreed = typer.confirm(question, default=False, err=True)
    except typer.Abort:  # Ctrl-C or end of input at the prompt
        sys.stderr.write("\n")  # the prompt's line ends before the error
        agreed = False
    if not agreed:
        raise BadValue("not confirmed; nothing was changed", code="not_confirmed")


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable:
    """Register ``fn`` as a command that also takes --json, --home and --lock-timeout."""

    def deco(fn: Callable[..., Result]) -> Callable:
        hints = typing.get_type_hints(fn, include_extras=True)
        sig = inspect.signature(fn)
        params = [p.replace(annotation=hints.get(p.name, p.annotation))
                  for p in sig.parameters.values()]
        extra = [
            inspect.Parameter("json_out", inspect.Parameter.KEYWORD_ONLY, default=False,
                              annotation=JsonOpt),
            inspect.Parameter("home_opt", inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation=HomeOpt),
            inspect.Parameter("lock_timeout_opt", inspect.Parameter.KEYWORD_ONLY,
                              default=None, annotation=LockOpt),
        ]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kw: Any) -> None:
            if kw.pop("json_out", False):
                STATE.json_mode = True
            home = kw.pop("home_opt", None)
            if home is not None:
                STATE.home = home
            lock_timeout = kw.pop("lock_timeout_opt", None)
            if lock_timeout is not None:
                STATE.lock_timeout = lock_timeout

            def call() -> Result:
                for key, check in _TEXT_GATES.items():
                    if isinstance(kw.get(key), str):
                        check(kw[key])
                return fn(*args, **kw)

            run_command(call)

        wrapper.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[*params, *extra], return_annotation=inspect.Signature.empty)
        wrapper.__annotations__ = {p.name: p.annotation for p in [*params, *extra]}
        return app.command(name, **kwargs)(wrapper)

    return deco


def run_command(call: Callable[[], Result]) -> None:
    try:
        try:
            result = call()
        finally:
            STATE.close()
    except CloudleaseError as exc:
        fail(exc.message, exc.code, int(exc.exit_code), exc.problems, exc.headline)
    except KeyboardInterrupt:
        fail("interrupted", "interrupted", 130)
    except (typer.Exit, typer.Abort):
        raise
    except OSError as exc:  # the file system or the network, not a bug
        fail(*os_error(exc))
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if os.environ.get("CLOUDLEASE_DEBUG"):
            raise
        fail(f"internal error: {type(exc).__name__}: {exc} (set CLOUDLEASE_DEBUG=1 for a "
             "traceback)", "internal", int(ExitCode.INTERNAL))
    try:
        emit(result)
        sys.stdout.flush()
    except OSError as exc:
        output_failed(exc)
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # Rich's answer to a closed pipe
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        raise
    if result.exit_code:
        if result.error:
            code, message = result.error
            fail(message, code, result.exit_code)
        raise typer.Exit(result.exit_code)


def output_failed(exc: OSError) -> None:
    """Writing the output failed: silent exit 141 for a closed pipe, else one line."""
    if exc.errno == errno.EPIPE:
        silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE)
    silence_stdout()
    fail(f"cannot write the output to stdout: {exc.strerror or exc}", "output_failed",
         int(ExitCode.LEDGER))


def emit(result: Result) -> None:
    from cloudlease.core.views import json_default, jsonable

    if result.data is None and result.view == "none":
        return
    if STATE.json_mode:
        # Indented for a person at a terminal; compact (and ~5x faster to encode, as
        # only then json uses its C encoder) for the scripts that read a pipe.
        indent = 2 if sys.stdout.isatty() else None
        sys.stdout.write(json.dumps(result.data, ensure_ascii=False, indent=indent,
                                    default=json_default) + "\n")
        for line in result.notes:
            sys.stderr.write(f"note: {line}\n")
        return
    from cloudlease import render

    render.show(result.view, jsonable(result.data))
    for line in result.notes:
        render.note(line)


def fail(message: str, code: str, exit_code: int, problems: Sequence[str] = (),
         headline: str | None = None) -> None:
    write_error(message, code, exit_code, STATE.json_mode or STATE.argv_json, problems,
                headline)
    raise typer.Exit(exit_code)


# -- the root command --------------------------------------------------------------------

def wants_json(args: list[str]) -> bool:
    """``--json`` anywhere on the command line (before a ``--``)."""
    return "--json" in (args[: args.index("--")] if "--" in args else args)


class RootGroup(TyperGroup):
    """The root command: one error line (or JSON document) and exit 2 for Click's usage
    errors, as ``fail`` does for a command's own errors."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        STATE.reset()
        STATE.argv_json = json_mode = wants_json(argv)
        harden(self)
        try:
            code = super().main(argv, prog_name, complete_var, standalone_mode=False,
                                **extra)
            code = code if isinstance(code, int) else 0
            sys.stdout.flush()
        except _NoArgsIsHelp:
            code = int(ExitCode.USAGE)  # the help is already on stdout
        except click.exceptions.ClickException as exc:
            code = int(ExitCode.USAGE)
            write_error(_usage_message(exc), "usage", code, json_mode or STATE.json_mode)
        except typer.Abort:
            code = int(ExitCode.USAGE)
            sys.stderr.write("\n")  # the prompt that got no answer ends without one
            write_error("aborted (no answer)", "aborted", code, json_mode or STATE.json_mode)
        except typer.Exit as exc:
            code = exc.exit_code
        except SystemExit as exc:
            if not isinstance(exc.__context__, BrokenPipeError):
                raise
            code = EXIT_BROKEN_PIPE  # Rich met a closed pipe (printing help, say)
        except OSError as exc:
            try:
                output_failed(exc)
                code = int(ExitCode.LEDGER)
            except typer.Exit as done:
                code = done.exit_code
        if standalone_mode:
            sys.exit(code)
        return code


_NoArgsIsHelp = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _usage_message(exc: Any) -> str:
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message += f" (see '{ctx.command_path} --help')"
    return message
