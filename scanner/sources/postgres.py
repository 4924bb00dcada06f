"""PostgreSQL databases (psycopg 3), sampled read-only and under deadlines.

The real guarantee is the role: scan with a SELECT-only role. Everything below narrows what a
session can do, but `SET TRANSACTION READ WRITE` bypasses a read-only default for a role that
may write (../shared/docs/HOSTILE.md), so a scanner's settings are a second line, not the
first. What this source does on its side:

- every transaction is `BEGIN READ ONLY` (psycopg `read_only`), one per relation, so a failed
  statement costs that relation only; optional statements run in savepoints;
- `search_path` is empty and every name is schema-qualified (`pg_catalog.` included): a
  function planted in `public` (a `public.lower(varchar)` that outranks pg_catalog's for a
  varchar argument) is never resolved, so never executed; `row_security` is off, so a
  policy's functions are not run either (such a table is reported instead);
- `statement_timeout` and `lock_timeout` from SampleLimits; counts and timestamp ranges get a
  shorter deadline and fall back to estimates;
- big tables are sampled with `TABLESAMPLE SYSTEM (p) REPEATABLE (seed)` (same rows every
  run), small ones by `LIMIT`; views by `LIMIT` too, and counted only through `LIMIT` (a
  view may never end: its timeout is that relation's QUERY_TIMEOUT and the scan goes on);
- values are measured (`octet_length`) before they are fetched, through server-side
  cursors; a value over SampleLimits.value_bytes is counted, never sent;
- foreign tables are not read (that would contact another server) and are counted as such.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from decimal import Decimal
from typing import Any, Literal

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from scanner.model import Location, Problem, ProblemReason
from scanner.sources.database import ColumnSample, DatabaseError, SampleLimits, Value, redact
from scanner.sources.relational import (
    EXACT_COUNT_ROWS,
    META_TIMEOUT_S,
    MIN_TEXT_CHARS,
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
    place_counts,
    scaled,
    timestamp_ranges,
)

_CATALOGUE = """
SELECT n.nspname, c.relname, c.relkind, c.reltuples::pg_catalog.float8, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), b.typname, b.typcategory,
       COALESCE(e.typname, ''), a.atttypmod
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, c.relname, a.attnum
"""
_KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}
_TEXT_TYPES = {"text", "varchar", "bpchar", "citext"}
_FLOAT_ELEMENTS = {"float4", "float8", "numeric"}
_TEMPORAL = {"date", "timestamp", "timestamptz"}
SAMPLE_FACTOR = 4  # TABLESAMPLE aims at this many times the rows wanted


def display_uri(uri: str) -> str:
    """`postgresql://host:port/db` — no user, no password, no parameters."""
    try:
        info = conninfo_to_dict(uri)
    except Exception:
        return redact(uri.split("?", 1)[0])
    host = str(info.get("host") or "localhost")
    if host.startswith("/"):
        host = urllib.parse.quote(host, safe="")
    db = info.get("dbname") or info.get("user") or ""
    return f"postgresql://{host}:{info.get('port') or 5432}/{db}"


class PostgresSource:
    """Sampled columns of every table, view and materialized view of one database."""

    def __init__(self, uri: str, sampling: SampleLimits) -> None:
        self._uri = uri
        self.limits = sampling
        self.database = display_uri(uri)
        self.summary = Summary()
        # counts and timestamp ranges are context: a shorter deadline, then estimates
        self.meta_timeout = min(META_TIMEOUT_S, sampling.statement_timeout_s)
        self._conn: psycopg.Connection[Any] | None = None

    def columns(self) -> Iterator[ColumnSample | Problem]:
        self._conn = self._connect()
        try:
            relations = self._relations()
            emitter = Emitter(self.database, relations, self.limits, self.summary)
            for rel in relations:
                yield from self._guarded(rel, emitter)
        finally:
            self.conn.close()
            self._conn = None

    # -- connection and statements -----------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection[Any]:
        assert self._conn is not None
        return self._conn

    def _connect(self) -> psycopg.Connection[Any]:
        where = Location(self.database)
        try:
            conn = psycopg.connect(
                self._uri,
                autocommit=False,
                connect_timeout=max(2, round(min(self.limits.statement_timeout_s, 15))),
                application_name="faceaudit",
            )
        except Exception as exc:  # never the URI: it may hold a password
            raise DatabaseError(where, redact(f"cannot connect: {exc}")) from None
        conn.read_only = True  # every transaction: BEGIN READ ONLY
        settings = {
            "search_path": "",
            "statement_timeout": str(round(self.limits.statement_timeout_s * 1000)),
            "lock_timeout": str(round(self.limits.lock_timeout_s * 1000)),
            "idle_in_transaction_session_timeout": "600000",
            "synchronize_seqscans": "off",  # a seq scan starts at block 0: same rows each run
            "row_security": "off",  # never run a policy's functions; report the table instead
            "default_transaction_read_only": "on",
        }
        try:
            with conn.transaction():
                for name, value in settings.items():
                    conn.execute("SELECT pg_catalog.set_config(%s, %s, false)", (name, value))
        except Exception as exc:
            conn.close()
            raise DatabaseError(where, redact(f"cannot configure the session: {exc}")) from None
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
        with self._statement(timeout, savepoint):
            return self.conn.execute(query, params).fetchall()

    def _statement(self, timeout: float | None, savepoint: bool) -> AbstractContextManager[Any]:
        return _Statement(self, timeout or self.limits.statement_timeout_s, savepoint)

    # -- the schema ----------------------------------------------------------------------

    def _relations(self) -> list[Relation]:
        try:
            with self.conn.transaction():
                catalogue = self.rows(_CATALOGUE, savepoint=False)
        except (QueryTimeout, RelationUnreadable) as exc:
            raise DatabaseError(
                Location(self.database), f"cannot read the catalogue: {exc}"
            ) from None
        relations: dict[tuple[str, str], Relation] = {}
        for schema, name, relkind, tuples, col, declared, base, category, elem, typmod in catalogue:
            if relkind == "f":
                self.summary.add("foreign_table_columns_not_read")
                continue
            rel = relations.get((schema, name))
            if rel is None:
                hint = tuples if tuples is not None and tuples >= 0 else None
                rel = relations[(schema, name)] = Relation(schema, name, _KINDS[relkind], [], hint)
            kind = _kind(base, category, elem, typmod)
            rel.columns.append(Column(col, declared, kind, base in _TEMPORAL))
        self.summary.add("relations", len(relations))
        return list(relations.values())

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
        ident = sql.Identifier(rel.schema or "public", rel.name)
        counts, fraction = self._counts(rel, ident, wanted)
        if fraction < 100.0:
            counts.notes.append(("sampling", f"TABLESAMPLE SYSTEM ({fraction:.4g}%) REPEATABLE"))
        elif not rel.is_view:
            counts.notes.append(("sampling", "all rows, in a seeded hash order of their ctid"))
        sampled = {c.name: self._sample(rel, ident, c, counts, fraction) for c in wanted}
        stamps, notes = self._timestamps(rel, ident)
        places, place_notes = self._places(rel, ident, fraction)
        return emitter.samples(rel, sampled, counts, stamps, notes + place_notes, places=places)

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

    def _places(
        self, rel: Relation, ident: Any, percent: float
    ) -> tuple[Places, list[tuple[str, Any]]]:
        """Country/region columns over `limits.rows` rows drawn like the sample."""
        source, order = self._sampled_rows(rel, ident, percent)

        def fetch(col: Column) -> list[object]:
            query = sql.SQL(
                "SELECT pg_catalog.left({c}::pg_catalog.text, {w}) FROM {s} {o} LIMIT {n}"
            )
            rows = self.rows(
                query.format(
                    c=sql.Identifier(col.name),
                    w=sql.Literal(PLACE_VALUE_CHARS),
                    s=source,
                    o=order,
                    n=sql.Literal(self.limits.rows),
                ),
                timeout=self.meta_timeout,
            )
            return [r[0] for r in rows]

        return place_counts(rel, fetch)

    def _sample(
        self, rel: Relation, ident: Any, col: Column, counts: Counts, percent: float
    ) -> Sampled:
        c = sql.Identifier(col.name)
        as_text = col.kind in ("json", "jsonb", "vector", "array")
        size = (
            sql.SQL("pg_catalog.octet_length({}::pg_catalog.text)")
            if as_text
            else sql.SQL("pg_catalog.octet_length({})")
        ).format(c)
        value = sql.SQL("s.v::pg_catalog.text" if col.kind != "array" and as_text else "s.v")
        source, order = self._sampled_rows(rel, ident, percent)
        # The inner query carries the value as a TOAST pointer; only a value within the
        # limit is ever detoasted and sent.
        query = sql.SQL(
            "SELECT s.size, CASE WHEN s.size <= {limit} THEN {value} END FROM "
            "(SELECT {size} AS size, {c} AS v FROM {source} WHERE {c} IS NOT NULL {order} "
            "LIMIT {n}) s"
        ).format(
            limit=sql.Literal(self.limits.value_bytes),
            value=value,
            size=size,
            c=c,
            source=source,
            order=order,
            n=sql.Literal(self.limits.rows),
        )
        out = Sampled()
        spent = 0
        name = f"faceaudit_{time.monotonic_ns()}"
        # Few rows per round trip, and none once the column's byte budget is spent: the
        # client never holds much more than the budget, whatever the table holds.
        per_fetch = self.limits.column_bytes // max(self.limits.value_bytes, 1)
        with self._statement(None, True), self.conn.cursor(name=name) as cur:
            cur.itersize = max(1, min(32, per_fetch))
            cur.execute(query)
            for length, fetched in cur:
                spent = out.add(_value(fetched), length or 0, self.limits, spent)
                if out.budget_skipped:
                    break
        return out

    def _timestamps(self, rel: Relation, ident: Any) -> tuple[Stamps, list[tuple[str, Any]]]:
        source: Any = ident
        if rel.is_view:
            source = sql.SQL("(SELECT * FROM {} LIMIT {}) s").format(ident, VIEW_ROW_CAP)

        def min_max(col: Column) -> tuple[object, object]:
            query = sql.SQL(
                "SELECT pg_catalog.min({c})::pg_catalog.text, pg_catalog.max({c})::pg_catalog.text"
                " FROM {source}"
            ).format(c=sql.Identifier(col.name), source=source)
            lo, hi = self.rows(query, timeout=self.meta_timeout)[0]
            return lo, hi

        return timestamp_ranges(rel, min_max)


class _Statement:
    """One statement's deadline (SET LOCAL statement_timeout) inside an optional savepoint;
    driver errors become QueryTimeout / RelationUnreadable, a lost connection a
    DatabaseError for the whole database."""

    def __init__(self, source: PostgresSource, timeout: float, savepoint: bool) -> None:
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
        detail = redact(
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        if conn.broken or conn.closed:
            raise DatabaseError(Location(self.source.database), f"connection lost: {detail}")
        if isinstance(exc, errors.QueryCanceled):
            raise QueryTimeout(f"statement exceeded {self.timeout:g} s: {detail}")
        if isinstance(exc, errors.LockNotAvailable):
            raise QueryTimeout(f"lock not granted within lock_timeout: {detail}")
        raise RelationUnreadable(detail)


def _kind(base: str, category: str, elem: str, typmod: int) -> str | None:
    """How a column is fetched, or None when its type cannot hold a vector or an image."""
    if base == "bytea":
        return "bytes"
    if base in ("vector", "halfvec"):
        return "vector"
    if base in ("json", "jsonb"):
        return base
    if category == "A" and elem in _FLOAT_ELEMENTS:
        return "array"
    if base in _TEXT_TYPES:
        chars = typmod - 4 if typmod > 4 else None  # varchar(n)/char(n): typmod is n + 4
        return "text" if chars is None or chars >= MIN_TEXT_CHARS else None
    return None


def _value(value: Any) -> Value | None:
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
