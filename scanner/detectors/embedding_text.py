"""`embedding.text`: face templates written as number arrays inside any text: YAML lists,
SQL `INSERT … VALUES ('[…]')` / `ARRAY[…]` / `'{…}'`, `COPY` data, source code, logs; also
hex and base64 strings of a float vector's exact length."""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelSpec
from scanner.detectors.embedding_common import decode_text, item_names, run
from scanner.model import ContentType, EvidenceKind


class EmbeddingTextDetector:
    id: ClassVar[str] = "embedding.text"
    cost: ClassVar[int] = 40
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.TEXT})
    description: ClassVar[str] = (
        "Face templates written as number arrays in YAML, SQL dumps and other text"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        from scanner.embeddings import textvec  # imported by the first item it reads

        names = item_names(item)
        return run(self.id, item, ctx, lambda: textvec.analyse_text(decode_text(item.data), names))
