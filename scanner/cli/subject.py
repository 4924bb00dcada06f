"""`faceaudit subject find` and `faceaudit triage`: thin typer adapters over scanner.subject.

The probe photos are read and described in this process, in memory; the descriptors go to
the workers over their pipes. Nothing of them is printed, logged or written.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from scanner.cli.common import (
    DEFAULT_WAIT_LOCK,
    ExecutorOption,
    WaitLock,
    configured,
    require_targets,
    usage,
    warn_executor,
)
from scanner.config import SampleLimits, ScanConfig
from scanner.model import ExitCode
from scanner.subject.spec import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from scanner.engine import ProgressCallback
    from scanner.state.store import StateDB

_R = TypeVar("_R")
FORMATS = ("markdown", "json", "html")

subject_app = typer.Typer(
    help="Find one person's face across every store (access and erasure requests).",
    no_args_is_help=True,
)

Targets = Annotated[
    list[str],
    typer.Argument(help="Files, directories, or databases (sqlite:///path, postgresql://…)."),
]
Format = Annotated[
    str, typer.Option("--format", "-f", help="Report format: markdown, json or html.")
]
Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
]
Workers = Annotated[
    int, typer.Option("--workers", "-j", help="Worker processes (default: all cores).")
]
Include = Annotated[
    list[str] | None,
    typer.Option("--include", help="Only scan files matching this glob (repeatable)."),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", help="Skip files/directories matching this glob (repeatable)."),
]
SampleRows = Annotated[
    int,
    typer.Option("--sample-rows", help="Values read per database column (stores beyond: partial)."),
]
ReadViews = Annotated[
    bool,
    typer.Option(
        "--read-views",
        help="Also read database views (they run the functions they call; reported).",
    ),
]
AllowIncomplete = Annotated[
    bool,
    typer.Option("--allow-incomplete", help="Do not exit 3 when something could not be searched."),
]
State = Annotated[
    Path | None,
    typer.Option("--state", help="State database (default: in the user's state directory)."),
]
NoState = Annotated[
    bool, typer.Option("--no-state", help="Look at everything again; record nothing.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or status line.")]


def _config(
    targets: list[str],
    fmt: str,
    output: Path | None,
    workers: int,
    include: list[str] | None,
    exclude: list[str] | None,
    sample_rows: int,
    allow_incomplete: bool,
    read_views: bool = False,
    root: Path | None = None,
    executor: str = "local",
) -> ScanConfig:
    """A scan configuration as `faceaudit scan` would build it (so the state is shared),
    checked by the library."""
    from scanner.cli.output import check_destination

    if fmt not in FORMATS:
        usage(f"unknown --format {fmt!r} (expected: {', '.join(FORMATS)})")
    require_targets(targets)
    if output is not None and (why := check_destination(output)) is not None:
        usage(f"cannot write the report: {why}")
    config = configured(
        lambda: ScanConfig(
            targets=tuple(targets),
            roots=(root,) if root is not None else (),
            include=tuple(include or ()),
            exclude=tuple(exclude or ()),
            workers=(os.cpu_count() or 1) if workers < 0 else workers,
            sampling=SampleLimits(rows=sample_rows, read_views=read_views),
            allow_incomplete=allow_incomplete,
            executor=executor,
        )
    )
    warn_executor(config)
    return config


@subject_app.command("find")
def find(
    targets: Targets,
    probe: Annotated[
        list[Path],
        typer.Option(
            "--probe",
            help="A photo of the person (repeatable: several photos of the same person).",
        ),
    ],
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance", help="Largest descriptor distance counted as a match (0.6 default)."
        ),
    ] = DEFAULT_TOLERANCE,
    quick: Annotated[
        bool,
        typer.Option("--quick", help="Compare only the faces a plain scan finds first (faster)."),
    ] = False,
    fmt: Format = "markdown",
    output: Output = None,
    workers: Workers = -1,
    executor: ExecutorOption = "local",
    include: Include = None,
    exclude: Exclude = None,
    sample_rows: SampleRows = SampleLimits.rows,
    read_views: ReadViews = SampleLimits.read_views,
    allow_incomplete: AllowIncomplete = False,
    state: State = None,
    no_state: NoState = False,
    wait_lock: WaitLock = DEFAULT_WAIT_LOCK,
    quiet: Quiet = False,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Name matches relative to this directory, as `scan --root` does (each "
            "match's identity in the JSON report).",
        ),
    ] = None,
) -> None:
    """Find where one person's face is stored: faces in images and stored face templates.

    Exit 0 when the person is found nowhere and everything was compared, 1 when found,
    2 on a usage error (or a probe photo without one clear face), 3 when incomplete."""
    from scanner.reporters.subject_formats import SubjectFormat, render_subject
    from scanner.subject.probe import ProbeError, load_probes
    from scanner.subject.search import find_subject

    if not 0.0 < tolerance <= 1.5:  # also false for NaN
        usage("--tolerance must be above 0 and at most 1.5")
    config = _config(
        targets,
        fmt,
        output,
        workers,
        include,
        exclude,
        sample_rows,
        allow_incomplete,
        read_views,
        root,
        executor,
    )
    _no_core_dumps()
    try:
        probes = load_probes(probe, limits=config.limits)
    except ProbeError as exc:
        usage(str(exc))
    with _state(state, no_state, wait_lock) as db:
        result = _with_progress(
            lambda progress: find_subject(
                config,
                probes,
                tolerance=tolerance,
                every_face=not quick,
                state=db,
                progress=progress,
            ),
            show=not quiet and sys.stderr.isatty(),
        )
    _emit(render_subject(result, SubjectFormat(fmt)), output)
    if output is not None and not quiet:
        places = len({m.location for m in result.matches})
        typer.echo(
            f"faceaudit: found in {places} location(s); {len(result.not_compared)} not "
            f"compared; report written to {output}",
            err=True,
        )
    raise typer.Exit(int(result.exit_code))


def triage(
    targets: Targets,
    fmt: Format = "markdown",
    output: Output = None,
    workers: Workers = -1,
    executor: ExecutorOption = "local",
    include: Include = None,
    exclude: Exclude = None,
    sample_rows: SampleRows = SampleLimits.rows,
    read_views: ReadViews = SampleLimits.read_views,
    allow_incomplete: AllowIncomplete = False,
    state: State = None,
    no_state: NoState = False,
    wait_lock: WaitLock = DEFAULT_WAIT_LOCK,
    quiet: Quiet = False,
) -> None:
    """Summarise a breached store for a GDPR Art 33 notification.

    Files with faces, faces, stored templates, distinct people (estimated, with a range),
    jurisdictions, dates and applications. Exit codes as for scan: 0 no face data, 1 face
    data found, 2 usage error, 3 incomplete."""
    from scanner.reporters.subject_formats import SubjectFormat, render_triage
    from scanner.subject.triage import triage as run_triage

    config = _config(
        targets,
        fmt,
        output,
        workers,
        include,
        exclude,
        sample_rows,
        allow_incomplete,
        read_views,
        executor=executor,
    )
    _no_core_dumps()
    with _state(state, no_state, wait_lock) as db:
        result = _with_progress(
            lambda progress: run_triage(config, state=db, progress=progress),
            show=not quiet and sys.stderr.isatty(),
        )
    _emit(render_triage(result, SubjectFormat(fmt)), output)
    if output is not None and not quiet:
        typer.echo(
            f"faceaudit: {result.files_with_faces} files with "
            f"{'at least ' if result.faces_lower_bound else ''}{result.faces} faces, "
            f"{result.templates} templates, about {result.people.estimate} people; report "
            f"written to {output}",
            err=True,
        )
    raise typer.Exit(int(result.exit_code))


def _state(
    path: Path | None, no_state: bool, wait_s: float
) -> contextlib.AbstractContextManager[StateDB | None]:
    """The state database as `faceaudit scan` opens it (locked; problems exit 3)."""
    from scanner.cli.common import default_state_path, open_state

    return open_state(None if no_state else (path or default_state_path()), wait_s)


def _no_core_dumps() -> None:
    """This process will hold probe descriptors: a crash must not write them to a core file
    (the workers do the same for themselves)."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _emit(text: str, output: Path | None) -> None:
    from scanner.cli.output import write_report, write_stdout

    if output is None:
        write_stdout(text, utf8=True)
        return
    try:
        write_report(output, text)
    except OSError as exc:
        typer.echo(f"faceaudit: error: cannot write {output}: {exc}", err=True)
        raise typer.Exit(int(ExitCode.INCOMPLETE)) from exc


def _with_progress(run: Callable[[ProgressCallback | None], _R], show: bool) -> _R:
    if not show:
        return run(None)
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    from scanner.engine import Progress
    from scanner.reporters.text import terminal_safe

    with Bar(
        TextColumn("[bold]searching"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} items"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[current]}", style="dim", markup=False),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
    ) as bar:
        task = bar.add_task("search", total=None, current="")

        def update(p: Progress) -> None:
            bar.update(
                task,
                completed=p.done,
                total=max(p.queued, 1),
                current=terminal_safe(p.current)[-60:],
            )

        return run(update)
