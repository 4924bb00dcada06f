"""The worker's comparison step: stored vector sets compared or said not comparable, faces
of two detectors counted once, nothing compared without face data."""

from __future__ import annotations

import numpy as np
import pytest
from subject_helpers import dlib_like

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, LoadedItem, ModelCache
from scanner.embeddings.vectors import VectorSet
from scanner.model import ContentType, Evidence, EvidenceKind, FaceBox, FileLocation
from scanner.subject.compare import FaceSearch, distinct_boxes, examine

CTX = DetectContext(DetectionSettings(), Limits(), ModelCache(), keep_vectors=True)
ITEM = LoadedItem(FileLocation("store.pkl"), ContentType.PICKLE, b"")


def _evidence(where: str, dims: int, count: int, family: str | None) -> Evidence:
    details: list[tuple[str, str | int]] = [("where", where), ("dims", dims), ("count", count)]
    if family:
        details.append(("family", family))
    return Evidence(EvidenceKind.FACE_EMBEDDING, "embedding.pickle", 0.9, details=tuple(details))


def test_a_dlib_store_holding_the_person_is_compared(probe_vector: np.ndarray) -> None:
    rows = np.vstack([dlib_like(40), probe_vector + 0.01])
    vs = VectorSet("encodings", rows, count=41, dtype="float64")
    e = _evidence("encodings", 128, 41, "dlib/face_recognition")
    out = examine(ITEM, [e], [vs], FaceSearch(probe_vector[None, :]), CTX)
    assert out is not None and len(out.stores) == 1
    store = out.stores[0]
    assert (store.compared, store.within, store.reason) == (41, 1, "")
    assert store.best is not None and store.best < 0.2
    assert out.descriptors is None and out.stored is None  # kept only for triage


def test_a_sampled_store_is_partly_compared_and_says_so(probe_vector: np.ndarray) -> None:
    vs = VectorSet("encodings", dlib_like(10), count=5000, dtype="float64")
    e = _evidence("encodings", 128, 5000, "dlib/face_recognition")
    store = examine(ITEM, [e], [vs], FaceSearch(probe_vector[None, :]), CTX).stores[0]  # type: ignore[union-attr]
    assert store.compared == 10 and store.within == 0
    assert store.reason == "10 of 5000 vectors read and compared"


@pytest.mark.parametrize(
    ("dims", "family", "says"),
    [
        (512, "ArcFace/InsightFace", "512-d vectors"),
        (128, None, "not dlib's descriptor space"),
        (128, "FaceNet (unnormalised)", "FaceNet"),
    ],
)
def test_other_spaces_are_not_comparable(
    probe_vector: np.ndarray, dims: int, family: str | None, says: str
) -> None:
    vs = VectorSet("emb", np.ones((3, dims)), count=3, dtype="float32")
    out = examine(
        ITEM, [_evidence("emb", dims, 3, family)], [vs], FaceSearch(probe_vector[None, :]), CTX
    )
    assert out is not None
    store = out.stores[0]
    assert store.compared == 0 and store.best is None and says in store.reason


def test_an_empty_store_holds_nothing_to_compare(probe_vector: np.ndarray) -> None:
    out = examine(
        ITEM, [_evidence("(root)", 0, 0, None)], [], FaceSearch(probe_vector[None, :]), CTX
    )
    assert out is not None and out.stores == ()


def test_triage_keeps_the_stored_vectors_in_memory() -> None:
    rows = dlib_like(7)
    vs = VectorSet("encodings", rows, count=7, dtype="float64")
    e = _evidence("encodings", 128, 7, "dlib/face_recognition")
    out = examine(ITEM, [e], [vs], FaceSearch(np.empty((0, 128)), keep_descriptors=True), CTX)
    assert out is not None and out.stored is not None
    assert out.stored.shape == (7, 128) and out.stores[0].best is None


def test_items_without_face_data_are_not_examined(probe_vector: np.ndarray) -> None:
    tags = Evidence(EvidenceKind.FACE_TAGGED, "face.tags", 1.0, faces=1)
    assert examine(ITEM, [tags], [], FaceSearch(probe_vector[None, :]), CTX) is None
    assert examine(ITEM, [], [], FaceSearch(probe_vector[None, :]), CTX) is None


def test_a_face_found_by_two_detectors_is_one_face() -> None:
    a = FaceBox(0.30, 0.20, 0.20, 0.25, 0.95, "yunet")
    b = FaceBox(0.31, 0.21, 0.19, 0.24, 0.80, "dlib-hog")
    c = FaceBox(0.70, 0.20, 0.10, 0.12, 0.92, "yunet")
    first = Evidence(EvidenceKind.FACE_IMAGE, "face.yunet", 0.95, faces=2, boxes=(a, c))
    second = Evidence(EvidenceKind.FACE_IMAGE, "face.dlib-hog", 0.8, faces=1, boxes=(b,))
    assert distinct_boxes([second, first]) == [a, c]
    other_frame = FaceBox(0.30, 0.20, 0.20, 0.25, 0.95, "yunet", frame=3)
    third = Evidence(EvidenceKind.FACE_IMAGE, "face.yunet", 0.9, faces=1, boxes=(other_frame,))
    assert len(distinct_boxes([first, third])) == 3
