"""Stage options declared once: a dataclass field carries its default, kind, range and help.

Each stage's options are one dataclass whose fields are made with :func:`option`. From it
derive the command-line options of the stage's command (``cli/``), the checks of its
``[stage]`` table in ``labelclean.toml`` (:mod:`labelclean.config.settings`) and the values
a run uses (command line over project file over default, :func:`resolve`), so a default,
a range or a help text is written in exactly one place.

Library errors name an option as ```name``` (its project-file key in backticks); the CLI
shows it as its flag (``--name``), ``labelclean run`` as ``[stage] name``
(:func:`option_words`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from labelclean.errors import ConfigError

INT, NUMBER, BOOL, TEXT, NAMES, PATH, PATHS = (
    "an integer", "a number", "true or false", "a string", "names", "a path", "paths")
#: kinds whose project-file value is a list of strings or one comma-separated string
LIST_KINDS = (NAMES, PATHS)


@dataclasses.dataclass(frozen=True)
class OptionSpec:
    """One option: ``name`` (the dataclass field), ``key`` (its project-file key and long
    flag), ``kind``, ``default``, ``help``, the inclusive range ``low``..``high`` (None:
    open), ``flag`` (the CLI flag declaration, e.g. ``--verify/--no-verify``; "" = not on
    the command line) and ``in_file`` (settable in the project file)."""

    name: str
    key: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    flag: str = ""
    in_file: bool = True

    @property
    def flags(self) -> list[str]:
        return self.flag.split("/") if self.flag else []


def option(default: Any, kind: str, help: str, *, key: str | None = None,
           low: float | None = None, high: float | None = None, flag: str | None = None,
           cli: bool = True, in_file: bool = True) -> Any:
    """A dataclass field declaring a stage option (see :class:`OptionSpec`).

    ``flag`` defaults to ``--<key>`` with ``_`` as ``-``; ``cli=False`` keeps the option to
    the project file, ``in_file=False`` to the command line.
    """
    meta = {"kind": kind, "help": help, "key": key, "low": low, "high": high,
            "flag": flag, "cli": cli, "in_file": in_file}
    if isinstance(default, (list, dict, set)):
        raise TypeError("option defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata={"labelclean": meta})


def specs(options_class: type) -> list[OptionSpec]:
    """The :class:`OptionSpec` of every field of an options dataclass, in field order."""
    out = []
    for f in dataclasses.fields(options_class):
        meta = f.metadata.get("labelclean")
        if meta is None:
            raise TypeError(f"{options_class.__name__}.{f.name} is not declared with option()")
        key = meta["key"] or f.name
        flag = meta["flag"] if meta["flag"] is not None else "--" + key.replace("_", "-")
        out.append(OptionSpec(name=f.name, key=key, kind=meta["kind"], default=f.default,
                              help=meta["help"], low=meta["low"], high=meta["high"],
                              flag=flag if meta["cli"] else "", in_file=meta["in_file"]))
    return out


def as_names(value: str | Iterable[str] | None) -> list[str]:
    """A list of names from a comma-separated string or a list (empty entries dropped)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    return [str(v).strip() for v in items if str(v).strip()]


def _fits(kind: str, value: Any) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if kind == INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (TEXT, PATH):
        return isinstance(value, str)
    return isinstance(value, str) or (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value))


def expected(spec: OptionSpec) -> str:
    """What a value of ``spec`` must be, as a message says it."""
    if spec.kind in LIST_KINDS:
        return "a list of strings or a comma-separated string"
    return "a string" if spec.kind == PATH else spec.kind


def out_of_range(spec: OptionSpec, value: Any) -> str | None:
    """Why ``value`` is outside ``spec``'s range (None when it is inside)."""
    if spec.low is not None and spec.high is not None and not spec.low <= value <= spec.high:
        return f"must be between {spec.low:g} and {spec.high:g}, not {value!r}"
    if spec.low is not None and value < spec.low:
        return f"must be at least {spec.low:g}, not {value!r}"
    if spec.high is not None and value > spec.high:
        return f"must be at most {spec.high:g}, not {value!r}"
    return None


def check_value(spec: OptionSpec, value: Any, where: str) -> Any:
    """``value`` from a project file, checked against ``spec``; list kinds come back as
    lists. ``where`` starts the message (``"labelclean.toml: [dedupe] radius"``)."""
    if not _fits(spec.kind, value):
        raise ConfigError(f"{where} must be {expected(spec)}, not {value!r}")
    if spec.kind in (INT, NUMBER):
        why = out_of_range(spec, value)
        if why:
            raise ConfigError(f"{where} {why}")
    return as_names(value) if spec.kind in LIST_KINDS else value


def resolve(options_class: type, table: Mapping[str, Any],
            given: Mapping[str, Any] | None = None) -> Any:
    """An options instance: ``given`` (by field name; None = not given) over ``table`` (a
    checked project-file table, by key) over the declared defaults."""
    values = {}
    for spec in specs(options_class):
        value = (given or {}).get(spec.name)
        if value is None:
            value = table.get(spec.key)
        if value is not None:
            values[spec.name] = tuple(value) if isinstance(value, list) else value
    return options_class(**values)


def changed(options: Any) -> dict[str, Any]:
    """The options that differ from their defaults, by project-file key."""
    return {spec.key: getattr(options, spec.name) for spec in specs(type(options))
            if getattr(options, spec.name) != spec.default}


_NAMED = re.compile(r"`([a-z][a-z0-9_]*)`")


def option_words(message: str, word: Callable[[str], str]) -> str:
    """``message`` with each ```key``` replaced by ``word(key)`` (a flag, or ``[stage] key``)."""
    return _NAMED.sub(lambda m: word(m.group(1)), message)

