"""What the workers get for a face search, and what they send back: in memory only.

The face search (scanner.subject.compare.FaceSearch, the scan's item hook) travels inside
`WorkerSetup` over the pool's pipe (pickled into the pipe, never into a file); `ItemFaces`
travels back as the outcome's `extra` the same way. Neither is ever put
into a `ScanResult`, so no reporter, baseline or state database can see a vector. Their
`repr` withholds the vectors, so an error message or a debugger print cannot show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scanner.model import EvidenceKind, FaceBox, ItemResult, VectorRef

if TYPE_CHECKING:  # numpy and the results only for the types: `faceaudit --help` loads neither
    import numpy as np

    from scanner.subject_results import StoredHit

DIMS = 128  # dlib's ResNet descriptor: the face_recognition space
DLIB_FAMILY = "dlib/face_recognition"  # scanner.embeddings.vectors names the space so
DEFAULT_TOLERANCE = 0.6  # face_recognition's compare_faces tolerance


@dataclass(frozen=True)
class FaceCompared:
    """One face found in an item, compared: the distance to the nearest probe."""

    box: FaceBox | None  # None for faces in database images (named by `row` instead)
    distance: float | None  # None when there is no probe (triage)
    aligned_by: str  # "dlib-hog" or "mapped" (see scanner.subject.descriptors)
    row: VectorRef | None = None  # a face in an image stored in a database: its row


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
    hits: tuple[StoredHit, ...] = ()  # the nearest of those within, and which vectors they are


@dataclass(frozen=True)
class ItemFaces:
    """What a worker found out about one item's faces. Never persisted."""

    faces: tuple[FaceCompared, ...] = ()
    stores: tuple[StoreCompared, ...] = ()
    undescribed: int = 0  # faces found whose descriptor could not be computed
    images_compared: int = 0  # database columns: sampled images that were searched
    name_columns: tuple[str, ...] = ()  # database columns: the table's columns naming people
    descriptors: np.ndarray | None = field(default=None, repr=False, compare=False)
    stored: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"ItemFaces(faces={len(self.faces)}, stores={len(self.stores)}, "
            f"undescribed={self.undescribed}, name_columns={len(self.name_columns)}, "
            "descriptors=<withheld>)"
        )


def holds_faces(result: ItemResult) -> bool:
    """Whether a face search must look at this item again rather than reuse its last result:
    it holds face pixels or stored templates (their descriptors are never kept anywhere)."""
    return any(
        e.kind in (EvidenceKind.FACE_IMAGE, EvidenceKind.FACE_EMBEDDING) for e in result.evidence
    )
