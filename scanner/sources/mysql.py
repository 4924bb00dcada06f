"""MariaDB and MySQL databases (PyMySQL), sampled read-only and under deadlines.

As for PostgreSQL, the real guarantee is an account with SELECT only: a read-only transaction
keeps this session from writing tables, but a view or a stored function that a SELECT calls
still runs (with its definer's rights when it says SQL SECURITY DEFINER) and may `SET GLOBAL`.
So only base tables (and system-versioned ones) are read; views only with
SampleLimits.read_views (the database is then reported `views_read`), otherwise each is
reported `view_not_read`; tables of engines that reach outside (mysql_schema.REMOTE_ENGINES)
are not read. An account that may do more than read is reported (`database_role_writable`).
The URI's user and password appear nowhere (the display is `mysql://host:port/db`, driver
messages are scrubbed), and a URI whose password holds a raw `/`, `?` or `#` is refused.
On its side:

- the session is `SET SESSION TRANSACTION READ ONLY` and every relation is read in its own
  `START TRANSACTION READ ONLY`; `LOAD DATA LOCAL` is off (PyMySQL's default, kept);
- `max_statement_time` (MariaDB, seconds) or `max_execution_time` (MySQL, ms) from
  SampleLimits, per statement where a shorter deadline applies (counts, timestamp ranges);
  `lock_wait_timeout`/`innodb_lock_wait_timeout` from the lock timeout; a client read
  timeout as a last resort (the connection is then reopened and the scan goes on);
- `LENGTH()` before a value is fetched: a value over SampleLimits.value_bytes (or over the
  server's `max_allowed_packet`, which it could not even send) is counted, never fetched.

Sampling, deterministic without TABLESAMPLE (which MySQL lacks) and without ORDER BY RAND()
(a full scan and sort): the first N/2 non-null rows in primary-key order, plus N/2 from the
middle of the key range — `pk >= (min+max)/2` for an integer key, found through the index,
or `OFFSET rows/2` along the key otherwise. Auto-increment keys put the oldest rows first, so
the sample spans old and recent records, and the same database always gives the same rows.
Tables without a primary key and views are read by `LIMIT`; views are counted through
`LIMIT` too (a view may never end: its timeout is that relation's QUERY_TIMEOUT).

For a policy's per-subject checks (`read_keys`), the rows of a column are read by subject
and primary key, from a base table only, in the same read-only session.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pymysql

from scanner.config import SampleLimits
from scanner.model import DatabaseLocation, Problem, ProblemReason
from scanner.sources import mysql_schema
from scanner.sources.base import SourceContext, SourceItem, SourceStats
from scanner.sources.database import (
    AMBIGUOUS_USERINFO,
    ColumnSample,
    DatabaseError,
    Value,
    column_items,
    server_ref,
)
from scanner.sources.keys import MAX_KEYS, KeyRead, KeysUnreadable, SubjectRow, subject_rows
from scanner.sources.relational import (
    EXACT_COUNT_ROWS,
    META_TIMEOUT_S,
    PLACE_VALUE_CHARS,
    VIEW_ROW_CAP,
    Column,
    Counts,
    Emitter,
    Places,
    QueryTimeout,
    Relation,
    RelationUnreadable,
    Sampled,
    Stamps,
    Summary,
    date_column,
    place_counts,
    row_ref,
    scaled,
    select,
    timestamp_ranges,
)

KEY_BYTES = 256  # a key or date value stored larger is not read (the row is named without it)
_INTEGER = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
_TIMEOUTS = {1969, 3024, 1317, 1028}  # statement time exceeded / interrupted / sort aborted
_LOCKS = {1205}
_LOST = {2006, 2013, 2055}
PACKET_SLACK = 1024
VIEWS_READ_DETAIL = (
    "views were read (--read-views): reading a view runs the stored functions it calls, with "
    "the definer's rights under SQL SECURITY DEFINER, and they may change server settings "
    "(SET GLOBAL) or write even in a read-only transaction"
)


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MysqlSource:
    """Sampled columns of every table and view of one MariaDB/MySQL database: a Source
    (scanner.sources.base) of column items."""

    stats = SourceStats()

    def items(self) -> Iterator[SourceItem | Problem]:
        # the URI goes with each column only for a cluster, whose workers sample it again
        return column_items(self.columns(), "" if self.values else self._uri)

    def __init__(self, uri: str, sampling: SampleLimits, *, values: bool = True) -> None:
        self._uri = uri
        self.values = values  # False: columns measured, values left for a cluster's workers
        self._credentials = mysql_schema.mysql_credentials(uri)
        self._refused: str | None = None
        try:
            self._params = mysql_schema.parse(uri)
        except ValueError:  # a port that is no number: the message would quote it
            self._params = {"database": "", "password": ""}
            self._refused = "malformed URI (host or port)"
        if not self._credentials.exact:
            self._refused = AMBIGUOUS_USERINFO
        self.limits = sampling
        self.ref = server_ref(mysql_schema.display_uri(uri))
        self.database = self.ref.display
        self.summary = Summary()
        # counts and timestamp ranges are context: a shorter deadline, then estimates
        self.meta_timeout = min(META_TIMEOUT_S, sampling.statement_timeout_s)
        self._conn: pymysql.connections.Connection[Any] | None = None
        self._mariadb = True
        self._value_limit = sampling.value_bytes

    @property
    def conn(self) -> pymysql.connections.Connection[Any]:
        assert self._conn is not None
        return self._conn

    def columns(self) -> Iterator[ColumnSample | Problem]:
        if self._refused is not None:
            raise DatabaseError(DatabaseLocation(self.ref), self._refused)
        if not self._params["database"]:
            raise DatabaseError(DatabaseLocation(self.ref), "no database named in the URI")
        self._connect()
        try:
            where = DatabaseLocation(self.ref)
            role = self._role()
            if role:
                yield Problem(where, ProblemReason.DATABASE_ROLE_WRITABLE, role)
            if self.limits.read_views:
                yield Problem(where, ProblemReason.VIEWS_READ, VIEWS_READ_DETAIL)
            relations, problems = self._relations()
            yield from problems
            emitter = Emitter(self.ref, relations, self.limits, self.summary)
            for rel in relations:
                yield from self._guarded(rel, emitter)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def relation(self, table: str) -> list[ColumnSample | Problem]:
        """The samples of one relation (`table`, as ColumnSample.table names it), as
        columns() gives them: how a Dask worker samples a column the client listed
        (scanner.executors.dask). [] when the database has no such relation any more."""
        if self._refused is not None:
            raise DatabaseError(DatabaseLocation(self.ref), self._refused)
        self._connect()
        try:
            relations, _ = self._relations()
            emitter = Emitter(self.ref, relations, self.limits, self.summary)
            rel = next((r for r in relations if r.qualified == table), None)
            return [] if rel is None else list(self._guarded(rel, emitter))
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def keys(self, read: KeyRead) -> tuple[SubjectRow, ...]:
        """The rows where a column holds a value, by subject and primary key
        (scanner.sources.keys), from a base table only; raises KeysUnreadable."""
        if self._refused is not None:
            raise KeysUnreadable(self._refused)
        try:
            self._connect()
        except DatabaseError as exc:
            raise KeysUnreadable(str(exc)) from None
        try:
            relations, _ = self._relations()
            rel = next((r for r in relations if r.qualified == read.table), None)
            if rel is None or rel.is_view:
                raise KeysUnreadable(f"{read.table} is not a base table (a view is not read)")
            names = {c.name for c in rel.columns}
            for name in (read.column, read.key_column):
                if name not in names:
                    raise KeysUnreadable(f"{read.table} has no column {name!r}")
            primary = list(rel.primary_key)
            what = ", ".join(q(n) for n in (read.key_column, *primary))
            tail = f"WHERE {q(read.column)} IS NOT NULL LIMIT {MAX_KEYS}"
            self.rows("START TRANSACTION READ ONLY")
            return subject_rows(primary, self.rows(select(what, q(rel.name), tail)))
        except (QueryTimeout, RelationUnreadable, DatabaseError) as exc:
            raise KeysUnreadable(self._credentials.scrub(str(exc))) from None
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- connection and statements -----------------------------------------------------

    def _connect(self) -> None:
        limits = self.limits
        try:
            self._conn = pymysql.connect(
                **self._params,
                connect_timeout=max(2, min(limits.statement_timeout_s, 15)),
                read_timeout=limits.statement_timeout_s + 30,  # the server's deadline first
                write_timeout=60,
                charset="utf8mb4",
                autocommit=True,
                local_infile=False,
            )
            version = str(self.rows("SELECT VERSION()")[0][0])
            self._mariadb = "mariadb" in version.lower()
            lock = max(1, math.ceil(limits.lock_timeout_s))
            with self.conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                if self._mariadb:
                    cur.execute(
                        "SET SESSION max_statement_time = %s", (limits.statement_timeout_s,)
                    )
                else:
                    ms = round(limits.statement_timeout_s * 1000)
                    cur.execute("SET SESSION max_execution_time = %s", (ms,))
                cur.execute("SET SESSION lock_wait_timeout = %s", (lock,))
                cur.execute("SET SESSION innodb_lock_wait_timeout = %s", (lock,))
            packet = int(self.rows("SELECT @@max_allowed_packet")[0][0])
            self._value_limit = min(limits.value_bytes, packet - PACKET_SLACK)
        except Exception as exc:  # any driver failure (a user name latin-1 cannot encode …)
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            detail = self._credentials.scrub(f"cannot connect: {exc}")
            raise DatabaseError(DatabaseLocation(self.ref), detail) from None

    def _role(self) -> str | None:
        """What the account could do beyond reading (mysql_schema.role_warning)."""
        try:
            grants = [str(r[0]) for r in self.rows("SHOW GRANTS")]
        except (QueryTimeout, RelationUnreadable) as exc:
            return f"the scanning account's privileges could not be checked: {exc}"
        return mysql_schema.role_warning(grants, self._params["database"])

    def _timed(self, statement: str, timeout: float | None) -> str:
        """The statement with its own deadline when it differs from the session's."""
        if timeout is None:
            return statement
        if self._mariadb:
            return f"SET STATEMENT max_statement_time={timeout:g} FOR {statement}"
        return statement.replace(
            "SELECT", f"SELECT /*+ MAX_EXECUTION_TIME({round(timeout * 1000)}) */", 1
        )

    def rows(self, statement: str, params: Any = None, timeout: float | None = None) -> list[Any]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(self._timed(statement, timeout), params)
                return list(cur.fetchall())
        except pymysql.Error as exc:
            raise self._translate(exc) from None

    def _translate(self, exc: pymysql.Error) -> Exception:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        detail = self._credentials.scrub(str(exc.args[1] if len(exc.args) > 1 else exc))
        if code in _TIMEOUTS:
            return QueryTimeout(f"statement exceeded its deadline: {detail}")
        if code in _LOCKS:
            return QueryTimeout(f"lock not granted in time: {detail}")
        if code in _LOST:
            return QueryTimeout(
                f"no answer within the read timeout (connection reopened): {detail}"
            )
        return RelationUnreadable(detail)

    # -- the schema ----------------------------------------------------------------------

    def _relations(self) -> tuple[list[Relation], list[Problem]]:
        db = self._params["database"]
        try:
            tables = self.rows(
                "SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, ENGINE FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
                (db,),
            )
            columns = self.rows(
                "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_OCTET_LENGTH "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "ORDER BY TABLE_NAME, ORDINAL_POSITION",
                (db,),
            )
            # A view that cannot be opened (in a read-only session: one whose functions
            # write) is silently left out of COLUMNS, with a warning.
            warnings = "; ".join(str(w[2]) for w in self.rows("SHOW WARNINGS"))
            keys = self.rows(
                "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = %s AND INDEX_NAME = 'PRIMARY' "
                "ORDER BY TABLE_NAME, SEQ_IN_INDEX",
                (db,),
            )
        except (QueryTimeout, RelationUnreadable) as exc:
            raise DatabaseError(
                DatabaseLocation(self.ref), f"cannot read the schema: {exc}"
            ) from None
        return mysql_schema.relations(
            self.ref,
            tables=tables,
            columns=columns,
            keys=keys,
            warnings=warnings,
            read_views=self.limits.read_views,
            summary=self.summary,
        )

    # -- one relation --------------------------------------------------------------------

    def _guarded(self, rel: Relation, emitter: Emitter) -> Iterator[ColumnSample | Problem]:
        where = emitter.relation_where(rel)
        out: list[ColumnSample | Problem]
        try:
            self.rows("START TRANSACTION READ ONLY")
            out = self._relation(rel, emitter)
        except QueryTimeout as exc:
            self.summary.add("relations_timed_out")
            out = [Problem(where, ProblemReason.QUERY_TIMEOUT, str(exc))]
        except RelationUnreadable as exc:
            self.summary.add("relations_unreadable")
            out = [Problem(where, ProblemReason.DATABASE_UNREADABLE, str(exc))]
        finally:
            self._finish()
        yield from out

    def _finish(self) -> None:
        """End the relation's transaction; reopen a connection the server dropped."""
        try:
            self.conn.rollback()
        except pymysql.Error:
            self.conn.close()
            self._conn = None
            self._connect()

    def _relation(self, rel: Relation, emitter: Emitter) -> list[ColumnSample | Problem]:
        wanted = [c for c in rel.columns if c.kind is not None]
        if not wanted:
            return emitter.samples(rel, {}, Counts())
        t = q(rel.name)
        counts = self._counts(rel, t, wanted)
        sampled = {c.name: self._sample(rel, t, c, counts) for c in wanted}
        if self._value_limit < self.limits.value_bytes and any(
            s.oversized for s in sampled.values()
        ):
            counts.notes.append(("max_allowed_packet_limits_values_to", self._value_limit))
        stamps, notes = self._timestamps(rel, t)
        places, place_notes = self._places(rel, t)
        return emitter.samples(rel, sampled, counts, stamps, notes + place_notes, places=places)

    def _counts(self, rel: Relation, t: str, wanted: list[Column]) -> Counts:
        what = ", ".join(["COUNT(*)"] + [f"COUNT({q(c.name)})" for c in wanted])
        counts = Counts()
        if rel.is_view:
            row = self.rows(select(what, f"({select('*', t, f'LIMIT {VIEW_ROW_CAP}')}) s"))[0]
            if row[0] >= VIEW_ROW_CAP:
                counts.notes.append(("rows_at_least", VIEW_ROW_CAP))
                counts.non_null_estimated = True
            else:
                counts.rows = int(row[0])
            counts.non_null = {c.name: int(n) for c, n in zip(wanted, row[1:], strict=True)}
            return counts
        if rel.rows_hint is None or rel.rows_hint <= EXACT_COUNT_ROWS:
            try:
                row = self.rows(select(what, t), timeout=self.meta_timeout)[0]
                counts.rows = int(row[0])
                counts.non_null = {c.name: int(n) for c, n in zip(wanted, row[1:], strict=True)}
                return counts
            except QueryTimeout:
                counts.notes.append(("rows_from", "information_schema estimate (count timed out)"))
        counts.rows = round(rel.rows_hint) if rel.rows_hint is not None else None
        counts.rows_estimated = counts.non_null_estimated = True
        order = f"ORDER BY {', '.join(q(k) for k in rel.primary_key)} " if rel.primary_key else ""
        inner = select("*", t, f"{order}LIMIT {EXACT_COUNT_ROWS // 10}")
        try:
            row = self.rows(select(what, f"({inner}) s"), timeout=self.meta_timeout)[0]
            for c, n in zip(wanted, row[1:], strict=True):
                est = scaled(int(n), int(row[0]), counts.rows)
                if est is not None:
                    counts.non_null[c.name] = est
        except QueryTimeout:
            counts.notes.append(("non_null", "not estimated (the count timed out)"))
        return counts

    def _sample(self, rel: Relation, t: str, col: Column, counts: Counts) -> Sampled:
        """Two passes over the same deterministic rows: sizes first (`LENGTH()` only), then
        the values, each part cut where the column's byte budget would be exceeded — the
        client never receives more than the budget, whatever the table holds."""
        c = q(col.name)
        lim = self._value_limit
        parts = self._parts(rel, t, c, counts)
        out = Sampled(sizes_only=not self.values)
        spent = 0
        # which row each value is: its primary key and its own date, when short
        dated = date_column(rel)
        marks = [*rel.primary_key, *([dated.name] if dated is not None else [])]
        beside = "".join(
            f", CASE WHEN LENGTH({q(m)}) <= {KEY_BYTES} THEN CAST({q(m)} AS CHAR) END"
            for m in marks
        )
        keys = len(rel.primary_key)
        for extra, limit, offset in parts:
            tail = f"WHERE {c} IS NOT NULL {extra} LIMIT {limit} OFFSET {offset}"
            sizes = [int(r[0] or 0) for r in self.rows(select(f"LENGTH({c})", t, tail))]
            cut, budget = 0, spent
            for size in sizes:
                if size <= lim:
                    if budget + size > self.limits.column_bytes:
                        break
                    budget += size
                cut += 1
            fetched: list[Any] = []
            if cut and self.values:  # measured only: the cluster's worker fetches the values
                what = f"LENGTH({c}), CASE WHEN LENGTH({c}) <= {lim} THEN {c} END{beside}"
                tail = f"WHERE {c} IS NOT NULL {extra} LIMIT {cut} OFFSET {offset}"
                fetched = self.rows(select(what, t, tail))
            for i, size in enumerate(sizes):
                row = fetched[i] if i < len(fetched) else None
                value = _value(row[1]) if row is not None else None
                ref = None
                if row is not None:
                    ref = row_ref(rel, row[2 : 2 + keys], row[2 + keys] if dated else None)
                spent = out.add(value if size <= lim else None, size, self.limits, spent, ref)
        if out.oversized and lim < self.limits.value_bytes:
            self.summary.add("values_over_max_allowed_packet", out.oversized)
        return out

    def _parts(self, rel: Relation, t: str, c: str, counts: Counts) -> list[tuple[str, int, int]]:
        """(condition and order, limit, offset) of each deterministic part of the sample."""
        n = self.limits.rows
        keys = rel.primary_key
        order = f"ORDER BY {', '.join(q(k) for k in keys)}" if keys else ""
        if not keys or (counts.rows is not None and counts.rows <= n):
            return [(order, n, 0)]
        first = n // 2
        types = rel.extra.get("types", {})
        assert isinstance(types, dict)
        if len(keys) == 1 and types.get(keys[0]) in _INTEGER:
            key = q(keys[0])
            lo, hi = self.rows(select(f"MIN({key}), MAX({key})", t))[0]
            last = self.rows(
                select(key, t, f"WHERE {c} IS NOT NULL {order} LIMIT 1 OFFSET {first - 1}")
            )
            start = (int(lo) + int(hi)) // 2 if lo is not None else 0
            if last:
                start = max(start, int(last[0][0]) + 1)
            counts.notes.append(("sampling", "first rows by primary key + the middle of its range"))
            return [(order, first, 0), (f"AND {key} >= {start} {order}", n - first, 0)]
        counts.notes.append(("sampling", "first rows by primary key + the middle (OFFSET)"))
        return [(order, first, 0), (order, n - first, max(first, (counts.rows or 0) // 2))]

    def _places(self, rel: Relation, t: str) -> tuple[Places, list[tuple[str, Any]]]:
        """Country/region columns over the first `limits.rows` rows by primary key."""
        order = f"ORDER BY {', '.join(q(k) for k in rel.primary_key)} " if rel.primary_key else ""

        def fetch(col: Column) -> list[object]:
            what = f"LEFT(CAST({q(col.name)} AS CHAR), {PLACE_VALUE_CHARS})"
            tail = f"{order}LIMIT {self.limits.rows}"
            rows = self.rows(select(what, t, tail), timeout=self.meta_timeout)
            return [r[0] for r in rows]

        return place_counts(rel, fetch)

    def _timestamps(self, rel: Relation, t: str) -> tuple[Stamps, list[tuple[str, Any]]]:
        source = f"({select('*', t, f'LIMIT {VIEW_ROW_CAP}')}) s" if rel.is_view else t

        def min_max(col: Column) -> tuple[object, object]:
            c = q(col.name)
            what = f"CAST(MIN({c}) AS CHAR), CAST(MAX({c}) AS CHAR)"
            lo, hi = self.rows(select(what, source), timeout=self.meta_timeout)[0]
            return lo, hi

        return timestamp_ranges(rel, min_max)


def _value(value: Any) -> Value | None:
    if value is None or isinstance(value, (bytes, str)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return str(value)


def open_source(target: str, ctx: SourceContext) -> MysqlSource:
    return MysqlSource(target, ctx.sampling, values=ctx.sample_values)


def display(target: str) -> str:
    """`mysql://host:3306/db`: no user, no password, no parameters."""
    return mysql_schema.display_uri(target)


def read_relation(target: str, table: str, sampling: SampleLimits) -> list[ColumnSample | Problem]:
    """One relation's sampled columns (MysqlSource.relation): a Dask worker's read."""
    return MysqlSource(target, sampling).relation(table)


def read_keys(target: str, read: KeyRead, sampling: SampleLimits) -> tuple[SubjectRow, ...]:
    """The rows of a column by subject and key (MysqlSource.keys)."""
    return MysqlSource(target, sampling).keys(read)
