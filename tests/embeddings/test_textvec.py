"""Vectors written as text: one cell (JSON list, braces, hex, base64), runs of numbers in
YAML/SQL/source text with the name around them, and CSV/TSV rows and cells — plus the inputs
that must stay linear (hostile text) or bounded (a 10 MB line)."""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import pytest
from embedding_samples import dlib_descriptors, model_like

from scanner.embeddings import textvec
from scanner.embeddings.vecsets import MAX_DIMS
from scanner.embeddings.vectors import VectorSet
from scanner.model import ProblemReason


def vec(n: int = 0) -> np.ndarray:
    return dlib_descriptors()[n]


def text_of(v: np.ndarray, sep: str = ", ") -> str:
    return sep.join(repr(float(x)) for x in v)


# -- one cell -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "stored", "dims"),
    [
        (lambda v: json.dumps(v.tolist()), "text", 128),
        (lambda v: "{" + text_of(v, ",") + "}", "text", 128),  # PostgreSQL array literal
        (lambda v: "[" + text_of(v, ",") + "]", "text", 128),  # pgvector
        (lambda v: text_of(v, " "), "text", 128),
        (lambda v: v.astype("<f8").tobytes().hex(), "float64 (hex)", 128),  # LibrePhotos
        (lambda v: v.astype("<f4").tobytes().hex().upper(), "float32 (hex)", 128),
        (lambda v: "\\x" + v.astype("<f4").tobytes().hex(), "float32 (hex)", 128),  # bytea
        (lambda v: base64.b64encode(v.astype("<f4").tobytes()).decode(), "float32 (base64)", 128),
        (lambda v: base64.b64encode(v.astype("<f8").tobytes()).decode(), "float64 (base64)", 128),
    ],
)
def test_cell_vectors(cell: object, stored: str, dims: int) -> None:
    v = vec()
    hit = textvec.cell_vector(cell(v))  # type: ignore[operator]
    assert hit is not None
    values, how, integers = hit
    same = bool(np.allclose(values, v, atol=1e-5))
    assert (len(values), how, integers, same) == (dims, stored, False, True)


@pytest.mark.parametrize(
    "cell",
    [
        "",
        "[1, 2, 3]",  # too short for a vector
        "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8",  # unbalanced
        "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 'x']",
        "1_000, 2_000, 3_000, 4_000, 5_000, 6_000, 7_000, 8_000",
        "nan, nan, nan, nan, nan, nan, nan, nan",
        "deadbeef" * 100,  # hex of no vector length
        base64.b64encode(b"\xff" * 512).decode(),  # NaN bytes as float32
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor",
        "a" * (textvec.MAX_CELL + 1),
    ],
)
def test_cells_that_are_no_vector(cell: str) -> None:
    assert textvec.cell_vector(cell) is None


def test_integer_lists_are_marked() -> None:
    hit = textvec.cell_vector(json.dumps(list(range(128))))
    assert hit is not None and hit[2] is True


# -- runs of numbers in text ----------------------------------------------------------------


def one_set(text: str, names: tuple[str, ...] = ("f.txt",)) -> VectorSet:
    found = textvec.analyse_text(text, names)
    assert len(found.sets) == 1, f"{len(found.sets)} vector sets"
    return found.sets[0]


def test_yaml_block_and_flow_lists() -> None:
    vs = dlib_descriptors()[:3]
    block = "people:\n" + "".join(
        f"  - name: p{i}\n    face_encoding:\n" + "".join(f"      - {x!r}\n" for x in v.tolist())
        for i, v in enumerate(vs)
    )
    s = one_set(block)
    assert (s.where, s.count, s.dims) == ("face_encoding", 3, 128)
    flow = "".join(f"p{i}:\n  embedding: [{text_of(v)}]\n" for i, v in enumerate(vs))
    s = one_set(flow)
    assert (s.where, s.count, s.dims) == ("embedding", 3, 128)


def test_sql_insert_names_the_table_and_column_never_the_person() -> None:
    rows = ",\n".join(
        f"({i}, 'Jane Doe {i}', '[{text_of(v, ',')}]')" for i, v in enumerate(dlib_descriptors())
    )
    sql = (
        "CREATE TABLE faces (id int, name text, embedding vector(128));\n"
        f"INSERT INTO public.faces (id, name, embedding) VALUES\n{rows};\n"
    )
    s = one_set(sql)
    assert (s.where, s.count) == ("public.faces.embedding", len(dlib_descriptors()))
    assert not any("Jane" in n for n in s.names)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO embedding (id, embedding) VALUES (1, ARRAY[{v}]);",  # CompreFace float8[]
        "INSERT INTO `faces` (`id`, `embedding_json`) VALUES (1, '[{v}]');",  # PhotoPrism
        "INSERT INTO t VALUES (1, '{{{v}}}');",
        'COPY public.face_search ("faceId", embedding) FROM stdin;\nabc\t[{v}]\n\\.',  # Immich
        "x = np.array([{v}])",
        "encoding = ({v})",
    ],
)
def test_array_literals(statement: str) -> None:
    s = one_set(statement.format(v=text_of(vec(), ",")))
    assert (s.count, s.dims) == (1, 128)


def test_hex_and_base64_strings_in_a_dump() -> None:
    """LibrePhotos keeps hex of float64 (2,048 characters for 128 dimensions)."""
    stmts = [
        f"INSERT INTO api_face (id, encoding) VALUES ({i}, '{v.astype('<f8').tobytes().hex()}');"
        for i, v in enumerate(dlib_descriptors()[:5])
    ]
    s = one_set("\n".join(stmts))
    assert (s.where, s.count, s.dims, s.dtype) == ("api_face.encoding", 5, 128, "float64 (hex)")
    b64 = base64.b64encode(vec().astype("<f4").tobytes()).decode()
    s = one_set(f'{{"descriptor": "{b64}"}}')
    assert (s.where, s.dtype) == ("descriptor", "float32 (base64)")


def test_short_runs_and_prose_give_nothing() -> None:
    text = "The 3 little pigs ate 12.5 apples in 2021.\n" + ", ".join(["0.5"] * 63)
    assert textvec.analyse_text(text, ()).sets == []


@pytest.mark.parametrize(
    "hostile",
    [
        ("1.5, " * 63 + "x\n") * 20_000,  # runs one short of the minimum
        ("1.5, " * 15 + "x\n") * 60_000,
        "1 x " * 1_000_000,
        "1 " * 2_000_000,  # one run far longer than any vector
        "1" * 4_000_000,
        "\n  - " * 800_000,
        ("a" * 339 + " ") * 12_000,  # base64-like tokens one short
        ("ab" * 300 + "g") * 7_000,
        "," * 4_000_000,
    ],
    ids=["63x", "15x", "1x", "longrun", "digits", "yaml", "b64", "hex", "commas"],
)
def test_hostile_text_is_linear(hostile: str) -> None:
    """~4 MB of each construct that makes naive patterns backtrack: seconds, not minutes."""
    started = time.monotonic()
    found = textvec.analyse_text(hostile, ())
    elapsed = time.monotonic() - started
    assert found.sets == []
    assert elapsed < 8, f"{elapsed:.1f}s for {len(hostile)} characters"


# -- CSV / TSV ------------------------------------------------------------------------------


def csv_text(rows: list[str], header: str | None) -> str:
    return "\n".join([header, *rows] if header else rows) + "\n"


def test_rows_of_numeric_columns_with_header_and_labels() -> None:
    vs = dlib_descriptors()
    header = "name," + ",".join(f"enc_{i}" for i in range(128))
    found = textvec.analyse_csv(
        csv_text([f"p{i}," + text_of(v, ",") for i, v in enumerate(vs)], header), ("x.csv",)
    )
    (s,) = found.sets
    assert (s.where, s.count, s.dims, s.labels) == ("columns 2-129 (enc_*)", len(vs), 128, len(vs))
    assert "enc_" in s.names


def test_id_and_pandas_index_columns_are_trimmed() -> None:
    vs = dlib_descriptors()[:5]
    pandas = csv_text(
        [f"{i}," + text_of(v, ",") for i, v in enumerate(vs)], "," + ",".join(map(str, range(128)))
    )
    (s,) = textvec.analyse_csv(pandas, ()).sets
    assert (s.dims, s.count) == (128, 5)
    bare = csv_text([f"{i + 100}\t" + text_of(v, "\t") for i, v in enumerate(vs)], None)
    (s,) = textvec.analyse_csv(bare, ()).sets
    assert (s.dims, s.count, s.labels) == (128, 5, 0)


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        (lambda v: '"' + json.dumps(v.tolist()) + '"', "text"),
        (lambda v: v.astype("<f8").tobytes().hex(), "float64 (hex)"),
        (lambda v: base64.b64encode(v.astype("<f4").tobytes()).decode(), "float32 (base64)"),
    ],
)
def test_one_cell_per_vector(cell: object, stored: str) -> None:
    vs = model_like(12, 512, 3)
    rows = [f"img_{i}.jpg;{cell(v)}" for i, v in enumerate(vs)]  # type: ignore[operator]
    (s,) = textvec.analyse_csv(csv_text(rows, "file;embedding"), ()).sets
    assert (s.where, s.count, s.dims, s.dtype, s.labels) == ("embedding", 12, 512, stored, 12)


def test_sql_that_sniffed_as_csv_is_searched_as_text() -> None:
    rows = ",\n".join(f"({i}, '[{text_of(v, ',')}]')" for i, v in enumerate(dlib_descriptors()))
    sql = f"CREATE TABLE t (id int, data text);\nINSERT INTO t (id, data) VALUES\n{rows};\n"
    (s,) = textvec.analyse_csv(sql, ()).sets
    assert (s.where, s.dims, s.count) == ("t", 128, len(dlib_descriptors()))


def test_a_10_mb_single_line_is_bounded() -> None:
    started = time.monotonic()
    numbers = textvec.analyse_csv(",".join(["0.25"] * 2_500_000), ())
    cell = textvec.analyse_csv("a,b\n1," + "x" * 10_000_000 + "\n", ())
    assert time.monotonic() - started < 15
    assert numbers.sets == [] and dict(numbers.notes)["csv_rows_too_wide"] == 1
    ((reason, detail),) = cell.problems
    assert reason is ProblemReason.DECODE_ERROR and "field larger than field limit" in detail


def test_narrow_tables_are_no_vectors() -> None:
    rows = [f"{i},{i * 0.5},{i % 7},name{i}" for i in range(200)]
    assert textvec.analyse_csv(csv_text(rows, "id,score,bucket,name"), ()).sets == []
    wide = [",".join(["1"] * (MAX_DIMS + 5))]
    assert textvec.analyse_csv(csv_text(wide, None), ()).sets == []
