"""What every database source yields: columns sampled by content, never whole tables.

A source (sqlite, postgres, mysql) walks the schema, recognises the application that owns it
when it can (scanner.analysis.apps), and for each column yields a `ColumnSample`: a bounded,
deterministic sample of non-null values plus what a reviewer needs around them — row counts,
the table's timestamp range (retention needs it), the other column names. Detectors decide
what the values are. Credentials never appear: locations and messages use `redact()`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from scanner.model import Location, Problem, ProblemReason, ScalarValue

# A sampled value as a driver returns it: BLOB/bytea, text/json, number, or a float array.
Value = bytes | str | int | float | list[float] | tuple[float, ...]


@dataclass(frozen=True)
class SampleLimits:
    """How much of a column is read. Deterministic: the same database gives the same sample."""

    rows: int = 200  # sampled non-null values per column
    value_bytes: int = 16 * 1024 * 1024  # larger values are counted, not fetched
    column_bytes: int = 64 * 1024 * 1024  # total fetched per column
    statement_timeout_s: float = 30.0
    lock_timeout_s: float = 2.0
    seed: int = 20261126  # TABLESAMPLE REPEATABLE / rowid choice


@dataclass(frozen=True)
class ColumnSample:
    """A column, sampled. Values stay in the worker that examines them."""

    location: Location  # Location("sqlite:///abs/path.db#table.column"), credentials redacted
    database: str  # the database's redacted URI
    table: str  # schema-qualified where the engine has schemas ("public.face_search")
    column: str
    declared_type: str  # as declared: "BLOB", "bytea", "vector(512)", "real[]", "jsonb" …
    values: tuple[Value, ...] = field(repr=False)
    rows: int | None  # rows in the table (see rows_estimated)
    rows_estimated: bool
    sampled_rows: int  # rows read to collect `values`
    oversized: int = 0  # values larger than SampleLimits.value_bytes (counted, not fetched)
    timestamps: tuple[tuple[str, str | None, str | None], ...] = ()  # (column, min, max)
    context: tuple[str, ...] = ()  # the table's other column names
    app: str | None = None  # application recognised from the schema
    linked_store: str | None = None  # where that application keeps the linked face images
    # The application's layout names this column as face data (apps.is_face_column): only
    # then may a detector count the application as evidence for the column's content.
    app_face_column: bool = False
    non_null: int | None = None  # rows whose value is not NULL (see non_null_estimated)
    non_null_estimated: bool = False
    notes: tuple[tuple[str, ScalarValue], ...] = ()  # how the column was read (for the report)
    # The table's country/region columns over the sampled rows: (column, ISO country, ISO
    # 3166-2 region or None, rows). Jurisdiction context for evidence found in this column.
    places: tuple[tuple[str, str, str | None, int], ...] = ()


class DatabaseError(Exception):
    """A database that cannot be opened or read at all (messages are redacted by callers)."""

    def __init__(
        self,
        location: Location,
        message: str,
        reason: ProblemReason = ProblemReason.DATABASE_UNREADABLE,
    ) -> None:
        super().__init__(message)
        self.location = location
        self.reason = reason


class DatabaseSource(Protocol):
    """Yields a sample per column, and problems (unreadable tables, timeouts …)."""

    def columns(self) -> Iterator[ColumnSample | Problem]: ...


_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@]*)(:[^@/]*)?@")
_SECRET_PARAMS = re.compile(r"(?i)\b(password|passwd|pwd|sslpassword|secret|token)=[^&\s]*")


def redact(text: str) -> str:
    """A URI (or any message quoting one) with passwords and secret parameters removed."""
    text = _CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:***@" if m[3] else m[0], text)
    return _SECRET_PARAMS.sub(lambda m: f"{m[1]}=***", text)


DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def is_database_uri(text: str) -> bool:
    return bool(re.match(r"^(sqlite|postgresql|postgres|mysql|mariadb)(\+\w+)?://", text))


def column_location(database: str, table: str, column: str) -> Location:
    """`sqlite:///path/x.db#table.column`; `postgresql://host/db#schema.table.column`."""
    return Location(f"{database}#{table}.{column}")
