"""`faceaudit watch` and `faceaudit history`: continuous scanning and the record of scans."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO, Annotated, Any

import typer

from scanner.config import ScanConfig
from scanner.model import ExitCode


def watch(
    paths: Annotated[list[Path], typer.Argument(help="Folders (or files) to watch.")],
    policy: Annotated[
        str | None, typer.Option("--policy", "-p", help="Judge new items against this policy.")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="State database (default: in the user's state directory)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Append the JSON lines to this file (default stdout)."),
    ] = None,
    exec_cmd: Annotated[
        str | None,
        typer.Option(
            "--exec",
            help="Run this command for each new finding ({location}, {rule_id}, {severity}, {kind} "
            "are replaced per argument; no shell; the finding as JSON on stdin).",
        ),
    ] = None,
    debounce: Annotated[
        float, typer.Option("--debounce", help="Seconds of quiet before a batch is scanned.")
    ] = 0.5,
    polling: Annotated[
        bool, typer.Option("--polling", help="Poll instead of inotify (network filesystems).")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Worker processes.")] = -1,
    wait_lock: Annotated[
        float,
        typer.Option("--wait-lock", help="Seconds to wait for another run's state lock."),
    ] = 0.0,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Name findings relative to this directory, as `scan --root` does "
            "(default: the watched folder).",
        ),
    ] = None,
) -> None:
    """Watch folders and report new face data as JSON lines as files arrive."""
    from scanner.cli.common import configured, default_state_path, open_state, usage
    from scanner.cli.policy import load_or_exit
    from scanner.policy.judgement import Judgement
    from scanner.watch import Watcher

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        usage(f"no such file or directory: {', '.join(missing)}")
    if debounce < 0:
        usage("--debounce must not be negative")
    argv = shlex.split(exec_cmd) if exec_cmd else None
    if exec_cmd is not None and not argv:
        usage("--exec needs a command")
    config = configured(
        lambda: ScanConfig(
            targets=tuple(paths),
            roots=(root,) if root is not None else (),
            workers=(os.cpu_count() or 1) if workers < 0 else workers,
        )
    )
    judgement = Judgement(load_or_exit(policy)) if policy else None
    sink: IO[str] = (
        output.open("a", encoding="utf-8", buffering=1) if output is not None else sys.stdout
    )
    lock = threading.Lock()

    def emit(event: dict[str, Any]) -> None:
        with lock:
            sink.write(json.dumps(event, ensure_ascii=False) + "\n")
            sink.flush()

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with open_state(state or default_state_path(), wait_lock) as db:
        assert db is not None
        watcher = Watcher(
            config,
            db,
            emit,
            debounce_s=debounce,
            polling=polling,
            exec_argv=argv,
            judgement=judgement,
        )
        watcher.run(stop)
    emit({"event": "stopped", "scans": watcher.scans})
    if output is not None:
        sink.close()


def history(
    state: Annotated[
        Path | None,
        typer.Option("--state", help="State database (default: in the user's state directory)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    limit: Annotated[int, typer.Option("--limit", help="Most recent scans shown.")] = 20,
) -> None:
    """Show the recorded scans: counts, new and resolved findings, by kind and severity."""
    from scanner.cli.common import default_state_path, open_state, usage

    if fmt not in ("table", "json"):
        usage(f"unknown --format {fmt!r} (expected: table, json)")
    path = state or default_state_path()
    if not path.exists():
        typer.echo(f"faceaudit: no state database at {path}: no scans recorded yet", err=True)
        raise typer.Exit(int(ExitCode.CLEAN))
    with open_state(path, 10.0) as db:
        assert db is not None
        records = db.history(limit)
    if fmt == "json":
        typer.echo(json.dumps([r.__dict__ for r in records], indent=2))
        return
    typer.echo(
        f"{'#':>4}  {'finished (UTC)':<20} {'exit':>4} {'items':>6} {'faces':>6} {'templ':>6} "
        f"{'open':>6} {'new':>5} {'gone':>5}  policy / targets"
    )
    for r in records:
        targets = ", ".join(json.loads(r.targets))
        mark = "*" if r.incomplete else " "
        typer.echo(
            f"{r.id:>4}  {r.finished_at[:19]:<20} {r.exit_code:>3}{mark} "
            f"{r.items_with_evidence:>6} {r.faces:>6} {r.embeddings:>6} {r.findings_open:>6} "
            f"{r.new_findings:>5} {r.resolved_findings:>5}  {r.policy or '-'} / {targets[:60]}"
        )
    if any(r.incomplete for r in records):
        typer.echo("(* the scan was incomplete)")
