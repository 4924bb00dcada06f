"""A third-party detector, written as a plug-in distribution would ship it.

tests/detectors/test_plugins.py installs this module with a `faceaudit.detectors` entry point
into a temporary site directory (a real distribution: `*.dist-info` with METADATA and
entry_points.txt), and faceaudit finds it the way it finds any installed plug-in. It reads
PDF files, which faceaudit sniffs but no built-in detector reads, and reports a made-up face
marker: with it chosen, the engine examines PDFs; without it, PDFs are only counted.

Its model, a marker table, is declared like any detector's: loaded on first use, once per
worker process; the evidence says how many times this process loaded it and which process.
"""

from __future__ import annotations

import os
from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.detectors.models import ModelCache, ModelSpec
from scanner.model import ContentType, Evidence, EvidenceKind

DISTRIBUTION = "faceaudit-test-pdf-marker"
MARKER = b"/FaceauditTestFace"
LOADS: list[int] = []  # the marker table's loads in this process


def _marker_table(cache: ModelCache) -> bytes:
    LOADS.append(os.getpid())
    return MARKER


MARKER_TABLE = ModelSpec(
    "test.marker-table",
    "the face marker the test detector looks for",
    _marker_table,
    distributions=(DISTRIBUTION,),
)


class PdfMarkerDetector:
    id: ClassVar[str] = "test.pdf-marker"
    cost: ClassVar[int] = 10
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_TAGGED
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PDF})
    description: ClassVar[str] = "Test plug-in: a made-up face marker in PDF files"
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = (MARKER_TABLE,)
    distributions: ClassVar[tuple[str, ...]] = (DISTRIBUTION,)

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        marker = ctx.models.get(MARKER_TABLE.name)
        count = item.data.count(marker)
        if not count:
            return DetectorOutput(notes=((f"{self.id}.markers", 0),))
        evidence = Evidence(
            kind=EvidenceKind.FACE_TAGGED,
            detector=self.id,
            confidence=1.0,
            faces=count,
            details=(("model_loads", len(LOADS)), ("worker_pid", os.getpid())),
        )
        return DetectorOutput((evidence,))


class NotADetector:
    """Named by a broken plug-in's entry point: it declares nothing."""

    description = "half a detector"
