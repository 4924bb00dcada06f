"""TODO: being written. The detector contract: see scanner/detectors/base.py."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.model import ContentType, EvidenceKind


class FaceColumnDetector:
    id: ClassVar[str] = "face.column-images"
    cost: ClassVar[int] = 60
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_IMAGE
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.DB_COLUMN})
    description: ClassVar[str] = (
        "Face images stored as database BLOBs (sampled rows through the face detector)"
    )

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return DetectorOutput()
