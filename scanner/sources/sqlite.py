"""SQLite databases, sampled without changing a byte of them.

How a database is opened safely (private copies when sidecars exist, quoted read-only URIs
otherwise) is in scanner.sources.sqlite_open. Here: what is read. Rowid tables are sampled at
seeded random rowids (the same rows every run), views and WITHOUT ROWID tables by `LIMIT`
(views also counted through `LIMIT`: a view may be endless). Every statement runs under a
deadline; a value is measured (`typeof`/`length` read only the record header for BLOBs)
before it is fetched, values over 1 MiB are read through `blobopen` in bounded chunks, and
values over the value limit are counted, never read. sqlite-vec `vec0` tables are read from
their shadow tables without loading the extension (scanner.sources.sqlite_vec); FTS and
R*Tree shadow tables are index structures and are skipped with a note.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, cast

from scanner.config import SampleLimits
from scanner.model import (
    DatabaseLocation,
    DatabaseRef,
    FileLocation,
    MemberLocation,
    ObjectLocation,
    Problem,
    ProblemReason,
    ScalarValue,
)
from scanner.sources import sqlite_open, sqlite_schema, sqlite_vec
from scanner.sources.database import ColumnSample, DatabaseError, Value, sqlite_ref
from scanner.sources.filesystem import FileChangedError
from scanner.sources.relational import (
    EXACT_COUNT_ROWS,
    META_TIMEOUT_S,
    MIN_VALUE_BYTES,
    PLACE_VALUE_CHARS,
    VIEW_ROW_CAP,
    Column,
    Counts,
    Deadline,
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
    seeded,
    select,
    timestamp_ranges,
)
from scanner.sources.sqlite_open import q

DEFAULT_MAX_COPY_BYTES = 1024 * 1024 * 1024  # the private copy a recovery may need
BLOB_CHUNK = 1024 * 1024  # values above this are read through blobopen, in chunks this size
KEY_CHARS = 256  # a key or date value longer than this is not read (a row is named without it)


class SqliteSource:
    """Sampled columns of one SQLite database: a path, a walked file, or archive bytes."""

    def __init__(
        self,
        uri: str,
        sampling: SampleLimits,
        private_dir: str | None = None,
        max_copy_bytes: int = DEFAULT_MAX_COPY_BYTES,
    ) -> None:
        path = sqlite_open.path_from_uri(uri)
        self._setup(
            sampling,
            sqlite_ref(path),
            path=path,
            private_dir=private_dir,
            max_copy=max_copy_bytes,
        )

    @classmethod
    def from_fd(
        cls,
        fd: int,
        path: str,
        database: DatabaseRef,
        sampling: SampleLimits,
        *,
        private_dir: str,
        max_copy_bytes: int,
    ) -> SqliteSource:
        """A database file already opened (and checked) by the caller: `fd` is what is read;
        `path` is where its sidecars are; `database` names it in locations (a walked file:
        `sqlite://` + its path as reached from the scan target, so that, like file paths,
        locations and fingerprints do not depend on the checkout: sources.database.sqlite_ref)."""
        obj = cls.__new__(cls)
        obj._setup(
            sampling, database, path=path, fd=fd, private_dir=private_dir, max_copy=max_copy_bytes
        )
        return obj

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        display: str,
        sampling: SampleLimits,
        at: FileLocation | MemberLocation | ObjectLocation | None = None,
    ) -> SqliteSource:
        """A database read into memory (an archive member, an object): `at` is where."""
        obj = cls.__new__(cls)
        obj._setup(sampling, sqlite_ref(display, uri=False, at=at), data=data)
        return obj

    def _setup(
        self,
        sampling: SampleLimits,
        database: DatabaseRef,
        *,
        path: str | None = None,
        data: bytes | None = None,
        fd: int | None = None,
        private_dir: str | None = None,
        max_copy: int = DEFAULT_MAX_COPY_BYTES,
    ) -> None:
        self.limits = sampling
        self.ref = database
        self.database = database.display
        self.summary = Summary()
        # counts and timestamp ranges are context: a shorter deadline, then estimates
        self.meta_timeout = min(META_TIMEOUT_S, sampling.statement_timeout_s)
        self._path, self._data = path, data
        self._fd, self._private_dir, self._max_copy = fd, private_dir, max_copy
        self._deadline = Deadline()
        self._conn: sqlite3.Connection | None = None
        # called as each statement starts (a worker's heartbeat: a long walk is not a hang)
        self.on_statement: Callable[[], None] | None = None

    @property
    def where(self) -> DatabaseLocation:
        return DatabaseLocation(self.ref)

    def columns(self) -> Iterator[ColumnSample | Problem]:
        if self._data is not None and not hasattr(sqlite3.Connection, "deserialize"):
            yield Problem(
                self.where,
                ProblemReason.DETECTOR_UNAVAILABLE,
                "a SQLite database inside an archive is opened in memory, which needs "
                "Python >= 3.11 (sqlite3 deserialize); not scanned",
            )
            return
        try:
            opened = self._open()
        except sqlite_open.CopyRefused as exc:
            raise DatabaseError(self.where, str(exc), ProblemReason.OVERSIZE) from None
        except FileChangedError as exc:
            raise DatabaseError(self.where, str(exc), ProblemReason.CHANGED_DURING_SCAN) from None
        except (OSError, sqlite3.Error, sqlite_open.NotSqlite) as exc:
            raise DatabaseError(self.where, f"cannot open SQLite database: {exc}") from None
        self._conn = opened.conn
        try:
            yield from self._walk()
        finally:
            self._conn = None
            sqlite_open.close(opened)

    # -- opening -------------------------------------------------------------------------

    def _open(self) -> sqlite_open.Opened:
        if self._data is not None:
            opened = sqlite_open.Opened(sqlite_open.open_bytes(self._data), None)
        else:
            assert self._path is not None
            private = self._private_dir or tempfile.gettempdir()
            if self._fd is not None:
                opened = sqlite_open.open_fd(self._fd, self._path, private, self._max_copy)
            else:
                opened = sqlite_open.open_path(self._path, private, self._max_copy)
            if opened.replayed:
                self.summary.add("private_copy_for_" + "_".join(s[1:] for s in opened.replayed))
            for note in opened.notes:
                self.summary.add(note)
        limit = max(self.limits.value_bytes, BLOB_CHUNK) + 1
        try:
            sqlite_open.configure(opened.conn, limit, lambda: 1 if self._deadline.passed() else 0)
        except BaseException:
            sqlite_open.close(opened)
            raise
        return opened

    # -- statements ----------------------------------------------------------------------

    def q(self, sql: str, params: tuple[Any, ...] = (), timeout: float | None = None) -> list[Any]:
        """Rows of one statement under its deadline (QueryTimeout / RelationUnreadable)."""
        assert self._conn is not None
        if self.on_statement is not None:
            self.on_statement()
        self._deadline.start(timeout or self.limits.statement_timeout_s)
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if self._deadline.passed():
                raise QueryTimeout(f"statement exceeded its deadline: {sql[:80]}") from None
            raise RelationUnreadable(str(exc)) from None
        finally:
            self._deadline.clear()

    def read_blob(self, table: str, column: str, rowid: int, size: int, offset: int = 0) -> bytes:
        """`size` bytes of a value from `offset`, read through blobopen in BLOB_CHUNK pieces."""
        assert self._conn is not None
        if self.on_statement is not None:
            self.on_statement()
        self._deadline.start(self.limits.statement_timeout_s)
        parts: list[bytes] = []
        got = 0
        try:
            with cast(Any, self._conn).blobopen(table, column, rowid, readonly=True) as blob:
                blob.seek(offset)
                while got < size:
                    if self._deadline.passed():
                        raise QueryTimeout(f"reading a {size}-byte value took too long")
                    part = blob.read(min(BLOB_CHUNK, size - got))
                    if not part:
                        break
                    parts.append(part)
                    got += len(part)
        except sqlite3.Error as exc:
            raise RelationUnreadable(str(exc)) from None
        finally:
            self._deadline.clear()
        return b"".join(parts)

    # -- the schema ----------------------------------------------------------------------

    def _walk(self) -> Iterator[ColumnSample | Problem]:
        relations, problems = sqlite_schema.relations(self)
        yield from problems
        emitter = Emitter(self.ref, relations, self.limits, self.summary)
        for rel in relations:
            where = emitter.relation_where(rel)
            assert self._conn is not None
            try:
                self._conn.execute("BEGIN")  # one snapshot per relation
                yield from self._relation(rel, emitter)
            except QueryTimeout as exc:
                self.summary.add("relations_timed_out")
                yield Problem(where, ProblemReason.QUERY_TIMEOUT, str(exc))
            except RelationUnreadable as exc:
                self.summary.add("relations_unreadable")
                yield Problem(where, ProblemReason.DATABASE_UNREADABLE, str(exc))
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")

    # -- one relation --------------------------------------------------------------------

    def _relation(self, rel: Relation, emitter: Emitter) -> Iterator[ColumnSample | Problem]:
        if "vec0" in rel.extra:
            yield from sqlite_vec.sample(self, rel, emitter)
            return
        t = q(rel.name)
        wanted = [c for c in rel.columns if c.kind is not None]
        rowids: list[int] | None = None
        if rel.extra.get("rowid"):
            counts, rowids = self.count_and_pick(t)
        else:
            counts = self._count_limited(t)
        probe, probed = self._probe(t, wanted, rowids)
        sampled: dict[str, Sampled] = {}
        for col in wanted:
            looked = probe.get(col.name, [])
            big = any(k in ("blob", "text") and n >= MIN_VALUE_BYTES for k, n in looked)
            if not big and (looked or not self._sparse_has_values(t, col)):
                sampled[col.name] = Sampled(sizes=[n for _, n in looked])  # skipped by values
                continue
            sampled[col.name] = self._sample(rel, col, rowids)
        self._non_null(t, counts, sampled, probe, probed)
        stamps, notes = self._timestamps(rel)
        places, place_notes = self._places(rel, rowids)
        yield from emitter.samples(rel, sampled, counts, stamps, notes + place_notes, places=places)

    def count_and_pick(self, t: str) -> tuple[Counts, list[int]]:
        """Rows (exact under the deadline, else max-min+1 estimated) and sampled rowids."""
        lo, hi = self.q(select("min(rowid), max(rowid)", t))[0]
        if lo is None:
            return Counts(rows=0), []
        counts = Counts()
        try:
            counts.rows = self.q(select("count(*)", t), timeout=self.meta_timeout)[0][0]
        except QueryTimeout:
            counts.rows, counts.rows_estimated = hi - lo + 1, True
            counts.notes.append(("rows_from", "rowid range (count(*) exceeded its deadline)"))
        n = self.limits.rows
        if counts.rows is not None and counts.rows <= n and not counts.rows_estimated:
            return counts, [r[0] for r in self.q(select("rowid", t, "ORDER BY rowid"))]
        rng = seeded(self.limits, self.database, t)
        picked: set[int] = set()
        for _ in range(2 * n):  # rowid gaps make some picks land on the same row
            if len(picked) >= n:
                break
            at = rng.randint(lo, hi)
            row = self.q(select("rowid", t, "WHERE rowid >= ? ORDER BY rowid LIMIT 1"), (at,))
            if row:
                picked.add(row[0][0])
        counts.notes.append(("sampling", f"{len(picked)} seeded random rowids"))
        return counts, sorted(picked)

    def in_rowids(self, what: str, t: str, rowids: list[int], *tail: str) -> list[Any]:
        """Rows at the given rowids, in batches of bound parameters."""
        rows: list[Any] = []
        for i in range(0, len(rowids), 500):
            part = rowids[i : i + 500]
            marks = ",".join("?" * len(part))
            rows += self.q(select(what, t, *tail, f"rowid IN ({marks})"), tuple(part))
        return rows

    def _rows_at(self, what: str, t: str, rowids: list[int], where: str) -> tuple[list[Any], int]:
        """Rows at the rowids, and how many could not be read because a TEXT value exceeds
        SQLITE_LIMIT_LENGTH (such values are over the value limit: counted, not read)."""
        try:
            return self.in_rowids(what, t, rowids, where), 0
        except RelationUnreadable as exc:
            if not _too_big(exc):
                raise
        rows: list[Any] = []
        too_big = 0
        for rowid in rowids:
            try:
                rows += self.q(select(what, t, where, "rowid = ?"), (rowid,))
            except RelationUnreadable as exc:
                if not _too_big(exc):
                    raise
                too_big += 1
        return rows, too_big

    def _count_limited(self, t: str) -> Counts:
        """Views and WITHOUT ROWID tables: counted through LIMIT (a view may be endless)."""
        n = self.q(select("count(*)", f"({select('1', t, f'LIMIT {VIEW_ROW_CAP}')})"))[0][0]
        if n < VIEW_ROW_CAP:
            return Counts(rows=n)
        return Counts(rows=None, notes=[("rows_at_least", VIEW_ROW_CAP)])

    def _probe(
        self, t: str, columns: list[Column], rowids: list[int] | None
    ) -> tuple[dict[str, list[tuple[str, int]]], int]:
        """typeof and length of every column at the sampled rows: the quick look at values."""
        if not columns:
            return {}, 0
        try:
            return self._probe_columns(t, columns, rowids)
        except RelationUnreadable as exc:
            if not _too_big(exc):
                raise
        # A TEXT value beyond SQLITE_LIMIT_LENGTH cannot even be measured (length() of text
        # loads it): find the column, and mark it as holding an oversized value.
        out: dict[str, list[tuple[str, int]]] = {}
        probed = 0
        for col in columns:
            try:
                one, probed = self._probe_columns(t, [col], rowids)
                out |= one
            except RelationUnreadable as exc:
                if not _too_big(exc):
                    raise
                out[col.name] = [("text", self.limits.value_bytes + 1)]
        return out, probed

    def _probe_columns(
        self, t: str, columns: list[Column], rowids: list[int] | None
    ) -> tuple[dict[str, list[tuple[str, int]]], int]:
        what = ", ".join(f"typeof({q(c.name)}), length({q(c.name)})" for c in columns)
        if rowids is None:
            rows = self.q(select(what, t, f"LIMIT {self.limits.rows}"))
        else:
            rows = self.in_rowids(what, t, rowids, "WHERE")
        out: dict[str, list[tuple[str, int]]] = {}
        for i, col in enumerate(columns):
            out[col.name] = [(r[2 * i], r[2 * i + 1] or 0) for r in rows if r[2 * i] != "null"]
        return out, len(rows)

    def _sparse_has_values(self, t: str, col: Column) -> bool:
        """A column NULL at every sampled row may still hold values elsewhere."""
        c = q(col.name)
        where = f"WHERE typeof({c}) IN ('blob', 'text') AND length({c}) >= {MIN_VALUE_BYTES}"
        try:
            return bool(self.q(select("1", t, where, "LIMIT 1"), timeout=self.meta_timeout))
        except QueryTimeout:
            return False
        except RelationUnreadable as exc:
            if _too_big(exc):
                return True  # a value too big to measure: sampled, and counted as oversized
            raise

    def _sample(self, rel: Relation, col: Column, rowids: list[int] | None) -> Sampled:
        t, c = q(rel.name), q(col.name)
        # Values up to `small` come with the row; larger ones (rowid tables) through blobopen.
        small = BLOB_CHUNK if rowids is not None else self.limits.value_bytes
        # Which row each value is: its primary key (or rowid) and its own date, cut short.
        dated = date_column(rel)
        marks = [*rel.primary_key, *([dated.name] if dated is not None else [])]
        beside = "".join(
            f", CASE WHEN length({q(m)}) <= {KEY_CHARS} THEN {q(m)} END" for m in marks
        )
        what = (
            f"{'rowid' if rowids is not None else 'NULL'}, typeof({c}), length({c}), "
            f"CASE WHEN length({c}) <= {small} THEN {c} END{beside}"
        )
        keys = len(rel.primary_key)
        n = self.limits.rows
        out = Sampled()
        if rowids:
            rows, out.oversized = self._rows_at(what, t, rowids, f"WHERE {c} IS NOT NULL AND")
            out.sizes += [self.limits.value_bytes + 1] * out.oversized
            if len(rows) + out.oversized < n // 4:  # sparse: add the first rows holding a value
                seen = {r[0] for r in rows}
                try:
                    more = self.q(
                        select(what, t, f"WHERE {c} IS NOT NULL ORDER BY rowid LIMIT {n}")
                    )
                except RelationUnreadable as exc:
                    if not _too_big(exc):
                        raise
                    more = []
                rows += [r for r in more if r[0] not in seen][: n - len(rows)]
        else:
            rows = self.q(select(what, t, f"WHERE {c} IS NOT NULL LIMIT {n}"))
        spent = 0
        for row in rows:
            rowid, kind, length, fetched = row[:4]
            date = row[4 + keys] if dated is not None else None
            ref = row_ref(rel, row[4 : 4 + keys], date, rowid)
            size = length or 0
            if kind not in ("blob", "text"):
                out.sizes.append(len(str(fetched)))  # a number: read, not a vector or image
                continue
            value: Value | None = fetched
            fits = size <= self.limits.value_bytes and spent + size <= self.limits.column_bytes
            if fetched is None and fits and rowid is not None:
                raw = self.read_blob(rel.name, col.name, rowid, size)
                value = raw.decode("utf-8", "replace") if kind == "text" else raw
            spent = out.add(value, size, self.limits, spent, ref)
        return out

    def _non_null(
        self,
        t: str,
        counts: Counts,
        sampled: dict[str, Sampled],
        probe: dict[str, list[tuple[str, int]]],
        probed: int,
    ) -> None:
        names = [n for n, s in sampled.items() if s.worth_keeping()]
        if not names:
            return
        exact = counts.rows is not None and not counts.rows_estimated
        if exact and (counts.rows or 0) <= EXACT_COUNT_ROWS:
            # count(c) would load every value (and fail on one beyond SQLITE_LIMIT_LENGTH);
            # typeof() reads only the record header.
            what = ", ".join(f"total(typeof({q(n)}) != 'null')" for n in names)
            try:
                row = self.q(select(what, t), timeout=self.meta_timeout)[0]
                counts.non_null = {n: int(v) for n, v in zip(names, row, strict=True)}
                return
            except QueryTimeout:
                pass
        for n in names:
            est = scaled(len(probe.get(n, [])), probed, counts.rows)
            if est is not None:
                counts.non_null[n] = est
        counts.non_null_estimated = True

    def _timestamps(self, rel: Relation) -> tuple[Stamps, list[tuple[str, ScalarValue]]]:
        source = q(rel.name)
        if rel.is_view:
            source = f"({select('*', source, f'LIMIT {VIEW_ROW_CAP}')})"

        def min_max(col: Column) -> tuple[object, object]:
            c = q(col.name)
            lo, hi = self.q(select(f"min({c}), max({c})", source), timeout=self.meta_timeout)[0]
            return lo, hi

        return timestamp_ranges(rel, min_max)

    def _places(
        self, rel: Relation, rowids: list[int] | None
    ) -> tuple[Places, list[tuple[str, ScalarValue]]]:
        """Country/region columns over the sampled rows (the seeded rowids, else LIMIT)."""
        t = q(rel.name)

        def fetch(col: Column) -> list[object]:
            c = q(col.name)  # text only: a BLOB or a number is no country name
            what = f"CASE WHEN typeof({c}) = 'text' THEN substr({c}, 1, {PLACE_VALUE_CHARS}) END"
            if rowids is None:
                rows = self.q(
                    select(what, t, f"LIMIT {self.limits.rows}"), timeout=self.meta_timeout
                )
            else:
                rows = self.in_rowids(what, t, rowids, "WHERE")
            return [r[0] for r in rows]

        return place_counts(rel, fetch)


def _too_big(exc: Exception) -> bool:
    return "too big" in str(exc)


def _value(value: Any) -> Value | None:
    if value is None or isinstance(value, (bytes, str)):
        return value
    return str(value)
