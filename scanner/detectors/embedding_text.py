"""TODO: being written. The detector contract: see scanner/detectors/base.py."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.model import ContentType, EvidenceKind


class EmbeddingTextDetector:
    id: ClassVar[str] = "embedding.text"
    cost: ClassVar[int] = 40
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.TEXT})
    description: ClassVar[str] = (
        "Face templates written as number arrays in YAML, SQL dumps and other text"
    )

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return DetectorOutput()
