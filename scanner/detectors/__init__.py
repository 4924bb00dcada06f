"""Detectors: the built-ins in one explicit list (cheapest first), plug-ins by entry point.

Ids are a public contract: policies, baselines and reports refer to them. Each class declares
what the engine needs (scanner.detectors.base.Detector); the default set, the content types
the engine examines, the models a worker preloads and the versions that key the state are
all derived from those declarations. Third-party detectors come from the
`faceaudit.detectors` entry-point group (scanner.detectors.registry).
"""

from __future__ import annotations

from collections.abc import Iterable

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
from scanner.detectors.registry import ENTRY_POINT_GROUP, PluginError, Registry

__all__ = [
    "DEFAULT_DETECTORS",
    "DETECTORS",
    "ENTRY_POINT_GROUP",
    "PluginError",
    "Registry",
    "build",
    "default_detectors",
    "detector_ids",
    "registry",
]

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

# The built-ins that run when no detector is chosen (plug-ins: default_detectors()).
DEFAULT_DETECTORS: tuple[str, ...] = tuple(d.id for d in DETECTORS if d.default)


def registry() -> Registry:
    """The built-ins and the installed plug-ins (loaded now; a broken one: PluginError)."""
    return Registry.discover(DETECTORS)


def detector_ids() -> tuple[str, ...]:
    """Every known id: the built-ins', then the plug-ins'."""
    return registry().ids()


def default_detectors() -> tuple[str, ...]:
    """The default set: the built-ins' and the plug-ins' that declare `default = True`."""
    return registry().defaults()


def build(ids: Iterable[str]) -> tuple[Detector, ...]:
    """Instances for the given ids, cheapest first; unknown ids raise ValueError."""
    return registry().build(ids)
