"""`embedding.column`: face templates stored in a database column.

A column's sampled values are decoded into vectors whichever way an application stored them
(../shared/docs/STORES.md): BLOB/bytea of 4N or 8N bytes (float32/float64), SQL float arrays,
pgvector's text form `[..]`, JSON arrays (also nested, as PhotoPrism's `markers` keep a list
of embeddings per row, and inside a BLOB), hex strings of the float bytes (LibrePhotos),
base64, and plain number lists. Vectors of the most common length form one `VectorSet`
named after the table, the column and the other columns, and `classify` decides. The
application the source recognised boosts the score only where its layout names this very
column as face data (`ColumnSample.app_face_column`); every finding still names the
application and where its linked face images are.

The count is the table's rows holding such vectors: the share of sampled values that decode,
times the column's non-null rows — estimated (and said so) unless every row was read.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import numbers as numbers_abc
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from scanner.detectors.base import (
    DetectContext,
    DetectorOutput,
    LoadedItem,
    ModelSpec,
    embedding_evidence,
    kept_vectors,
)
from scanner.embeddings.vectors import (
    FACE_DIMS,
    OTHER_FACE_DIMS,
    TEXT_DIMS,
    VectorSet,
    classify,
    recognise_bytes,
)
from scanner.model import ContentType, EvidenceKind, ScalarValue, VectorRef
from scanner.sniff import HEAD_BYTES, sniff

if TYPE_CHECKING:
    from scanner.sources.database import ColumnSample, Value

# Lengths tried for a BLOB of unknown shape: face sizes, and the sizes of other models so
# that a text-embedding column is decoded, and then recognised as not faces.
KNOWN_DIMS = frozenset(FACE_DIMS) | OTHER_FACE_DIMS | TEXT_DIMS
MIN_DIMS = 8
MAX_VECTORS_PER_VALUE = 64
SAMPLE_VECTORS = 2048
_DECLARED_DIMS = re.compile(r"(?:vector|halfvec)\((\d+)\)|\[(\d+)\]\s*$", re.IGNORECASE)
_PG_ARRAY = re.compile(r"^\{[-+0-9.eE,\s{}\"NaInfity]*\}$")
_HEX = re.compile(r"^(?:\\x|0x)?([0-9a-fA-F]+)$")
_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_NUMBERS = re.compile(r"^[-+0-9.eE,;\s]+$")
_SEPARATORS = re.compile(r"[,;\s]+")
_PRINTABLE = re.compile(rb"^[\x20-\x7e\t\r\n]+$")


class EmbeddingColumnDetector:
    id: ClassVar[str] = "embedding.column"
    cost: ClassVar[int] = 20
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.DB_COLUMN})
    description: ClassVar[str] = (
        "Face templates in database columns: float BLOBs, arrays, pgvector, JSON/hex/base64 text"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        column = item.column
        if column is None:
            return DetectorOutput()
        notes: list[tuple[str, ScalarValue]] = list(column.notes)
        found = _vectors(column, keep_all=ctx.keep_vectors)
        if found is None:
            notes.append((f"{self.id}.vectors", 0))
            return DetectorOutput(notes=tuple(notes))
        vs, rows_with, estimated, every = found
        verdict = classify(vs, app=column.app if column.app_face_column else None)
        notes += [(f"{self.id}.dims", vs.dims), (f"{self.id}.confidence", verdict.confidence)]
        if verdict.confidence < ctx.settings.embedding_threshold:
            return DetectorOutput(notes=tuple(notes))
        evidence = embedding_evidence(
            self.id, vs, verdict, app=column.app, extra=_details(column, rows_with, estimated)
        )
        kept = kept_vectors(
            ctx, [replace(vs, sample=every[0], refs=every[1])] if every is not None else []
        )
        return DetectorOutput((evidence,), tuple(notes), vectors=kept)


def _vectors(
    column: ColumnSample, keep_all: bool = False
) -> tuple[VectorSet, int, bool, tuple[np.ndarray, tuple[VectorRef, ...]] | None] | None:
    """The column's vectors of the most common length, the sampled values holding one,
    whether the count is an estimate, and (keep_all: for a face search in this worker) every
    vector read, not only the classifier's sample, with the row each one is in."""
    declared = _declared_dims(column.declared_type)
    per_value: list[list[np.ndarray]] = []
    dtypes: collections.Counter[str] = collections.Counter()
    integers = True
    for value in column.values:
        decoded = decode(value, declared, column.declared_type)
        if decoded is None:
            per_value.append([])
            continue
        vectors, dtype, ints = decoded
        per_value.append(vectors)
        dtypes[dtype] += 1
        integers &= ints
    lengths = collections.Counter(len(v) for vs in per_value for v in vs)
    if not lengths:
        return None
    dims = lengths.most_common(1)[0][0]
    every = [v for vs in per_value for v in vs if len(v) == dims]
    known = len(column.refs) == len(per_value)
    refs = tuple(
        column.refs[i] for i, vs in enumerate(per_value) for v in vs if known and len(v) == dims
    )
    rows = every[:SAMPLE_VECTORS]
    rows_with = sum(1 for vs in per_value if any(len(v) == dims for v in vs))
    fetched = len(column.values)
    base = column.non_null if column.non_null is not None else column.rows
    count = rows_with if base is None else max(rows_with, round(base * rows_with / fetched))
    estimated = (
        base is None
        or rows_with < fetched
        or fetched < base
        or column.non_null_estimated
        or column.rows_estimated
    )
    vs = VectorSet(
        where=f"{column.table}.{column.column}",
        sample=np.vstack(rows),
        count=count,
        dtype=dtypes.most_common(1)[0][0],
        names=(column.table, column.column, *column.context),
        integers=integers,
        refs=refs[:SAMPLE_VECTORS],
    )
    return vs, rows_with, estimated, (np.vstack(every), refs) if keep_all else None


def _details(
    column: ColumnSample, rows_with: int, estimated: bool
) -> tuple[tuple[str, ScalarValue], ...]:
    out: list[tuple[str, ScalarValue]] = [
        ("table", column.table),
        ("column", column.column),
        ("declared_type", column.declared_type),
        ("count_estimated", estimated),
        ("sampled", column.sampled_rows),
        ("sampled_with_vectors", rows_with),
    ]
    if column.rows is not None:
        out += [("rows", column.rows), ("rows_estimated", column.rows_estimated)]
    if column.oversized:
        out.append(("oversized_not_fetched", column.oversized))
    out += timestamp_details(column)
    out += place_details(column)
    if column.linked_store:
        out.append(("linked_store", column.linked_store))
    return tuple(out)


def timestamp_details(column: ColumnSample) -> list[tuple[str, ScalarValue]]:
    """The oldest and newest row by the table's first dated column (retention needs it)."""
    for name, lo, hi in column.timestamps:
        if lo is not None or hi is not None:
            return [("timestamp_column", name), ("oldest", lo or ""), ("newest", hi or "")]
    if column.timestamps:
        return [("timestamps", "range not computed (see notes)")]
    return []


def place_details(column: ColumnSample) -> list[tuple[str, ScalarValue]]:
    """`places.<column>` = "GB:3,US-IL:2": the table's country/region columns over the
    sampled rows (scanner.context.jurisdiction turns them into the item's places)."""
    from scanner.reference.countries import format_counts

    by_column: dict[str, list[tuple[str, str | None, int]]] = {}
    for name, country, region, count in column.places:
        by_column.setdefault(name, []).append((country, region, count))
    return [(f"places.{name}", format_counts(entries)) for name, entries in by_column.items()]


def _declared_dims(declared: str) -> int | None:
    m = _DECLARED_DIMS.search(declared)
    return int(m[1] or m[2]) if m else None


def decode(
    value: Value, declared_dims: int | None = None, declared: str = ""
) -> tuple[list[np.ndarray], str, bool] | None:
    """Vectors in one stored value, their storage type, and whether all were integers."""
    if isinstance(value, (list, tuple)):
        return _numbers(list(value), _array_dtype(declared))
    if isinstance(value, bytes):
        return _from_bytes(value, declared_dims)
    if isinstance(value, str):
        return _from_text(value.strip(), declared_dims, declared)
    return None


def _from_bytes(
    blob: bytes, declared_dims: int | None
) -> tuple[list[np.ndarray], str, bool] | None:
    if len(blob) < MIN_DIMS * 4 or sniff(blob[:HEAD_BYTES]).is_image:
        return None
    if declared_dims:
        for width, dtype in ((4, "<f4"), (8, "<f8")):
            if len(blob) == width * declared_dims:
                vec = np.frombuffer(blob, dtype=dtype).astype(np.float64)
                if np.isfinite(vec).all():
                    return [vec], "float32" if width == 4 else "float64", False
    if _PRINTABLE.match(blob[:64]):  # text kept in a BLOB: JSON (PhotoPrism), hex, numbers
        try:
            found = _from_text(blob.decode("utf-8").strip(), declared_dims, "")
        except UnicodeDecodeError:
            found = None
        if found is not None:
            return found
    return _recognise(blob)


def _recognise(blob: bytes) -> tuple[list[np.ndarray], str, bool] | None:
    found = recognise_bytes(blob, KNOWN_DIMS)
    return None if found is None else ([found[0]], found[1], False)


def _from_text(
    text: str, declared_dims: int | None, declared: str
) -> tuple[list[np.ndarray], str, bool] | None:
    if len(text) < MIN_DIMS * 2:
        return None
    if text[0] == "{" and _PG_ARRAY.match(text):
        text = text.replace("{", "[").replace("}", "]")
    if text[0] in "[{":
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return None
        label = "pgvector" if "vector" in declared.lower() else "json"
        return _numbers(obj, label)
    m = _HEX.match(text)
    if m and len(m[1]) % 2 == 0 and len(m[1]) >= MIN_DIMS * 8:
        found = _recognise(bytes.fromhex(m[1]))
        if found is not None:
            return found[0], f"hex {found[1]}", False
    if len(text) % 4 == 0 and _B64.match(text):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        found = _recognise(raw) if raw else None
        if found is not None:
            return found[0], f"base64 {found[1]}", False
    if _NUMBERS.match(text):
        parts = [p for p in _SEPARATORS.split(text) if p]
        try:
            return _numbers([float(p) for p in parts], "text")
        except ValueError:
            return None
    return None


def _numbers(obj: Any, dtype: str) -> tuple[list[np.ndarray], str, bool] | None:
    """Number lists in a JSON-like value: a flat list, or lists nested in lists/objects."""
    found: list[list[Any]] = []
    _walk(obj, found, 0)
    vectors = []
    integers = True
    for numbers in found[:MAX_VECTORS_PER_VALUE]:
        if len(numbers) < MIN_DIMS:
            continue
        integers &= all(isinstance(n, numbers_abc.Integral) for n in numbers)
        with np.errstate(all="ignore"):
            vectors.append(np.asarray(numbers, dtype=np.float64))
    return (vectors, dtype, integers) if vectors else None


def _walk(obj: Any, found: list[list[Any]], depth: int) -> None:
    if depth > 4 or len(found) >= MAX_VECTORS_PER_VALUE:
        return
    if isinstance(obj, list):
        if obj and all(isinstance(x, numbers_abc.Real) and not isinstance(x, bool) for x in obj):
            found.append(obj)
            return
        for x in obj[:MAX_VECTORS_PER_VALUE]:
            _walk(x, found, depth + 1)
    elif isinstance(obj, dict):
        for x in list(obj.values())[:32]:
            _walk(x, found, depth + 1)


def _array_dtype(declared: str) -> str:
    low = declared.lower()
    if low.startswith(("real", "float4")):
        return "float32"
    if low.startswith(("double", "float8")):
        return "float64"
    return "array"
