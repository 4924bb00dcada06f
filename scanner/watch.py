"""Continuous scanning on watchdog: act on files closed after writing and on files moved in,
never on a half-written file; debounce; resolve findings of files moved away or deleted;
rescan the tree when the kernel's event queue overflows; fall back to polling when inotify
watches run out. The library never prints: events go to the caller's `emit`.

Events (dicts, one JSON line each in the CLI): `ready` (initial scan done), `finding` (a new
finding, or with no policy a new item with face data), `resolved` (gone: the file changed,
moved away or was deleted), `rescan` (after an overflow), `notice` (polling fallback, a
failed --exec …). Findings carry what reports carry — never a payload.
"""

from __future__ import annotations

import logging
import os
import string
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirMovedEvent,
    FileClosedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.inotify import InotifyObserver
from watchdog.observers.polling import PollingObserver

from scanner.config import ScanConfig
from scanner.detectors import default_detectors
from scanner.engine import run_scan
from scanner.model import DatabaseLocation, Location, MemberLocation, ScanResult
from scanner.policy.judgement import Judgement
from scanner.pool import WorkerPool
from scanner.sources import display
from scanner.state.history import pseudo_fingerprint, targets_key
from scanner.state.store import StateDB
from scanner.worker import WorkerSetup

Emit = Callable[[dict[str, Any]], None]
EXEC_TIMEOUT_S = 60.0
BATCH_PER_WORKER = 8


@dataclass(frozen=True)
class Mark:
    """One finding (with a policy) or one item with face data (without), as watch tracks it."""

    fingerprint: str
    payload: dict[str, Any]


def marks(result: ScanResult) -> dict[str, dict[str, Mark]]:
    """location path (the file, for members and columns too) -> fingerprint -> mark."""
    out: dict[str, dict[str, Mark]] = {}
    payload: dict[str, Any]
    if result.policy is not None:
        for f in result.findings:
            payload = {
                "rule_id": f.rule_id,
                "severity": f.severity.label,
                "location": _text(f.location.display),
                "message": f.message,
                "kind": f.kind.value,
                "store": f.store,
                "disposition": f.disposition.value,
                "fingerprint": f.fingerprint,
                "path": _text(file_of(f.location)),
            }
            out.setdefault(f.location.path, {})[f.fingerprint] = Mark(f.fingerprint, payload)
        return out
    for item in result.items:
        e = item.primary
        if e is None:
            continue
        fp = pseudo_fingerprint(item.location.identity, e.kind.value)
        payload = {
            "kind": e.kind.value,
            "severity": e.severity.label,
            "location": _text(item.location.display),
            "detector": e.detector,
            "faces": e.faces,
            "count": e.detail("count"),
            "sha256": item.sha256,
            "path": _text(file_of(item.location)),
        }
        out.setdefault(item.location.path, {})[fp] = Mark(fp, payload)
    return out


def file_of(location: Location) -> str:
    """The file on disk a finding is in: the file itself, the archive of a member, the
    SQLite file of a column (a database named by URI, or an object: as reports name it)."""
    if isinstance(location, MemberLocation):
        return file_of(location.container)
    if isinstance(location, DatabaseLocation):
        db = location.database
        return db.file if db.file is not None else db.display
    return location.path


# The fields of a watch event --exec may name, with a policy (findings) and without (items).
FINDING_FIELDS = (
    "rule_id",
    "severity",
    "location",
    "path",
    "message",
    "kind",
    "store",
    "disposition",
    "fingerprint",
)
ITEM_FIELDS = ("kind", "severity", "location", "path", "detector", "faces", "count", "sha256")


def exec_problem(argv: list[str], with_policy: bool) -> str | None:
    """Why `argv` cannot be an --exec command (a `{field}` the events do not have, a stray
    brace), or None."""
    known = FINDING_FIELDS if with_policy else ITEM_FIELDS
    for arg in argv:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(arg) if name is not None]
        except ValueError as exc:
            return f"{arg!r}: {exc} (write {{{{ and }}}} for literal braces)"
        for name in names:
            if name not in known:
                what = "findings (with --policy)" if with_policy else "items (without --policy)"
                return (
                    f"{arg!r} names {{{name}}}, which events of {what} do not have; "
                    f"fields: {', '.join('{' + k + '}' for k in known)}"
                )
    return None


def _text(s: str) -> str:
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Overflow(logging.Handler):
    """watchdog reports a kernel queue overflow only in its log; that is our signal."""

    def __init__(self, flag: threading.Event, on_overflow: Callable[[], None] | None) -> None:
        super().__init__(logging.WARNING)
        self.flag = flag
        self.on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.flag.set()
            if self.on_overflow is not None:
                self.on_overflow()


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self.w = watcher

    def on_closed(self, event: FileClosedEvent) -> None:  # written and closed: complete
        self.w.touched(_path(event.src_path))

    def on_moved(self, event: FileSystemEvent) -> None:
        if event.src_path:  # empty: moved in from outside the watched tree
            self.w.gone(_path(event.src_path))
        dest = _path(getattr(event, "dest_path", ""))
        if isinstance(event, DirMovedEvent):
            self.w.touched(dest, tree=True)
        elif isinstance(event, FileMovedEvent):
            self.w.touched(dest)

    def on_deleted(self, event: FileSystemEvent) -> None:
        self.w.gone(_path(event.src_path))
        if not isinstance(event, FileDeletedEvent):
            self.w.gone(_path(event.src_path), tree=True)

    def on_created(self, event: FileSystemEvent) -> None:
        if event.is_directory:  # a directory copied or unpacked in: what it already holds
            self.w.touched(_path(event.src_path), tree=True)


def _path(p: str | bytes) -> str:
    return os.fsdecode(p)


class Watcher:
    def __init__(
        self,
        config: ScanConfig,
        state: StateDB | None,
        emit: Emit,
        *,
        debounce_s: float = 0.5,
        polling: bool = False,
        exec_argv: list[str] | None = None,
        batch: int = 0,
        judgement: Judgement | None = None,
    ) -> None:
        roots = tuple(Path(os.path.abspath(t)) for t in config.paths)
        # Findings are named from the watched directories (or --root), not from the files
        # each batch rescans: a finding has the identity, and the fingerprint, `scan` gives.
        named_from = config.roots or tuple(r if r.is_dir() else r.parent for r in roots)
        self.config = replace(config, targets=roots, roots=named_from)
        self.judgement = judgement
        self.state = state
        self.emit = emit
        self.debounce_s = debounce_s
        self.polling = polling
        self.exec_argv = exec_argv
        # files per scan while events keep coming: small enough that a new file waits at most
        # one batch, large enough to keep every worker busy
        self.batch = batch or BATCH_PER_WORKER * max(config.workers, 1)
        self.known: dict[str, dict[str, Mark]] = {}
        self._lock = threading.Lock()
        # path -> when its last event came: a path is examined once it has been quiet for
        # debounce_s, however busy the rest of the tree is
        self._pending: dict[str, float] = {}
        self._trees: dict[str, float] = {}
        self._gone: set[str] = set()
        self._busy = False
        self._last_event = 0.0
        self.overflow = threading.Event()
        self.scans = 0
        self.pool: WorkerPool | None = None

    def _bump(self) -> None:
        with self._lock:
            self._last_event = time.monotonic()

    # -- events from the observer thread -------------------------------------------------

    def touched(self, path: str, tree: bool = False) -> None:
        with self._lock:
            now = time.monotonic()
            (self._trees if tree else self._pending)[path] = now
            self._gone.discard(path)
            self._last_event = now

    def gone(self, path: str, tree: bool = False) -> None:
        with self._lock:
            self._gone.add(path if not tree else path.rstrip("/") + "/")
            self._pending.pop(path, None)
            self._last_event = time.monotonic()

    def idle(self) -> bool:
        """Nothing waiting to be examined and no scan running (after an overflow: rescanned)."""
        with self._lock:
            waiting = bool(self._pending or self._trees or self._gone)
        return not (waiting or self._busy or self.overflow.is_set())

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        handler = _Overflow(self.overflow, self._bump)
        logging.getLogger("watchdog").addHandler(handler)
        observer = self._start()
        self.pool = self._pool()
        try:
            self._initial()
            while not stop.wait(0.05):
                if self.overflow.is_set():
                    if time.monotonic() - self._last_event < self.debounce_s:
                        continue  # let the burst end first
                    self.overflow.clear()
                    self.emit(_event("rescan", reason="the kernel's event queue overflowed"))
                    with self._lock:
                        self._pending.clear()
                        self._trees.clear()
                        self._busy = True
                    try:
                        self._scan(self.config.paths, full=True)
                    finally:
                        self._busy = False
                    self.emit(_event("rescanned", overflowed_again=self.overflow.is_set()))
                    continue
                self._flush()
        finally:
            observer.stop()
            observer.join(timeout=5)
            if self.pool is not None:
                self.pool.close()
            logging.getLogger("watchdog").removeHandler(handler)

    def _start(self) -> Any:
        if not self.polling:
            try:
                # full events: a file moved in from outside is a move (complete), not a
                # creation (which may still be being written)
                observer: Any = InotifyObserver(generate_full_events=True)
                for root in self.config.paths:
                    observer.schedule(_Handler(self), str(root), recursive=True)
                observer.start()
                return observer
            except OSError as exc:
                self.emit(
                    _event(
                        "notice",
                        message=f"inotify unavailable ({exc.strerror or exc}): polling instead; "
                        "events may take a few seconds",
                    )
                )
        observer = PollingObserver(timeout=1)
        for root in self.config.paths:
            observer.schedule(_Handler(self), str(root), recursive=True)
        observer.start()
        return observer

    def _pool(self) -> WorkerPool | None:
        """One pool for the whole watch: batches do not pay for loading the models again."""
        if self.config.workers <= 0:
            return None
        config = self.config
        detectors = config.detectors or default_detectors()
        self.config = config = replace(config, detectors=detectors)
        setup = WorkerSetup(config.detectors, config.detection, config.limits)
        return WorkerPool(setup, config.workers).__enter__()

    def _initial(self) -> None:
        """Scan what the state does not know yet; announce only what the last recorded scan
        of the same targets did not have (a restart re-announces nothing)."""
        key = targets_key(
            [str(t) for t in self.config.paths] + [display(u) for u in self.config.uris]
        )
        policy = self.judgement.policy.name if self.judgement is not None else ""
        # without a state (--no-state) nothing is known: everything found is announced
        known = self.state.last_fingerprints(key, policy) if self.state is not None else None
        already = known or set()
        result = run_scan(
            self.config, state=self.state, shared_pool=self.pool, judgement=self.judgement
        )
        self.scans += 1
        self.known = marks(result)
        for by in self.known.values():
            for m in by.values():
                if m.fingerprint not in already:
                    self._found(m)
        self.emit(
            _event(
                "ready",
                items=len(result.items),
                marks=sum(len(v) for v in self.known.values()),
                reused=result.stats.reused,
                incomplete=result.incomplete,
            )
        )

    def _flush(self) -> None:
        """Examines the paths that have been quiet for debounce_s: the most recent first, a
        batch at a time, so a file closed during a long burst is reported within a batch's
        time while the backlog is worked through behind it."""
        with self._lock:
            now = time.monotonic()
            gone, self._gone = self._gone, set()
            ready = [
                (t, path, tree)
                for table, tree in ((self._pending, False), (self._trees, True))
                for path, t in table.items()
                if now - t >= self.debounce_s
            ]
            ready.sort(reverse=True)
            batch = ready[: self.batch]
            for _, path, tree in batch:
                (self._trees if tree else self._pending).pop(path)
            self._busy = bool(gone or batch)
        try:
            for path in sorted(gone):
                self._resolve(path)
            targets = [Path(p) for _, p, _ in batch if os.path.lexists(p)]
            if targets:
                self._scan(sorted(targets), full=False)
        finally:
            self._busy = False

    def _resolve(self, path: str) -> None:
        keys = [k for k in self.known if k == path or (path.endswith("/") and k.startswith(path))]
        for key in keys:
            for m in self.known.pop(key).values():
                self.emit(_event("resolved", reason="moved away or deleted", **m.payload))
        if self.state is not None:
            self.state.forget_prefix(path)

    def _scan(self, targets: Iterable[Path], full: bool) -> None:
        targets = tuple(targets)
        result = run_scan(
            replace(self.config, targets=targets),
            state=self.state,
            record_history=full,
            shared_pool=self.pool,
            judgement=self.judgement,
        )
        self.scans += 1
        current = marks(result)
        scanned = {str(t) for t in targets}

        def covered(key: str) -> bool:
            return full or key in scanned or any(key.startswith(t + "/") for t in scanned)

        for key in [k for k in self.known if covered(k) and k not in current]:
            for m in self.known.pop(key).values():
                self.emit(_event("resolved", reason="no longer found", **m.payload))
        for key, by in current.items():
            old = self.known.get(key, {})
            for fp, m in by.items():
                if fp not in old:
                    self._found(m)
            for fp, m in old.items():
                if fp not in by:
                    self.emit(_event("resolved", reason="no longer found", **m.payload))
            self.known[key] = by
        for p in result.problems:
            if p.incomplete:
                self.emit(
                    _event(
                        "notice",
                        location=_text(p.location.display),
                        reason=p.reason.value,
                        message=p.detail,
                    )
                )

    def _found(self, m: Mark) -> None:
        self.emit(_event("finding", **m.payload))
        if self.exec_argv:
            run_exec(self.exec_argv, m.payload, self.emit)


def run_exec(argv: list[str], payload: dict[str, Any], emit: Emit) -> None:
    """The user's command for a new finding: arguments substituted one by one (never a shell);
    the finding as JSON on stdin."""
    import json

    fields = {k: str(v) for k, v in payload.items() if v is not None}
    args = [a.format_map(_Missing(fields)) for a in argv]
    try:
        proc = subprocess.run(  # noqa: S603 (argv list, no shell: the user's own command)
            args,
            input=json.dumps(payload).encode(),
            capture_output=True,
            timeout=EXEC_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        emit(_event("notice", message=f"--exec {args[0]!r} failed: {exc}"))
        return
    if proc.returncode != 0:
        emit(_event("notice", message=f"--exec {args[0]!r} exited {proc.returncode}"))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _event(name: str, /, **fields: Any) -> dict[str, Any]:
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return {"event": name, "time": now, **fields}
