"""TODO: being written. The detector contract: see scanner/detectors/base.py."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem
from scanner.model import ContentType, EvidenceKind


class EmbeddingPickleDetector:
    id: ClassVar[str] = "embedding.pickle"
    cost: ClassVar[int] = 30
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PICKLE})
    description: ClassVar[str] = (
        "Face templates in pickles and joblib files, analysed without unpickling"
    )

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return DetectorOutput()


class PickleImportsDetector:
    id: ClassVar[str] = "security.pickle"
    cost: ClassVar[int] = 5
    kind: ClassVar[EvidenceKind] = EvidenceKind.EXECUTABLE_CODE
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.PICKLE})
    description: ClassVar[str] = (
        "Pickles that import code (os.system, eval, …): a security finding of its own"
    )

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        return DetectorOutput()
