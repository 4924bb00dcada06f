"""The state database: per-file identities and results, database-column watermarks, and the
history of scans. SQLite through sqlite-utils, WAL journal.

- **Runs side by side.** Any number of runs use one state database at once; only creating,
  upgrading or repairing it needs it alone, and a run that must wait for that says so
  (`on_wait`) and waits up to `wait_s` (scanner.state.access). Two runs over the same files
  both write the same entries (each one complete; the last one stays); a scan is compared
  with the previous recorded scan of its targets inside the transaction that records it,
  so runs of the same targets form one chain.
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

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scanner.errors import FaceauditError
from scanner.state import access, codec, schema
from scanner.state.access import DEFAULT_WAIT_S, StateLocked

__all__ = ["DEFAULT_WAIT_S", "FileEntry", "FileIdentity", "StateDB", "StateLocked"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _int64(n: int) -> int:
    """SQLite integers are 64-bit; a file dated after 2262 (an mtime in ns past 2**63, which
    anyone can set) or a 64-bit inode number is clamped: the stored identity then never
    matches the file again, so it is looked at every time, never wrongly reused."""
    return max(-(2**63), min(n, 2**63 - 1))


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
    embeddings: int  # items holding stored templates (template stores)
    findings_open: int
    new_findings: int
    resolved_findings: int
    by_kind: dict[str, int]
    by_severity: dict[str, int]
    by_store: dict[str, int]
    roots: tuple[str, ...] | None = None  # absolute targets; None: recorded before version 3
    templates: int | None = None  # stored templates (vectors); None: recorded before version 3
    templates_estimated: bool = False  # some counts are estimates (sampled database columns)


@dataclass(frozen=True)
class RecordedFinding:
    """A finding as the history keeps it (with no policy: an item with face data, its kind as
    the rule id)."""

    fingerprint: str
    rule_id: str
    severity: str
    location: str
    store: str


class StateDB:
    def __init__(
        self,
        path: Path,
        wait_s: float = DEFAULT_WAIT_S,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        """Open the state database at `path` for this run, creating, upgrading or repairing
        it first where that is due. Waits up to `wait_s` seconds only where it must (see
        scanner.state.access), telling `on_wait` once why; StateLocked when the wait runs
        out."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        opened = access.open_shared(self.path, wait_s, on_wait)
        self._lock_fd: int | None = opened.lock_fd
        self.db = opened.db
        self.notes = opened.notes

    def close(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.conn.close()
            self.db = None  # type: ignore[assignment]
        if self._lock_fd is not None:
            access.release(self._lock_fd)
            self._lock_fd = None

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
        with schema.transaction(self.db.conn):
            self._save_files(entries)

    def _save_files(self, entries: Iterable[tuple[str, FileEntry]]) -> None:
        now = _now()
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

    # -- listing checkpoints -----------------------------------------------------------------

    def listing(self, listing: str) -> tuple[str | None, str | None, str, list[tuple[str, str]]]:
        """An interrupted listing's mark, token, when it was saved, and what it had looked at
        (key, encoded problem or ""); KeyError when there is none."""
        row = self.db.execute(
            "SELECT mark, token, saved_at FROM listings WHERE id = ?", (listing,)
        ).fetchone()
        if row is None:
            raise KeyError(listing)
        listed = [
            (r[0], r[1] or "")
            for r in self.db.execute(
                "SELECT key, problem FROM listed WHERE listing = ? ORDER BY rowid", (listing,)
            )
        ]
        return row[0], row[1], row[2], listed

    def checkpoint_listing(
        self,
        listing: str,
        mark: str | None,
        token: str | None,
        listed: Iterable[tuple[str, str | None]],
        entries: Iterable[tuple[str, FileEntry]],
    ) -> None:
        """The entries of what a listing's pages held, and its new mark, in one transaction
        (a scan killed at any moment leaves the mark of pages whose items are all saved)."""
        with schema.transaction(self.db.conn):
            self._save_files(entries)
            self.db.conn.execute(
                "INSERT OR REPLACE INTO listings VALUES (?,?,?,?)",
                (listing, mark, token, _now()),
            )
            self.db.conn.executemany(
                "INSERT INTO listed VALUES (?,?,?)", [(listing, k, p) for k, p in listed]
            )

    def end_listing(self, listing: str, entries: Iterable[tuple[str, FileEntry]] = ()) -> None:
        """A listing completed: its checkpoint is gone (the next scan lists from the start)."""
        with schema.transaction(self.db.conn):
            self._save_files(entries)
            self.db.conn.execute("DELETE FROM listings WHERE id = ?", (listing,))
            self.db.conn.execute("DELETE FROM listed WHERE listing = ?", (listing,))

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
        return None if row is None else self._fingerprints(row[0])

    def _fingerprints(self, scan_id: int) -> set[str]:
        sql = "SELECT fingerprint FROM scan_findings WHERE scan_id = ?"
        return {r[0] for r in self.db.execute(sql, (scan_id,))}

    def record_scan(self, record: dict[str, Any], findings: Sequence[tuple[str, ...]]) -> int:
        """The scan and its findings (fingerprint, rule id, severity, location, store), in one
        transaction that also compares them with the previous recorded scan of the same
        targets under the same policy (new and resolved findings are counted here, whatever
        `record` says): runs recording side by side form one chain."""
        with schema.transaction(self.db.conn):
            previous = self.last_fingerprints(record["targets"], record["policy"])
            current = {f[0] for f in findings}
            new = len(current - previous) if previous is not None else len(current)
            resolved = len(previous - current) if previous is not None else 0
            roots = record.get("roots")
            cur = self.db.conn.execute(
                "INSERT INTO scans (started_at, finished_at, targets, policy, exit_code, "
                "incomplete, items_with_evidence, faces, embeddings, findings_open, "
                "new_findings, resolved_findings, by_kind, by_severity, by_store, roots, "
                "templates, templates_estimated) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    len(current),
                    new,
                    resolved,
                    json.dumps(record["by_kind"]),
                    json.dumps(record["by_severity"]),
                    json.dumps(record["by_store"]),
                    json.dumps(list(roots)) if roots is not None else None,
                    record.get("templates"),
                    int(bool(record.get("templates_estimated"))),
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

    def history(self, limit: int = 50, under: Sequence[str] = ()) -> list[ScanRecord]:
        """The last `limit` scans, oldest first; with `under`, only those that scanned one of
        these places or a place inside one of them (a folder, a file, a database URI as
        reports show it). A scan is matched by its absolute targets; one recorded before
        they were kept (schema version 3), by its targets as they were typed."""
        if not under:
            return self._scans(limit)
        places = [p.rstrip("/") or "/" for p in under]
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM scans WHERE EXISTS (SELECT 1 FROM "  # noqa: S608 - a constant
            "json_each(coalesce(roots, targets)) AS t, json_each(:places) AS p "
            "WHERE t.value = p.value OR substr(t.value, 1, length(p.value) + 1) = "
            "(CASE WHEN p.value = '/' THEN '/' ELSE p.value || '/' END)) "
            "ORDER BY id DESC LIMIT :limit",
            {"places": json.dumps(places), "limit": limit},
        ).fetchall()
        return [_record(r) for r in reversed(rows)]

    def scan(self, scan_id: int) -> ScanRecord | None:
        sql = f"SELECT {_COLUMNS} FROM scans WHERE id = ?"  # noqa: S608 - a constant
        row = self.db.execute(sql, (scan_id,)).fetchone()
        return _record(row) if row is not None else None

    def previous(self, record: ScanRecord) -> int | None:
        """The scan `record` was compared with: the last one before it of the same targets
        under the same policy."""
        row = self.db.execute(
            "SELECT max(id) FROM scans WHERE targets = ? AND policy = ? AND id < ?",
            (record.targets, record.policy, record.id),
        ).fetchone()
        return row[0] if row is not None else None

    def findings(self, scan_id: int) -> list[RecordedFinding]:
        """The open findings a scan recorded, by severity (highest first) and location."""
        rows = self.db.execute(
            "SELECT fingerprint, rule_id, severity, location, store FROM scan_findings "
            "WHERE scan_id = ? ORDER BY location, rule_id, fingerprint",
            (scan_id,),
        )
        return [RecordedFinding(*r) for r in rows]

    def changes(
        self, record: ScanRecord
    ) -> tuple[int | None, list[RecordedFinding], list[RecordedFinding]]:
        """What `record` counted as new and as resolved (gone), and the scan it compared
        with (None: the first of its targets and policy, every finding new)."""
        before = self.previous(record)
        now = self.findings(record.id)
        if before is None:
            return None, now, []
        then = self.findings(before)
        seen = {f.fingerprint for f in then}
        kept = {f.fingerprint for f in now}
        new = [f for f in now if f.fingerprint not in seen]
        gone = [f for f in then if f.fingerprint not in kept]
        return before, new, gone

    def _scans(
        self, limit: int, targets: str | None = None, policy: str | None = None
    ) -> list[ScanRecord]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM scans "  # noqa: S608 - a constant
            "WHERE (:targets IS NULL OR targets = :targets) "
            "AND (:policy IS NULL OR policy = :policy) ORDER BY id DESC LIMIT :limit",
            {"targets": targets, "policy": policy, "limit": limit},
        ).fetchall()
        return [_record(r) for r in reversed(rows)]


_COLUMNS = (
    "id, started_at, finished_at, targets, policy, exit_code, incomplete, "
    "items_with_evidence, faces, embeddings, findings_open, new_findings, "
    "resolved_findings, by_kind, by_severity, by_store, roots, templates, templates_estimated"
)


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
        roots=tuple(json.loads(r[16])) if r[16] is not None else None,
        templates=r[17],
        templates_estimated=bool(r[18]),
    )


def decode_entry(entry: FileEntry) -> tuple[list[Any], list[Any]]:
    return codec.loads(entry.results), codec.loads(entry.problems)
