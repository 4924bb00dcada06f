"""PostgreSQL databases (psycopg 3), sampled read-only, under deadlines, running no user code.

The real guarantee is the role: scan with a SELECT-only role. Everything below narrows what a
session can do, but `SET TRANSACTION READ WRITE` bypasses a read-only default for a role that
may write (../shared/docs/HOSTILE.md), and a SECURITY DEFINER function runs with its owner's
rights whatever the caller's, so a scanner's settings are a second line, not the first. A
role that can do more than read is reported (`database_role_writable`). On its side:

- only relations that store data are read: tables (`FROM ONLY`: inheritance children are
  relations of their own), partitioned tables, materialized views as stored (never
  refreshed). A view is not read (`view_not_read`: reading it runs the functions it
  calls, its base tables are scanned anyway) unless SampleLimits.read_views, and then the
  database is reported `views_read`; foreign tables are never read;
- no cast, operator or function is applied to a value unless its type is built in
  (pg_schema.py): values of other types are fetched in their output form and decoded here;
- a relation whose planning could run user code (index, statistics or partition-key
  expressions calling non-built-in functions: the planner constant-folds them) is read by
  `COPY … TO STDOUT`, which is not planned (pg_copy.py); a materialized view, which COPY
  cannot read, is then reported unread;
- every transaction is `BEGIN READ ONLY` (psycopg `read_only`), one per relation, so a failed
  statement costs that relation only; optional statements run in savepoints;
- `search_path` is empty and every name is schema-qualified (`pg_catalog.` included): a
  function planted in `public` (a `public.lower(varchar)` that outranks pg_catalog's for a
  varchar argument) is never resolved, so never executed; `row_security` is off, so a
  policy's functions are not run either (such a table is reported instead);
  `constraint_exclusion` is off, so CHECK constraints are never folded by the planner;
- `statement_timeout` and `lock_timeout` from SampleLimits; counts and timestamp ranges get a
  shorter deadline and fall back to estimates;
- big tables are sampled with `TABLESAMPLE SYSTEM (p) REPEATABLE (seed)` (same rows every
  run), small ones by `LIMIT`; views (when read) by `LIMIT` too, and counted only through
  `LIMIT` (a view may never end: its timeout is that relation's QUERY_TIMEOUT);
- values are measured (`octet_length`, or `pg_column_size` for a type that is not built in)
  before they are fetched, through server-side cursors; a value over
  SampleLimits.value_bytes is counted, never sent;
- the URI's user and password appear nowhere: databases are displayed as
  `postgresql://host:port/db`, driver messages are scrubbed, and a URI whose password
  holds a raw character that libpq would read as the end of the userinfo is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from scanner.config import SampleLimits
from scanner.model import DatabaseLocation, Problem, ProblemReason
from scanner.sources import pg_keys, pg_schema
from scanner.sources.base import SourceContext, SourceItem, SourceStats
from scanner.sources.database import (
    AMBIGUOUS_USERINFO,
    ColumnSample,
    DatabaseError,
    column_items,
    server_ref,
)
from scanner.sources.keys import KeyRead, KeysUnreadable, SubjectRow
from scanner.sources.pg_context import place_values, timestamp_values
from scanner.sources.pg_copy import read_by_copy
from scanner.sources.pg_schema import ColumnType, RelationMeta
from scanner.sources.pg_session import (
    VIEW_NOT_READ_DETAIL,
    VIEWS_READ_DETAIL,
    Statement,
    display_uri,
    pg_credentials,
    value_of,
)
from scanner.sources.relational import (
    EXACT_COUNT_ROWS,
    META_TIMEOUT_S,
    VIEW_ROW_CAP,
    Column,
    Counts,
    Emitter,
    QueryTimeout,
    Relation,
    RelationUnreadable,
    Sampled,
    Summary,
    date_column,
    row_ref,
    scaled,
)

SAMPLE_FACTOR = 4  # TABLESAMPLE aims at this many times the rows wanted
KEY_BYTES = 256  # a key or date value stored larger is not read (the row is named without it)
REGISTER_TIMEOUT_S = 30.0  # a register's query


class PostgresSource:
    """Sampled columns of every table and materialized view of one database (and of its
    views, with SampleLimits.read_views): a Source (scanner.sources.base) of column items."""

    stats = SourceStats()

    def items(self) -> Iterator[SourceItem | Problem]:
        # the URI goes with each column only for a cluster, whose workers sample it again
        return column_items(self.columns(), "" if self.values else self._uri)

    def __init__(self, uri: str, sampling: SampleLimits, *, values: bool = True) -> None:
        self._uri = uri
        self.values = values  # False: columns measured, values left for a cluster's workers
        self._credentials = pg_credentials(uri)
        self.limits = sampling
        self.ref = server_ref(display_uri(uri))
        self.database = self.ref.display
        self.summary = Summary()
        # counts and timestamp ranges are context: a shorter deadline, then estimates
        self.meta_timeout = min(META_TIMEOUT_S, sampling.statement_timeout_s)
        self._conn: psycopg.Connection[Any] | None = None
        self._meta: dict[tuple[str | None, str], RelationMeta] = {}

    def columns(self) -> Iterator[ColumnSample | Problem]:
        if not self._credentials.exact:
            raise DatabaseError(DatabaseLocation(self.ref), AMBIGUOUS_USERINFO)
        self._conn = self._connect()
        try:
            where = DatabaseLocation(self.ref)
            relations, views = self._relations()
            role = self._role(relations + views)
            if role:
                yield Problem(where, ProblemReason.DATABASE_ROLE_WRITABLE, role)
            if self.limits.read_views:
                yield Problem(where, ProblemReason.VIEWS_READ, VIEWS_READ_DETAIL)
                relations = sorted(relations + views, key=lambda r: (r.schema or "", r.name))
            else:
                for view in views:
                    self.summary.add("views_not_read")
                    detail = VIEW_NOT_READ_DETAIL
                    yield Problem(DatabaseLocation(self.ref, view.schema, view.name),
                                  ProblemReason.VIEW_NOT_READ, detail)  # fmt: skip
            emitter = Emitter(self.ref, relations, self.limits, self.summary)
            for rel in relations:
                yield from self._guarded(rel, emitter)
        finally:
            self.conn.close()
            self._conn = None

    def relation(self, table: str) -> list[ColumnSample | Problem]:
        """The samples of one relation (`table`, as ColumnSample.table names it), as
        columns() gives them: how a Dask worker samples a column the client listed
        (scanner.executors.dask). [] when the database has no such relation any more."""
        if not self._credentials.exact:
            raise DatabaseError(DatabaseLocation(self.ref), AMBIGUOUS_USERINFO)
        self._conn = self._connect()
        try:
            relations, views = self._relations()
            if self.limits.read_views:
                relations = sorted(relations + views, key=lambda r: (r.schema or "", r.name))
            emitter = Emitter(self.ref, relations, self.limits, self.summary)
            rel = next((r for r in relations if r.qualified == table), None)
            return [] if rel is None else list(self._guarded(rel, emitter))
        finally:
            self.conn.close()
            self._conn = None

    def keys(self, read: KeyRead) -> tuple[SubjectRow, ...]:
        """The rows where a column holds a value, by key and subject (scanner.sources.keys):
        from a stored relation only, by COPY when planning a read of it could run user
        code; raises KeysUnreadable."""
        if not self._credentials.exact:
            raise KeysUnreadable(AMBIGUOUS_USERINFO)
        try:
            self._conn = self._connect()
        except DatabaseError as exc:
            raise KeysUnreadable(str(exc)) from None
        try:
            relations, _ = self._relations()
            rel = next((r for r in relations if r.qualified == read.table), None)
            if rel is None:
                raise KeysUnreadable(f"{read.table} is not a stored relation (a view is not read)")
            with self.conn.transaction():
                return pg_keys.read(self, rel, self._meta[(rel.schema, rel.name)], read)
        except (QueryTimeout, RelationUnreadable, DatabaseError) as exc:
            raise KeysUnreadable(self.scrub(str(exc))) from None
        finally:
            self.conn.close()
            self._conn = None

    # -- connection and statements -----------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection[Any]:
        assert self._conn is not None
        return self._conn

    def scrub(self, text: str) -> str:
        """A driver's message without the URI's user, password or userinfo."""
        return self._credentials.scrub(text)

    def _connect(self) -> psycopg.Connection[Any]:
        where = DatabaseLocation(self.ref)
        try:
            conn = psycopg.connect(
                self._uri,
                autocommit=False,
                connect_timeout=max(2, round(min(self.limits.statement_timeout_s, 15))),
                application_name="faceaudit",
            )
        except Exception as exc:  # never the URI: it may hold a password
            raise DatabaseError(where, self.scrub(f"cannot connect: {exc}")) from None
        conn.read_only = True  # every transaction: BEGIN READ ONLY
        settings = {
            "search_path": "",
            "statement_timeout": str(round(self.limits.statement_timeout_s * 1000)),
            "lock_timeout": str(round(self.limits.lock_timeout_s * 1000)),
            "idle_in_transaction_session_timeout": "600000",
            "synchronize_seqscans": "off",  # a seq scan starts at block 0: same rows each run
            "row_security": "off",  # never run a policy's functions; report the table instead
            "constraint_exclusion": "off",  # CHECK constraints are never folded by the planner
            "default_transaction_read_only": "on",
        }
        try:
            with conn.transaction():
                for name, value in settings.items():
                    conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
        except Exception as exc:
            conn.close()
            raise DatabaseError(where, self.scrub(f"cannot configure the session: {exc}")) from None
        return conn

    def rows(
        self,
        query: Any,
        params: Any = None,
        *,
        timeout: float | None = None,
        savepoint: bool = True,
    ) -> list[Any]:
        """All rows of a statement under its deadline, in a savepoint so a failure leaves
        the relation's transaction usable."""
        with self.statement(timeout, savepoint):
            return self.conn.execute(query, params).fetchall()

    def statement(self, timeout: float | None, savepoint: bool) -> AbstractContextManager[Any]:
        return Statement(self, timeout or self.limits.statement_timeout_s, savepoint)

    # -- the schema ----------------------------------------------------------------------

    def _relations(self) -> tuple[list[Relation], list[Relation]]:
        """(relations that store data, views)."""
        first = {"first": pg_schema.FIRST_NORMAL_OID}
        try:
            with self.conn.transaction():
                catalogue = self.rows(pg_schema.CATALOGUE, first, savepoint=False)
                version = self.conn.info.server_version
                risks = self.rows(pg_schema.risks_query(version), first, savepoint=False)
        except (QueryTimeout, RelationUnreadable) as exc:
            raise DatabaseError(
                DatabaseLocation(self.ref), f"cannot read the catalogue: {exc}"
            ) from None
        risky = {(schema, name): str(what) for schema, name, what in risks}
        relations, self._meta = pg_schema.relations(catalogue, risky, self.summary)
        self.summary.add("relations", len(relations))
        return [r for r in relations if not r.is_view], [r for r in relations if r.is_view]

    def _role(self, relations: list[Relation]) -> str | None:
        """What the scanning role could do beyond reading (pg_schema.role_warning)."""
        try:
            with self.conn.transaction():
                rows = self.rows(pg_schema.ROLE, timeout=self.meta_timeout, savepoint=False)
        except (QueryTimeout, RelationUnreadable) as exc:
            return f"the scanning role's privileges could not be checked: {exc}"
        scanned = {r.qualified for r in relations}
        return pg_schema.role_warning(rows[0] if rows else None, scanned)

    def column_type(self, rel: Relation, col: Column) -> ColumnType:
        return self._meta[(rel.schema, rel.name)].types[col.name]

    # -- one relation --------------------------------------------------------------------

    def _guarded(self, rel: Relation, emitter: Emitter) -> Iterator[ColumnSample | Problem]:
        where = emitter.relation_where(rel)
        out: list[ColumnSample | Problem] = []
        try:
            with self.conn.transaction():
                out = self._relation(rel, emitter)
        except QueryTimeout as exc:
            self.summary.add("relations_timed_out")
            out = [Problem(where, ProblemReason.QUERY_TIMEOUT, str(exc))]
        except RelationUnreadable as exc:
            self.summary.add("relations_unreadable")
            out = [Problem(where, ProblemReason.DATABASE_UNREADABLE, str(exc))]
        yield from out

    def _relation(self, rel: Relation, emitter: Emitter) -> list[ColumnSample | Problem]:
        wanted = [c for c in rel.columns if c.kind is not None]
        if not wanted:
            return emitter.samples(rel, {}, Counts())
        risk = self._meta[(rel.schema, rel.name)].risk
        if risk is not None:
            relkind = self._meta[(rel.schema, rel.name)].relkind
            return read_by_copy(self, rel, emitter, risk, relkind)
        ident = self.from_item(rel)
        rel.primary_key = self._primary_key(rel)
        counts, fraction = self._counts(rel, ident, wanted)
        if fraction < 100.0:
            counts.notes.append(("sampling", f"TABLESAMPLE SYSTEM ({fraction:.4g}%) REPEATABLE"))
        elif not rel.is_view:
            counts.notes.append(("sampling", "all rows, in a seeded hash order of their ctid"))
        sampled = {c.name: self._sample(rel, ident, c, counts, fraction) for c in wanted}
        stamps, notes = timestamp_values(self, rel, ident)
        places, place_notes = place_values(self, rel, *self._sampled_rows(rel, ident, fraction))
        return emitter.samples(rel, sampled, counts, stamps, notes + place_notes, places=places)

    def _primary_key(self, rel: Relation) -> tuple[str, ...]:
        """The relation's primary key columns, from the catalogue (none for a view, or when
        the catalogue cannot say in time): how a matched row is named."""
        if rel.is_view:
            return ()
        oid = sql.Identifier(rel.schema or "public", rel.name).as_string(self.conn)
        try:
            found = self.rows(pg_keys.PRIMARY_KEY, (oid,), timeout=self.meta_timeout)
        except (QueryTimeout, RelationUnreadable):
            return ()
        names = {c.name for c in rel.columns}
        return tuple(str(r[0]) for r in found if r[0] in names)

    def from_item(self, rel: Relation) -> sql.Composable:
        """The relation as a FROM item: `ONLY` for tables and materialized views (an
        inheritance child is a relation of its own, and is never planned with its parent)."""
        ident = sql.Identifier(rel.schema or "public", rel.name)
        if self._meta[(rel.schema, rel.name)].relkind in ("r", "m"):
            return sql.SQL("ONLY {}").format(ident)
        return ident

    def _counts(self, rel: Relation, ident: Any, wanted: list[Column]) -> tuple[Counts, float]:
        """Rows and non-null rows per column: exact for small tables, from a seeded
        TABLESAMPLE for big ones (estimated), through LIMIT for views. Also returns the
        TABLESAMPLE percentage that sampling will use (100: read by LIMIT)."""
        what = sql.SQL(", ").join(
            [sql.SQL("pg_catalog.count(*)")]
            + [sql.SQL("pg_catalog.count({})").format(sql.Identifier(c.name)) for c in wanted]
        )
        counts = Counts()
        if rel.is_view:
            inner = sql.SQL("SELECT * FROM {} LIMIT {}").format(ident, VIEW_ROW_CAP)
            row = self.rows(sql.SQL("SELECT {} FROM ({}) s").format(what, inner))[0]
            if row[0] >= VIEW_ROW_CAP:
                counts.notes.append(("rows_at_least", VIEW_ROW_CAP))
                counts.non_null_estimated = True
                return self._fill(counts, None, row, wanted), 100.0
            counts.rows = row[0]
            return self._fill(counts, row[0], row, wanted), 100.0
        hint = rel.rows_hint
        if hint is None or hint <= EXACT_COUNT_ROWS:
            try:
                row = self.rows(
                    sql.SQL("SELECT {} FROM {}").format(what, ident), timeout=self.meta_timeout
                )[0]
                counts.rows = row[0]
                return self._fill(counts, row[0], row, wanted), self._percent(row[0])
            except QueryTimeout:
                counts.notes.append(
                    ("rows_from", "pg_class.reltuples (count exceeded its deadline)")
                )
        estimate = round(hint) if hint is not None else None
        counts.rows, counts.rows_estimated, counts.non_null_estimated = estimate, True, True
        percent = min(100.0, 100.0 * EXACT_COUNT_ROWS / max(estimate or 1, 1) / 10)
        try:
            row = self.rows(
                sql.SQL("SELECT {} FROM {} TABLESAMPLE SYSTEM ({}) REPEATABLE ({})").format(
                    what, ident, sql.Literal(percent), sql.Literal(self.limits.seed)
                ),
                timeout=self.meta_timeout,
            )[0]
            self._fill(counts, row[0], row, wanted, scale_to=estimate)
        except QueryTimeout:
            counts.notes.append(("non_null", "not estimated (sample count exceeded its deadline)"))
        return counts, self._percent(estimate)

    @staticmethod
    def _fill(
        counts: Counts,
        whole: int | None,
        row: Any,
        wanted: list[Column],
        scale_to: int | None = None,
    ) -> Counts:
        for col, n in zip(wanted, row[1:], strict=True):
            value = n if scale_to is None else scaled(n, whole or 0, scale_to)
            if value is not None:
                counts.non_null[col.name] = value
        return counts

    def _percent(self, rows: int | None) -> float:
        """TABLESAMPLE percentage for a table of `rows` (100: small, read by LIMIT)."""
        wanted = self.limits.rows * SAMPLE_FACTOR
        if rows is None or rows <= 10 * self.limits.rows:
            return 100.0
        return max(min(100.0, 100.0 * wanted / rows), 1e-4)

    def _sampled_rows(
        self, rel: Relation, ident: Any, percent: float
    ) -> tuple[sql.Composable, sql.Composable]:
        """The FROM source and ORDER BY of the sample: rows in a seeded hash order of their
        address, so the sample spans the whole table (or the whole TABLESAMPLE), not its
        first pages, and is the same every run. Views: their first rows."""
        if rel.is_view:
            return ident, sql.SQL("")
        source: sql.Composable = ident
        if percent < 100.0:
            source = sql.SQL("{} TABLESAMPLE SYSTEM ({}) REPEATABLE ({})").format(
                ident, sql.Literal(percent), sql.Literal(self.limits.seed)
            )
        order = sql.SQL(
            "ORDER BY pg_catalog.md5(tableoid::pg_catalog.text || ctid::pg_catalog.text || {})"
        ).format(sql.Literal(str(self.limits.seed)))
        return source, order

    def _sample(
        self, rel: Relation, ident: Any, col: Column, counts: Counts, percent: float
    ) -> Sampled:
        c = sql.Identifier(col.name)
        t = self.column_type(rel, col)
        if not t.builtin:  # no function of its type runs: its stored size, its output form
            size: sql.Composable = sql.SQL("pg_catalog.pg_column_size({})").format(c)
            value = sql.SQL("s.v")
        elif col.kind in ("json", "jsonb", "array"):
            size = sql.SQL("pg_catalog.octet_length({}::pg_catalog.text)").format(c)
            value = sql.SQL("s.v" if col.kind == "array" else "s.v::pg_catalog.text")
        else:
            size, value = sql.SQL("pg_catalog.octet_length({})").format(c), sql.SQL("s.v")
        if not self.values:  # measured only: the cluster's worker fetches the values
            value = sql.SQL("NULL")
        source, order = self._sampled_rows(rel, ident, percent)
        # Which row each value is: its primary key and its own date, when short (their size
        # by the type-blind pg_column_size; only their output form is read).
        dated = date_column(rel)
        marks = [*rel.primary_key, *([dated.name] if dated is not None else [])]
        beside = sql.SQL("").join(
            sql.SQL(", CASE WHEN pg_catalog.pg_column_size({m}) <= {n} THEN {m} END AS {a}").format(
                m=sql.Identifier(m), n=sql.Literal(KEY_BYTES), a=sql.Identifier(f"m{i}")
            )
            for i, m in enumerate(marks)
        )
        outer = sql.SQL("").join(
            sql.SQL(", s.{}").format(sql.Identifier(f"m{i}")) for i in range(len(marks))
        )
        # The inner query carries the value as a TOAST pointer; only a value within the
        # limit is ever detoasted and sent.
        query = sql.SQL(
            "SELECT s.size, CASE WHEN s.size <= {limit} THEN {value} END{outer} FROM "
            "(SELECT {size} AS size, {c} AS v{beside} FROM {source} WHERE {c} IS NOT NULL "
            "{order} LIMIT {n}) s"
        ).format(
            limit=sql.Literal(self.limits.value_bytes),
            value=value,
            outer=outer,
            size=size,
            c=c,
            beside=beside,
            source=source,
            order=order,
            n=sql.Literal(self.limits.rows),
        )
        out = Sampled(sizes_only=not self.values)
        spent = 0
        name = f"faceaudit_{time.monotonic_ns()}"
        # Few rows per round trip, and none once the column's byte budget is spent: the
        # client never holds much more than the budget, whatever the table holds.
        per_fetch = self.limits.column_bytes // max(self.limits.value_bytes, 1)
        with self.statement(None, True), self.conn.cursor(name=name) as cur:
            cur.itersize = max(1, min(32, per_fetch))
            cur.execute(query)
            keys = len(rel.primary_key)
            for row in cur:
                length, fetched = row[:2]
                date = row[2 + keys] if dated is not None else None
                ref = row_ref(rel, row[2 : 2 + keys], date)
                spent = out.add(value_of(fetched), length or 0, self.limits, spent, ref)
                if out.budget_skipped:
                    break
        return out


def open_source(target: str, ctx: SourceContext) -> PostgresSource:
    return PostgresSource(target, ctx.sampling, values=ctx.sample_values)


def display(target: str) -> str:
    """`postgresql://host:5432/db`: no user, no password, no parameters."""
    return display_uri(target)


def read_relation(target: str, table: str, sampling: SampleLimits) -> list[ColumnSample | Problem]:
    """One relation's sampled columns (PostgresSource.relation): a Dask worker's read."""
    return PostgresSource(target, sampling).relation(table)


def read_keys(target: str, read: KeyRead, sampling: SampleLimits) -> tuple[SubjectRow, ...]:
    """The subjects of a column's rows (PostgresSource.keys)."""
    return PostgresSource(target, sampling).keys(read)


def read_rows(target: str, sql: str, base: Path | None = None) -> Sequence[Sequence[Any]]:
    """The rows of one query against a register kept in PostgreSQL (configuration, named by
    the policy): read-only, an empty search_path, a statement timeout."""
    options = (
        f"-c statement_timeout={int(REGISTER_TIMEOUT_S * 1000)} "
        "-c default_transaction_read_only=on -c search_path="
    )
    with psycopg.connect(target, connect_timeout=10, options=options) as pg:
        pg.read_only = True
        with pg.transaction(), pg.cursor() as cur:
            cur.execute(sql.encode())
            return list(cur.fetchall())
