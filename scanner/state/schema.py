"""The state database's schema: its tables, its version, and the steps from older versions.

The version is the row `('schema', N)` of the `meta` table. StateDB reads it
(`stored_version`) and `check`s it before anything is written, then `prepare`s the database:

- no version: a new database; the tables are created at SCHEMA_VERSION;
- SCHEMA_VERSION: used as it is;
- older: upgraded in place, `STEPS[n]` taking version n to n + 1, every step and the new
  version in one transaction (an interrupted upgrade leaves the database as it was);
- newer, older without the steps to upgrade it, or not a number: refused with
  StateVersionError, and the file is not written to.

A step keeps the history of scans (`scans`, `scan_findings`). The cache of per-file and
per-column results (`files`, `columns`) may be emptied with `forget_cache` when a step cannot
carry it: the next scan looks at everything again and fills it.

Versions: 1, the first; 2, results store typed locations (kind and fields, never a string
parsed back): the cache of version 1 cannot be read as such and is emptied; 3, a scan keeps
its absolute targets (`roots`: `history --target` finds it however it was typed) and its
count of stored templates (`templates`, `templates_estimated`); scans recorded before have
none (NULL), and the cache is carried; 4, checkpoints of interrupted object-store listings
(`listings`: a listing's low-water mark; `listed`: what it had looked at up to the mark),
new empty tables. Changing the
tables or what they hold: raise SCHEMA_VERSION, change `create_tables`, and add the step from
the previous version to STEPS.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

from scanner.errors import FaceauditError

SCHEMA_VERSION = 4


class StateVersionError(FaceauditError):
    """A state database of a version this faceaudit cannot use; it was left untouched."""


# A step from version n to n + 1, on a connection inside the upgrade's transaction: it may
# return a note for the user (e.g. that the cache had to be emptied).
Step = Callable[[sqlite3.Connection], str | None]


def _typed_locations(conn: sqlite3.Connection) -> str | None:
    """1 -> 2: cached results held locations as (path, members) strings."""
    return forget_cache(conn)


def _scan_roots_and_templates(conn: sqlite3.Connection) -> str | None:
    """2 -> 3: scans gain their absolute targets and their count of stored templates."""
    for column, kind in _SCAN_COLUMNS_3:
        conn.execute(f"ALTER TABLE scans ADD COLUMN {column} {kind}")
    return None


_SCAN_COLUMNS_3 = (("roots", "TEXT"), ("templates", "INTEGER"), ("templates_estimated", "INTEGER"))


def _listing_checkpoints(conn: sqlite3.Connection) -> str | None:
    """3 to 4: the checkpoint tables are new (create_tables makes them)."""
    return None


STEPS: Mapping[int, Step] = MappingProxyType(
    {1: _typed_locations, 2: _scan_roots_and_templates, 3: _listing_checkpoints}
)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One transaction, committed at the end or rolled back on any error. (The connection is
    in autocommit mode, where `with conn:` would commit each statement on its own.)"""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the error that got here matters more
                conn.execute("ROLLBACK")
        raise


def stored_version(conn: sqlite3.Connection) -> int | None:
    """The schema version the database records, or None for a new one. Reads only."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None:
        return None
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StateVersionError(
            f"its schema version {row[0]!r} is not a number: not a faceaudit state database?"
        ) from None


def check(version: int | None) -> None:
    """Refuse a version this faceaudit cannot use: newer than its own, or older without the
    steps to upgrade it. Called before anything is written to the database."""
    if version is not None and version > SCHEMA_VERSION:
        raise StateVersionError(
            f"it is of schema version {version}, newer than this faceaudit uses "
            f"({SCHEMA_VERSION}): use a newer faceaudit, another --state file, or --no-state"
        )
    if version is not None and any(v not in STEPS for v in range(version, SCHEMA_VERSION)):
        raise StateVersionError(
            f"it is of schema version {version}, which this faceaudit cannot upgrade "
            f"(to {SCHEMA_VERSION}): use another --state file, or --no-state"
        )


def prepare(conn: sqlite3.Connection, version: int | None) -> list[str]:
    """Bring a database at `version` (as `stored_version` read it) to SCHEMA_VERSION, creating
    what is missing; the notes say what was done."""
    check(version)
    notes: list[str] = []
    if version is None:
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        # written only when it changes: a database on a full disk still opens, and the scan's
        # own writes say what could not be saved
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    elif version < SCHEMA_VERSION:
        with transaction(conn):
            for v in range(version, SCHEMA_VERSION):
                note = STEPS[v](conn)
                if note:
                    notes.append(note)
            create_tables(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        done = f"state database upgraded from schema version {version} to {SCHEMA_VERSION}"
        notes.insert(0, done)
    create_tables(conn)
    return notes


def create_tables(conn: sqlite3.Connection) -> None:
    """The tables of SCHEMA_VERSION, where they do not exist yet."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, dev INTEGER, "
        "ino INTEGER, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, config TEXT, "
        "racy INTEGER, content_type TEXT, results TEXT, problems TEXT, "
        "members INTEGER, scanned_at TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS columns (key TEXT PRIMARY KEY, watermark TEXT, "
        "config TEXT, result TEXT, scanned_at TEXT)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS scans (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "started_at TEXT, finished_at TEXT, targets TEXT, policy TEXT, "
        "exit_code INTEGER, incomplete INTEGER, items_with_evidence INTEGER, "
        "faces INTEGER, embeddings INTEGER, findings_open INTEGER, "
        "new_findings INTEGER, resolved_findings INTEGER, by_kind TEXT, "
        "by_severity TEXT, by_store TEXT, roots TEXT, templates INTEGER, "
        "templates_estimated INTEGER)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS scan_findings (scan_id INTEGER, fingerprint TEXT, "
        "rule_id TEXT, severity TEXT, location TEXT, store TEXT)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS scan_findings_scan ON scan_findings (scan_id)")
    # an interrupted listing (scanner.state.incremental): its mark, and what it looked at up to
    # the mark, each an item's key in `files` or a problem the listing reported (no payload)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS listings (id TEXT PRIMARY KEY, mark TEXT, token TEXT, "
        "saved_at TEXT)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS listed (listing TEXT, key TEXT, problem TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS listed_listing ON listed (listing)")


def forget_cache(conn: sqlite3.Connection) -> str:
    """For a step that cannot carry the cache: drop it (the history of scans stays); the
    tables are created again, empty, in the new version's shape."""
    conn.execute("DROP TABLE IF EXISTS files")
    conn.execute("DROP TABLE IF EXISTS columns")
    return "the cache of earlier results was emptied: the next scan looks at every file again"
