"""Small real faces found whatever the colours: a guard for any colour-gated search.

Real faces of the development set at a size only the fine pass finds, in a 4000x3000 photo,
in colour, grayscale, sepia and under strong colour casts. A fine pass restricted to
skin-coloured regions (measured for issue 14 and rejected, docs/scanning.md "Where a
photo's time goes") must keep finding all of them: chroma moves or vanishes in exactly these
photos.

A face of ~150 px in a 4000 px photo is ~38 px in the ~1000 px fine image and ~12 px at the
close-up pass: only the fine pass (or a closer look after it) sees it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import encode
from PIL import Image

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelCache
from scanner.detectors.face_yunet import YuNetFaceDetector
from scanner.faces import yunet
from scanner.model import FileLocation
from scanner.sniff import sniff

MODELS = ModelCache()
SIZE = (4000, 3000)
FACE_PX = 150
FACES = (
    "facenet_pytorch_data/test_images/angelina_jolie/1.jpg",
    "photoprism_face_testdata/2.jpg",
    "deepface_dataset/img1.jpg",
)
BACKGROUND = "photoprism_examples/elephants.jpg"  # a real photo without a face
TINTS = {
    "colour": None,
    "grayscale": "L",
    "blue-cast": (0.7, 0.85, 1.3),
    "green-cast": (0.75, 1.25, 0.8),
    "sepia": "sepia",
}


def detect(data: bytes) -> DetectorOutput:
    item = LoadedItem(FileLocation("test"), sniff(data[:4096]), data)
    return YuNetFaceDetector().detect(item, DetectContext(DetectionSettings(), Limits(), MODELS))


def photo(devset: Path, name: str, tint: object) -> tuple[bytes, tuple[float, float]]:
    """The face of `name` at FACE_PX in a 4000x3000 photo, tinted; its centre, relative."""
    image = Image.open(devset / name).convert("RGB")
    found = yunet.detect(yunet.load(), np.asarray(image))
    if not found:
        pytest.skip(f"{name}: no face for YuNet on the photo itself")
    best = max(found, key=lambda c: c.score)
    side = max(best.w, best.h)
    cx, cy = best.x + best.w / 2, best.y + best.h / 2
    crop = image.crop((round(cx - side), round(cy - side), round(cx + side), round(cy + side)))
    crop = crop.resize((2 * FACE_PX, 2 * FACE_PX), Image.Resampling.LANCZOS)
    canvas = Image.open(devset / BACKGROUND).convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
    at = (2300, 900)
    canvas.paste(crop, at)
    if tint == "L":
        canvas = canvas.convert("L")
    elif tint == "sepia":
        grey = np.asarray(canvas.convert("L"), dtype=np.float64)[..., None]
        sepia = grey * np.array([1.07, 0.74, 0.43]) + np.array([20.0, 10.0, 0.0])
        canvas = Image.fromarray(np.clip(sepia, 0, 255).astype(np.uint8))
    elif isinstance(tint, tuple):
        arr = np.asarray(canvas, dtype=np.float64) * np.array(tint)
        canvas = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    centre = ((at[0] + FACE_PX) / SIZE[0], (at[1] + FACE_PX) / SIZE[1])
    return encode(canvas, "JPEG", quality=90), centre


@pytest.mark.parametrize("tint", sorted(TINTS))
@pytest.mark.parametrize("name", FACES)
def test_a_small_dev_set_face_is_found_in_any_colour(devset: Path, name: str, tint: str) -> None:
    data, (x, y) = photo(devset, name, TINTS[tint])
    ev = detect(data).evidence
    assert ev, f"{name} ({tint}): no face"
    assert any(
        abs(b.x + b.w / 2 - x) < 0.02 and abs(b.y + b.h / 2 - y) < 0.02 for b in ev[0].boxes
    ), f"{name} ({tint}): found elsewhere {ev[0].boxes}"


def test_the_background_alone_has_no_face(devset: Path) -> None:
    canvas = Image.open(devset / BACKGROUND).convert("RGB").resize(SIZE, Image.Resampling.BICUBIC)
    assert not detect(encode(canvas, "JPEG", quality=90)).evidence
