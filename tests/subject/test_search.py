"""`find_subject` end to end on real trees: faces in files and archive members, stored dlib
templates, other models said not comparable, the exit codes, the worker pool, the state."""

from __future__ import annotations

import io
import os
import pickle
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut, encode, no_face
from subject_helpers import dlib_like

from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.model import EvidenceKind, ExitCode
from scanner.state.store import StateDB
from scanner.subject.probe import Probes
from scanner.subject.search import find_subject


def _gallery(rows: np.ndarray) -> bytes:
    """A face_recognition tutorial pickle: {"encodings": [...], "names": [...]}."""
    names = [f"person-{i}" for i in range(len(rows))]
    return pickle.dumps({"encodings": [list(map(float, r)) for r in rows], "names": names})


def _arcface(n: int) -> bytes:
    rng = np.random.default_rng(5)
    rows = rng.normal(0, 1, (n, 512)).astype("<f4")
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    buf = io.BytesIO()
    np.save(buf, rows)
    return buf.getvalue()


@pytest.fixture
def tree(tmp_path: Path, probe_vector: np.ndarray) -> Path:
    root = tmp_path / "share"
    (root / "photos").mkdir(parents=True)
    (root / "photos" / "team.jpg").write_bytes(encode(astronaut().resize((400, 400)), "JPEG"))
    (root / "photos" / "coffee.jpg").write_bytes(encode(no_face(), "JPEG"))
    with zipfile.ZipFile(root / "backup.zip", "w") as zf:
        zf.writestr("2019/badge.png", encode(astronaut().resize((300, 300)), "PNG"))
        zf.writestr("2019/cat.png", encode(no_face("chelsea.png"), "PNG"))
    rows = np.vstack([dlib_like(20), probe_vector + 0.005])
    (root / "encodings.pickle").write_bytes(_gallery(rows))
    return root


def _matches(result: object) -> set[tuple[str, str]]:
    return {(m.location.display.rsplit("share/", 1)[-1], m.kind.value) for m in result.matches}  # type: ignore[attr-defined]


@pytest.mark.parametrize("workers", [0, 2])
def test_the_person_is_found_in_images_members_and_stored_templates(
    tree: Path, probes: Probes, workers: int
) -> None:
    result = find_subject(ScanConfig(targets=(tree,), workers=workers), probes)
    assert _matches(result) == {
        ("photos/team.jpg", "face_image"),
        ("backup.zip!/2019/badge.png", "face_image"),
        ("encodings.pickle", "face_embedding"),
    }
    store = next(m for m in result.matches if m.kind is EvidenceKind.FACE_EMBEDDING)
    assert (store.within, store.compared, store.count, store.where) == (1, 21, 21, "encodings")
    assert all(m.distance <= 0.6 and m.confidence > 0.9 for m in result.matches)
    assert result.faces_compared == 2 and result.vectors_compared == 21
    assert result.not_compared == () and result.exit_code is ExitCode.FINDINGS


def test_other_models_are_not_comparable_and_make_it_incomplete(tree: Path, probes: Probes) -> None:
    (tree / "face_embeddings.npy").write_bytes(_arcface(30))
    result = find_subject(ScanConfig(targets=(tree,), workers=0), probes)
    (gap,) = result.not_compared
    assert gap.location.path.endswith("face_embeddings.npy") and gap.blocking
    assert "512-d" in gap.reason and gap.count == 30
    assert result.found and result.incomplete and result.exit_code is ExitCode.INCOMPLETE
    allowed = find_subject(ScanConfig(targets=(tree,), workers=0, allow_incomplete=True), probes)
    assert allowed.exit_code is ExitCode.FINDINGS and len(allowed.not_compared) == 1


def test_found_nowhere_exits_0(tmp_path: Path, probes: Probes) -> None:
    (tmp_path / "coffee.jpg").write_bytes(encode(no_face(), "JPEG"))
    (tmp_path / "encodings.pickle").write_bytes(_gallery(dlib_like(30, seed=3)))
    result = find_subject(ScanConfig(targets=(tmp_path,), workers=0), probes)
    assert not result.found and not result.incomplete
    assert result.vectors_compared == 30 and result.nearest is not None and result.nearest > 0.6
    assert result.exit_code is ExitCode.CLEAN


def test_a_tighter_tolerance_finds_less(tree: Path, probes: Probes) -> None:
    result = find_subject(ScanConfig(targets=(tree,), workers=0), probes, tolerance=0.01)
    assert _matches(result) <= {
        ("encodings.pickle", "face_embedding"),
        ("photos/team.jpg", "face_image"),
    }


def test_hard_links_are_matched_under_every_name(tree: Path, probes: Probes) -> None:
    os.link(tree / "photos" / "team.jpg", tree / "team-copy.jpg")
    result = find_subject(ScanConfig(targets=(tree,), workers=0), probes)
    assert ("team-copy.jpg", "face_image") in _matches(result)
    assert result.not_compared == ()


def test_the_state_skips_unchanged_items_without_faces_only(
    tree: Path, probes: Probes, tmp_path: Path
) -> None:
    config = ScanConfig(targets=(tree,), workers=0)
    plain = find_subject(config, probes)
    time.sleep(2.1)  # files changed within 2 s of a scan are never trusted (racy)
    with StateDB(tmp_path / "state.db") as db:
        run_scan(config, state=db)
        warm = find_subject(config, probes, state=db)
        again = find_subject(config, probes, state=db)
    # coffee.jpg only: team.jpg, the zip and the pickle hold faces; they are looked at again
    assert warm.scan.stats.reused == 1 and again.scan.stats.reused == 1
    assert _matches(warm) == _matches(plain) == _matches(again)
    assert [m.distance for m in warm.matches] == [m.distance for m in plain.matches]
