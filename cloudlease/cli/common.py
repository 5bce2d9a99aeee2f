"""What every command shares: --json, --home, --lock-timeout, results and errors.

Commands return a ``Result``; ``command`` wraps them so that ``--json`` prints one JSON
document, errors become one line (JSON on stderr with ``--json``) and the exit code of
DESIGN.md, and nothing but an internal error ever shows a traceback (and then only with
CLOUDLEASE_DEBUG=1).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudlease.errors import CloudleaseError, ExitCode, LedgerError


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
    _ctx: Any = None

    def reset(self, **values: Any) -> None:
        """Fresh state for one invocation (tests run many in one process)."""
        self.close()
        self.__init__(**values)  # type: ignore[misc]

    def close(self) -> None:
        """Close the ledger connection this invocation opened, if any."""
        if self._ctx is not None:
            self._ctx.close()

    def context(self, *, create_default: bool = True) -> Any:
        """The Context for this run; only the default home is created on first use."""
        if self._ctx is None:
            from cloudlease.context import Context, default_home

            explicit = self.home or os.environ.get("CLOUDLEASE_HOME")
            if explicit:
                ctx = Context.at(explicit, self.lock_timeout)
                if not ctx.exists():
                    raise LedgerError(f"no cloudlease ledger at {ctx.home.path} (run "
                                      f"'cloudlease init --home {ctx.home.path}')",
                                      code="ledger_missing")
            else:
                ctx = Context.at(default_home(), self.lock_timeout)
                if not ctx.exists() and create_default:
                    from cloudlease.ops.home import init

                    init(ctx.home.path, lock_timeout=ctx.lock_timeout)
                    note(f"created a new regtest home at {ctx.home.path} (simulated chain, "
                         "starter plan 'standard'); see 'cloudlease init --help' for others")
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
    "--lock-timeout", help="Seconds to wait for the ledger lock (default 5).",
    show_default=False)]


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
            run_command(lambda: fn(*args, **kw))

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
        fail(exc.message, exc.code, int(exc.exit_code))
    except KeyboardInterrupt:
        fail("interrupted", "interrupted", 130)
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if os.environ.get("CLOUDLEASE_DEBUG"):
            raise
        fail(f"internal error: {type(exc).__name__}: {exc} (set CLOUDLEASE_DEBUG=1 for a "
             "traceback)", "internal", int(ExitCode.INTERNAL))
    emit(result)
    if result.exit_code:
        if result.error:
            fail(*result.error, result.exit_code)
        raise typer.Exit(result.exit_code)


def emit(result: Result) -> None:
    from cloudlease.views import json_default, jsonable

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


def fail(message: str, code: str, exit_code: int) -> None:
    message = " ".join(message.split())  # one line, always
    if STATE.json_mode:
        sys.stderr.write(json.dumps({"error": {"code": code, "message": message,
                                               "exit_code": exit_code}}) + "\n")
    else:
        from cloudlease import render

        render.error(message)
    raise typer.Exit(exit_code)
