"""`embedding.json`: face templates in JSON documents and JSON Lines.

PhotoPrism keeps embeddings as JSON arrays, face_recognition tutorials dump
`{name: [[128 floats], …]}`; scanner.embeddings.jsonvec walks the document with paths, so a
gallery keyed by person is one set with one label per vector.
"""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelSpec
from scanner.detectors.embedding_common import item_names, run
from scanner.model import ContentType, EvidenceKind


class EmbeddingJsonDetector:
    id: ClassVar[str] = "embedding.json"
    cost: ClassVar[int] = 30
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.JSON})
    description: ClassVar[str] = (
        "Face templates in JSON and JSON Lines (bounded depth and size, no NaN)"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        from scanner.embeddings import jsonvec  # imported by the first item it reads

        names = item_names(item)
        return run(self.id, item, ctx, lambda: jsonvec.analyse_json(item.data, names))
