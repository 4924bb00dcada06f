"""Detectors, registered in one explicit list (cheapest first).

Ids are a public contract: policies, baselines and reports refer to them.
"""

from __future__ import annotations

from scanner.detectors.base import Detector
from scanner.detectors.embedding_column import EmbeddingColumnDetector
from scanner.detectors.embedding_csv import EmbeddingCsvDetector
from scanner.detectors.embedding_hdf5 import EmbeddingHdf5Detector
from scanner.detectors.embedding_json import EmbeddingJsonDetector
from scanner.detectors.embedding_npy import EmbeddingNpyDetector
from scanner.detectors.embedding_pickle import EmbeddingPickleDetector, PickleImportsDetector
from scanner.detectors.embedding_table import EmbeddingTableDetector
from scanner.detectors.embedding_text import EmbeddingTextDetector
from scanner.detectors.face_column import FaceColumnDetector
from scanner.detectors.face_dlib import DlibCnnFaceDetector, DlibHogFaceDetector
from scanner.detectors.face_tags import FaceTagsDetector
from scanner.detectors.face_yunet import YuNetFaceDetector

DETECTORS: tuple[type[Detector], ...] = (
    FaceTagsDetector,
    YuNetFaceDetector,
    DlibHogFaceDetector,
    DlibCnnFaceDetector,
    PickleImportsDetector,
    EmbeddingNpyDetector,
    EmbeddingPickleDetector,
    EmbeddingJsonDetector,
    EmbeddingCsvDetector,
    EmbeddingTextDetector,
    EmbeddingTableDetector,
    EmbeddingHdf5Detector,
    EmbeddingColumnDetector,
    FaceColumnDetector,
)

DEFAULT_DETECTORS: tuple[str, ...] = (
    "face.tags",
    "face.yunet",
    "security.pickle",
    "embedding.npy",
    "embedding.pickle",
    "embedding.json",
    "embedding.csv",
    "embedding.text",
    "embedding.parquet",
    "embedding.hdf5",
    "embedding.column",
    "face.column-images",
)


def detector_ids() -> tuple[str, ...]:
    return tuple(d.id for d in DETECTORS)


def build(ids: tuple[str, ...]) -> tuple[Detector, ...]:
    """Instances for the given ids, in registry (cost) order; unknown ids raise ValueError."""
    known = {d.id: d for d in DETECTORS}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"unknown detector(s): {', '.join(unknown)} (known: {', '.join(known)})")
    chosen = [known[i]() for i in ids]
    return tuple(sorted(chosen, key=lambda d: d.cost))
