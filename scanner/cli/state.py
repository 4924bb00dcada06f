"""`faceaudit watch`: continuous scanning (`faceaudit history` is in scanner.cli.history)."""

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

from scanner.cli.common import DEFAULT_WAIT_LOCK, WaitLock
from scanner.config import ScanConfig


def watch(
    paths: Annotated[list[Path], typer.Argument(help="Folders (or files) to watch.")],
    policy: Annotated[
        str | None, typer.Option("--policy", "-p", help="Judge new items against this policy.")
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option("--state", help="State database (default: in the user's state directory)."),
    ] = None,
    no_state: Annotated[
        bool,
        typer.Option(
            "--no-state",
            help="Look at everything again and record nothing: no state database (a restart "
            "announces everything again).",
        ),
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Append the JSON lines to this file (default stdout)."),
    ] = None,
    exec_cmd: Annotated[
        str | None,
        typer.Option(
            "--exec",
            help="Run this command for each new finding: {path} (the file), {location}, "
            "{kind}, {severity}, {rule_id} (with --policy) and the event's other fields are "
            "replaced per argument; no shell; the finding as JSON on stdin.",
        ),
    ] = None,
    debounce: Annotated[
        float, typer.Option("--debounce", help="Seconds of quiet before a batch is scanned.")
    ] = 0.5,
    polling: Annotated[
        bool, typer.Option("--polling", help="Poll instead of inotify (network filesystems).")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", "-j", help="Worker processes.")] = -1,
    wait_lock: WaitLock = DEFAULT_WAIT_LOCK,
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
    from scanner.watch import Watcher, exec_problem

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        usage(f"no such file or directory: {', '.join(missing)}")
    if debounce < 0:
        usage("--debounce must not be negative")
    try:
        argv = shlex.split(exec_cmd) if exec_cmd else None
    except ValueError as exc:  # an unclosed quotation
        usage(f"--exec {exec_cmd!r}: {exc}")
    if exec_cmd is not None and not argv:
        usage("--exec needs a command")
    if argv and (why := exec_problem(argv, with_policy=policy is not None)) is not None:
        usage(f"--exec {why}")
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
    with open_state(None if no_state else (state or default_state_path()), wait_lock) as db:
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
