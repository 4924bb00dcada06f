"""Helpers of the subject-search tests (tests/subject/)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import numpy as np
from reporters.sample import HOSTILE_PATH as HOSTILE

from scanner.model import (
    ContentType,
    DatabaseLocation,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemContext,
    ItemResult,
    Location,
    Place,
    ScalarValue,
    ScanResult,
    VectorRef,
)
from scanner.sources.database import sqlite_ref
from scanner.subject.spec import FaceCompared, ItemFaces, StoreCompared
from scanner.subject_results import StoredHit


def dlib_like(n: int, seed: int = 0) -> np.ndarray:
    """Vectors with the statistics of dlib's descriptors (norm 1.4, signed, a shared mean
    direction) that belong to nobody: far (> 1) from every real face's descriptor."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 0.06, 128)
    rows = mean + rng.normal(0, 0.11, (n, 128))
    out: np.ndarray = rows * (1.4 / np.linalg.norm(rows, axis=1, keepdims=True))
    return out


# -- hand-built results for the reporter and logic tests -----------------------------------


def sample_scan() -> ScanResult:
    """reporters.sample's scan (hostile names, members, tags, problems) plus a store of dlib
    templates, a store of another model, face images in a database column, places and dates."""
    from reporters.sample import sample_result

    base = sample_result()
    gallery = ItemResult(
        location=FileLocation("models/encodings.pickle"),
        content_type=ContentType.PICKLE,
        size=9000,
        sha256="ab" * 32,
        evidence=(_store("$.encodings", 128, 40, "dlib/face_recognition", "face_recognition"),),
        context=ItemContext(
            created=datetime(2021, 3, 4, tzinfo=timezone.utc), created_source="mtime"
        ),
    )
    arcface = ItemResult(
        location=FileLocation("models/arcface.npy"),
        content_type=ContentType.NPY,
        size=70000,
        sha256="cd" * 32,
        evidence=(_store("arr_0", 512, 30, "ArcFace/InsightFace", None),),
    )
    column = ItemResult(
        location=DatabaseLocation(sqlite_ref("/srv/kyc.db"), None, "customers", "photo"),
        content_type=ContentType.DB_COLUMN,
        size=0,
        sha256=None,
        evidence=(
            Evidence(
                EvidenceKind.FACE_IMAGE,
                "face.column-images",
                0.95,
                faces=24,
                details=(
                    ("where", "customers.photo"),
                    ("estimated_rows_with_faces", 300),
                    ("app", "CompreFace"),
                ),
            ),
        ),
        context=ItemContext(
            created=datetime(2019, 1, 2, tzinfo=timezone.utc),
            created_source="column:created_at (oldest row)",
            newest=datetime(2024, 4, 30, tzinfo=timezone.utc),
            places=(
                Place("GB", "column:country", None, 150),
                Place("US", "column:country", "US-IL", 20),
            ),
        ),
    )
    items = tuple(sorted((*base.items, gallery, arcface, column), key=lambda i: i.location))
    return replace(base, items=items)


def _store(where: str, dims: int, count: int, family: str, app: str | None) -> Evidence:
    details: list[tuple[str, ScalarValue]] = [
        ("count", count),
        ("dims", dims),
        ("dtype", "float64"),
        ("where", where),
        ("family", family),
    ]
    if app:
        details.append(("app", app))
    return Evidence(EvidenceKind.FACE_EMBEDDING, "embedding.pickle", 0.97, details=tuple(details))


def sample_faces(scan: ScanResult) -> dict[Location, ItemFaces]:
    """What workers would have sent back for sample_scan(): the team photo's first face and
    one stored template are the person; the database column was sampled (24 of 300 rows)."""
    by_path = {i.location.path: i for i in scan.items}
    team = by_path["photos/team/alice.jpg"]
    boxes = team.evidence[0].boxes
    rng = np.random.default_rng(0)
    return {
        team.location: ItemFaces(
            faces=(
                FaceCompared(boxes[0], 0.31, "dlib-hog"),
                FaceCompared(boxes[1], 0.93, "mapped"),
            ),
            descriptors=dlib_like(2, 1),
        ),
        by_path["backups/2019.zip"].location: ItemFaces(
            faces=(
                FaceCompared(by_path["backups/2019.zip"].evidence[0].boxes[0], 0.74, "dlib-hog"),
            ),
            descriptors=dlib_like(1, 2),
        ),
        by_path["models/encodings.pickle"].location: ItemFaces(
            stores=(
                StoreCompared(
                    "$.encodings",
                    128,
                    "dlib/face_recognition",
                    40,
                    40,
                    0.42,
                    1,
                    hits=(StoredHit(VectorRef(label="alice", path="$.encodings[17]"), 0.42),),
                ),
            ),
            stored=dlib_like(40, 3),
        ),
        by_path["models/arcface.npy"].location: ItemFaces(
            stores=(
                StoreCompared(
                    "arr_0",
                    512,
                    "ArcFace/InsightFace",
                    30,
                    0,
                    reason="512-d vectors (ArcFace/InsightFace): not comparable",
                ),
            ),
        ),
        by_path["sqlite:///srv/kyc.db#customers.photo"].location: ItemFaces(
            faces=tuple(
                FaceCompared(None, float(d), "dlib-hog") for d in rng.uniform(0.7, 1.0, 24)
            ),
            images_compared=24,
            descriptors=dlib_like(24, 4),
        ),
        # the hostile name's face could not be described; the tagged-only photo has no entry
        by_path[HOSTILE].location: ItemFaces(undescribed=1),
    }
