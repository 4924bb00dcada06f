"""Subject search in databases: face images stored as BLOBs and face templates stored as
float BLOBs, compared row by row; a column read in part is reported so, never as clean."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut, encode, no_face
from subject_helpers import dlib_like

from scanner.config import SampleLimits, ScanConfig
from scanner.model import EvidenceKind, ExitCode
from scanner.subject.probe import Probes
from scanner.subject.search import find_subject
from scanner.subject.triage import triage


@pytest.fixture
def database(tmp_path: Path, probe_vector: np.ndarray) -> Path:
    path = tmp_path / "hr.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE badges (id INTEGER PRIMARY KEY, photo BLOB)")
        photos = [encode(astronaut().resize((240, 240)), "JPEG"), encode(no_face(), "JPEG")]
        db.executemany("INSERT INTO badges (photo) VALUES (?)", [(p,) for p in photos])
        db.execute("CREATE TABLE employees (id INTEGER PRIMARY KEY, name TEXT, face_encoding BLOB)")
        rows = np.vstack([dlib_like(299, seed=7), probe_vector + 0.003])
        db.executemany(
            "INSERT INTO employees (name, face_encoding) VALUES (?, ?)",
            [(f"person {i}", r.astype("<f8").tobytes()) for i, r in enumerate(rows)],
        )
    return path


def test_face_images_and_templates_in_a_database(database: Path, probes: Probes) -> None:
    config = ScanConfig(
        targets=(f"sqlite:///{database}",),
        workers=0,
        sampling=SampleLimits(rows=1000),
    )
    result = find_subject(config, probes)
    found = {(m.location.display.rsplit("#", 1)[1], m.kind) for m in result.matches}
    assert found == {
        ("badges.photo", EvidenceKind.FACE_IMAGE),
        ("employees.face_encoding", EvidenceKind.FACE_EMBEDDING),
    }
    store = next(m for m in result.matches if m.kind is EvidenceKind.FACE_EMBEDDING)
    assert (store.within, store.compared, store.count) == (1, 300, 300)
    image = next(m for m in result.matches if m.kind is EvidenceKind.FACE_IMAGE)
    assert image.box is None and image.distance < 0.45  # a 240 px JPEG of the probe
    assert result.not_compared == () and result.exit_code is ExitCode.FINDINGS


def test_a_store_read_in_part_makes_the_search_incomplete(database: Path, probes: Probes) -> None:
    config = ScanConfig(
        targets=(f"sqlite:///{database}",), workers=0, sampling=SampleLimits(rows=100)
    )
    result = find_subject(config, probes)
    (gap,) = [n for n in result.not_compared if n.kind is EvidenceKind.FACE_EMBEDDING]
    assert gap.reason == "100 of 300 vectors read and compared" and gap.blocking
    assert result.exit_code is ExitCode.INCOMPLETE


def test_triage_clusters_the_stored_templates_too(database: Path) -> None:
    config = ScanConfig(
        targets=(f"sqlite:///{database}",),
        workers=0,
        sampling=SampleLimits(rows=1000),
    )
    t = triage(config)
    assert t.templates == 300 and t.database_image_rows == 1
    # 300 templates of 300 different people (one of them the astronaut, also in a photo)
    assert t.people.clustered == 301 and 295 <= t.people.estimate <= 300
