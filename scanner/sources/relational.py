"""What the three SQL sources (sqlite, postgres, mysql) share: the shape of a relation, which
columns are worth sampling, which are timestamps, and how a sampled column becomes a
`ColumnSample` named after the application that owns the database.

Every column becomes a work item in a worker process, so a source keeps the items few:
columns that cannot hold a vector or an image (integers, booleans, dates, short strings) are
skipped — first by declared type, then by a quick look at the sampled values — and the
skips are counted in the source's `summary` and in each sample's notes, so a report can say
what "nothing found" was based on.
"""

from __future__ import annotations

import collections
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from scanner.config import SampleLimits
from scanner.errors import FaceauditError
from scanner.model import (
    DatabaseLocation,
    DatabaseRef,
    Problem,
    ProblemReason,
    RowKey,
    ScalarValue,
    VectorRef,
    cut,
)
from scanner.reference.apps import AppMatch, identify_schema, is_face_column
from scanner.reference.countries import normalise
from scanner.sources.database import ColumnSample, Value

# A vector of 16 float32 is 64 bytes; images and face templates are larger. Values all
# shorter than this are identifiers, names, flags or dates.
MIN_VALUE_BYTES = 64
# Text columns declared shorter than this cannot hold a face template (64 floats as JSON
# need at least 128 characters) — varchar(64) ids and names are skipped without a query.
MIN_TEXT_CHARS = 128
# Row counts and non-null counts are exact up to this many rows (estimated beyond).
EXACT_COUNT_ROWS = 100_000
# A view is counted through `LIMIT` this many rows: a view may be endless.
VIEW_ROW_CAP = 10_000
TIMESTAMPS_PER_TABLE = 3
# Counts and timestamp ranges are context, not evidence: they get a shorter deadline than
# sampling and fall back to estimates.
META_TIMEOUT_S = 5.0

_TS_NAME = re.compile(
    r"(^|_)(created|updated|modified|deleted|inserted|taken|matched|captured|added|seen)"
    r"(_?(at|on|time|date|ts))?$|(^|_)(date|time|timestamp|datetime|mtime|ctime)$|_at$"
)
_CREATED_FIRST = re.compile(r"creat|insert|added|taken|captur")
# Columns that say where a row's subject lives, matched on whole words of the name
# (`residence_country`, `countryCode`, `state`; not `status`, `estate`, `statement`).
_COUNTRY_WORDS = frozenset({"country", "countrycode", "nationality", "citizenship"})
_REGION_WORDS = frozenset({"region", "state", "province"})
PLACE_COLUMNS_PER_TABLE = 3
PLACE_VALUE_CHARS = 64  # longer values are no country name: read cut, never whole
PLACES_PER_COLUMN = 50


class QueryTimeout(FaceauditError):
    """A statement hit its deadline (a hostile view, a huge unindexed table)."""


class RelationUnreadable(FaceauditError):
    """A relation that cannot be read (permissions, a missing module, corruption)."""


@dataclass
class Column:
    name: str
    declared: str  # the declared type as the database spells it
    kind: str | None  # how it is fetched ("bytes", "text", "json", "array", "vector"); None: skip
    temporal: bool = False  # a date/time type


@dataclass
class Relation:
    schema: str | None
    name: str
    kind: str  # "table", "view", "materialized view", "virtual table"
    columns: list[Column]
    rows_hint: float | None = None  # the catalogue's estimate, when it keeps one
    primary_key: tuple[str, ...] = ()
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def is_view(self) -> bool:
        return self.kind == "view"

    def timestamp_columns(self) -> list[Column]:
        """Up to TIMESTAMPS_PER_TABLE columns that date the rows: typed ones first, then
        by name, creation-like names before update-like ones."""
        found = [c for c in self.columns if c.temporal or looks_like_timestamp(c.name)]
        found.sort(key=lambda c: (not c.temporal, not _CREATED_FIRST.search(_snake(c.name))))
        return found[:TIMESTAMPS_PER_TABLE]


@dataclass
class Counts:
    """How many rows a relation has, and how many hold a value per sampled column."""

    rows: int | None = None
    rows_estimated: bool = False
    non_null: dict[str, int] = field(default_factory=dict)
    non_null_estimated: bool = False
    notes: list[tuple[str, ScalarValue]] = field(default_factory=list)


@dataclass
class Sampled:
    """A column's sample: values fetched, and what was counted without fetching."""

    values: list[Value] = field(default_factory=list)
    refs: list[VectorRef] = field(default_factory=list)  # the row of each value, when known
    sizes: list[int] = field(default_factory=list)  # byte size of every non-null row read
    oversized: int = 0
    budget_skipped: int = 0  # values left unread once the per-column byte budget was spent
    # Sizes only: the values were not fetched (they are sampled again where they are
    # examined); every count is what it would be with them.
    sizes_only: bool = False

    @property
    def rows_read(self) -> int:
        return len(self.sizes)

    def worth_keeping(self) -> bool:
        """False when every value read is too short to be a vector or an image."""
        return any(s >= MIN_VALUE_BYTES for s in self.sizes) or self.oversized > 0

    def add(
        self,
        value: Value | None,
        size: int,
        limits: SampleLimits,
        spent: int,
        ref: VectorRef | None = None,
    ) -> int:
        """Record one row (and which row it is); returns the bytes now spent on the column."""
        self.sizes.append(size)
        if size > limits.value_bytes:
            self.oversized += 1
        elif (value is None and not self.sizes_only) or spent + size > limits.column_bytes:
            self.budget_skipped += 1
        else:
            if value is not None:
                self.values.append(value)
                if ref is not None:
                    self.refs.append(ref)
            return spent + size
        return spent

    @property
    def row_refs(self) -> tuple[VectorRef, ...]:
        """Each value's row, or () unless every value's is known."""
        return tuple(self.refs) if len(self.refs) == len(self.values) else ()


def date_column(relation: Relation) -> Column | None:
    """The column that dates a row: the first of timestamp_columns (the one whose oldest
    value dates the column's finding)."""
    found = relation.timestamp_columns()
    return found[0] if found else None


def row_ref(
    relation: Relation, key: Sequence[object], date: object = None, rowid: object = None
) -> VectorRef:
    """Which row a sampled value is: its primary key's values (`key`, in primary_key's
    order), else its rowid (SQLite), else nothing; and its own date (date_column's value)."""
    if relation.primary_key:
        parts = tuple(  # a value too long to read (or NULL, in a view) is shown as "…"
            (n, cell_text(v) if v is not None else "…")
            for n, v in zip(relation.primary_key, key, strict=False)
        )
    elif rowid is not None:
        parts = (("rowid", cell_text(rowid)),)
    else:
        parts = ()
    dated = date_column(relation)
    return VectorRef(
        row=RowKey(parts),
        date=cell_text(date) if date is not None else None,
        date_column=dated.name if dated is not None else None,
    )


def cell_text(value: object) -> str:
    """A key or a date as text, cut: bytes in hex, dates and times in ISO 8601."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return cut(bytes(value).hex())
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return cut(str(iso()))
    return cut(str(value))


def looks_like_timestamp(name: str) -> bool:
    return bool(_TS_NAME.search(_snake(name)))


def _snake(name: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def seeded(limits: SampleLimits, *parts: str) -> random.Random:
    """A random generator fixed by the seed and the relation: the same sample every run."""
    return random.Random(f"{limits.seed}:" + ":".join(parts))  # noqa: S311 - not security


class Deadline:
    """A wall-clock deadline for one statement (SQLite's progress handler polls it)."""

    def __init__(self) -> None:
        self.at = float("inf")

    def start(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def clear(self) -> None:
        self.at = float("inf")

    def passed(self) -> bool:
        return time.monotonic() > self.at


class Summary:
    """What a source did, database-wide: relations, columns sampled and skipped."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n

    def notes(self) -> tuple[tuple[str, ScalarValue], ...]:
        return tuple(sorted(self.counts.items()))


class Emitter:
    """Builds `ColumnSample`s for one database: location, application and notes.

    The application is identified once per database (apps.identify_schema over every
    relation) and put on every sample; `app_face_column` says whether the layout names
    that very column as face data.
    """

    def __init__(
        self,
        database: DatabaseRef,
        relations: Sequence[Relation],
        limits: SampleLimits,
        summary: Summary,
    ) -> None:
        self.ref = database
        self.database = database.display
        self.limits = limits
        self.summary = summary
        self.match: AppMatch | None = identify_schema(
            {r.qualified: [c.name for c in r.columns] for r in relations}
        )

    def where(self, relation: Relation, column: str) -> DatabaseLocation:
        return DatabaseLocation(self.ref, relation.schema, relation.name, column)

    def relation_where(self, relation: Relation) -> DatabaseLocation:
        """Where a problem with a whole relation is reported (`db#schema.table`)."""
        return DatabaseLocation(self.ref, relation.schema, relation.name)

    def samples(
        self,
        relation: Relation,
        sampled: dict[str, Sampled],
        counts: Counts,
        timestamps: Iterable[tuple[str, str | None, str | None]] = (),
        notes: Iterable[tuple[str, ScalarValue]] = (),
        *,
        places: Iterable[tuple[str, str, str | None, int]] = (),
    ) -> list[ColumnSample | Problem]:
        """One sample per column worth examining, plus oversized-value problems."""
        limits, summary = self.limits, self.summary
        names = [c.name for c in relation.columns]
        stamps = tuple(timestamps)
        where_from = tuple(places)
        kept = {n: s for n, s in sampled.items() if s.worth_keeping()}
        skipped_type = sum(1 for c in relation.columns if c.kind is None)
        skipped_values = len(sampled) - len(kept)
        summary.add("columns", len(relation.columns))
        summary.add("columns_sampled", len(kept))
        summary.add("columns_skipped_by_type", skipped_type)
        summary.add("columns_skipped_by_values", skipped_values)
        table_notes: list[tuple[str, ScalarValue]] = [
            ("relation_kind", relation.kind),
            ("table_columns", len(names)),
            ("columns_skipped_by_type", skipped_type),
            ("columns_skipped_by_values", skipped_values),
            *counts.notes,
            *notes,
        ]
        declared = {c.name: c.declared for c in relation.columns}
        out: list[ColumnSample | Problem] = []
        for name, s in kept.items():
            where = self.where(relation, name)
            if s.oversized:
                out.append(
                    Problem(
                        where,
                        ProblemReason.VALUE_TOO_LARGE,
                        f"{s.oversized} value(s) over {limits.value_bytes} bytes were counted, "
                        "not fetched",
                    )
                )
            col_notes = list(table_notes)
            if s.budget_skipped:
                col_notes.append(("values_over_column_budget", s.budget_skipped))
            out.append(
                ColumnSample(
                    location=where,
                    database=self.database,
                    table=relation.qualified,
                    column=name,
                    declared_type=declared[name],
                    values=tuple(s.values),
                    rows=counts.rows,
                    rows_estimated=counts.rows_estimated,
                    sampled_rows=s.rows_read,
                    oversized=s.oversized,
                    timestamps=stamps,
                    context=tuple(n for n in names if n != name),
                    app=self.match.app if self.match else None,
                    linked_store=self.match.linked_store if self.match else None,
                    app_face_column=is_face_column(self.match, relation.qualified, name),
                    non_null=counts.non_null.get(name),
                    non_null_estimated=counts.non_null_estimated,
                    notes=tuple(col_notes),
                    places=where_from,
                    refs=s.row_refs,
                )
            )
        return out


Stamps = list[tuple[str, str | None, str | None]]


def timestamp_ranges(
    relation: Relation, min_max: Callable[[Column], tuple[object, object]]
) -> tuple[Stamps, list[tuple[str, ScalarValue]]]:
    """(column, oldest, newest) of the relation's dated columns, `min_max` running the query
    (views: over their first VIEW_ROW_CAP rows); a range that failed is (column, None, None),
    with the reason in the notes."""
    stamps: Stamps = []
    notes: list[tuple[str, ScalarValue]] = []
    for col in relation.timestamp_columns():
        try:
            lo, hi = min_max(col)
        except (QueryTimeout, RelationUnreadable) as exc:
            stamps.append((col.name, None, None))
            notes.append((f"timestamps.{col.name}", f"range not computed: {exc}"))
            continue
        stamps.append((col.name, _text(lo), _text(hi)))
    if relation.is_view and stamps:
        notes.append(("timestamps_from", f"the first {VIEW_ROW_CAP} rows of the view"))
    return stamps, notes


Places = list[tuple[str, str, str | None, int]]


def place_role(name: str) -> str | None:
    """ "country" or "region" when a column's name says where a row's subject lives."""
    words = set(re.split(r"[^a-z0-9]+", _snake(name)))
    if words & _COUNTRY_WORDS:
        return "country"
    if words & _REGION_WORDS:
        return "region"
    return None


def place_columns(relation: Relation) -> list[tuple[Column, str]]:
    """Up to PLACE_COLUMNS_PER_TABLE (column, role) pairs, country columns first."""
    found = [(c, role) for c in relation.columns if (role := place_role(c.name)) is not None]
    found.sort(key=lambda pair: pair[1] != "country")
    return found[:PLACE_COLUMNS_PER_TABLE]


def place_counts(
    relation: Relation, fetch: Callable[[Column], Sequence[object]]
) -> tuple[Places, list[tuple[str, ScalarValue]]]:
    """Countries and regions in the relation's place columns over the sampled rows.

    `fetch` returns a column's values (cut to PLACE_VALUE_CHARS) at the sampled rows. Values
    are read as ISO codes or English names (scanner.reference.countries); the rest are
    counted in the notes, never kept."""
    places: Places = []
    notes: list[tuple[str, ScalarValue]] = []
    for col, role in place_columns(relation):
        try:
            values = fetch(col)
        except (QueryTimeout, RelationUnreadable) as exc:
            notes.append((f"places.{col.name}", f"not read: {exc}"))
            continue
        counter: collections.Counter[tuple[str, str | None]] = collections.Counter()
        unrecognised = 0
        for value in values:
            if value is None:
                continue
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            found = normalise(text, role)
            if found is None:
                unrecognised += 1
            else:
                counter[found] += 1
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or ""))
        places += [(col.name, c, r, n) for (c, r), n in ranked[:PLACES_PER_COLUMN]]
        if unrecognised:
            notes.append(
                (f"places.{col.name}", f"{unrecognised} sampled value(s) not a known {role}")
            )
    return places, notes


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def select(what: str, source: str, *tail: str) -> str:
    """`SELECT what FROM source tail...`. Identifiers are quoted by the caller and values are
    always bound parameters: nothing read from a database is ever spliced into SQL."""
    return " ".join(("SELECT", what, "FROM", source, *tail))


def scaled(part: int, whole: int, total: int | None) -> int | None:
    """`part/whole` of `total` (an estimate from a sample), or None when unknowable."""
    if total is None or whole <= 0:
        return None
    return round(total * part / whole)
