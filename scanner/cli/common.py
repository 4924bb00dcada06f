"""What the commands share: usage errors, the state database, times, progress."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from scanner.config import ScanConfig
from scanner.model import ExitCode, ScanResult, Severity
from scanner.state import DEFAULT_WAIT_S

if TYPE_CHECKING:
    from scanner.policy.judgement import Judgement
    from scanner.state.store import StateDB

FAIL_ON_CHOICES = [s.label for s in Severity] + ["never"]

WAIT_LOCK_ENV = "FACEAUDIT_WAIT_LOCK"
WaitLock = Annotated[
    float,
    typer.Option(
        "--wait-lock",
        envvar=WAIT_LOCK_ENV,
        help="Seconds to wait for the state database while another run has it alone (an "
        "upgrade, a repair), then exit 3; also how long a write waits for another run's. "
        f"Runs never wait for each other otherwise. Also ${WAIT_LOCK_ENV}.",
    ),
]
DEFAULT_WAIT_LOCK = DEFAULT_WAIT_S


def usage(message: str) -> NoReturn:
    typer.echo(f"faceaudit: error: {message}", err=True)
    raise typer.Exit(int(ExitCode.USAGE))


def require_targets(targets: Iterable[str]) -> None:
    """A usage error for every path target that does not exist (URIs are their sources')."""
    from scanner.sources import is_source_uri

    missing = [t for t in targets if not is_source_uri(t) and not os.path.lexists(t)]
    if missing:
        usage(f"no such file or directory: {', '.join(missing)}")


def default_state_path() -> Path:
    """$XDG_STATE_HOME/faceaudit/state.db, else ~/.local/state/faceaudit/state.db."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "faceaudit" / "state.db"


@contextlib.contextmanager
def open_state(path: Path | None, wait_s: float) -> Iterator[StateDB | None]:
    """The state database, shared with other runs; a run that must wait says so once on
    stderr; a wait that runs out or an unusable file exits 3, a database of a version this
    faceaudit cannot use exits 2."""
    if path is None:
        yield None
        return
    if not wait_s >= 0:  # also NaN
        usage("--wait-lock must be a number of seconds, 0 or more")
    from scanner.state.schema import StateVersionError
    from scanner.state.store import StateDB, StateLocked

    def waiting(message: str) -> None:
        typer.echo(f"faceaudit: {message}", err=True)

    try:
        db = StateDB(path, wait_s=wait_s, on_wait=waiting)
    except StateLocked as exc:
        typer.echo(
            f"faceaudit: {exc} (--wait-lock SECONDS or ${WAIT_LOCK_ENV} waits longer)",
            err=True,
        )
        raise typer.Exit(int(ExitCode.INCOMPLETE)) from None
    except StateVersionError as exc:
        typer.echo(f"faceaudit: error: state database {path} left as it is: {exc}", err=True)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    except (OSError, sqlite3.Error) as exc:
        typer.echo(f"faceaudit: error: cannot use the state database {path}: {exc}", err=True)
        raise typer.Exit(int(ExitCode.INCOMPLETE)) from None
    with db:
        for note in db.notes:
            typer.echo(f"faceaudit: {note}", err=True)
        yield db


def moment(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        usage(f"{option} {text!r} is not an ISO 8601 date or time")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# The options that set each checked setting: a ConfigError names the setting, a user typed
# the option.
OPTION_OF = {
    "limits.max_file_bytes": "--max-file-mb",
    "limits.max_pixels": "--max-pixels",
    "limits.max_frames": "--max-frames",
    "limits.max_pages": "--max-pages",
    "limits.max_video_frames": "--max-video-frames",
    "limits.item_timeout_s": "--timeout",
    "limits.item_memory_bytes": "--memory-mb",
    "limits.archive_max_depth": "--archive-depth",
    "limits.archive_max_entries": "--archive-entries",
    "limits.archive_max_total_bytes": "--archive-mb",
    "limits.archive_max_ratio": "--archive-ratio",
    "limits.max_temp_bytes": "--max-temp-mb",
    "detection.min_face_px": "--min-face",
    "detection.embedding_threshold": "--embedding-threshold",
    "sampling.rows": "--sample-rows",
    "sampling.statement_timeout_s": "--statement-timeout",
    "include/exclude": "--include/--exclude",
}


ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where items are examined: local (this machine's worker pool), dask-local (a "
        "Dask cluster started here), dask://HOST:PORT or tls://HOST:PORT (a Dask scheduler; "
        "the faceaudit[dask] extra; docs/scale-out.md).",
    ),
]


def warn_executor(config: ScanConfig) -> None:
    """A loud warning on stderr when the scheduler is off this machine and not TLS."""
    from scanner.executors import insecure_warning, parse

    warning = insecure_warning(parse(config.executor))
    if warning is not None:
        typer.echo(f"faceaudit: WARNING: {warning}", err=True)


def configured(build: Callable[[], ScanConfig]) -> ScanConfig:
    """The configuration the options describe, checked by the library (scanner.api.check):
    what it refuses is a usage error naming the option."""
    from scanner.api import check
    from scanner.errors import ConfigError

    try:
        return check(build())
    except ConfigError as exc:
        message = str(exc)
        for setting, option in OPTION_OF.items():
            message = message.replace(setting, option)
        usage(message)


def run_with_progress(
    config: ScanConfig,
    show: bool,
    state: StateDB | None = None,
    judgement: Judgement | None = None,
) -> ScanResult:
    from scanner.api import scan
    from scanner.engine import Progress

    if not show:
        return scan(config, state=state, judgement=judgement)
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from scanner.reporters.text import terminal_safe

    with Bar(
        TextColumn("[bold]scanning"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} items"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim", markup=False),  # a name is no markup
        console=Console(stderr=True),  # the terminal `show` checked; stdout is the report
        transient=True,
        redirect_stdout=False,
    ) as bar:
        task = bar.add_task("scan", total=None, current="")

        def update(p: Progress) -> None:
            bar.update(
                task,
                completed=p.done,
                total=max(p.queued, 1),
                current=terminal_safe(p.current)[-60:],
            )

        return scan(config, progress=update, state=state, judgement=judgement)
