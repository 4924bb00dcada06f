"""`face.dlib-hog` and `face.dlib-cnn`: dlib's own detectors with face_recognition's models.

Not in the default set (docs/scanning.md, "How faces are found", gives the measurements): HOG misses
profiles, tilted, masked and small faces; the CNN costs ~1 s per working image here. They are
kept for comparison with face_recognition (`face.dlib-hog` at full resolution with one
upsample is exactly face_recognition's default pipeline, plus EXIF orientation) and for users
who want dlib's answers.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from scanner.detectors.base import (
    IMAGE_TYPES,
    DetectContext,
    DetectorOutput,
    LoadedItem,
    ModelSpec,
    face_image_evidence,
)
from scanner.detectors.models import DLIB_CNN, DLIB_HOG, PILLOW_PLUGINS
from scanner.faces import dlib_faces, imaging
from scanner.model import ContentType, EvidenceKind, FaceBox

FULL_RESOLUTION = 1 << 30
CNN_TARGET = 1024


class _DlibDetector:
    id: ClassVar[str]
    cost: ClassVar[int]
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_IMAGE
    content_types: ClassVar[frozenset[ContentType]] = IMAGE_TYPES
    description: ClassVar[str]
    default: ClassVar[bool] = False  # kept for comparison (see above)
    models: ClassVar[tuple[ModelSpec, ...]]
    distributions: ClassVar[tuple[str, ...]]
    model: ClassVar[str]
    upsample: ClassVar[int]
    target: ClassVar[int]

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        ctx.models.get(PILLOW_PLUGINS.name)
        im = item.fresh_image(ctx.limits.max_pixels)
        work = imaging.decode_working(im, item.content_type, 0, self.target)
        arr = np.asarray(work.image)
        boxes: list[FaceBox] = []
        height, width = arr.shape[:2]
        detector = ctx.models.get(self.model)
        if self.model == DLIB_CNN.name:
            for d in detector(arr, self.upsample):
                boxes.append(_box(d.rect, width, height, float(d.confidence), self.id))
        else:
            rects, scores, _ = detector.run(arr, self.upsample, 0.0)
            for rect, score in zip(rects, scores, strict=True):
                boxes.append(_box(rect, width, height, float(score), self.id))
        min_px = ctx.settings.min_face_px
        if min_px > 0:
            ow, oh = work.original
            boxes = [b for b in boxes if max(b.w * ow, b.h * oh) >= min_px]
        notes = (("smallest_face_px", round(80 / (work.scale * 2**self.upsample))),)
        if not boxes:
            return DetectorOutput(notes=notes)
        return DetectorOutput((face_image_evidence(self.id, boxes),), notes)


def _box(rect: object, width: int, height: int, score: float, detector: str) -> FaceBox:
    css = dlib_faces._trim_css_to_bounds(dlib_faces._rect_to_css(rect), (height, width))
    top, right, bottom, left = css
    return FaceBox(
        x=round(left / width, 4),
        y=round(top / height, 4),
        w=round((right - left) / width, 4),
        h=round((bottom - top) / height, 4),
        confidence=round(score, 3),
        method=detector.removeprefix("face."),
    )


class DlibHogFaceDetector(_DlibDetector):
    id: ClassVar[str] = "face.dlib-hog"
    cost: ClassVar[int] = 200
    description: ClassVar[str] = (
        "dlib HOG at full resolution, upsampled once: face_recognition's default pipeline"
    )
    models: ClassVar[tuple[ModelSpec, ...]] = (PILLOW_PLUGINS, DLIB_HOG)
    distributions: ClassVar[tuple[str, ...]] = ("dlib-bin", "Pillow", "pillow-heif")
    model: ClassVar[str] = DLIB_HOG.name
    upsample: ClassVar[int] = 1
    target: ClassVar[int] = FULL_RESOLUTION


class DlibCnnFaceDetector(_DlibDetector):
    id: ClassVar[str] = "face.dlib-cnn"
    cost: ClassVar[int] = 500
    description: ClassVar[str] = "dlib MMOD CNN (face_recognition's CNN model) at ~1000 px"
    models: ClassVar[tuple[ModelSpec, ...]] = (PILLOW_PLUGINS, DLIB_CNN)
    distributions: ClassVar[tuple[str, ...]] = (
        "dlib-bin",
        "face-recognition-models",
        "Pillow",
        "pillow-heif",
    )
    model: ClassVar[str] = DLIB_CNN.name
    upsample: ClassVar[int] = 0
    target: ClassVar[int] = CNN_TARGET
