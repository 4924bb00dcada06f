"""How runs share one state database: a lock file beside it, and the open.

Any number of runs use the database at once (parallel CI jobs, an ad-hoc scan during the
nightly one, a watch). Each holds a shared `flock` on `STATE.lock` while it uses the file;
SQLite's WAL journal lets readers go on while one writer writes, and a write waits for
another run's (the busy timeout: the wait, at least BUSY_FLOOR_S). What needs the database
alone — creating it, upgrading its schema, moving a damaged file aside — takes an exclusive
`flock`, only when it is due and once the other runs have finished; runs that start
meanwhile wait for it. A run that must wait says so once (`on_wait`: the library never
prints) and waits up to `wait_s`, then StateLocked names the reason. The locks die with
their process: a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scanner.errors import FaceauditError
from scanner.state import DEFAULT_WAIT_S, schema

__all__ = ["DEFAULT_WAIT_S", "Opened", "StateLocked", "open_shared", "release"]

BUSY_FLOOR_S = 5.0  # a write waits this long for another's even when told not to wait
NOTICE_AFTER_S = 0.5  # a shorter wait (another run's open or upgrade) passes unannounced
POLL_S = 0.1

# Why a run needs the database alone, as the lock file and the messages say it.
CREATE, UPGRADE, REPAIR = "created", "upgraded", "repaired"


class StateLocked(FaceauditError):
    """The wait for the state database ran out (another run had it alone, or it had to be
    upgraded or repaired while other runs used it)."""


@dataclass(frozen=True)
class Database:
    """The connection the state is read and written through: plain sqlite3 (every statement
    is written out in scanner.state; importing a wrapper library would cost each run start-up
    time for nothing)."""

    conn: sqlite3.Connection

    def execute(
        self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> sqlite3.Cursor:
        return self.conn.execute(sql) if parameters is None else self.conn.execute(sql, parameters)


@dataclass
class Opened:
    lock_fd: int  # holding a shared flock
    db: Database
    notes: list[str] = field(default_factory=list)


def open_shared(path: Path, wait_s: float, on_wait: Callable[[str], None] | None) -> Opened:
    """The database at `path`, created, upgraded or repaired first if that is due, with a
    shared lock held for as long as the caller uses it (`release`)."""
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        return _acquire(fd, path, max(wait_s, 0.0), on_wait)
    except BaseException:
        release(fd)
        raise


def release(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


def _acquire(fd: int, path: Path, wait_s: float, on_wait: Callable[[str], None] | None) -> Opened:
    start = time.monotonic()
    told = False
    while True:
        if _try_lock(fd, fcntl.LOCK_SH):
            due = _due(path, wait_s)
            if due is None:
                return Opened(fd, _connect(path, wait_s, None, []))
            fcntl.flock(fd, fcntl.LOCK_UN)  # a shared lock is never made exclusive in place
            if _try_lock(fd, fcntl.LOCK_EX):
                return _maintain(fd, path, wait_s)
            why = (
                f"the state database {path} must be {due} first, which needs it alone: "
                "waiting for the other faceaudit runs using it to finish"
            )
        else:
            holder = os.pread(fd, 200, 0).decode("ascii", "replace").strip() or "pid ?"
            why = f"another faceaudit run ({holder}) has the state database {path} alone"
        waited = time.monotonic() - start
        if waited >= wait_s:
            raise StateLocked(f"{why}; gave up after {wait_s:g} s")
        if not told and on_wait is not None and waited >= min(NOTICE_AFTER_S, wait_s):
            on_wait(f"{why} (waiting up to {wait_s:g} s)")
            told = True
        time.sleep(POLL_S)


def _due(path: Path, wait_s: float) -> str | None:
    """What must be done before runs can share the database: None, CREATE, UPGRADE or
    REPAIR. Reads only; a version this faceaudit cannot use raises StateVersionError."""
    try:
        if path.stat().st_size == 0:
            return CREATE
    except FileNotFoundError:
        return CREATE
    if not _healthy(path, wait_s):
        return REPAIR
    # read-write, though it only reads: the last connection to close tidies the WAL files
    # away, so a database that is refused is left exactly as it was
    conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=busy_s(wait_s))
    try:
        version = schema.stored_version(conn)
        schema.check(version)
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    except sqlite3.DatabaseError:
        return REPAIR
    finally:
        conn.close()
    if version is None:
        return CREATE
    if version < schema.SCHEMA_VERSION or mode != "wal":
        return UPGRADE
    return None


def _maintain(fd: int, path: Path, wait_s: float) -> Opened:
    """With the database alone: do what is due (another run may have done it meanwhile),
    then share it like any run."""
    due = _due(path, wait_s) or "opened"
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} since {stamp}, to be {due}".encode(), 0)
    notes: list[str] = []
    try:
        return Opened(fd, _connect(path, wait_s, due, notes), notes)
    finally:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_SH)


def _connect(path: Path, wait_s: float, due: str | None, notes: list[str]) -> Database:
    if due == REPAIR and path.exists() and not _healthy(path, wait_s):
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        os.replace(path, aside)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(str(path) + suffix)
        notes.append(f"the state database was damaged; moved to {aside}, starting afresh")
    # used by one thread at a time (a watch's, or the caller's), never concurrently
    conn = sqlite3.connect(
        path, timeout=busy_s(wait_s), isolation_level=None, check_same_thread=False
    )
    try:
        version = schema.stored_version(conn)
        schema.check(version)  # before anything is written to it
        os.chmod(path, 0o600)
        db = Database(conn)
        if due is not None:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if due is not None:
            notes.extend(schema.prepare(conn, version))
    except BaseException:
        conn.close()
        raise
    return db


def busy_s(wait_s: float) -> float:
    """How long a write waits for another run's write transaction."""
    return max(wait_s, BUSY_FLOOR_S)


def _healthy(path: Path, wait_s: float) -> bool:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_s(wait_s))
        try:
            row = conn.execute("PRAGMA quick_check").fetchone()
            return bool(row and row[0] == "ok")
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def _try_lock(fd: int, how: int) -> bool:
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
