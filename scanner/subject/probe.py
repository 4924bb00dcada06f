"""The probe: one or more photos of the person, turned into 128-d descriptors in memory.

Each photo is read into memory, sniffed by its bytes, searched with the same face detector a
scan uses (every pass, every face), and the largest face is described exactly as a face in a
scanned image is (scanner.subject.descriptors), so probe and store are in one space. A
photo with no face, or with two faces of similar size (whose face is meant?), is refused:
the person should crop it. Nothing is written: no cache, no temporary file, no log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, LoadedItem, ModelCache
from scanner.detectors.face_yunet import YuNetFaceDetector
from scanner.errors import FaceauditError
from scanner.faces.imaging import ImageProblem
from scanner.model import FaceBox, FileLocation
from scanner.sniff import HEAD_BYTES, sniff
from scanner.subject.compare import distinct_boxes
from scanner.subject.descriptors import describe_boxes

MAX_PROBE_BYTES = 64 * 1024 * 1024
AMBIGUOUS_AREA = 0.5  # a second face at least this share of the largest one's area: refused


class ProbeError(FaceauditError, ValueError):
    """A probe photo that cannot serve (unreadable, not an image, no face, ambiguous)."""


@dataclass(frozen=True)
class Probes:
    """The probes' descriptors (memory only; withheld from repr) and what each photo held."""

    descriptors: np.ndarray = field(repr=False, compare=False)  # (k, 128)
    faces_per_photo: tuple[int, ...] = ()

    @property
    def photos(self) -> int:
        return len(self.faces_per_photo)

    def __repr__(self) -> str:
        return f"Probes(photos={self.photos}, descriptors=<withheld>)"


def load_probes(
    paths: Sequence[Path],
    *,
    limits: Limits | None = None,
    models: ModelCache | None = None,
) -> Probes:
    """Descriptors of the person in each photo; ProbeError names the photo that cannot serve."""
    if not paths:
        raise ProbeError("at least one probe photo is needed")
    limits = limits or Limits()
    ctx = DetectContext(DetectionSettings(count_faces=True), limits, models or ModelCache())
    vectors: list[np.ndarray] = []
    counts: list[int] = []
    for path in paths:
        vector, faces = _describe(path, _read(path), ctx)
        vectors.append(vector)
        counts.append(faces)
    return Probes(np.vstack(vectors), tuple(counts))


def describe_photo(data: bytes, name: str, ctx: DetectContext) -> np.ndarray:
    """The descriptor of the one person in a photo given as bytes (for library callers)."""
    return _describe(Path(name), data, ctx)[0]


def _read(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_PROBE_BYTES + 1)
    except OSError as exc:
        raise ProbeError(f"{path}: cannot read the probe photo: {exc.strerror or exc}") from exc
    if len(data) > MAX_PROBE_BYTES:
        raise ProbeError(f"{path}: larger than {MAX_PROBE_BYTES // (1024 * 1024)} MiB")
    return data


def _describe(path: Path, data: bytes, ctx: DetectContext) -> tuple[np.ndarray, int]:
    content_type = sniff(data[:HEAD_BYTES])
    if not content_type.is_image:
        raise ProbeError(f"{path}: not an image (its content is {content_type.value})")
    ctx.models.ensure_image_plugins()
    item = LoadedItem(FileLocation(str(path)), content_type, data)
    settings = replace(ctx.settings, count_faces=True)
    try:
        found = YuNetFaceDetector().detect(item, replace(ctx, settings=settings))
    except ImageProblem as exc:
        raise ProbeError(f"{path}: cannot decode the probe photo: {exc.detail}") from exc
    boxes = sorted(distinct_boxes(found.evidence), key=_area, reverse=True)
    if not boxes:
        raise ProbeError(f"{path}: no face found in the probe photo")
    if len(boxes) > 1 and _area(boxes[1]) >= AMBIGUOUS_AREA * _area(boxes[0]):
        raise ProbeError(
            f"{path}: {len(boxes)} faces of similar size; crop the photo to the one person"
        )
    described, _ = describe_boxes(item, boxes[:1], ctx.models, ctx.limits.max_pixels)
    if not described:
        raise ProbeError(f"{path}: the face is too small or unclear for a descriptor")
    return described[0].vector, len(boxes)


def _area(b: FaceBox) -> float:
    return b.w * b.h
