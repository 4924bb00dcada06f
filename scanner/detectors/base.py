"""The detector contract.

A detector is a small stateless class with a stable public id and one method that turns a
loaded item into evidence. The class declares everything the engine needs to know about it
(`Detector`): the content types it reads (the engine examines the union of the selected
detectors' types), whether it is on by default, the models it needs (scanner.detectors.models:
loaded by name, once per worker process, on first use) and the distributions whose versions
key the state database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

from PIL import Image

from scanner.config import DetectionSettings, Limits
from scanner.detectors.models import ModelCache, ModelSpec
from scanner.embeddings.vectors import VectorSet, Verdict
from scanner.faces import imaging
from scanner.model import (
    ContentType,
    Evidence,
    EvidenceKind,
    FaceBox,
    Location,
    ProblemReason,
    ScalarValue,
)
from scanner.sources.base import Reader

if TYPE_CHECKING:  # a database column's item: the module comes with its reader
    from scanner.sources.database import ColumnSample


@dataclass
class LoadedItem:
    """An item's bytes with its sniffed type; the decoded image is shared by detectors.

    For a large random-access file (npy, HDF5, Parquet) `data` may hold only the first bytes
    (`complete` is then False) and `read_at` reads further, bounded. A database column
    arrives as `column` with empty `data`.
    """

    location: Location
    content_type: ContentType
    data: bytes
    size: int = -1  # the item's full size; -1: len(data)
    reader: Reader | None = field(default=None, repr=False)  # to read beyond `data`
    column: ColumnSample | None = None
    _image: Image.Image | None = field(default=None, init=False, repr=False)

    @property
    def full_size(self) -> int:
        return len(self.data) if self.size < 0 else self.size

    @property
    def complete(self) -> bool:
        return len(self.data) >= self.full_size

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to n bytes (at most READ_AT_MAX) from offset, from memory or the file."""
        n = max(0, min(n, READ_AT_MAX, self.full_size - offset))
        if offset + n <= len(self.data) or self.reader is None:
            return self.data[offset : offset + n]
        return self.reader.read_at(offset, n)  # the item opened once: no swap, no FIFO

    def image(self, max_pixels: int) -> Image.Image:
        """The opened (not yet decoded) image; raises imaging.ImageProblem."""
        if self._image is None:
            self._image = imaging.open_image(self.data, self.content_type, max_pixels)
        return self._image

    def fresh_image(self, max_pixels: int) -> Image.Image:
        """A new handle, for a second decode at another size (draft is one-shot)."""
        return imaging.open_image(self.data, self.content_type, max_pixels)


@dataclass(frozen=True)
class DetectContext:
    settings: DetectionSettings
    limits: Limits
    models: ModelCache
    # A face search runs in this worker (scanner.subject): embedding detectors hand back the
    # 128-d vector sets they reported, so they can be compared here, in memory.
    keep_vectors: bool = False


@dataclass(frozen=True)
class DetectorOutput:
    evidence: tuple[Evidence, ...] = ()
    notes: tuple[tuple[str, ScalarValue], ...] = ()
    problems: tuple[tuple[ProblemReason, str], ...] = ()
    # With DetectContext.keep_vectors: the 128-d sets behind the evidence. They stay in the
    # worker (never in evidence, a report or the state).
    vectors: tuple[VectorSet, ...] = field(default=(), repr=False)


KEPT_DIMS = 128  # the dlib/face_recognition space, the only one a probe is compared in


def kept_vectors(ctx: DetectContext, sets: list[VectorSet]) -> tuple[VectorSet, ...]:
    """The sets a face search in this worker compares (none unless it asked for them)."""
    if not ctx.keep_vectors:
        return ()
    return tuple(vs for vs in sets if vs.dims == KEPT_DIMS)


def face_image_evidence(
    detector: str, boxes: list[FaceBox], details: tuple[tuple[str, ScalarValue], ...] = ()
) -> Evidence:
    """The evidence of an image detector: one per image, however many faces."""
    return Evidence(
        kind=EvidenceKind.FACE_IMAGE,
        detector=detector,
        confidence=round(max(b.confidence for b in boxes), 3),
        faces=len(boxes),
        boxes=tuple(boxes),
        details=details,
    )


class Detector(Protocol):
    """What every detector declares and does. Ids are a public contract: policies, baselines
    and reports refer to them.

    A class, stateless, cheap to construct (no model, no file, no import of a heavy library
    at module level): models are asked for at run time, `ctx.models.get(name)`, and only
    those declared in `models` are preloaded by the worker.
    """

    id: ClassVar[str]  # "face.yunet": lower case, dotted, never renamed without a migration
    cost: ClassVar[int]  # detectors run cheapest first
    kind: ClassVar[EvidenceKind]  # the evidence it yields
    content_types: ClassVar[frozenset[ContentType]]  # what it reads: the engine examines these
    description: ClassVar[str]  # one line, for `faceaudit detectors`
    default: ClassVar[bool]  # on when no detector is chosen
    models: ClassVar[tuple[ModelSpec, ...]]  # what it asks ctx.models for
    distributions: ClassVar[tuple[str, ...]]  # whose versions key the state and the report

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput: ...


READ_AT_MAX = 16 * 1024 * 1024


def embedding_evidence(
    detector: str,
    vs: VectorSet,
    verdict: Verdict,
    *,
    app: str | None = None,
    extra: tuple[tuple[str, ScalarValue], ...] = (),
) -> Evidence:
    """Evidence of stored face templates: how many, what shape, why — never the values."""
    details: list[tuple[str, ScalarValue]] = [
        ("count", vs.count),
        ("dims", vs.dims),
        ("dtype", vs.dtype),
        ("where", vs.where),
    ]
    if verdict.family:
        details.append(("family", verdict.family))
    if app:
        details.append(("app", app))
    return Evidence(
        kind=EvidenceKind.FACE_EMBEDDING,
        detector=detector,
        confidence=verdict.confidence,
        details=(*details, *extra),
        reasons=verdict.reasons,
    )


IMAGE_TYPES: frozenset[ContentType] = frozenset(ct for ct in ContentType if ct.is_image)

__all__ = [
    "IMAGE_TYPES",
    "KEPT_DIMS",
    "DetectContext",
    "Detector",
    "DetectorOutput",
    "LoadedItem",
    "ModelCache",
    "ModelSpec",
    "embedding_evidence",
    "face_image_evidence",
    "kept_vectors",
]
