"""TODO: being written. The detector contract: see scanner/detectors/base.py."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.model import ContentType, EvidenceKind


class EmbeddingNpyDetector:
    id: ClassVar[str] = "embedding.npy"
    cost: ClassVar[int] = 20
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.NPY})
    description: ClassVar[str] = (
        "Face templates in .npy arrays (header read first, allow_pickle=False; .npz members too)"
    )

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return DetectorOutput()
