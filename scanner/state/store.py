"""The state database: per-file identities and results, database-column watermarks, and the
history of scans. SQLite through sqlite-utils, WAL journal, one writer at a time.

- **Locking.** An exclusive `flock` on `STATE.lock` for the whole run: a second run waits up
  to `wait_s` and then raises StateLocked (the CLI exits 3 with the holder's pid). The lock
  dies with its process, so a killed scan never leaves a stale lock.
- **Crashes.** Every write is one transaction; SQLite's journal makes a kill at any moment
  leave the previous or the next consistent state. On open, `PRAGMA quick_check` runs; a
  damaged file is moved aside (`STATE.corrupt-<time>`) and a fresh one started, with a note.
- **Versions.** The schema version is read before anything is written: an older database is
  upgraded in place (its history kept), a newer one refused and left as it is
  (scanner.state.schema).
- **Invalidation.** Each entry records the configuration key it was computed under (tool,
  detector and model versions, detection settings, limits): a different key is a miss.
- **Content.** Counts, relative boxes, digests, locations — what reports hold. Never vectors,
  crops, names or probe data.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from scanner.errors import FaceauditError
from scanner.state import codec, schema


def _int64(n: int) -> int:
    """SQLite integers are 64-bit; a file dated after 2262 (an mtime in ns past 2**63, which
    anyone can set) or a 64-bit inode number is clamped: the stored identity then never
    matches the file again, so it is looked at every time, never wrongly reused."""
    return max(-(2**63), min(n, 2**63 - 1))


class StateLocked(FaceauditError):
    pass


class StateError(FaceauditError):
    pass


@dataclass(frozen=True)
class FileIdentity:
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


@dataclass(frozen=True)
class FileEntry:
    identity: FileIdentity
    config: str
    racy: bool  # modified within the timestamp granularity of its scan: never trusted
    content_type: str  # JSON {content type: count} of the file and its members
    results: str  # JSON list of encoded ItemResults (members, columns included)
    problems: str  # JSON list of encoded Problems raised while walking it (archives)
    members: int


@dataclass(frozen=True)
class ScanRecord:
    id: int
    started_at: str
    finished_at: str
    targets: str
    policy: str
    exit_code: int
    incomplete: bool
    items_with_evidence: int
    faces: int
    embeddings: int
    findings_open: int
    new_findings: int
    resolved_findings: int
    by_kind: dict[str, int]
    by_severity: dict[str, int]
    by_store: dict[str, int]


class StateDB:
    def __init__(self, path: Path, wait_s: float = 0.0) -> None:
        self.path = Path(path)
        self.notes: list[str] = []
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = self._acquire(wait_s)
        try:
            self.db = self._open()
        except BaseException:
            self.close()
            raise

    # -- lock and open ------------------------------------------------------------------

    def _acquire(self, wait_s: float) -> int:
        lock = str(self.path) + ".lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + max(wait_s, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode("ascii", "replace").strip()
                    os.close(fd)
                    raise StateLocked(
                        f"another faceaudit run holds the state lock {lock} ({holder or 'pid ?'}); "
                        "not scanning (use --wait-lock SECONDS to wait for it)"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.pwrite(fd, f"pid {os.getpid()} since {stamp}".encode(), 0)
        return fd

    def _open(self) -> sqlite_utils.Database:
        if self.path.exists() and not self._healthy():
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(str(self.path) + suffix)
            self.notes.append(f"the state database was damaged; moved to {aside}, starting afresh")
        # one user at a time (a watch thread, or the caller), never concurrently
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            version = schema.stored_version(conn)
            schema.check(version)  # before anything is written to it
            os.chmod(self.path, 0o600)
            db = sqlite_utils.Database(conn)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self.notes.extend(schema.prepare(conn, version))
        except BaseException:
            conn.close()
            raise
        return db

    def _healthy(self) -> bool:
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                row = conn.execute("PRAGMA quick_check").fetchone()
                return bool(row and row[0] == "ok")
            finally:
                conn.close()
        except sqlite3.Error:
            return False

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.conn.close()
            self.db = None  # type: ignore[assignment]
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
            self._lock_fd = None  # type: ignore[assignment]

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- files -------------------------------------------------------------------------------

    def load_files(self) -> dict[str, FileEntry]:
        out = {}
        for row in self.db.execute(
            "SELECT key, dev, ino, size, mtime_ns, ctime_ns, config, racy, content_type, "
            "results, problems, members FROM files"
        ):
            ident = FileIdentity(row[1], row[2], row[3], row[4], row[5])
            out[row[0]] = FileEntry(ident, row[6], bool(row[7]), row[8], row[9], row[10], row[11])
        return out

    def save_files(self, entries: Iterable[tuple[str, FileEntry]]) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = [
            (
                key,
                _int64(e.identity.dev),
                _int64(e.identity.ino),
                _int64(e.identity.size),
                _int64(e.identity.mtime_ns),
                _int64(e.identity.ctime_ns),
                e.config,
                int(e.racy),
                e.content_type,
                e.results,
                e.problems,
                e.members,
                now,
            )
            for key, e in entries
        ]
        with schema.transaction(self.db.conn):
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
            )

    def forget_files(self, keys: Iterable[str]) -> None:
        with schema.transaction(self.db.conn):
            self.db.conn.executemany("DELETE FROM files WHERE key = ?", [(k,) for k in keys])

    def forget_prefix(self, path: str) -> None:
        """A file (or, ending in `/`, a folder) moved away or deleted."""
        with schema.transaction(self.db.conn):
            if path.endswith("/"):
                self.db.conn.execute(
                    "DELETE FROM files WHERE substr(key, 1, ?) = ?", (len(path), path)
                )
            else:
                self.db.conn.execute("DELETE FROM files WHERE key = ?", (path,))

    # -- database columns ------------------------------------------------------------------

    def load_columns(self) -> dict[str, tuple[str, str, str]]:
        return {
            r[0]: (r[1], r[2], r[3])
            for r in self.db.execute("SELECT key, watermark, config, result FROM columns")
        }

    def save_columns(self, entries: Iterable[tuple[str, str, str, str]]) -> None:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with schema.transaction(self.db.conn):
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO columns VALUES (?,?,?,?,?)",
                [(*e, now) for e in entries],
            )

    # -- history -------------------------------------------------------------------------

    def last_fingerprints(self, targets: str, policy: str) -> set[str] | None:
        row = self.db.execute(
            "SELECT id FROM scans WHERE targets = ? AND policy = ? ORDER BY id DESC LIMIT 1",
            (targets, policy),
        ).fetchone()
        if row is None:
            return None
        return {
            r[0]
            for r in self.db.execute(
                "SELECT fingerprint FROM scan_findings WHERE scan_id = ?", (row[0],)
            )
        }

    def record_scan(self, record: dict[str, Any], findings: Sequence[tuple[str, ...]]) -> int:
        with schema.transaction(self.db.conn):
            cur = self.db.conn.execute(
                "INSERT INTO scans (started_at, finished_at, targets, policy, exit_code, "
                "incomplete, items_with_evidence, faces, embeddings, findings_open, "
                "new_findings, resolved_findings, by_kind, by_severity, by_store) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record["started_at"],
                    record["finished_at"],
                    record["targets"],
                    record["policy"],
                    record["exit_code"],
                    int(record["incomplete"]),
                    record["items_with_evidence"],
                    record["faces"],
                    record["embeddings"],
                    record["findings_open"],
                    record["new_findings"],
                    record["resolved_findings"],
                    json.dumps(record["by_kind"]),
                    json.dumps(record["by_severity"]),
                    json.dumps(record["by_store"]),
                ),
            )
            scan_id = int(cur.lastrowid or 0)
            self.db.conn.executemany(
                "INSERT INTO scan_findings VALUES (?,?,?,?,?,?)",
                [(scan_id, *f) for f in findings],
            )
        return scan_id

    def trend(self, targets: str, policy: str, limit: int = 30) -> list[ScanRecord]:
        """The last `limit` scans of these targets under this policy, oldest first."""
        return self._scans(limit, targets, policy)

    def history(self, limit: int = 50) -> list[ScanRecord]:
        return self._scans(limit)

    def _scans(
        self, limit: int, targets: str | None = None, policy: str | None = None
    ) -> list[ScanRecord]:
        rows = self.db.execute(
            "SELECT id, started_at, finished_at, targets, policy, exit_code, incomplete, "
            "items_with_evidence, faces, embeddings, findings_open, new_findings, "
            "resolved_findings, by_kind, by_severity, by_store FROM scans "
            "WHERE (:targets IS NULL OR targets = :targets) "
            "AND (:policy IS NULL OR policy = :policy) ORDER BY id DESC LIMIT :limit",
            {"targets": targets, "policy": policy, "limit": limit},
        ).fetchall()
        return [_record(r) for r in reversed(rows)]


def _record(r: Sequence[Any]) -> ScanRecord:
    return ScanRecord(
        id=r[0],
        started_at=r[1],
        finished_at=r[2],
        targets=r[3],
        policy=r[4],
        exit_code=r[5],
        incomplete=bool(r[6]),
        items_with_evidence=r[7],
        faces=r[8],
        embeddings=r[9],
        findings_open=r[10],
        new_findings=r[11],
        resolved_findings=r[12],
        by_kind=json.loads(r[13]),
        by_severity=json.loads(r[14]),
        by_store=json.loads(r[15]),
    )


def decode_entry(entry: FileEntry) -> tuple[list[Any], list[Any]]:
    return codec.loads(entry.results), codec.loads(entry.problems)
