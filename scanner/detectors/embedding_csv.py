"""`embedding.csv`: face templates in CSV/TSV files, as rows of numeric columns or as one
cell per vector (a JSON list, hex or base64 of float32/float64)."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelSpec
from scanner.detectors.embedding_common import decode_text, item_names, run
from scanner.model import ContentType, EvidenceKind


class EmbeddingCsvDetector:
    id: ClassVar[str] = "embedding.csv"
    cost: ClassVar[int] = 30
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.CSV})
    description: ClassVar[str] = "Face templates in CSV/TSV rows or cells"
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        from scanner.embeddings import textvec  # imported by the first item it reads

        names = item_names(item)
        return run(self.id, item, ctx, lambda: textvec.analyse_csv(decode_text(item.data), names))
