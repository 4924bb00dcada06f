"""Option values converted without pydantic when the conversion is plain (start-up).

typer (0.2x) converts every value of every option of the command that runs, defaults
included, through a pydantic TypeAdapter it builds per option: importing pydantic and
building ~40 adapters cost `faceaudit scan` more than its own work on an empty folder. Our
options are plain (str, int, float, bool, Path and lists of them, no bounds, no parser), so
most values need no more than `int(text)`. `cheap_conversions` gives each option of a loaded
command a converter that handles only the values whose result is certain (a default of the
option's own type, a decimal number, a non-empty path) and hands everything else, unchanged,
to typer's own converter: every error message, and every value it would treat differently,
is typer's. tests/test_cli_coerce.py compares the two on such values. With a typer that has
no such converters (older releases convert with click's types) this changes nothing.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from scanner.errors import FaceauditError

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,15})?")


class _Unsure(FaceauditError):
    """This value is typer's to convert (never leaves this module)."""


def _text(value: Any) -> str:
    if type(value) is not str:
        raise _Unsure
    try:
        value.encode("utf-8")  # lone surrogates (undecodable arguments): typer's
    except UnicodeEncodeError:
        raise _Unsure from None
    return value


def _leaf(annotation: Any, value: Any) -> Any:
    if annotation is str:
        return _text(value)
    if annotation is int:
        if type(value) is int:
            return value
        if _INT.fullmatch(_text(value)):
            return int(value)
    elif annotation is float:
        if type(value) is float:
            return value
        if _FLOAT.fullmatch(_text(value)):
            return float(value)
    elif annotation is bool:
        if type(value) is bool:
            return value
    elif annotation is Path:
        if type(value) is not str or not value or "\0" in value:
            raise _Unsure
        _text(value)
        return Path(value)
    raise _Unsure


def _plain(descriptor: Any) -> Any:
    """(list or not, leaf type) of an option this module converts (str, int, float, bool,
    Path, or a list of one of them, with no bounds, parser, choices or file), else None."""
    info = descriptor.parameter_info
    if (
        descriptor.file_annotation is not None
        or info.parser is not None
        or info.min is not None
        or info.max is not None
        or info.clamp
        or getattr(info, "path_type", None) is not None
        or descriptor.is_choice
    ):
        return None
    annotation = descriptor.annotation
    many = getattr(annotation, "__origin__", None) is list
    leaf = annotation.__args__[0] if many else annotation
    return (many, leaf) if leaf in (str, int, float, bool, Path) else None


def _path_checked(value: Path, param: Any, ctx: Any) -> Path:
    """What typer does with a path once converted: its checks (exists, readable...)."""
    from typer._param_types import coerce_cli_path

    info = param.type_descriptor.parameter_info
    rv = coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
    if not isinstance(rv, Path):
        raise _Unsure
    return rv


@functools.cache
def _cheap_class() -> Any:
    """The converter class (typer's RuntimeParam), None with a typer that has none."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:  # a typer without per-option converters: nothing to do
        return None

    class Cheap(RuntimeParam):
        """A plain option's converter: certain values here, the rest typer's."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return _converted(value, param, ctx)
            except Exception:  # unsure, or a check that failed: typer's own, from scratch
                real = build_runtime_param(param.type_descriptor)
                return real._coerce_value(value, param=param, ctx=ctx)

    return Cheap


def _converted(value: Any, param: Any, ctx: Any) -> Any:
    plain = _plain(param.type_descriptor)
    if plain is None:
        raise _Unsure
    many, leaf = plain
    if not many:
        got = _leaf(leaf, value)
        return _path_checked(got, param, ctx) if leaf is Path else got
    if type(value) not in (list, tuple):
        raise _Unsure
    out = [_leaf(leaf, v) for v in value]
    return [_path_checked(p, param, ctx) for p in out] if leaf is Path else out


def cheapen(param: Any) -> Any:
    """`param` (a click parameter), with the cheap converter if it is a plain typer option
    whose converter typer has not built yet."""
    cheap = _cheap_class()
    if (
        cheap is not None
        and getattr(param, "_runtime_param", "absent") is None
        and _plain(param.type_descriptor) is not None
    ):
        param._runtime_param = cheap(
            parameter_info=param.type_descriptor.parameter_info,
            annotation=param.type_descriptor.annotation,
        )
    return param


def cheap_conversions(command: Any) -> None:
    """Give each plain option of `command` (and of its sub-commands), `--help` included,
    the cheap converter."""
    for param in command.params:
        cheapen(param)
    original = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = original(ctx)
        return None if option is None else cheapen(option)

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        cheap_conversions(sub)
