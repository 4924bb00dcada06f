"""128-d descriptors (dlib's ResNet, face_recognition's space) of faces the detectors found.

A face box from any image detector (relative to the upright image, with the rotation the face
needed) is turned into a descriptor the way face_recognition computes one: an upright crop in
which the face is about FACE_PX pixels, dlib's 5-point landmarks inside a face rectangle, and
`compute_face_descriptor` on that crop. The rectangle is dlib's own (HOG, on the crop) when
its detector sees the face there, so the landmarks start from the box they were trained on;
otherwise the detector's box is mapped onto dlib's box convention.

Descriptors exist only in memory, in the process that computed them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from scanner.detectors.base import LoadedItem, ModelCache
from scanner.faces import imaging
from scanner.faces.geometry import ROTATIONS
from scanner.model import FaceBox

DIMS = 128
FACE_PX = 150  # the face's size in the crop (dlib's face chips are 150 px)
CONTEXT = 2.0  # the crop is this many face sizes wide
MAX_DECODE = 4096  # longest side decoded to reach FACE_PX for a small face
# YuNet's box is taller than dlib's HOG box (it includes the forehead): the centre moves
# down and the side shrinks; measured on the development set's frontal faces.
DLIB_SHIFT_Y = 0.08
DLIB_SCALE = 0.84
HOG_MIN_OVERLAP = 0.4


@dataclass(frozen=True)
class FaceDescriptor:
    """One face's descriptor, with the box it came from (kept in memory only)."""

    box: FaceBox
    vector: np.ndarray  # (128,) float64
    aligned_by: str  # "dlib-hog": dlib's own box on the crop; "mapped": the detector's box


def describe_boxes(
    item: LoadedItem, boxes: Sequence[FaceBox], models: ModelCache, max_pixels: int
) -> tuple[list[FaceDescriptor], int]:
    """Descriptors of `boxes` in `item`; and how many boxes gave none (too small, blank)."""
    models.ensure_image_plugins()
    out: list[FaceDescriptor] = []
    failed = 0
    for frame, frame_boxes in _by_frame(boxes):
        handle = item.fresh_image(max_pixels)
        target = _decode_target(handle.size, frame_boxes)
        try:
            work = imaging.decode_working(handle, item.content_type, frame, target, target)
        except imaging.ImageProblem:
            failed += len(frame_boxes)
            continue
        for box in frame_boxes:
            described = describe_in(work.image, box, models)
            if described is None:
                failed += 1
            else:
                out.append(described)
    return out, failed


def describe_in(image: Image.Image, box: FaceBox, models: ModelCache) -> FaceDescriptor | None:
    """The descriptor of the face at `box` in an upright RGB image (None: no usable face)."""
    crop, face = _crop(image, box)
    if crop is None:
        return None
    arr = np.ascontiguousarray(np.asarray(crop))
    dlib = models.dlib.dlib
    rect, how = _hog_rect(arr, face, models)
    if rect is None and box.rotation == 0:
        # YuNet finds many sideways faces without turning the image, and then its box says
        # nothing of the turn; dlib's HOG sees upright faces only, so a turn of the (square,
        # centred) crop in which it sees the face is the one that makes the face upright.
        for turn in (90, 270, 180):
            turned = np.ascontiguousarray(np.asarray(crop.transpose(ROTATIONS[turn])))
            turned_rect, turned_how = _hog_rect(turned, face, models)
            if turned_rect is not None:
                arr, rect, how = turned, turned_rect, turned_how
                break
    if rect is None:
        rect, how = _mapped_rect(dlib, face), "mapped"
    shape = models.dlib.pose5(arr, rect)
    vector = np.array(models.dlib.encoder.compute_face_descriptor(arr, shape, 1))
    if vector.shape != (DIMS,) or not np.isfinite(vector).all():
        return None
    return FaceDescriptor(box, vector, how)


def _by_frame(boxes: Iterable[FaceBox]) -> list[tuple[int, list[FaceBox]]]:
    frames: dict[int, list[FaceBox]] = {}
    for b in boxes:
        frames.setdefault(b.frame, []).append(b)
    return sorted(frames.items())


def _decode_target(stored: tuple[int, int], boxes: Sequence[FaceBox]) -> int:
    """The long side to decode so that the smallest face is about FACE_PX (bounded)."""
    long_side = max(stored)
    smallest = min(max(b.w, b.h) for b in boxes) or 1.0
    want = math.ceil(FACE_PX / smallest)
    return max(1, min(long_side, want, MAX_DECODE))


Rect = tuple[float, float, float]  # centre x, centre y, side: the face in crop pixels


def _crop(image: Image.Image, box: FaceBox) -> tuple[Image.Image | None, Rect]:
    """An upright crop, CONTEXT faces wide, scaled so the face is FACE_PX; and the face's
    centre and side in it. Beyond the border the crop is black (faces at the edge)."""
    width, height = image.size
    cx, cy = (box.x + box.w / 2) * width, (box.y + box.h / 2) * height
    side = max(box.w * width, box.h * height)
    if side < 8:
        return None, (0.0, 0.0, 0.0)
    half = side * CONTEXT / 2
    crop = image.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    if box.rotation:
        crop = crop.transpose(ROTATIONS[box.rotation])
    size = round(FACE_PX * CONTEXT)
    crop = crop.resize((size, size), Image.Resampling.BICUBIC)
    return crop, (size / 2, size / 2, float(FACE_PX))


def _mapped_rect(dlib: object, face: Rect) -> object:
    cx, cy, side = face
    s = side * DLIB_SCALE
    cy += side * DLIB_SHIFT_Y
    return dlib.rectangle(  # type: ignore[attr-defined]
        round(cx - s / 2), round(cy - s / 2), round(cx + s / 2), round(cy + s / 2)
    )


def _hog_rect(arr: np.ndarray, face: Rect, models: ModelCache) -> tuple[object | None, str]:
    """dlib's HOG box for the face at the crop's centre, when HOG sees it."""
    cx, cy, side = face
    best, best_overlap = None, HOG_MIN_OVERLAP
    for r in models.dlib.hog(arr, 0):
        ix = max(0, min(r.right(), cx + side / 2) - max(r.left(), cx - side / 2))
        iy = max(0, min(r.bottom(), cy + side / 2) - max(r.top(), cy - side / 2))
        union = r.width() * r.height() + side * side - ix * iy
        overlap = ix * iy / union if union > 0 else 0.0
        if overlap > best_overlap:
            best, best_overlap = r, overlap
    return best, "dlib-hog"
