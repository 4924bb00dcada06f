"""`faceaudit scan`: options to a ScanConfig, the scan with progress on a terminal, the
report rendered, the result mapped to the documented exit codes. All scanning happens in
the library (scanner.engine)."""

# No `from __future__ import annotations` here: typer reads the options from the signature,
# and string annotations would be compiled and evaluated on every call (~20 ms of start-up).
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.cli.common import (
    DEFAULT_WAIT_LOCK,
    FAIL_ON_CHOICES,
    ExecutorOption,
    WaitLock,
    configured,
    default_state_path,
    moment,
    open_state,
    require_targets,
    run_with_progress,
    usage,
    warn_executor,
)
from scanner.cli.output import check_destination, write_report, write_stdout
from scanner.config import DetectionSettings, Limits, MiB, SampleLimits, ScanConfig
from scanner.model import ExitCode, ScanResult, Severity
from scanner.sources import is_source_uri

if TYPE_CHECKING:
    from scanner.policy.judgement import Judgement


def scan(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Files, directories, databases (sqlite:///path, postgresql://…, mysql://…), or "
            "buckets (s3://bucket/prefix, gs://…, az://…)."
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Report format: console, json, sarif, junit, csv, markdown or html.",
        ),
    ] = "console",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-j", help="Worker processes (default: all cores; 0 = in-process)."
        ),
    ] = -1,
    executor: ExecutorOption = "local",
    include: Annotated[
        list[str] | None,
        typer.Option("--include", help="Only scan files matching this glob (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Skip files/directories matching this glob (repeatable)."),
    ] = None,
    detector: Annotated[
        list[str] | None,
        typer.Option(
            "--detector", "-d", help="Detector id to run (repeatable; see `faceaudit detectors`)."
        ),
    ] = None,
    thorough: Annotated[
        bool, typer.Option("--thorough", help="Slower, deeper search (2048 px, more retries).")
    ] = False,
    count_faces: Annotated[
        bool,
        typer.Option("--count-faces", help="Run every pass for exact face counts (no early exit)."),
    ] = False,
    embedding_threshold: Annotated[
        float,
        typer.Option(
            "--embedding-threshold",
            help="Confidence from which stored vectors are reported as face templates (0-1).",
        ),
    ] = DetectionSettings.embedding_threshold,
    sample_rows: Annotated[
        int, typer.Option("--sample-rows", help="Values sampled per database column.")
    ] = SampleLimits.rows,
    statement_timeout: Annotated[
        float,
        typer.Option("--statement-timeout", help="Seconds allowed per database statement."),
    ] = SampleLimits.statement_timeout_s,
    read_views: Annotated[
        bool,
        typer.Option(
            "--read-views",
            help="Also read database views (not read by default: reading a view runs the "
            "functions it calls, with their definer's rights; reported as views_read).",
        ),
    ] = SampleLimits.read_views,
    min_face: Annotated[
        int, typer.Option("--min-face", help="Ignore faces smaller than this many pixels.")
    ] = 0,
    no_rotations: Annotated[
        bool, typer.Option("--no-rotations", help="Do not retry images turned 90/180/270.")
    ] = False,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Exit 1 when evidence of this severity or higher is found "
            "(info, low, medium, high, critical, never).",
        ),
    ] = "low",
    allow_incomplete: Annotated[
        bool,
        typer.Option("--allow-incomplete", help="Do not exit 3 when items could not be scanned."),
    ] = False,
    max_file_mb: Annotated[
        int,
        typer.Option(
            "--max-file-mb",
            help="Largest file read in full (MiB); also the most read of one sampled object.",
        ),
    ] = 100,
    max_pixels: Annotated[
        int, typer.Option("--max-pixels", help="Largest image decoded (pixels).")
    ] = Limits.max_pixels,
    max_frames: Annotated[
        int, typer.Option("--max-frames", help="Animation frames sampled per image.")
    ] = Limits.max_frames,
    max_pages: Annotated[
        int, typer.Option("--max-pages", help="TIFF pages examined (more: incomplete).")
    ] = Limits.max_pages,
    max_video_frames: Annotated[
        int,
        typer.Option("--max-video-frames", help="Frames sampled per video, evenly over it."),
    ] = Limits.max_video_frames,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds allowed per item.")
    ] = Limits.item_timeout_s,
    memory_mb: Annotated[
        int,
        typer.Option(
            "--memory-mb",
            help="Memory allowed per item in a worker, beyond its idle size and models (MiB).",
        ),
    ] = Limits.item_memory_bytes // MiB,
    archive_depth: Annotated[
        int, typer.Option("--archive-depth", help="Deepest archive nesting opened.")
    ] = Limits.archive_max_depth,
    archive_entries: Annotated[
        int, typer.Option("--archive-entries", help="Most entries read per archive.")
    ] = Limits.archive_max_entries,
    archive_mb: Annotated[
        int, typer.Option("--archive-mb", help="Most bytes decompressed per archive (MiB).")
    ] = Limits.archive_max_total_bytes // MiB,
    archive_ratio: Annotated[
        float, typer.Option("--archive-ratio", help="Highest expansion ratio allowed.")
    ] = Limits.archive_max_ratio,
    max_temp_mb: Annotated[
        int,
        typer.Option(
            "--max-temp-mb",
            help="Temporary space per worker (MiB): the private copy that recovering a "
            "SQLite database with a -wal or hot -journal needs; larger: not read.",
        ),
    ] = Limits.max_temp_bytes // MiB,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            "-p",
            help="Judge the evidence against this policy file (or built-in pack): findings.",
        ),
    ] = None,
    waivers: Annotated[
        Path | None,
        typer.Option("--waivers", help="Waivers file (reason, owner, expiry per entry)."),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Known findings (a baseline or earlier JSON report)."),
    ] = None,
    write_baseline: Annotated[
        Path | None,
        typer.Option("--write-baseline", help="Write this scan's findings as a baseline."),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Name findings relative to this directory (e.g. the repository root in CI) "
            "instead of each target; every path must be inside it.",
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Evaluate the policy at this UTC date/time (ISO 8601)."),
    ] = None,
    due_within: Annotated[
        str | None,
        typer.Option(
            "--due-within",
            help="Also list items that will break a retention rule within this window "
            "(e.g. 30d, 2w, 6m, 1y, or ISO 8601 P30D); needs --policy.",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="State database (default: in the user's state directory)."),
    ] = None,
    no_state: Annotated[
        bool, typer.Option("--no-state", help="Look at everything again; record nothing.")
    ] = False,
    wait_lock: WaitLock = DEFAULT_WAIT_LOCK,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only look at files changed since this UTC date/time."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or status line.")
    ] = False,
) -> None:
    """Scan PATHS for face images, face tags and face templates; judge and report them."""
    from scanner.reporters import Format, render

    try:
        report_format = Format(fmt)
    except ValueError:
        usage(f"unknown --format {fmt!r} (expected: {', '.join(f.value for f in Format)})")
    if fail_on not in FAIL_ON_CHOICES:
        usage(f"unknown --fail-on {fail_on!r} (expected: {', '.join(FAIL_ON_CHOICES)})")
    require_targets(paths)
    judgement = _judgement(policy, waivers, baseline, write_baseline, as_of, due_within)
    config = configured(
        lambda: ScanConfig(
            targets=tuple(paths),
            roots=(root,) if root is not None else (),
            include=tuple(include or ()),
            exclude=tuple(exclude or ()),
            workers=(os.cpu_count() or 1) if workers < 0 else workers,
            detectors=tuple(detector or ()),
            limits=Limits(
                max_file_bytes=max_file_mb * MiB,
                max_pixels=max_pixels,
                max_frames=max_frames,
                max_pages=max_pages,
                max_video_frames=max_video_frames,
                item_timeout_s=timeout,
                item_memory_bytes=memory_mb * MiB,
                archive_max_depth=archive_depth,
                archive_max_entries=archive_entries,
                archive_max_total_bytes=archive_mb * MiB,
                archive_max_ratio=archive_ratio,
                max_temp_bytes=max_temp_mb * MiB,
            ),
            detection=DetectionSettings(
                thorough=thorough,
                count_faces=count_faces or thorough,
                min_face_px=min_face,
                embedding_threshold=embedding_threshold,
                rotations=not no_rotations,
            ),
            sampling=SampleLimits(
                rows=sample_rows, statement_timeout_s=statement_timeout, read_views=read_views
            ),
            fail_on=None if fail_on == "never" else Severity.parse(fail_on),
            allow_incomplete=allow_incomplete,
            since=moment(since, "--since") if since is not None else None,
            executor=executor,
        )
    )
    warn_executor(config)
    if output is not None and (why := check_destination(output)) is not None:
        usage(f"cannot write the report: {why}")
    for warning in whole_filesystem_warnings(paths):
        typer.echo(f"faceaudit: warning: {warning}", err=True)
    with open_state(None if no_state else (state or default_state_path()), wait_lock) as db:
        result = run_with_progress(
            config, show=not quiet and sys.stderr.isatty(), state=db, judgement=judgement
        )
    if write_baseline is not None:
        _write_baseline(write_baseline, result)
    text = render(result, report_format)
    if output is None:
        _report_to_stdout(text, utf8=report_format is not Format.CONSOLE)
    else:
        try:
            write_report(output, text)
        except OSError as exc:
            typer.echo(f"faceaudit: error: cannot write {output}: {exc}", err=True)
            raise typer.Exit(int(ExitCode.INCOMPLETE)) from exc
        if not quiet:
            typer.echo(
                f"faceaudit: {len(result.items)} items with face data, "
                f"{sum(1 for p in result.problems if p.incomplete)} not scanned; "
                f"report written to {output}",
                err=True,
            )
    raise typer.Exit(int(result.exit_code))


def whole_filesystem_warnings(paths: list[str]) -> list[str]:
    """A warning for each target that is `/` or the root of a filesystem (a mount point):
    such a scan reads everything on it, system files included, and takes long."""
    out = []
    for path in paths:
        if is_source_uri(path):
            continue  # a named target that is a symbolic link is followed: its target counts
        real = os.path.realpath(path)
        if real == os.sep:
            out.append(
                f"{path!r} is the root directory: the scan reads every file of every mounted "
                "filesystem below it (system files, other users' files, network mounts) and "
                "can take hours; name the folders to scan, or --exclude what to skip"
            )
        elif os.path.isdir(real) and os.path.ismount(real):
            out.append(
                f"{path!r} is the root of a whole filesystem (mount point {real}): the scan "
                "reads every file on it and can take hours; name the folders to scan, or "
                "--exclude what to skip"
            )
    return out


def _report_to_stdout(text: str, utf8: bool) -> None:
    try:
        write_stdout(text, utf8=utf8)
    except OSError as exc:  # a full disk or a broken device behind stdout
        typer.echo(f"faceaudit: error: cannot write the report to stdout: {exc}", err=True)
        raise typer.Exit(int(ExitCode.INCOMPLETE)) from exc


def _judgement(
    policy: str | None,
    waivers: Path | None,
    baseline: Path | None,
    write_baseline: Path | None,
    as_of: str | None,
    due_within: str | None = None,
) -> "Judgement | None":
    """The policy, waivers, baseline and evaluation time, loaded and checked before scanning
    (the policy schema is imported only when there is a policy: start-up)."""
    if policy is None:
        for name, value in (
            ("--waivers", waivers),
            ("--baseline", baseline),
            ("--write-baseline", write_baseline),
            ("--as-of", as_of),
            ("--due-within", due_within),
        ):
            if value is not None:
                usage(f"{name} needs --policy (findings come from a policy)")
        return None
    from scanner.cli.policy import load_or_exit
    from scanner.policy.durations import Duration
    from scanner.policy.gate import load_baseline, load_waivers
    from scanner.policy.judgement import Judgement
    from scanner.policy.loader import PolicyErrors

    window = None
    if due_within is not None:
        try:
            window = Duration.parse_window(due_within)
        except ValueError as exc:
            usage(f"--due-within: {exc}")
    try:
        loaded = Judgement(
            load_or_exit(policy),
            waivers=load_waivers(waivers) if waivers is not None else (),
            baseline=load_baseline(baseline) if baseline is not None else None,
            as_of=moment(as_of, "--as-of") if as_of is not None else None,
            due_within=window,
        )
    except PolicyErrors as exc:
        for e in exc.errors:
            typer.echo(f"faceaudit: policy error: {e}", err=True)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    if write_baseline is not None and (why := check_destination(write_baseline)) is not None:
        usage(f"cannot write the baseline: {why}")
    return loaded


def _write_baseline(path: Path, result: ScanResult) -> None:
    from scanner.policy.gate import baseline_document

    name = result.policy.name if result.policy is not None else ""
    try:
        write_report(path, baseline_document(result.findings, name))
    except OSError as exc:
        typer.echo(f"faceaudit: error: cannot write {path}: {exc}", err=True)
        raise typer.Exit(int(ExitCode.INCOMPLETE)) from exc
