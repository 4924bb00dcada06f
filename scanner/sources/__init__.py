"""Sources: the places items come from, registered explicitly.

The filesystem walker and the archive walker yield files and members; database sources
(registered by URI scheme) yield sampled columns. Database drivers are imported only when a
database is scanned, so `faceaudit --help` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

from scanner.config import SampleLimits
from scanner.sources.database import DatabaseError, DatabaseSource, redact

# URI scheme -> "module:class"; each class takes (uri, SampleLimits).
DATABASE_SOURCES: dict[str, str] = {
    "sqlite": "scanner.sources.sqlite:SqliteSource",
    "postgresql": "scanner.sources.postgres:PostgresSource",
    "postgres": "scanner.sources.postgres:PostgresSource",
    "mysql": "scanner.sources.mysql:MysqlSource",
    "mariadb": "scanner.sources.mysql:MysqlSource",
}


def scheme_of(uri: str) -> str:
    """`postgresql+psycopg://…` -> `postgresql`; a path (no `scheme://`) -> ""."""
    head, sep, _ = uri.partition("://")
    return head.split("+", 1)[0].lower() if sep else ""


def is_source_uri(text: str) -> bool:
    """A target some registered source claims by its scheme."""
    return scheme_of(text) in DATABASE_SOURCES


def _load(scheme: str) -> Any:
    module, _, name = DATABASE_SOURCES[scheme].partition(":")
    return getattr(importlib.import_module(module), name)


def open_database(uri: str, sampling: SampleLimits) -> DatabaseSource:
    """The source for a database URI (`sqlite:///…`, `postgresql://…`, `mysql://…`)."""
    from scanner.model import DatabaseLocation, DatabaseRef

    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in DATABASE_SOURCES:
        ref = DatabaseRef(display_database(uri), scheme, "")
        raise DatabaseError(DatabaseLocation(ref), f"unsupported database scheme {scheme!r}")
    source: DatabaseSource = _load(scheme)(uri, sampling)
    return source


def display_database(uri: str) -> str:
    """How a database URI is named in reports, the history and the state: without its user,
    password or parameters, as the database's source names it in locations."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme in ("postgresql", "postgres"):
        from scanner.sources.pg_session import display_uri

        return display_uri(uri)
    if scheme in ("mysql", "mariadb"):
        from scanner.sources.mysql_schema import display_uri as mysql_display

        return mysql_display(uri)
    return redact(uri)
