"""`embedding.parquet`: face templates in Parquet and Arrow/Feather columns (needs the
`parquet` extra: pyarrow).

The schema is read first: list<float>, fixed_size_list<float>, binary columns of 4N/8N bytes,
string columns of JSON/hex/base64 and runs of numeric columns are candidates; a bounded batch
of rows is read from the first row group (or record batch) to classify them.
"""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelSpec
from scanner.detectors.embedding_common import item_names, run
from scanner.model import ContentType, EvidenceKind


class EmbeddingTableDetector:
    id: ClassVar[str] = "embedding.parquet"
    cost: ClassVar[int] = 30
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset(
        {ContentType.PARQUET, ContentType.ARROW}
    )
    description: ClassVar[str] = (
        "Face templates in Parquet and Arrow/Feather columns (schema first, rows sampled)"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    # pyarrow (an optional extra) does not key the state, as before: without it the item is
    # `detector_unavailable`, which the state never keeps, so installing it is noticed.
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        from scanner.embeddings import tables  # imported by the first item it reads

        names = item_names(item)
        if item.content_type is ContentType.PARQUET:
            return run(self.id, item, ctx, lambda: tables.analyse_parquet(item, names))
        return run(self.id, item, ctx, lambda: tables.analyse_arrow(item, names))
