"""The two column detectors on sampled values of every storage layout (no server needed:
a ColumnSample is what a source hands over). Positives and hard negatives as tables."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest
from db_helpers import (
    arcface_like,
    dlib_descriptors,
    face_crop_float32,
    face_jpeg,
    no_face_jpeg,
    sentence_like,
)

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelCache
from scanner.detectors.embedding_column import EmbeddingColumnDetector, decode
from scanner.detectors.face_column import FaceColumnDetector, raw_pixels
from scanner.model import ContentType, DatabaseLocation, EvidenceKind
from scanner.sources.database import ColumnSample, Value, sqlite_ref

MODELS = ModelCache()
CTX = DetectContext(DetectionSettings(), Limits(), MODELS)


def column(
    values: list[Value],
    *,
    table: str = "faces",
    name: str = "data",
    declared: str = "BLOB",
    context: tuple[str, ...] = ("id",),
    rows: int | None = None,
    app: str | None = None,
    face_column: bool = False,
) -> ColumnSample:
    return ColumnSample(
        location=DatabaseLocation(sqlite_ref("/x.db"), None, table, name),
        database="sqlite:///x.db",
        table=table,
        column=name,
        declared_type=declared,
        values=tuple(values),
        rows=len(values) if rows is None else rows,
        rows_estimated=False,
        sampled_rows=len(values),
        timestamps=(("created_at", "2021-01-01", "2024-06-30"),),
        context=context,
        app=app,
        linked_store="crops on disk" if app else None,
        app_face_column=face_column,
        non_null=len(values) if rows is None else rows,
    )


def run(detector: object, col: ColumnSample) -> DetectorOutput:
    item = LoadedItem(col.location, ContentType.DB_COLUMN, b"", column=col)
    return detector.detect(item, CTX)  # type: ignore[attr-defined, no-any-return]


DLIB = dlib_descriptors()
ARC = arcface_like(40)


def _pg_array_text(v: np.ndarray) -> str:
    return "{" + ",".join(f"{x:.8f}" for x in v) + "}"


@pytest.mark.parametrize(
    ("label", "values", "declared", "dims", "dtype"),
    [
        ("float32 BLOB", [v.astype("<f4").tobytes() for v in DLIB], "BLOB", 128, "float32"),
        ("float64 BLOB", [v.astype("<f8").tobytes() for v in DLIB], "BLOB", 128, "float64"),
        ("float8[]", [list(v) for v in DLIB], "double precision[]", 128, "float64"),
        ("real[]", [list(v.astype("f4")) for v in ARC], "real[]", 512, "float32"),
        (
            "pgvector",
            [json.dumps([round(x, 6) for x in v]) for v in ARC],
            "vector(512)",
            512,
            "pgvector",
        ),
        ("JSON in BLOB", [json.dumps(list(v)).encode() for v in ARC], "mediumblob", 512, "json"),
        ("nested JSON", [json.dumps([list(v)]).encode() for v in ARC], "mediumblob", 512, "json"),
        ("JSON object", [json.dumps({"embedding": list(v)}) for v in DLIB], "jsonb", 128, "json"),
        (
            "hex float64",
            [v.astype("<f8").tobytes().hex() for v in DLIB],
            "text",
            128,
            "hex float64",
        ),
        (
            "base64 float32",
            [base64.b64encode(v.astype("<f4").tobytes()).decode() for v in ARC],
            "text",
            512,
            "base64 float32",
        ),
        ("PG array text", [_pg_array_text(v) for v in DLIB], "text", 128, "json"),
        ("number list", [" ".join(map(str, v)) for v in DLIB], "text", 128, "text"),
    ],
)
def test_face_templates_in_every_layout(
    label: str, values: list[Value], declared: str, dims: int, dtype: str
) -> None:
    col = column(values, name="embedding", declared=declared, rows=1000)
    out = run(EmbeddingColumnDetector(), col)
    (ev,) = out.evidence
    assert ev.kind is EvidenceKind.FACE_EMBEDDING and ev.confidence >= 0.6, (label, out.notes)
    assert ev.detail("dims") == dims and ev.detail("dtype") == dtype
    assert ev.detail("count") == 1000 and ev.detail("count_estimated") is True
    assert ev.detail("oldest") == "2021-01-01" and ev.detail("timestamp_column") == "created_at"
    assert not any(isinstance(v, (bytes, list)) for _, v in ev.details)  # never the vectors


@pytest.mark.parametrize(
    ("label", "values", "name"),
    [
        (
            "sentence embeddings",
            [v.astype("<f4").tobytes() for v in sentence_like(40)],
            "embedding",
        ),
        ("integers", [json.dumps(list(range(n, n + 128))) for n in range(30)], "embedding"),
        ("pixels", [bytes(range(128)) * 4 for _ in range(30)], "thumbnail"),
        ("random bytes", [np.random.default_rng(n).bytes(700) for n in range(30)], "payload"),
        ("short json", [json.dumps({"x": 1, "y": 2, "w": 3, "h": 4}) for _ in range(30)], "box"),
        ("text", ["a long description of a photo " * 8 for _ in range(30)], "caption"),
        ("jpeg", [face_jpeg()], "content"),
        (
            "non-negative histograms",
            [json.dumps(list(np.random.default_rng(n).random(128))) for n in range(30)],
            "hist",
        ),
    ],
)
def test_hard_negatives_give_no_evidence(label: str, values: list[Value], name: str) -> None:
    out = run(EmbeddingColumnDetector(), column(values, table="documents", name=name))
    assert out.evidence == (), (label, out.notes)


def test_application_boost_only_for_its_face_column() -> None:
    # 64-d vectors: a reduced template size, weak on their own
    x = arcface_like(30, dims=64) * np.random.default_rng(1).uniform(0.5, 3, (30, 1))
    values: list[Value] = [v.astype("<f4").tobytes() for v in x]
    plain = run(EmbeddingColumnDetector(), column(values, table="t", name="v"))
    other = run(EmbeddingColumnDetector(), column(values, table="t", name="v", app="Immich"))
    boosted = run(
        EmbeddingColumnDetector(),
        column(values, table="t", name="v", app="Immich", face_column=True),
    )
    assert plain.evidence == () and other.evidence == ()
    (ev,) = boosted.evidence
    assert ev.detail("app") == "Immich" and ev.detail("linked_store") == "crops on disk"
    assert any("Immich" in r for r in ev.reasons)


def test_count_is_exact_when_every_row_was_read() -> None:
    values: list[Value] = [v.astype("<f4").tobytes() for v in DLIB[:12]]
    (ev,) = run(EmbeddingColumnDetector(), column(values, name="vecdata")).evidence
    assert ev.detail("count") == 12 and ev.detail("count_estimated") is False


def test_decode_rejects_what_is_not_a_vector() -> None:
    assert decode(b"\xff\xd8\xff" + bytes(1000)) is None  # an image
    assert decode("2024-01-01 10:00:00") is None
    assert decode(struct.pack("<3f", 1, 2, 3)) is None
    assert decode("[1, 2]") is None


def test_face_images_in_a_blob_column() -> None:
    values: list[Value] = [face_jpeg()] * 3 + [no_face_jpeg()] * 3
    col = column(values, table="img", name="content", rows=600, app="CompreFace", face_column=True)
    out = run(FaceColumnDetector(), col)
    (ev,) = out.evidence
    assert ev.kind is EvidenceKind.FACE_IMAGE and ev.faces >= 3
    assert ev.detail("images_sampled") == 6 and ev.detail("images_with_faces") == 3
    assert ev.detail("estimated_rows_with_faces") == 300
    assert ev.detail("app") == "CompreFace" and ev.detail("linked_store") == "crops on disk"
    assert ev.boxes == ()  # no per-image geometry for a column


def test_base64_and_data_uri_images() -> None:
    b64 = base64.b64encode(face_jpeg()).decode()
    out = run(FaceColumnDetector(), column([b64, "data:image/jpeg;base64," + b64], declared="text"))
    (ev,) = out.evidence
    assert ev.detail("images_with_faces") == 2


def test_raw_float32_pixel_arrays_as_deepface_stores_them() -> None:
    raw, shape = face_crop_float32()
    pixels = raw_pixels(raw)
    assert pixels is not None and pixels.shape == shape
    (ev,) = run(FaceColumnDetector(), column([raw], table="embeddings", name="face")).evidence
    assert ev.detail("images_with_faces") == 1


def test_no_images_no_faces() -> None:
    values: list[Value] = [no_face_jpeg("chelsea.png"), np.random.default_rng(3).bytes(30000)]
    out = run(FaceColumnDetector(), column(values))
    assert out.evidence == ()
    assert raw_pixels(np.random.default_rng(4).bytes(3 * 64 * 64)) is None
