"""What the workers get for a face search, and what they send back: in memory only.

`FaceSearch` is the scan's item hook (scanner.work.ItemHook): it travels inside
`WorkerSetup` over the pool's pipe (pickled into the pipe, never into a file); `ItemFaces`
travels back as the outcome's `extra` the same way. Neither is ever put
into a `ScanResult`, so no reporter, baseline or state database can see a vector. Their
`repr` withholds the vectors, so an error message or a debugger print cannot show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scanner.errors import ConfigError
from scanner.model import Evidence, EvidenceKind, FaceBox, ItemResult

if TYPE_CHECKING:  # numpy only for the types: `faceaudit --help` does not load it
    import numpy as np

    from scanner.detectors.base import DetectContext, LoadedItem
    from scanner.detectors.models import ModelSpec
    from scanner.embeddings.vectors import VectorSet

DIMS = 128  # dlib's ResNet descriptor: the face_recognition space
DLIB_FAMILY = "dlib/face_recognition"  # scanner.embeddings.vectors names the space so
DEFAULT_TOLERANCE = 0.6  # face_recognition's compare_faces tolerance


@dataclass(frozen=True)
class FaceCompared:
    """One face found in an item, compared: the distance to the nearest probe."""

    box: FaceBox | None  # None for faces in database images (the row is not reported)
    distance: float | None  # None when there is no probe (triage)
    aligned_by: str  # "dlib-hog" or "mapped" (see scanner.subject.descriptors)


@dataclass(frozen=True)
class StoreCompared:
    """One set of stored vectors (evidence `where`), compared or said not comparable."""

    where: str
    dims: int
    family: str | None
    count: int  # vectors the set holds
    compared: int  # vectors compared with the probes (0 when not comparable)
    best: float | None = None  # smallest distance to a probe
    within: int = 0  # vectors within the tolerance
    reason: str = ""  # why it was not (fully) compared


@dataclass(frozen=True)
class ItemFaces:
    """What a worker found out about one item's faces. Never persisted."""

    faces: tuple[FaceCompared, ...] = ()
    stores: tuple[StoreCompared, ...] = ()
    undescribed: int = 0  # faces found whose descriptor could not be computed
    images_compared: int = 0  # database columns: sampled images that were searched
    descriptors: np.ndarray | None = field(default=None, repr=False, compare=False)
    stored: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"ItemFaces(faces={len(self.faces)}, stores={len(self.stores)}, "
            f"undescribed={self.undescribed}, descriptors=<withheld>)"
        )


def holds_faces(result: ItemResult) -> bool:
    """Whether a face search must look at this item again rather than reuse its last result:
    it holds face pixels or stored templates (their descriptors are never kept anywhere)."""
    return any(
        e.kind in (EvidenceKind.FACE_IMAGE, EvidenceKind.FACE_EMBEDDING) for e in result.evidence
    )


@dataclass(frozen=True)
class FaceSearch:
    """The workers' face comparison, a scan's item hook (scanner.work.ItemHook): every face
    and stored dlib template of an item with face data is compared with `probes`; with
    `keep_descriptors` (triage), the descriptors come back too, for clustering."""

    probes: np.ndarray = field(repr=False, compare=False)  # (k, 128) float64; k may be 0
    tolerance: float = DEFAULT_TOLERANCE
    keep_descriptors: bool = False
    every_face: bool = True  # search images again for every face (not the first ones found)
    name = "face comparison"  # how the item's problems name a failure

    def __post_init__(self) -> None:
        if not 0.0 < self.tolerance <= 2.0:
            raise ConfigError(f"face search tolerance must be in (0, 2] (got {self.tolerance!r})")

    def __repr__(self) -> str:
        return (
            f"FaceSearch(probes=<{len(self.probes)} withheld>, tolerance={self.tolerance}, "
            f"keep_descriptors={self.keep_descriptors}, every_face={self.every_face})"
        )

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """YuNet (every face again), dlib's HOG, landmarks and encoder."""
        from scanner.subject.compare import MODELS

        return MODELS

    @property
    def keep_vectors(self) -> bool:
        return True  # stored templates are compared with the probes

    def after(
        self,
        item: LoadedItem,
        evidence: Sequence[Evidence],
        vectors: Sequence[VectorSet],
        ctx: DetectContext,
    ) -> ItemFaces | None:
        from scanner.subject.compare import examine

        return examine(item, evidence, vectors, self, ctx)

    def needs_look(self, result: ItemResult) -> bool:
        return holds_faces(result)
