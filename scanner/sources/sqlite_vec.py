"""sqlite-vec `vec0` virtual tables, read from their shadow tables without the extension.

Loading an extension found beside a scanned database would run its code, so none is ever
loaded. vec0 keeps its vectors in ordinary tables: `<t>_rowids` maps each row to a
(chunk_id, chunk_offset), and `<t>_vector_chunksNN` holds, per chunk, one BLOB of
`chunk_size` packed vectors for the NN-th vector column (float32: 4 x dims bytes each). The
declaration (`CREATE VIRTUAL TABLE t USING vec0(embedding float[512], ...)`) gives the
dimensions, so a sampled row's vector is a bounded `blobopen` read at its offset: the
multi-megabyte chunk is never loaded whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from scanner.model import Problem, ScalarValue
from scanner.sources.database import ColumnSample
from scanner.sources.relational import Column, Emitter, Relation, Sampled, select
from scanner.sources.sqlite_open import q

if TYPE_CHECKING:
    from scanner.sources.sqlite import SqliteSource

_VECTOR = re.compile(r"^(float|f32|int8|i8|bit)\[(\d+)\]$", re.IGNORECASE)
_SHADOW = re.compile(
    r"^(info|chunks|rowids|auxiliary|(vector_chunks|metadatachunks|metadatatext)\d+)$"
)
_WIDTH = {"float": 4, "f32": 4}  # bytes per component of the types that are floats


def relation(name: str, sql: str) -> Relation | None:
    """The virtual table as a relation whose vector columns are sampled (None: no vector)."""
    body = sql[sql.find("(") + 1 : sql.rfind(")")]
    columns: list[Column] = []
    vectors: dict[str, tuple[int, str, int]] = {}
    for arg in _split(body):
        tokens = arg.split()
        if not tokens or "=" in tokens[0]:
            continue  # options such as chunk_size=256
        col = tokens[0].lstrip("+").strip('"`[]')
        match = _VECTOR.match(tokens[1]) if len(tokens) > 1 else None
        if match:
            elem, dims = match[1].lower(), int(match[2])
            vectors[col] = (len(vectors), elem, dims)
            columns.append(Column(col, f"vec0 {match[0]}", "vec0" if elem in _WIDTH else None))
        elif col.lower() != "partition":
            columns.append(Column(col, " ".join(tokens[1:]), None))
    if not vectors:
        return None
    return Relation(None, name, "virtual table", columns, extra={"vec0": vectors})


def shadow_tables(vtab: str, names: list[str]) -> set[str]:
    prefix = vtab + "_"
    return {n for n in names if n.startswith(prefix) and _SHADOW.match(n[len(prefix) :])}


def sample(
    source: SqliteSource, rel: Relation, emitter: Emitter
) -> Iterator[ColumnSample | Problem]:
    vectors = rel.extra["vec0"]
    assert isinstance(vectors, dict)
    rowids_table = q(f"{rel.name}_rowids")
    counts, picks = source.count_and_pick(rowids_table)
    slots: list[tuple[int, int]] = []
    slots += source.in_rowids("chunk_id, chunk_offset", rowids_table, picks, "WHERE")
    sampled: dict[str, Sampled] = {}
    for col in rel.columns:
        if col.kind != "vec0":
            continue
        index, elem, dims = vectors[col.name]
        width = _WIDTH[elem] * dims
        chunks = f"{rel.name}_vector_chunks{index:02d}"
        # The chunk table's `rowid` is a declared column (the chunk id), not its real rowid,
        # which blobopen needs.
        real = {chunk: rowid for rowid, chunk in source.q(select('_rowid_, "rowid"', q(chunks)))}
        out = Sampled()
        spent = 0
        for chunk_id, offset in slots:
            if chunk_id not in real or offset is None:
                continue
            value = source.read_blob(chunks, "vectors", real[chunk_id], width, offset * width)
            spent = out.add(value, width, source.limits, spent)
        sampled[col.name] = out
        counts.non_null[col.name] = counts.rows or 0
    counts.non_null_estimated = counts.rows_estimated
    notes: list[tuple[str, ScalarValue]] = [("read_from", "vec0 shadow tables (no extension)")]
    yield from emitter.samples(rel, sampled, counts, (), notes)


def _split(body: str) -> list[str]:
    """Arguments separated by top-level commas."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    parts.append(body[start:].strip())
    return parts
