"""What the MariaDB/MySQL source decides before it reads anything: which relations store
data, which engines may be read, and what the scanning account could do beyond reading.

A SELECT on a base table runs no stored code on MariaDB or MySQL: triggers fire on writes
only, and generated columns, CHECK constraints and DEFAULT expressions may not call stored
functions ("Function or expression … cannot be used in the GENERATED ALWAYS AS clause",
checked on MariaDB 10.11). A view is different: its SELECT calls whatever stored functions
it names, with the definer's rights under SQL SECURITY DEFINER, and such a function may
`SET GLOBAL …` inside a read-only transaction (checked: a view changed
`@@GLOBAL.max_connect_errors` when read as root). So views are not read by default. Tables
whose engine reaches another server or files outside the database (FEDERATED, CONNECT,
SPIDER, S3) are not read either, as PostgreSQL's foreign tables are not.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from scanner.model import DatabaseLocation, DatabaseRef, Problem, ProblemReason
from scanner.sources.database import Credentials, after_userinfo, credentials, redact
from scanner.sources.relational import MIN_TEXT_CHARS, Column, Relation, Summary

STORED_TYPES = frozenset({"BASE TABLE", "SYSTEM VERSIONED"})
VIEW_TYPES = frozenset({"VIEW"})
REMOTE_ENGINES = frozenset({"FEDERATED", "CONNECT", "SPIDER", "S3"})
# Privileges that only read, or only see metadata: anything else is reported.
READ_PRIVILEGES = frozenset(
    {
        "SELECT",
        "SHOW VIEW",
        "USAGE",
        "SHOW DATABASES",
        "PROCESS",
        "REPLICATION CLIENT",
        "BINLOG MONITOR",
        "SLAVE MONITOR",
        "REPLICA MONITOR",
        "LOCK TABLES",
        "PROXY",
    }
)
_GRANT = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<obj>.+?) TO ", re.DOTALL)
SHOWN = 8
_BYTES = {"blob", "mediumblob", "longblob", "vector"}
_TEXT = {"text", "mediumtext", "longtext", "json"}
_SHORT = {"varbinary": "bytes", "binary": "bytes", "varchar": "text", "char": "text"}
TEMPORAL = {"date", "datetime", "timestamp"}
VIEW_NOT_READ_DETAIL = (
    "view not read: reading a view runs the stored functions it calls (with the definer's "
    "rights under SQL SECURITY DEFINER; they may SET GLOBAL even in a read-only transaction); "
    "its base tables are scanned. --read-views reads views"
)


def mysql_userinfo(uri: str) -> str:
    """The userinfo urllib reads (up to the LAST `@` of the netloc): our own parsing is the
    driver's, since PyMySQL takes parameters."""
    try:
        netloc = urllib.parse.urlsplit(uri).netloc
    except ValueError:
        return "\0"  # never equal to what was written: the URI is refused
    return netloc.rpartition("@")[0]


def mysql_credentials(uri: str) -> Credentials:
    return credentials(uri, mysql_userinfo(uri))


def parse(uri: str) -> dict[str, Any]:
    """PyMySQL's connection parameters from a `mysql://` URI (ValueError: malformed)."""
    parts = urllib.parse.urlsplit(uri)
    params: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": urllib.parse.unquote(parts.username or "root"),
        "password": urllib.parse.unquote(parts.password or ""),
        "database": urllib.parse.unquote(parts.path.lstrip("/")),
    }
    socket = urllib.parse.parse_qs(parts.query).get("unix_socket")
    if socket:
        params["unix_socket"] = socket[0]
    return params


def display_uri(uri: str) -> str:
    """`mysql://host:port/db`: no user, no password, no parameters."""
    if not mysql_credentials(uri).exact:
        return after_userinfo(uri)
    try:
        params = parse(uri)
    except ValueError:
        return after_userinfo(uri)
    return f"mysql://{params['host']}:{params['port']}/{params['database']}"


def _privileges(text: str) -> list[str]:
    """`SELECT (a, b), INSERT, ALL PRIVILEGES` -> ["SELECT", "INSERT", "ALL PRIVILEGES"]."""
    text = re.sub(r"\([^)]*\)", "", text)
    return [p.strip().upper() for p in text.split(",") if p.strip()]


def _applies(obj: str, database: str) -> bool:
    """Whether a grant's `ON` clause covers the scanned database (or everything)."""
    obj = re.sub(r"^(FUNCTION|PROCEDURE|PACKAGE BODY|PACKAGE)\s+", "", obj.strip(), flags=re.I)
    if obj.startswith("*"):
        return True
    db = obj.split(".", 1)[0].strip("`").replace("``", "`")
    pattern, i = "", 0
    while i < len(db):  # a LIKE pattern: % and _ are wildcards, \_ a literal _
        if db[i] == "\\" and i + 1 < len(db):
            pattern, i = pattern + re.escape(db[i + 1]), i + 2
            continue
        pattern += {"%": ".*", "_": "."}.get(db[i], re.escape(db[i]))
        i += 1
    return db == database or re.fullmatch(pattern, database) is not None


def role_warning(grants: list[str], database: str) -> str | None:
    """What the account could do beyond reading, from `SHOW GRANTS` (never quoted: a grant
    line may carry a password hash)."""
    found: dict[str, None] = {}
    for line in grants:
        m = _GRANT.match(line.strip())
        if m is None or not _applies(m["obj"], database):
            continue
        for privilege in _privileges(m["privs"]):
            if privilege not in READ_PRIVILEGES:
                found[privilege] = None
    if not found:
        return None
    named = list(found)
    more = f" and {len(named) - SHOWN} more" if len(named) > SHOWN else ""
    return (
        "the scanning account holds " + ", ".join(named[:SHOWN]) + more + " on this database. "
        "The scan only reads, but a read-only transaction does not stop a stored function a "
        "view calls (SET GLOBAL, writes with the definer's rights): scan with a SELECT-only "
        "account (docs/databases.md, 'A SELECT-only role')"
    )


def relations(
    database: DatabaseRef,
    *,
    tables: list[Any],
    columns: list[Any],
    keys: list[Any],
    warnings: str,
    read_views: bool,
    summary: Summary,
) -> tuple[list[Relation], list[Problem]]:
    """The relations to read (their columns typed, their primary keys), and a problem for
    each view left unread and each relation whose columns could not be listed."""
    relations: dict[str, Relation] = {}
    problems: list[Problem] = []
    for name, table_type, estimate, engine in tables:
        kind = str(table_type).upper()
        where = DatabaseLocation(database, None, name)
        if kind in VIEW_TYPES and not read_views:
            summary.add("views_not_read")
            problems.append(Problem(where, ProblemReason.VIEW_NOT_READ, VIEW_NOT_READ_DETAIL))
            continue
        if kind not in VIEW_TYPES | STORED_TYPES:
            summary.add("relations_not_read_" + kind.lower().replace(" ", "_"))
            continue
        if str(engine or "").upper() in REMOTE_ENGINES:
            summary.add("remote_engine_tables_not_read")
            continue
        is_view = kind in VIEW_TYPES
        hint = None if is_view or estimate is None else float(estimate)
        relations[name] = Relation(None, name, "view" if is_view else "table", [], hint)
    for table, col, data_type, column_type, octets in columns:
        if table in relations:
            dt = str(data_type).lower()
            rel = relations[table]
            rel.columns.append(Column(col, str(column_type), _kind(dt, octets), dt in TEMPORAL))
            rel.extra.setdefault("types", {})[col] = dt  # type: ignore[index]
    for table, col in keys:
        if table in relations:
            relations[table].primary_key += (col,)
    problems += [
        Problem(
            DatabaseLocation(database, None, name),
            ProblemReason.DATABASE_UNREADABLE,
            redact(f"the columns of {rel.kind} {name} could not be read: {warnings or '?'}"),
        )
        for name, rel in relations.items()
        if not rel.columns
    ]
    summary.add("relations", len(relations))
    return [r for r in relations.values() if r.columns], problems


def _kind(data_type: str, octets: Any) -> str | None:
    """How a column is fetched, or None when its type cannot hold a vector or an image."""
    if data_type in _BYTES:
        return "bytes"
    if data_type in _TEXT:
        return "text"
    if data_type in _SHORT and octets is not None and int(octets) >= MIN_TEXT_CHARS:
        return _SHORT[data_type]
    return None
