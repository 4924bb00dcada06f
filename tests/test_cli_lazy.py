"""The command line loads a command only when it is used (issue 14, target 4): the
`faceaudit` entry point (`scanner.launcher`) answers `--version` without typer, the top-level
help shows the registry's static summaries, and each command's module is imported when that
command runs or its own help is asked. Observed in fresh interpreters, never timed."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.core
from helpers import probe_command

from scanner.cli import COMMANDS, load_command, root_command

ROOT = Path(__file__).resolve().parents[1]


def probe(*args: str, module: str = "scanner.launcher") -> dict[str, object]:
    return probe_command(*args, module=module)


# What the root command itself uses (its options' converters), not a command's module.
ROOT_MODULES = {"scanner.cli.coerce"}


def command_modules(report: dict[str, object]) -> list[str]:
    modules = report["modules"]
    assert isinstance(modules, list)
    return sorted(m for m in modules if m.startswith("scanner.cli.") and m not in ROOT_MODULES)


@pytest.mark.parametrize("limit", [20, 45, 68, 100, 10_000])
def test_the_static_summaries_are_the_commands_own(limit: int) -> None:
    """What `faceaudit --help` shows for a command is what the command's own help gives."""
    for entry in COMMANDS:
        real = load_command(entry)
        shown = typer.core.TyperCommand(name=entry.name, help=entry.summary)
        assert shown.get_short_help_str(limit) == real.get_short_help_str(limit), entry.name
        assert not real.hidden and not real.deprecated and real.short_help is None


def test_the_registry_is_every_command_in_order() -> None:
    root = root_command()
    assert list(root.list_commands(None)) == [e.name for e in COMMANDS]
    assert list(root.commands) == [e.name for e in COMMANDS]


def test_version_needs_neither_typer_nor_a_command() -> None:
    fast = probe("--version")
    full = probe("--version", module="scanner.cli")
    assert fast["code"] == full["code"] == 0
    assert fast["stdout"] == full["stdout"]
    assert str(fast["stdout"]).startswith("faceaudit ")
    assert not [m for m in fast["modules"] if m == "typer" or m.startswith("scanner.cli")]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("args", "code"), [(("--help",), 0), ((), 2)])
def test_the_top_level_help_imports_no_command(args: tuple[str, ...], code: int) -> None:
    """`faceaudit` alone shows the same help as a usage error (click's NoArgsIsHelp)."""
    report = probe(*args)
    assert report["code"] == code, report["stderr"]
    assert command_modules(report) == []
    if code == 0:  # a usage error (exit 2) imports the model for its exit code
        assert "scanner.model" not in report["modules"]  # type: ignore[operator]
    shown = str(report["stdout"] if code == 0 else report["stderr"])
    for entry in COMMANDS:
        assert f"  {entry.name} " in shown


@pytest.mark.parametrize("entry", COMMANDS, ids=[e.name for e in COMMANDS])
def test_a_command_imports_its_own_module_only(entry: object) -> None:
    from scanner.cli import Entry

    assert isinstance(entry, Entry)
    report = probe(entry.name, "--help")
    assert report["code"] == 0, report["stderr"]
    others = {e.module for e in COMMANDS} - {entry.module}
    assert not others & set(command_modules(report))
    assert entry.module in command_modules(report)


def test_an_unknown_command_is_a_usage_error() -> None:
    report = probe("no-such-command")
    assert report["code"] == 2
    assert "No such command" in str(report["stderr"])
    assert command_modules(report) == []
