"""Reading a PostgreSQL table without the planner: `COPY table (columns) TO STDOUT`.

A relation whose index, statistics or partition-key expressions call code that is not
built in (pg_schema.risks_query) runs that code while any SELECT on it is *planned*. `COPY
table TO` is not planned: it scans the heap (no index, statistics or constraint is loaded;
checked on PostgreSQL 15 with a planted IMMUTABLE function that writes through dblink).
A partitioned table cannot be copied as a whole: its leaf partitions are copied one after
the other (a foreign leaf is never read). COPY honours row-level security: with
`row_security` off, a table whose policies apply to the role fails instead of running them.

What COPY cannot do, and how the read is bounded instead:
- no TABLESAMPLE, no ORDER BY: the sample is the first non-null values in physical order
  (`synchronize_seqscans` is off, so the same rows every run while the table is unchanged);
- no `octet_length` before a value is sent: a value arrives whole (one row at a time, never
  more than one row in memory) and is measured on the client; one over `value_bytes` is
  counted as oversized and dropped, never analysed;
- the copy is stopped (a cancel request, then the rest of the stream is drained) as soon as
  every column has its sample, after COPY_ROW_CAP rows, or when the bytes received reach
  the columns' budget; `statement_timeout` bounds the whole of it;
- counts come from the rows read (exact when the copy reached the end, otherwise scaled to
  `pg_class.reltuples`), timestamp ranges and places from the rows read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from psycopg import sql

from scanner.errors import FaceauditError
from scanner.sources import pg_schema
from scanner.sources.relational import (
    EXACT_COUNT_ROWS,
    PLACE_VALUE_CHARS,
    Column,
    Counts,
    Emitter,
    Places,
    Relation,
    RelationUnreadable,
    Sampled,
    Stamps,
    place_columns,
    place_counts,
    scaled,
    timestamp_ranges,
)

if TYPE_CHECKING:
    from scanner.config import SampleLimits
    from scanner.model import Problem
    from scanner.sources.database import ColumnSample, Value
    from scanner.sources.postgres import PostgresSource

COPY_ROW_CAP = EXACT_COUNT_ROWS  # rows read at most by one COPY sample


class _Enough(FaceauditError):
    """Raised inside the COPY block to stop it: psycopg cancels and drains the rest."""


class CopySample:
    """One pass over the first rows of a relation's leaves, by COPY."""

    def __init__(
        self,
        rel: Relation,
        limits: SampleLimits,
        builtin: Callable[[Column], bool],
    ) -> None:
        self.rel, self.limits, self.builtin = rel, limits, builtin
        self.wanted = [c for c in rel.columns if c.kind is not None]
        extra = [c for c in rel.timestamp_columns() if builtin(c)]
        self.stamp_names = {c.name for c in extra}
        extra += [c for c, _ in place_columns(rel)]
        names = {c.name for c in self.wanted + extra}
        self.columns = [c for c in rel.columns if c.name in names]  # table order, once each
        self.sampled = {c.name: Sampled() for c in self.wanted}
        self.spent = dict.fromkeys(self.sampled, 0)
        self.places: dict[str, list[object]] = {c.name: [] for c, _ in place_columns(rel)}
        self.ranges: dict[str, list[str]] = {}
        self.read = 0
        self.received = 0
        self.complete = True  # every leaf was copied to its end

    def statement(self, schema: str, name: str) -> sql.Composed:
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns)
        return sql.SQL("COPY {} ({}) TO STDOUT").format(sql.Identifier(schema, name), cols)

    def types(self) -> list[str]:
        return ["bytea" if c.kind == "bytes" else "text" for c in self.columns]

    def feed(self, rows: Iterator[tuple[Any, ...]]) -> None:
        """Consume one leaf's rows; raises _Enough once the sample is complete (or a cap
        is reached): the copy is then stopped before its end."""
        budget = self.limits.column_bytes * max(1, len(self.wanted))
        for row in rows:
            self.read += 1
            for col, raw in zip(self.columns, row, strict=True):
                self._take(col, raw)
            if self.done() or self.read >= COPY_ROW_CAP or self.received >= budget:
                self.complete = False
                raise _Enough

    def done(self) -> bool:
        n = self.limits.rows
        return all(s.rows_read >= n or s.budget_skipped for s in self.sampled.values()) and all(
            len(v) >= n for v in self.places.values()
        )

    def _take(self, col: Column, raw: Any) -> None:
        if raw is None:
            return
        text = raw if isinstance(raw, str) else None
        size = len(raw) if isinstance(raw, (bytes, bytearray)) else len(str(raw).encode())
        self.received += size
        if col.name in self.places and len(self.places[col.name]) < self.limits.rows:
            self.places[col.name].append(str(raw)[:PLACE_VALUE_CHARS])
        if text is not None and col.name in self.stamp_names:
            lo_hi = self.ranges.setdefault(col.name, [text, text])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], text), max(lo_hi[1], text)
        out = self.sampled.get(col.name)
        if out is None or out.rows_read >= self.limits.rows or out.budget_skipped:
            return
        value: Value | None = None
        if size <= self.limits.value_bytes:
            value = _decode(col.kind, raw)
        self.spent[col.name] = out.add(value, size, self.limits, self.spent[col.name])

    # -- results ---------------------------------------------------------------------

    def counts(self) -> Counts:
        counts = Counts()
        non_null = {name: s.rows_read for name, s in self.sampled.items()}
        if self.complete:
            counts.rows, counts.non_null = self.read, non_null
        else:
            hint = self.rel.rows_hint
            if hint is not None and hint >= 0:
                counts.rows = max(round(hint), self.read)
            else:
                counts.notes.append(("rows_at_least", self.read))
            counts.rows_estimated = counts.non_null_estimated = True
            for name, n in non_null.items():
                value = scaled(n, self.read, counts.rows)
                if value is not None:
                    counts.non_null[name] = value
        how = "all rows" if self.complete else f"the first {self.read} rows"
        counts.notes.append(("sampling", f"COPY TO STDOUT, {how} in physical order"))
        return counts

    def stamps(self) -> tuple[Stamps, list[tuple[str, Any]]]:
        def min_max(col: Column) -> tuple[object, object]:
            if not self.builtin(col):
                raise RelationUnreadable("its type is not built in: no function runs on it")
            lo, hi = self.ranges.get(col.name, [None, None])
            return lo, hi

        stamps, notes = timestamp_ranges(self.rel, min_max)
        if stamps and not self.complete:
            notes.append(("timestamps_from", f"the first {self.read} rows (COPY)"))
        return stamps, notes

    def place_counts(self) -> tuple[Places, list[tuple[str, Any]]]:
        return place_counts(self.rel, lambda col: self.places.get(col.name, []))


def _decode(kind: str | None, raw: Any) -> Value | None:
    """A COPY text field as the SELECT path would have returned it."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    if kind == "array":
        return float_array(str(raw))
    return str(raw)


def float_array(text: str) -> list[float]:
    """`{1,2.5,NULL}` / `{{1,2},{3,4}}` / `[0:1]={1,2}` (array_out) as a flat list of floats
    (NULL and anything unreadable as NaN, as the SELECT path's driver conversion does)."""
    if text.startswith("[") and "=" in text:
        text = text.split("=", 1)[1]
    out: list[float] = []
    for part in text.replace("{", "").replace("}", "").split(","):
        item = part.strip().strip('"')
        if not item:
            continue
        try:
            out.append(float(item))
        except ValueError:
            out.append(math.nan)
    return out


def read_by_copy(
    source: PostgresSource, rel: Relation, emitter: Emitter, risk: str, relkind: str
) -> list[ColumnSample | Problem]:
    """A relation whose planning could run user code, read by COPY."""
    why = f"planning a read of it could run non-built-in code ({risk})"
    if relkind == "m":
        raise RelationUnreadable(f"materialized view not read: {why}; COPY cannot read it")
    copy = CopySample(rel, source.limits, lambda c: source.column_type(rel, c).builtin)
    leaves = [(rel.schema or "public", rel.name, "r")]
    if relkind == "p":
        oid = sql.Identifier(rel.schema or "public", rel.name).as_string(source.conn)
        leaves = source.rows(pg_schema.LEAVES, (oid,), timeout=source.meta_timeout)
    try:
        for schema, name, kind in leaves:
            if kind == "f":
                source.summary.add("foreign_partitions_not_read")
                continue
            with (
                source.statement(None, True),
                source.conn.cursor() as cur,
                cur.copy(copy.statement(schema, name)) as stream,
            ):
                stream.set_types(copy.types())
                copy.feed(stream.rows())
    except _Enough:
        pass
    source.summary.add("relations_read_by_copy")
    counts = copy.counts()
    counts.notes.append(("read_by_copy", why))
    stamps, notes = copy.stamps()
    places, place_notes = copy.place_counts()
    return emitter.samples(rel, copy.sampled, counts, stamps, notes + place_notes, places=places)
