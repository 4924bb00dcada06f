"""TODO: being written. The detector contract: see scanner/detectors/base.py."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.model import ContentType, EvidenceKind


class EmbeddingCsvDetector:
    id: ClassVar[str] = "embedding.csv"
    cost: ClassVar[int] = 30
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.CSV})
    description: ClassVar[str] = "Face templates in CSV/TSV rows or cells"

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return DetectorOutput()
