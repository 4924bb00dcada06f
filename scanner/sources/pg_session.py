"""The PostgreSQL source's session plumbing: how a URI is displayed and refused, one
statement's deadline and savepoint, and how a fetched value is handed on."""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any, Literal, Protocol

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict

from scanner.model import DatabaseLocation, DatabaseRef
from scanner.sources.database import Credentials, DatabaseError, Value, after_userinfo, credentials
from scanner.sources.relational import QueryTimeout, RelationUnreadable

VIEW_NOT_READ_DETAIL = (
    "view not read: reading a view runs the functions, operators and casts it calls (with "
    "their owners' rights for SECURITY DEFINER functions, even in a read-only transaction); "
    "its base tables are scanned. --read-views reads views"
)
VIEWS_READ_DETAIL = (
    "views were read (--read-views): reading a view runs the code it calls — functions "
    "(SECURITY DEFINER ones with their owner's rights, which can write through dblink even "
    "in a read-only transaction), operators and casts, row-level security policies"
)


def libpq_userinfo(uri: str) -> str:
    """The userinfo libpq reads: up to the FIRST `@` before any `/` (its URI parser)."""
    rest = uri.split("://", 1)[1] if "://" in uri else ""
    for i, ch in enumerate(rest):
        if ch == "/":
            return ""
        if ch == "@":
            return rest[:i]
    return ""


def pg_credentials(uri: str) -> Credentials:
    return credentials(uri, libpq_userinfo(uri))


def display_uri(uri: str) -> str:
    """`postgresql://host:port/db` — no user, no password, no parameters (and no database
    name that libpq would take from the user name)."""
    if not pg_credentials(uri).exact:
        return after_userinfo(uri)
    try:
        info = conninfo_to_dict(uri)
    except Exception:
        return after_userinfo(uri)
    host = str(info.get("host") or "localhost")
    if host.startswith("/"):
        host = urllib.parse.quote(host, safe="")
    return f"postgresql://{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


class Session(Protocol):
    ref: DatabaseRef

    @property
    def conn(self) -> psycopg.Connection[Any]: ...

    def scrub(self, text: str) -> str: ...


class Statement:
    """One statement's deadline (SET LOCAL statement_timeout) inside an optional savepoint;
    driver errors become QueryTimeout / RelationUnreadable, a lost connection a
    DatabaseError for the whole database."""

    def __init__(self, source: Session, timeout: float, savepoint: bool) -> None:
        self.source, self.timeout, self.savepoint = source, timeout, savepoint
        self._tx: AbstractContextManager[Any] = nullcontext()

    def __enter__(self) -> None:
        conn = self.source.conn
        self._tx = conn.transaction() if self.savepoint else nullcontext()
        self._tx.__enter__()
        conn.execute(
            "SELECT pg_catalog.set_config('statement_timeout', %s, true)",
            (str(max(1, round(self.timeout * 1000))),),
        )

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        with contextlib.suppress(psycopg.Error):  # a failed rollback: the state decides below
            self._tx.__exit__(kind, exc, tb)
        if exc is None or not isinstance(exc, psycopg.Error):
            return False
        conn = self.source.conn
        detail = self.source.scrub(
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        if conn.broken or conn.closed:
            raise DatabaseError(DatabaseLocation(self.source.ref), f"connection lost: {detail}")
        if isinstance(exc, errors.QueryCanceled):
            raise QueryTimeout(f"statement exceeded {self.timeout:g} s: {detail}")
        if isinstance(exc, errors.LockNotAvailable):
            raise QueryTimeout(f"lock not granted within lock_timeout: {detail}")
        raise RelationUnreadable(detail)


def value_of(value: Any) -> Value | None:
    if value is None or isinstance(value, (bytes, str)):
        return value
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, list):
        return [
            float(v) if isinstance(v, (int, float, Decimal)) else float("nan") for v in _flat(value)
        ]
    return str(value)


def _flat(values: list[Any]) -> Iterator[Any]:
    for v in values:
        if isinstance(v, list):
            yield from _flat(v)
        else:
            yield v
