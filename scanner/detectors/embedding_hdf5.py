"""`embedding.hdf5`: face templates in HDF5 datasets (needs the `hdf5` extra: h5py).

The object tree is walked from metadata; datasets whose data lives in other files (external
links, external storage, virtual datasets) are reported and never opened or read.
"""

from __future__ import annotations

from typing import ClassVar

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelSpec
from scanner.detectors.embedding_common import item_names, run
from scanner.model import ContentType, EvidenceKind


class EmbeddingHdf5Detector:
    id: ClassVar[str] = "embedding.hdf5"
    cost: ClassVar[int] = 30
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_EMBEDDING
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.HDF5})
    description: ClassVar[str] = (
        "Face templates in HDF5 datasets (metadata first; external links reported, never followed)"
    )
    default: ClassVar[bool] = True
    models: ClassVar[tuple[ModelSpec, ...]] = ()
    # h5py (an optional extra) does not key the state, as before: without it the item is
    # `detector_unavailable`, which the state never keeps, so installing it is noticed.
    distributions: ClassVar[tuple[str, ...]] = ()

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        from scanner.embeddings import hdf5vec  # imported by the first item it reads

        names = item_names(item)
        return run(self.id, item, ctx, lambda: hdf5vec.analyse_hdf5(item, names))
