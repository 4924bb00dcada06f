"""The cheap option converters (scanner.cli.coerce) give what typer's own give: the same
value of the same type, or the same error, for every plain option of every command and for
values the cheap one handles as well as those it hands back to typer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer._click
from typer._coercion import build_runtime_param

from scanner.cli import root_command
from scanner.cli.coerce import cheapen

VALUES: dict[Any, list[Any]] = {
    str: ["console", "", "ü-名", "\udcff", "-x", " spaced ", None],
    int: ["0", "12", "-3", "007", "1.0", "1_000", " 5", "+5", "x", "9" * 30, -1, 7, True, None],
    float: ["0.5", "-1", "1e3", "nan", "inf", ".5", "5.", "x", "0.25 ", 0.25, 3, None],
    bool: [True, False, "yes", None],
    Path: ["a/b", "", ".", "/nonexistent/x", "~/x", "a\0b", "\udcff", None],
}


def outcome(convert: Any, value: Any) -> tuple[str, Any]:
    try:
        got = convert(value)
    except Exception as exc:  # the error is part of what must agree
        return ("error", (type(exc).__name__, str(exc)))
    return ("value", (type(got).__name__, repr(got)))  # repr: nan equals nan


def plain_params() -> list[tuple[str, Any, Any]]:
    """(name, command, parameter) for every typer option and argument of every command."""
    out = []

    def walk(command: Any, name: str) -> None:
        for param in command.params:
            if hasattr(param, "type_descriptor"):
                out.append((f"{name} {param.name}", command, param))
        for sub_name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{name} {sub_name}")

    walk(root_command(), "faceaudit")
    return out


def test_every_option_of_the_scan_command_is_converted_cheaply() -> None:
    scan = [p for n, _, p in plain_params() if n.startswith("faceaudit scan ")]
    assert len(scan) > 40
    assert {type(p._runtime_param).__name__ for p in scan} - {"NoneType"} <= {"Cheap"}
    assert all(p.get_runtime_param().__class__.__name__ == "Cheap" for p in scan)


@pytest.mark.parametrize("name, command, param", plain_params(), ids=lambda x: str(x)[:60])
def test_the_cheap_converter_agrees_with_typers(name: str, command: Any, param: Any) -> None:
    cheap = cheapen(param).get_runtime_param()
    assert type(cheap).__name__ == "Cheap", name
    real = build_runtime_param(param.type_descriptor)
    annotation = param.type_descriptor.annotation
    many = getattr(annotation, "__origin__", None) is list
    leaf = annotation.__args__[0] if many else annotation
    ctx = typer._click.Context(command)
    samples = VALUES[leaf]
    if many:
        samples = [tuple(s for s in samples if s is not None), (), [samples[0]], "text", None]
    for value in samples:
        assert outcome(lambda v: cheap.coerce(v, param=param, ctx=ctx), value) == outcome(
            lambda v: real.coerce(v, param=param, ctx=ctx), value
        ), (name, value)
