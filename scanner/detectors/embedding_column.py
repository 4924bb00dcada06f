"""TODO: being written. The detector contract: see scanner/detectors/base.py."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.model import ContentType, EvidenceKind


class EmbeddingColumnDetector:
    id: ClassVar[str] = "embedding.column"
    cost: ClassVar[int] = 20
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.DB_COLUMN})
    description: ClassVar[str] = (
        "Face templates in database columns: float BLOBs, arrays, pgvector, JSON/hex/base64 text"
    )

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return DetectorOutput()
