"""What every database source yields: columns sampled by content, never whole tables.

A source (sqlite, postgres, mysql) walks the schema, recognises the application that owns it
when it can (scanner.reference.apps), and for each column yields a `ColumnSample`: a bounded,
deterministic sample of non-null values plus what a reviewer needs around them — row counts,
the table's timestamp range (retention needs it), the other column names. Detectors decide
what the values are. Credentials never appear: locations and messages use `redact()`.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

from scanner.errors import FaceauditError
from scanner.model import (
    DatabaseRef,
    FileLocation,
    Location,
    MemberLocation,
    ObjectLocation,
    Problem,
    ProblemReason,
    ScalarValue,
    VectorRef,
)
from scanner.sources.base import SourceItem

# A sampled value as a driver returns it: BLOB/bytea, text/json, number, or a float array.
Value = bytes | str | int | float | list[float] | tuple[float, ...]


@dataclass(frozen=True)
class ColumnSample:
    """A column, sampled. Values stay in the worker that examines them."""

    location: Location  # a DatabaseLocation: `sqlite:///abs/path.db#table.column` (no credentials)
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
    # The row of each value in `values` (its key, its own date), or () when not known: a
    # face search names the rows it matched (scanner.subject). Keys, never payloads.
    refs: tuple[VectorRef, ...] = field(default=(), repr=False)
    # The database server's URI as the scan was given it (`postgresql://user@host/db`), for
    # a cluster executor whose workers sample the column themselves (scanner.executors.dask);
    # "" in a local scan and for a SQLite file. Never displayed (it may hold a password:
    # see has_secret).
    dsn: str = field(default="", repr=False, compare=False)


class DatabaseError(FaceauditError):
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


_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_SECRET_PARAMS = re.compile(r"(?i)\b(password|passwd|pwd|sslpassword|secret|token)=[^&\s]*")
MIN_SCRUBBED = 4  # shorter user names and passwords are not scrubbed from free text


def redact(text: str) -> str:
    """Any text quoting a URI, with its whole userinfo and secret parameters removed.

    A password may hold any character (`@`, `/`, `:`, spaces …) and a URI may be malformed,
    so on each line the userinfo runs from the first `scheme://` with an authority to the
    LAST `@` of the line: `mysql://u:p@ss/w@host/db` becomes `mysql://***@host/db`. A line
    quoting a URI and then an unrelated `@` loses the text between them, never a secret."""
    return "\n".join(_redact_line(line) for line in text.split("\n"))


def _redact_line(line: str) -> str:
    at = line.rfind("@")
    for found in _SCHEME.finditer(line):
        # an empty authority (`sqlite:///path@x.db`) has no userinfo: a path may hold `@`
        if at >= found.end() and not line.startswith("/", found.end()):
            line = f"{line[: found.end()]}***{line[at:]}"
            break
    return _SECRET_PARAMS.sub(lambda m: f"{m[1]}=***", line)


@dataclass(frozen=True)
class Credentials:
    """The userinfo of a database URI as written: everything between `://` and the last
    `@` (a password may hold `@`), its user and password parts raw and percent-decoded, and
    whether the driver would read the same userinfo (`exact`). A raw `/`, `?` or `#` (and for
    libpq a raw `@`) in a password makes a driver end the userinfo early and read the rest
    of the password as a host or a path, which would then be displayed: such a URI is
    refused, never connected to."""

    userinfo: str
    exact: bool

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must appear in no message: longest first."""
        user, _, password = self.userinfo.partition(":")
        parts = {self.userinfo, user, password}
        parts |= {urllib.parse.unquote(p) for p in parts}
        # as a message may quote them: backslash-escaped (a tuple's repr), JSON-escaped
        parts |= {p.encode("unicode_escape").decode("ascii") for p in parts}
        parts |= {json.dumps(p)[1:-1] for p in parts} | {repr(p)[1:-1] for p in parts}
        return tuple(sorted((p for p in parts if len(p) >= MIN_SCRUBBED), key=len, reverse=True))

    def scrub(self, text: str) -> str:
        """`text` (a driver's message) with the URI's userinfo and its parts removed."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return redact(text)


def credentials(uri: str, driver_userinfo: str) -> Credentials:
    """The URI's userinfo as written, compared with the one the driver reads."""
    start = uri.find("://")
    start = 0 if start < 0 else start + 3
    at = uri.rfind("@")
    written = uri[start:at] if at >= start else ""
    return Credentials(written, written == driver_userinfo)


def after_userinfo(uri: str) -> str:
    """`scheme://host:port/db` from what follows the last `@` (parameters dropped): the URI
    as its author meant it, whatever its password holds."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return redact(uri.split("?", 1)[0])
    rest = rest[rest.rfind("@") + 1 :]
    return f"{scheme}://{re.split(r'[?#]', rest, maxsplit=1)[0]}"


AMBIGUOUS_USERINFO = (
    "the URI's user or password holds a character that the driver reads as the end of it "
    "(a raw '/', '?' or '#', or for PostgreSQL '@'): not connected; percent-encode it "
    "(%2F, %3F, %23, %40)"
)


_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "localhost.localdomain"})


def server_ref(display: str) -> DatabaseRef:
    """A database server's database, named `scheme://host:port/name` (no credentials); its
    identity spells the host in lower case and every loopback name as `localhost`, so a
    finding keeps its fingerprint whether the server was reached as `127.0.0.1` or
    `LocalHost`."""
    scheme, _, rest = display.partition("://")
    host, _, name = rest.partition("/")
    hostname, colon, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not colon:
        hostname, port = host, ""
    hostname = hostname.lower()
    if hostname in _LOOPBACK:
        hostname = "localhost"
    key = f"{scheme}://{hostname}{':' + port if colon else ''}/{name}"
    return DatabaseRef(display, scheme, name or host, key=key)


def sqlite_ref(
    file: str,
    *,
    uri: bool = True,
    at: FileLocation | MemberLocation | ObjectLocation | None = None,
) -> DatabaseRef:
    """A SQLite database: `sqlite://` + its file as displayed (`sqlite:///abs/x.db` when
    named by URI, `sqlite://data/x.db` when found while walking `data`); with `uri=False`,
    a database that is no file of its own — a member of an archive, an object in a store —
    is named by its location's display alone (`a.zip!/x.db`, `s3://bucket/x.db`). `at` is
    that file (or member, or object) as a location: the database's identity is its
    identity (a file relative to the scan root), whichever way the database was named."""
    name = file.rsplit("/", 1)[-1] or file
    if not uri:
        return DatabaseRef(file, "", name, file, at=at)
    return DatabaseRef(f"sqlite://{file}", "sqlite", name, file, at=at)


def has_secret(uri: str) -> bool:
    """Whether a database URI holds a password (in its userinfo or as a parameter)."""
    userinfo = credentials(uri, "").userinfo
    return ":" in userinfo or bool(_SECRET_PARAMS.search(uri.partition("?")[2]))


def column_items(
    columns: Iterator[ColumnSample | Problem], dsn: str = ""
) -> Iterator[SourceItem | Problem]:
    """A database source's sampled columns as items (a database that cannot be read at all
    is one problem), each naming the server's URI `dsn` (ColumnSample.dsn)."""
    try:
        for entry in columns:
            if isinstance(entry, Problem):
                yield entry
            else:
                column = replace(entry, dsn=dsn) if dsn else entry
                yield SourceItem(entry.location, 0, None, column=column)
    except DatabaseError as exc:
        yield Problem(exc.location, exc.reason, redact(str(exc)))
