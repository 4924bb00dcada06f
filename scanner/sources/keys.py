"""Whose face data a column holds: the keys (a customer id, an employee number) of the rows
where the column has a value, for a store the policy keys by a column (`subject.column`).

Read the way the columns themselves are read, because the database is the same untrusted
data: a SQLite file in a worker, through the same safe opening (scanner.sources.sqlite_open);
PostgreSQL through the source's read-only session, from stored relations only, by COPY when
planning a read could run user code, and compared on the client (no `DISTINCT`: the key's
type could bring its own equality operator). Keys stay in memory: they are never reported
or recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from scanner.errors import FaceauditError
from scanner.sources import sqlite_open
from scanner.sources.sqlite_open import q

MAX_KEYS = 1_000_000  # rows read per column; more: the keys are incomplete (reported)


@dataclass(frozen=True)
class KeyRead:
    """A request for the keys of one column (the URI holds credentials: never reported)."""

    database: str  # sqlite:///path or postgresql://…
    table: str  # as the source names it (schema-qualified for PostgreSQL)
    column: str  # the column that holds the face data
    key_column: str  # the column that names the data subject
    timeout_s: float = 30.0

    @property
    def is_sqlite(self) -> bool:
        return self.database.split("://", 1)[0].lower() == "sqlite"


class KeysUnreadable(FaceauditError):
    """The keys could not be read (the message never holds credentials or values)."""


def read_sqlite(read: KeyRead, private_dir: str, max_copy_bytes: int) -> tuple[str, ...]:
    """Distinct keys from a SQLite file (in a worker: the file is untrusted)."""
    path = sqlite_open.path_from_uri(read.database)
    try:
        opened = sqlite_open.open_path(path, private_dir, max_copy_bytes)
    except (OSError, sqlite_open.NotSqlite, sqlite_open.CopyRefused) as exc:
        raise KeysUnreadable(f"cannot open the database: {exc}") from None
    deadline = time.monotonic() + read.timeout_s
    try:
        conn = opened.conn
        sqlite_open.configure(conn, 1 << 26, lambda: int(time.monotonic() > deadline))
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (read.table,))
        if [r[0] for r in kind.fetchall()] != ["table"]:
            raise KeysUnreadable(f"{read.table} is not a table")
        statement = (
            f"SELECT {q(read.key_column)} FROM {q(read.table)} "  # noqa: S608 - quoted names
            f"WHERE {q(read.column)} IS NOT NULL LIMIT {MAX_KEYS}"
        )
        return distinct(row[0] for row in conn.execute(statement))
    except KeysUnreadable:
        raise
    except Exception as exc:  # a driver error, a deadline: this column's keys are unknown
        raise KeysUnreadable(f"{type(exc).__name__}: {exc}") from None
    finally:
        sqlite_open.close(opened)


def distinct(values: Iterable[object]) -> tuple[str, ...]:
    """The distinct non-null keys as text, compared here (never by the database)."""
    return tuple(sorted({str(v) for v in values if v is not None}))
