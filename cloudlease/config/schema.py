"""The schema of ``config.toml``, declared once: each table is a :class:`Section` class
whose attributes are its keys, and that class is also the table's settings object.

A key is one line in its table's class: its type, its check (type, range or choices,
``cloudlease.config.checks``), its default and what it is for::

    class PaymentSettings(Section):
        confirmations: int = setting(whole(0, 100), 1, "0 high, 1 medium, 2 low-medium, 6 low")

A table is one class and one line in its parent (``Settings`` for a top-level table)::

    serve: ServeSettings = table(ServeSettings)

``entries`` declares open keys (``[tax.rates]``: any country code; ``[hooks]``: one key per
event), ``array`` an array of tables (``[[webhooks]]``). What involves several keys (a port
range, a key required by another's value, the wallet descriptor on the network) or the
machine (a folder's owner, a program's presence) is the table's :meth:`Section.problems`.

:func:`read` checks a parsed TOML table against a class and returns the settings object
*and* every problem found (errors as values, as beancount's ``validate()``): an unknown
key (with a "did you mean"), a wrong type, a value out of range, a missing required key,
a broken rule, each a :class:`Problem` naming ``table.key``. A bad value is replaced by its
default so that checking goes on; a table's rules run only when its own keys are sound.

A :class:`Section` is frozen and compares by value; keys marked ``secret`` are left out
of its ``repr``. It is a plain class rather than a dataclass: a dataclass costs about a
millisecond to create at import, and config.toml is read by every command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from cloudlease.config.checks import Bad, Check, shown
from cloudlease.core.errors import LedgerError

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


class Spec:
    """One entry of a table: a key (``setting``), a nested table, open entries or an
    array of tables. ``name`` is the TOML key and the attribute; set by ``Section``."""

    __slots__ = ("kind", "check", "default", "doc", "secret", "section", "names",
                 "key_check", "inline", "name")

    def __init__(self, kind: str, *, check: Check | None = None, default: Any = None,
                 doc: str = "", secret: bool = False, section: type[Section] | None = None,
                 names: tuple[str, ...] = (), key_check: Check | None = None,
                 inline: bool = False) -> None:
        self.kind, self.check, self.default, self.doc = kind, check, default, doc
        self.secret, self.section, self.names = secret, section, names
        self.key_check, self.inline, self.name = key_check, inline, ""

    def fresh(self) -> Any:
        """The value when the key (or table) is absent."""
        if self.kind == "table":
            assert self.section is not None
            return self.section()
        if self.kind == "entries":
            return {}
        if self.kind == "array":
            return ()
        return self.default

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"


def setting(check: Check, default: Any, doc: str = "", *, secret: bool = False) -> Any:
    """A key: ``check`` turns the TOML value into the setting (or raises ``Bad``);
    ``default`` is used when the key is absent (``REQUIRED``: it must be given)."""
    return Spec("setting", check=check, default=default, doc=doc, secret=secret)


def table(section: type[Section], doc: str = "") -> Any:
    """A nested table (``[provision]`` in the file, ``settings.provision`` in code)."""
    return Spec("table", section=section, doc=doc)


def array(section: type[Section], doc: str = "") -> Any:
    """An array of tables (``[[webhooks]]``): a tuple of ``section`` objects."""
    return Spec("array", section=section, doc=doc)


def entries(check: Check, *, names: tuple[str, ...] = (), key_check: Check | None = None,
            inline: bool = False, doc: str = "") -> Any:
    """Open keys gathered into a dict, each value checked by ``check``: the keys of a
    sub-table of that name (each key checked by ``key_check``), or with ``inline`` the keys
    of this very table that are among ``names`` (``[hooks]``: one key per event)."""
    return Spec("entries", check=check, names=names, key_check=key_check, inline=inline,
                doc=doc)


class Checking:
    """What a table's rules may look at beyond the table itself.

    Attributes:
        network: the home's network, or None when ``network`` itself is not sound.
        home: the folder config.toml is in (relative paths are from there), or None when
            only the values are checked (``config.parse``): then nothing on this machine
            is looked at.
    """

    __slots__ = ("network", "home")

    def __init__(self, network: str | None = None, home: Path | None = None) -> None:
        self.network, self.home = network, home


class Section:
    """A table of config.toml and its checked, frozen settings (see the module doc)."""

    __keys__: ClassVar[dict[str, Spec]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keys = dict(getattr(cls, "__keys__", {}))
        for name, value in cls.__dict__.items():
            if isinstance(value, Spec):
                value.name = name
                keys[name] = value
        cls.__keys__ = keys

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        keys = type(self).__keys__
        if len(args) > len(keys):
            raise TypeError(f"{type(self).__name__} takes at most {len(keys)} values")
        values = dict(zip(keys, args, strict=False))
        for name, value in kwargs.items():
            if name not in keys or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated {name!r}")
            values[name] = value
        for name, spec in keys.items():
            if name not in values:
                values[name] = spec.fresh()
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: {name} cannot be set")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: {name} cannot be deleted")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *(self.__dict__[k] for k in type(self).__keys__)))

    def __repr__(self) -> str:
        shown_keys = (f"{k}={self.__dict__[k]!r}" for k, spec in type(self).__keys__.items()
                      if not spec.secret)
        return f"{type(self).__name__}({', '.join(shown_keys)})"

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (checked no more than the constructor checks)."""
        return type(self)(**{**self.__dict__, **changes})

    def problems(self, check: Checking) -> Iterable[tuple[str, str]]:
        """The table's own rules: ``(key, problem)`` pairs, the key relative to the table
        ("" for the table itself). Runs only when the table's keys are each sound."""
        return ()


class Problem:
    """One thing wrong with config.toml: the key (``payment.expiry_minutes``,
    ``webhooks[2].url``; "" for the file) and what is wrong and what is allowed."""

    __slots__ = ("key", "message")

    def __init__(self, key: str, message: str) -> None:
        self.key, self.message = key, message

    def line(self, where: str = "config.toml") -> str:
        return f"{where}:{self.key}: {self.message}" if self.key else f"{where}: {self.message}"

    def __repr__(self) -> str:
        return f"Problem({self.key!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and (self.key, self.message) == (other.key,
                                                                            other.message)

    def __hash__(self) -> int:
        return hash((self.key, self.message))


def read(section: type[Section], raw: Mapping[str, Any], check: Checking | None = None,
         prefix: str = "") -> tuple[Any, list[Problem]]:
    """``raw`` (a parsed TOML table) as a ``section`` object, and every problem found:
    first the keys of every table, then the rules of every table whose keys are sound."""
    check = check or Checking()
    problems: list[Problem] = []
    obj = _keys(section, raw, prefix, problems)
    if check.network is None and not prefix and "network" in section.__keys__ \
            and not any(p.key == "network" for p in problems):
        check = Checking(obj.network, check.home)
    _rules(obj, prefix, check, problems)
    return obj, problems


def read_table(section: type[Section], name: str, raw: Any,
               check: Checking | None = None) -> tuple[Any, list[Problem]]:
    """One table (``[lightning]``, ``[provision]``) read on its own, its problems named
    ``name.key``; ``raw`` None means the table is absent."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return section(), [Problem(name, f"got {shown(raw)}; expected a table ([{name}])")]
    problems: list[Problem] = []
    obj = _keys(section, raw, f"{name}.", problems)
    _rules(obj, f"{name}.", check or Checking(), problems)
    return obj, problems


def _keys(section: type[Section], raw: Mapping[str, Any], prefix: str,
          problems: list[Problem]) -> Any:
    specs = section.__keys__
    inline = next((s for s in specs.values() if s.kind == "entries" and s.inline), None)
    for key in raw:
        own = key in specs and not specs[key].inline
        if not own and not (inline is not None and key in inline.names):
            problems.append(_unknown(prefix + key, [*(k for k, s in specs.items()
                                                      if not s.inline),
                                                    *(inline.names if inline else ())]))
    values = {}
    for name, spec in specs.items():
        if spec.inline:
            values[name] = _entries(spec, {k: v for k, v in raw.items() if k in spec.names},
                                    prefix, problems)
        elif name not in raw:
            if spec.default is REQUIRED:
                problems.append(Problem(prefix + name, "is required"))
            values[name] = spec.fresh()
        else:
            values[name] = _value(spec, raw[name], prefix, problems)
    return section(**values)


def _value(spec: Spec, value: Any, prefix: str, problems: list[Problem]) -> Any:
    key = prefix + spec.name
    if spec.kind == "setting":
        assert spec.check is not None
        try:
            return spec.check(value)
        except Bad as exc:
            problems.append(Problem(key, str(exc)))
            return spec.fresh()
    if spec.kind == "array":
        assert spec.section is not None
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            problems.append(Problem(key, f"expected an array of tables ([[{key}]])"))
            return ()
        return tuple(_keys(spec.section, item, f"{key}[{i}].", problems)
                     for i, item in enumerate(value, 1))
    if not isinstance(value, dict):
        what = f" of keys = values ({spec.doc})" if spec.kind == "entries" and spec.doc else ""
        problems.append(Problem(key, f"got {shown(value)}; expected a table{what} ([{key}])"))
        return spec.fresh()
    if spec.kind == "entries":
        return _entries(spec, value, f"{key}.", problems)
    assert spec.section is not None
    return _keys(spec.section, value, f"{key}.", problems)


def _entries(spec: Spec, raw: Mapping[str, Any], prefix: str,
             problems: list[Problem]) -> dict[str, Any]:
    assert spec.check is not None
    out = {}
    for key, value in raw.items():
        try:
            if spec.key_check is not None:
                spec.key_check(key)
            out[key] = spec.check(value)
        except Bad as exc:
            problems.append(Problem(prefix + key, str(exc)))
    return out


def _rules(obj: Section, prefix: str, check: Checking, problems: list[Problem]) -> None:
    """Every table's rules, nested tables first; a table whose keys (or, for the top
    level, whose own keys) have a problem is skipped: its rules would judge defaults."""
    for name, spec in type(obj).__keys__.items():
        if spec.kind == "table":
            _rules(obj.__dict__[name], f"{prefix}{name}.", check, problems)
        elif spec.kind == "array":
            for i, item in enumerate(obj.__dict__[name], 1):
                _rules(item, f"{prefix}{name}[{i}].", check, problems)
    if _unsound(obj, prefix, problems):
        return
    for key, message in obj.problems(check):
        problems.append(Problem(prefix + key if key else prefix.rstrip("."), message))


def _unsound(obj: Section, prefix: str, problems: list[Problem]) -> bool:
    if prefix:
        return any(p.key.startswith(prefix) for p in problems)
    own = {k for k, s in type(obj).__keys__.items() if s.kind == "setting"}
    return any(p.key in own for p in problems)


def _unknown(key: str, known: list[str]) -> Problem:
    import difflib

    name = key.rpartition(".")[2]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    kind = "key" if "." in key else "table or key"
    return Problem(key, f"unknown {kind} ({hint}allowed: {', '.join(known)})")


def keys(section: type[Section], prefix: str = "") -> Iterator[tuple[str, Spec]]:
    """Every key of ``section`` and its nested tables, as ``(table.key, spec)``."""
    for name, spec in section.__keys__.items():
        if spec.kind in ("table", "array") and spec.section is not None:
            yield from keys(spec.section, f"{prefix}{name}.")
        else:
            yield prefix + name, spec


def sections(section: type[Section], prefix: str = "") -> Iterator[tuple[str, type[Section]]]:
    """Every nested table of ``section`` as ``(table, class)`` (``provision``,
    ``provision.lxd``; arrays of tables as ``webhooks``)."""
    for name, spec in section.__keys__.items():
        if spec.kind in ("table", "array") and spec.section is not None:
            yield prefix + name, spec.section
            yield from sections(spec.section, f"{prefix}{name}.")


def invalid(problems: list[Problem], where: str = "config.toml") -> LedgerError:
    """The error for a config with ``problems`` (exit 5): the problem itself when there is
    one, else a headline and one line per problem."""
    lines = [p.line(where) for p in problems]
    if len(lines) == 1:
        return LedgerError(lines[0], code="config_invalid")
    return LedgerError(f"{where} has {len(lines)} problems", code="config_invalid",
                       problems=lines)


def alias(path: str, convert: Callable[[Any], Any] | None = None) -> property:
    """A read-only attribute that reads a nested key (``alias("payment.confirmations")``):
    the flat names older code reads (``settings.confirmations``)."""
    parts = path.split(".")

    def get(self: Any) -> Any:
        value = self
        for part in parts:
            value = value.__dict__[part]
        return convert(value) if convert is not None else value

    return property(get, doc=f"the same as ``{path}``")
