"""The `faceaudit` command: a thin typer adapter over the library, one module per command
group (scan, detectors, demo, policy, watch and history, subject search and triage) and
what they share (common, output). The library never prints; this package does.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Annotated, Any

import typer
import typer.core

from scanner.cli.coerce import cheap_conversions, cheapen


@dataclass(frozen=True)
class Entry:
    """One command of `faceaudit`: where it is defined, and the one-line summary the
    top-level help shows for it (the first paragraph of its own help;
    tests/test_cli_lazy.py checks the two agree)."""

    name: str
    module: str
    attribute: str
    group: bool  # a typer app of sub-commands (`policy validate`), not one command
    summary: str


# Every command, in the order `faceaudit --help` lists them (typer's: commands, then groups).
# A command's module is imported only when that command runs or its own help is asked.
COMMANDS = (
    Entry(
        "scan",
        "scanner.cli.scan",
        "scan",
        False,
        "Scan PATHS for face images, face tags and face templates; judge and report them.",
    ),
    Entry(
        "detectors",
        "scanner.cli.detectors",
        "detectors",
        False,
        "List the detectors, their ids (used by --detector and policies) and what they find; "
        "plug-ins (the `faceaudit.detectors` entry points) are marked with their distribution.",
    ),
    Entry(
        "demo",
        "scanner.cli.demo",
        "demo",
        False,
        "Build a demo tree and a demo organisation from photos that installed packages ship; "
        "scan the tree, then judge the organisation against its policy.",
    ),
    Entry(
        "watch",
        "scanner.cli.state",
        "watch",
        False,
        "Watch folders and report new face data as JSON lines as files arrive.",
    ),
    Entry(
        "history",
        "scanner.cli.history",
        "history",
        False,
        "Show the recorded scans: counts, new and resolved findings, by kind and severity.",
    ),
    Entry(
        "triage",
        "scanner.cli.subject",
        "triage",
        False,
        "Summarise a breached store for a GDPR Art 33 notification.",
    ),
    Entry(
        "policy",
        "scanner.cli.policy",
        "policy_app",
        True,
        "Validate, list, show and explain policies and the built-in law packs.",
    ),
    Entry(
        "subject",
        "scanner.cli.subject",
        "subject_app",
        True,
        "Find one person's face across every store (access and erasure requests).",
    ),
    Entry(
        "remediate",
        "scanner.cli.remediate",
        "remediate_app",
        True,
        "Act on findings without losing anything: plan, review, apply into an encrypted "
        "quarantine vault, restore, purge after the grace period. Exit codes: 0 done, 2 usage "
        "error, 3 some items skipped, failed or in conflict (untouched).",
    ),
    Entry(
        "audit",
        "scanner.cli.audit",
        "audit_app",
        True,
        "Check the tamper-evident audit log that remediation writes.",
    ),
)
_ENTRIES = {e.name: e for e in COMMANDS}


def load_command(entry: Entry) -> Any:
    """The click command typer builds for `entry`, exactly as if it had been registered on
    the app (same settings), importing its module now."""
    obj = getattr(importlib.import_module(entry.module), entry.attribute)
    holder = typer.Typer(  # what typer passes down from the app to its commands
        add_completion=False,
        pretty_exceptions_short=app.pretty_exceptions_short,
        rich_markup_mode=app.rich_markup_mode,
        suggest_commands=app.suggest_commands,
    )
    if entry.group:
        holder.add_typer(obj, name=entry.name)
    else:
        holder.command(entry.name)(obj)
    command = typer.main.get_group(holder).commands[entry.name]
    cheap_conversions(command)
    return command


class LazyGroup(typer.core.TyperGroup):
    """The root command: lists every command of `COMMANDS` and imports a command's module
    only when that command is resolved (to run it, or to show its own help). The top-level
    help shows the registry's summaries, so `faceaudit --help` imports no command module."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*_ENTRIES, *(n for n in self.commands if n not in _ENTRIES)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in _ENTRIES:
            self.commands[cmd_name] = load_command(_ENTRIES[cmd_name])
        return self.commands.get(cmd_name)

    def load_all(self) -> dict[str, Any]:
        """Every command, loaded (for the docs generator and the tests)."""
        for name in _ENTRIES:
            self.get_command(None, name)
        return {name: self.commands[name] for name in self.list_commands(None)}

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        return None if option is None else cheapen(option)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        saved = self.commands
        shown = {
            name: saved.get(name) or typer.core.TyperCommand(name=name, help=entry.summary)
            for name, entry in _ENTRIES.items()
        }
        self.commands = {**shown, **saved}
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = saved


app = typer.Typer(
    cls=LazyGroup,
    name="faceaudit",
    help=(
        "Find stored face images, face-tagged photos and face templates (embeddings) in "
        "files, archives and databases (SQLite, PostgreSQL, MariaDB/MySQL); judge them "
        "against retention and legal-basis policies (built-in law packs or your own), with "
        "waivers and baselines for CI; report them (console, JSON, SARIF, JUnit, CSV, "
        "Markdown, HTML) with what falls due next; watch folders; find one person's face "
        "across every store; triage a breached store. A scan never modifies what it scans; "
        "`remediate` acts on a reviewed plan (an encrypted quarantine vault, restore, purge). "
        "Exit codes: 0 clean, 1 face data (or a finding) at or above --fail-on, 2 usage "
        "error, 3 incomplete scan."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from scanner.version import tool_version

        typer.echo(f"faceaudit {tool_version()}")
        raise typer.Exit()


def root_command() -> LazyGroup:
    """The click command `faceaudit` runs, with every command loaded (what the docs generator
    and the tests walk; running the app loads only the command asked for)."""
    root = typer.main.get_command(app)
    assert isinstance(root, LazyGroup)
    root.load_all()
    return root


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """faceaudit: find stored face data and check it against policies."""


INTERRUPTED_BY_TYPER = 130


def _finishing() -> None:
    """The command is done (its report written or given up): one more Ctrl-C or SIGTERM
    must not turn its exit code into death by a signal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Run the command; no outcome other than a finished scan may exit 0 or 1.

    SIGTERM behaves like Ctrl-C, however the process was started: a scan in progress stops,
    writes its partial report and exits 3. An interruption outside a scan, or an internal
    error, also exits 3 (incomplete), never 1 (which means "face data found").
    """
    # YuNet's OpenMP runtime reads this when it first loads; one thread per process is what
    # the measurements in docs/scanning.md were taken with (workers set it for themselves too).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    # Explicitly, because a process started with SIGINT ignored (a background job of a
    # script) would otherwise ignore it too, and `kill -INT` would let the scan run on.
    signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        code = app(standalone_mode=False)
        _finishing()
        if code == INTERRUPTED_BY_TYPER:  # typer turns a KeyboardInterrupt into Exit(130)
            raise KeyboardInterrupt
    except (typer.Abort, KeyboardInterrupt):
        _finishing()
        from scanner.model import ExitCode  # here: `--help` has no use for the model

        print("faceaudit: interrupted; nothing was reported", file=sys.stderr)
        sys.exit(int(ExitCode.INCOMPLETE))
    except typer.exceptions.TyperException as exc:  # click's usage errors (typer vendors click)
        from scanner.model import ExitCode

        show = getattr(exc, "show", None)
        if callable(show):
            show()
        sys.exit(int(ExitCode.USAGE))
    except Exception as exc:
        from scanner.errors import ExecutorError
        from scanner.model import ExitCode
        from scanner.policy.loader import PolicyErrors

        if isinstance(exc, ExecutorError):  # the cluster named cannot be used: no scan ran
            _finishing()
            print(f"faceaudit: error: {exc}", file=sys.stderr)
            sys.exit(int(ExitCode.USAGE))
        if isinstance(exc, PolicyErrors):  # a register named by the policy cannot be read
            _finishing()
            for e in exc.errors:
                print(f"faceaudit: policy error: {e}", file=sys.stderr)
            sys.exit(int(ExitCode.USAGE))
        print(
            f"faceaudit: internal error ({type(exc).__name__}: {exc}); the scan is "
            "incomplete. Please report this with the command line that caused it.",
            file=sys.stderr,
        )
        sys.exit(int(ExitCode.INCOMPLETE))
    sys.exit(code if isinstance(code, int) else 0)
