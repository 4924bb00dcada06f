"""Whose face data a column holds: the keys (a customer id, an employee number) of the rows
where the column has a value, for a store the policy keys by a column (`subject.column`).

Read the way the columns themselves are read, because the database is the same untrusted
data: a SQLite file in a worker, through the same safe opening (scanner.sources.sqlite_open);
PostgreSQL through the source's read-only session, from stored relations only, by COPY when
planning a read could run user code, and compared on the client (no `DISTINCT`: the key's
type could bring its own equality operator).

Each row comes with its own key — the table's primary key, else SQLite's rowid, else none —
so that a finding can name the rows it is about (`SubjectRow`, then scanner.model.RowFinding
in the finding's bounded list). Nothing else of the row is read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scanner.errors import FaceauditError
from scanner.model import RowKey
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


@dataclass(frozen=True)
class SubjectRow:
    """A row where the column holds a value: the row's key and the subject it names."""

    key: RowKey
    subject: str


class KeysUnreadable(FaceauditError):
    """The keys could not be read (the message never holds credentials or values)."""


def read_sqlite(read: KeyRead, private_dir: str, max_copy_bytes: int) -> tuple[SubjectRow, ...]:
    """The rows' keys and subjects from a SQLite file (in a worker: the file is untrusted)."""
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
        info = conn.execute("SELECT name, pk FROM pragma_table_info(?)", (read.table,))
        primary = [str(name) for name, pk in sorted(info.fetchall(), key=lambda r: r[1]) if pk]
        key_names = primary or ["rowid"]
        what = ", ".join(q(k) for k in key_names)
        statement = (
            f"SELECT {q(read.key_column)}, {what} FROM {q(read.table)} "  # noqa: S608 - quoted
            f"WHERE {q(read.column)} IS NOT NULL LIMIT {MAX_KEYS}"
        )
        return subject_rows(key_names, conn.execute(statement))
    except KeysUnreadable:
        raise
    except Exception as exc:  # a driver error, a deadline: this column's keys are unknown
        raise KeysUnreadable(f"{type(exc).__name__}: {exc}") from None
    finally:
        sqlite_open.close(opened)


def subject_rows(
    key_names: Sequence[str], rows: Iterable[Sequence[object]]
) -> tuple[SubjectRow, ...]:
    """(subject, *key values) rows as SubjectRows, compared and sorted here (never by the
    database); rows without a subject are left out."""
    found: set[SubjectRow] = set()
    for row in rows:
        subject, values = row[0], row[1:]
        if subject is None:
            continue
        parts = tuple((n, _text(v)) for n, v in zip(key_names, values, strict=True))
        found.add(SubjectRow(RowKey(parts), _text(subject)))
    return tuple(sorted(found, key=lambda r: (r.subject, r.key.parts)))


def subjects_of(rows: Iterable[SubjectRow]) -> tuple[str, ...]:
    """The distinct subjects of the rows."""
    return tuple(sorted({r.subject for r in rows}))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
