"""Parquet and Arrow/Feather readers: the column layouts that hold vectors, bounded sampling,
the bounded file reader, and truncated files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest
from embedding_samples import dlib_descriptors, model_like

from scanner.detectors.base import LoadedItem
from scanner.embeddings import tables
from scanner.embeddings.vecsets import Findings, sample_rows
from scanner.embeddings.vectors import VectorSet
from scanner.model import ContentType, FileLocation, ProblemReason


def item(path: Path, content_type: ContentType = ContentType.PARQUET) -> LoadedItem:
    return LoadedItem(FileLocation(str(path)), content_type, path.read_bytes())


def by_where(found: Findings) -> dict[str, VectorSet]:
    return {s.where: s for s in found.sets}


# -- Parquet --------------------------------------------------------------------------------


def test_parquet_column_layouts(tmp_path: Path) -> None:
    vs = dlib_descriptors()
    n = len(vs)
    flat = pa.array(vs.astype(np.float32).ravel())
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "person": [f"p{i}" for i in range(n)],
            "as_list": pa.array(vs.tolist(), pa.list_(pa.float64())),
            "as_fixed": pa.FixedSizeListArray.from_arrays(flat, 128),
            "as_blob": pa.array([v.astype("<f4").tobytes() for v in vs], pa.binary()),
            "as_hex": [v.astype("<f8").tobytes().hex() for v in vs],
            "as_large": pa.array(vs.tolist(), pa.large_list(pa.float32())),
            "note": ["hello"] * n,
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=7)
    found = tables.analyse_parquet(item(path), ("t.parquet",))
    sets = by_where(found)
    assert sorted(sets) == ["as_blob", "as_fixed", "as_hex", "as_large", "as_list"]
    for name, s in sets.items():
        same = bool(np.allclose(s.sample, vs, atol=1e-5))
        assert (s.count, s.dims, s.labels, same) == (n, 128, n, True), name
    assert (sets["as_blob"].dtype, sets["as_hex"].dtype) == ("float32", "float64 (hex)")
    assert dict(found.notes)["parquet_row_groups"] == -(-n // 7)


def test_parquet_wide_numeric_columns(tmp_path: Path) -> None:
    vs = model_like(30, 512, 2)
    columns = {"row_id": pa.array(range(30), pa.int32())}
    columns.update({f"e{j}": pa.array(vs[:, j], pa.float32()) for j in range(512)})
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table(columns), path)
    (s,) = tables.analyse_parquet(item(path), ()).sets
    assert (s.where, s.dims, s.count) == ("e0..e511", 512, 30)


def test_parquet_sample_is_bounded_and_count_from_metadata(tmp_path: Path) -> None:
    rows = 3 * sample_rows(512)
    vs = model_like(rows, 512, 8).astype(np.float32)
    table = pa.table({"v": pa.FixedSizeListArray.from_arrays(pa.array(vs.ravel()), 512)})
    path = tmp_path / "many.parquet"
    pq.write_table(table, path, row_group_size=1000)
    (s,) = tables.analyse_parquet(item(path), ()).sets
    assert s.count == rows and len(s.sample) == sample_rows(512)


@pytest.mark.parametrize("cut", [8, 1000, -12, -4])
def test_truncated_parquet(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"v": pa.array(dlib_descriptors().tolist())}), path)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    found = tables.analyse_parquet(item(path), ())
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.DECODE_ERROR and detail.startswith("Parquet unreadable")
    assert found.sets == []


def test_bounded_reader_budget() -> None:
    data = bytes(range(256)) * 4096
    reader = tables.BoundedReader(LoadedItem(FileLocation("x"), ContentType.UNKNOWN, data), 600_000)
    assert reader.read(10) == data[:10]
    reader.seek(-5, os.SEEK_END)
    assert reader.read(100) == data[-5:] and reader.read(1) == b""
    reader.seek(0)
    with pytest.raises(OSError, match="read budget"):
        reader.read(len(data))


# -- Arrow / Feather ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Feather V1 files are deprecated:DeprecationWarning")
def test_arrow_ipc_batches_and_feather(tmp_path: Path) -> None:
    vs = model_like(40, 512, 3).astype(np.float32)
    table = pa.table(
        {
            "filename": [f"img{i}.jpg" for i in range(40)],
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vs.ravel()), 512),
        }
    )
    path = tmp_path / "t.arrow"
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=7)
    found = tables.analyse_arrow(item(path, ContentType.ARROW), ())
    (s,) = found.sets
    assert (s.where, s.count, s.labels, len(s.sample)) == ("embedding", 40, 40, 40)
    v2 = tmp_path / "t.feather"
    feather.write_feather(table, v2)
    assert tables.analyse_arrow(item(v2, ContentType.ARROW), ()).sets[0].count == 40
    v1 = tmp_path / "t1.feather"
    feather.write_feather(pa.table({f"d{j}": vs[:, j] for j in range(512)}), v1, version=1)
    (s,) = tables.analyse_arrow(item(v1, ContentType.ARROW), ()).sets
    assert (s.dims, s.count) == (512, 40)


def test_truncated_arrow(tmp_path: Path) -> None:
    path = tmp_path / "t.arrow"
    feather.write_feather(pa.table({"v": pa.array(dlib_descriptors().tolist())}), path)
    path.write_bytes(path.read_bytes()[:-40])
    found = tables.analyse_arrow(item(path, ContentType.ARROW), ())
    assert found.problems[0][0] is ProblemReason.DECODE_ERROR and found.sets == []
