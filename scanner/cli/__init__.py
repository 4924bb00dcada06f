"""The `faceaudit` command: a thin typer adapter over the library, one module per command
group (scan, detectors, demo, policy, watch and history, subject search and triage) and
what they share (common, output). The library never prints; this package does.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import Annotated

import typer

from scanner.cli.audit import audit_app
from scanner.cli.demo import demo
from scanner.cli.detectors import detectors
from scanner.cli.history import history
from scanner.cli.policy import policy_app
from scanner.cli.remediate import remediate_app
from scanner.cli.scan import scan
from scanner.cli.state import watch
from scanner.cli.subject import subject_app, triage
from scanner.model import ExitCode

app = typer.Typer(
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

app.command()(scan)
app.command()(detectors)
app.command()(demo)
app.add_typer(policy_app, name="policy")
app.command()(watch)
app.command()(history)
app.add_typer(subject_app, name="subject")
app.command()(triage)
app.add_typer(remediate_app, name="remediate")
app.add_typer(audit_app, name="audit")


def _version(value: bool) -> None:
    if value:
        from scanner.version import tool_version

        typer.echo(f"faceaudit {tool_version()}")
        raise typer.Exit()


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
        print("faceaudit: interrupted; nothing was reported", file=sys.stderr)
        sys.exit(int(ExitCode.INCOMPLETE))
    except typer.exceptions.TyperException as exc:  # click's usage errors (typer vendors click)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        sys.exit(int(ExitCode.USAGE))
    except Exception as exc:
        from scanner.errors import ExecutorError
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
