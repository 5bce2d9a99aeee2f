"""The one number syntax for Click's int and float options.

Click's own types would read ``1_0`` as 10, ``١٢`` as 12 and ``nan`` as a float. ``harden``
swaps every int and float parameter's type for a subclass that first checks the text with
``validate.number_syntax`` and then bounds the result (finite, and at most
``MAX_FLOAT_OPTION`` / ``MAX_INT_OPTION`` where the option sets no maximum of its own).
"""

from __future__ import annotations

import copy
import math
from typing import Any

try:  # typer >= 0.26 carries its own copy of Click
    from typer import _click as click  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older typer uses Click itself
    import click  # type: ignore[no-redef]

from cloudlease.core import validate
from cloudlease.core.errors import BadValue

MAX_FLOAT_OPTION = 1e9  # every float option is seconds; time.sleep overflows near 9.2e9
MAX_INT_OPTION = 10**9  # an int option without its own maximum (a TOML int is 64 bits)


class _StrictNumber:
    """Mixed into Click's int and float types: the one number syntax, finite, bounded."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str):
            whole = isinstance(self, click.types.IntParamType)
            try:
                validate.number_syntax(value, "", "a whole number" if whole else "a number",
                                       validate.WHOLE_FORMS if whole else
                                       validate.NUMBER_FORMS)
            except BadValue as exc:
                self.fail(exc.message, param, ctx)  # type: ignore[attr-defined]
        result = super().convert(value, param, ctx)  # type: ignore[misc]
        if isinstance(result, float) and not (math.isfinite(result)
                                              and result <= MAX_FLOAT_OPTION):
            self.fail(f"{value!r} is more than {MAX_FLOAT_OPTION:.0f}", param, ctx)  # type: ignore[attr-defined]
        if isinstance(result, int) and getattr(self, "max", None) is None \
                and result > MAX_INT_OPTION:
            self.fail(f"{value!r} is more than {MAX_INT_OPTION}", param, ctx)  # type: ignore[attr-defined]
        return result


_STRICT: dict[type, type] = {}


def harden(command: Any) -> None:
    """Give every int and float parameter under ``command`` the one number syntax."""
    for param in getattr(command, "params", ()):
        kind = type(param.type)
        if issubclass(kind, click.types.IntParamType | click.types.FloatParamType) \
                and not issubclass(kind, _StrictNumber):
            strict = _STRICT.setdefault(kind, type(f"Strict{kind.__name__}",
                                                   (_StrictNumber, kind), {}))
            hardened = copy.copy(param.type)  # keeps its min and max
            hardened.__class__ = strict
            param.type = hardened
    for sub in getattr(command, "commands", {}).values():
        harden(sub)
