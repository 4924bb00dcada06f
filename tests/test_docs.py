"""Every command and every option of the `faceaudit` CLI is documented in README.md, and every
command and option has help text (the idea of sqlite-utils' tests/test_docs.py).

Typer vendors its own copy of click, so parameters are told apart by `param_type_name`
rather than by click's classes.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer

from scanner.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"

ROOT: Any = typer.main.get_command(app)


def _walk(group: Any, prefix: str = "") -> dict[str, Any]:
    """Every command, sub-commands named in full (`policy validate`)."""
    out: dict[str, Any] = {}
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        out[full] = command
        if hasattr(command, "commands"):
            out.update(_walk(command, full + " "))
    return out


COMMANDS: dict[str, Any] = _walk(ROOT)


def _is_option(param: Any) -> bool:
    return bool(param.param_type_name == "option")


def _options(command: Any) -> list[str]:
    """The long spellings (`--name`) of a command's options; `--help` is click's own."""
    return [
        opt
        for param in command.params
        if _is_option(param)
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--")
    ]


OPTIONS = sorted(
    {(name, opt) for name, command in COMMANDS.items() for opt in _options(command)}
    | {("faceaudit", opt) for opt in _options(ROOT)}
)


@cache
def readme() -> str:
    if not README.is_file():
        pytest.fail(f"{README} does not exist: every command and option must be documented there")
    return README.read_text(encoding="utf-8")


def test_the_app_has_the_expected_commands() -> None:
    assert {"scan", "detectors", "demo", "policy validate", "policy explain"} <= set(COMMANDS)
    assert OPTIONS  # the introspection found the options at all
    assert ("scan", "--fail-on") in OPTIONS
    assert ("faceaudit", "--version") in OPTIONS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_is_documented(name: str) -> None:
    assert re.search(rf"faceaudit {re.escape(name)}\b", readme()), (
        f"`faceaudit {name}` is not mentioned in README.md"
    )


@pytest.mark.parametrize(("command", "option"), OPTIONS)
def test_option_is_documented(command: str, option: str) -> None:
    assert re.search(rf"{re.escape(option)}(?![\w-])", readme()), (
        f"{option} (of `{command}`) is not mentioned in README.md"
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help(name: str) -> None:
    command = COMMANDS[name]
    assert (command.help or "").strip(), f"`faceaudit {name}` has no help text"
    assert (command.get_short_help_str() or "").strip()
    for param in command.params:
        if _is_option(param):
            assert (param.help or "").strip(), f"{param.opts} of `{name}` has no help text"


def test_root_has_help() -> None:
    assert (ROOT.help or "").strip()
    assert "Exit codes" in (ROOT.help or "")
