"""Cheap proposals of where a face too small for the fine pass may be (skin-coloured blobs).

A face of ~60 px in a 4000 px photo is ~15 px in the ~1000 px fine image, where YuNet gives
nothing at all, so the detector's closer look in tiles of the detail image never gets a
candidate. This module proposes places for those tiles from colour alone, on the fine image
reduced to ~340 px (~0.09 Mpx, a few ms): windows about a small face's size whose pixels
are mostly skin by chroma (YCbCr's Cb/Cr box, which holds light and dark skin alike: skin
tones differ in luminance far more than in chroma), with less skin in a ring around them (a
face is a blob, not a skin-coloured wall) and some edges inside (eyes, brows, mouth; a
smooth wooden floor has none). A proposal never accepts a face: YuNet must find one in the tile
(face_yunet._closer), and borderline ones still go through the usual confirmation.

A face on a skin-coloured background (a wooden wall, sand, a beige sofa) is no blob: its
ring is skin too. For those, `skin_textures` proposes face-sized windows inside skin-coloured
areas whose luminance varies much more than their ring's (eyes and mouth on a plain surface).

Grayscale images give no proposals (no chroma); their small faces are left to --thorough.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from scanner.faces.geometry import RelBox

WORK_SIDE = 340  # proposals are computed on the image reduced to about this long side
# Window sides there: faces of ~12-18 px at a ~1000 px fine pass, those YuNet misses there
# (~40-100 px in a 4000 px photo). Each window has a ring as wide as itself around it.
WINDOWS = (4, 6)
STRIDE = 2  # windows are tried every this many pixels
# Skin by chroma (ITU-R BT.601 YCbCr as Pillow computes it), with a luminance floor: the chroma
# of nearly black pixels is noise. Cr from 135 and Cb up to 128 (not 140 and 120) also hold pale
# faces (docs/scanning.md, step 4).
CR_RANGE = (135, 165)
CB_RANGE = (85, 128)
MIN_LUMA = 40
MIN_SKIN = 0.3  # share of skin pixels a window needs...
MIN_BLOB = 0.15  # ...more than in its ring...
MIN_CONTRAST = 8.0  # ...and this standard deviation of luminance inside (eyes, brows, mouth)
CONTRAST_CAP = 32.0  # more contrast than this earns nothing more (foliage, text)
BRIGHT = 128.0  # contrast of darker windows is also ranked as if they were this bright
# skin_textures: a window inside a skin-coloured area (this share of its ring is skin too)...
MIN_RING_SKIN = 0.6
TEXTURE_RATIO = 1.5  # ...whose luminance deviation is at least this multiple of its ring's
MIN_SKIN_AREA = 0.75  # share of skin pixels from which the background is skin-coloured


def _lut(low: int, high: int) -> list[int]:
    return [1 if low <= v <= high else 0 for v in range(256)]


_CR_LUT, _CB_LUT, _LUMA_LUT = _lut(*CR_RANGE), _lut(*CB_RANGE), _lut(MIN_LUMA, 255)


@dataclass(frozen=True)
class Proposal:
    box: RelBox  # a face-sized box, relative to the image
    score: float  # the ranking score; not a face score
    # A textured spot inside a skin-coloured area (skin_textures), not a blob: it marks eyes or
    # a mouth, so it may lie off the face's centre by more than a blob does.
    texture: bool = False


def propose(image: Image.Image, blobs: int, textures: int) -> list[Proposal]:
    """Up to `blobs` skin blobs, then up to `textures` skin textures: the image reduced and
    its skin mask and sums computed once for both."""
    if image.mode != "RGB" or (blobs <= 0 and textures <= 0):
        return []
    planes = _Planes.of(image)
    return _blobs(planes, blobs) + _textures(planes, textures)


def skin_blobs(image: Image.Image, limit: int) -> list[Proposal]:
    """Up to `limit` face-sized skin-coloured blobs with edges inside, best first."""
    return propose(image, limit, 0)


def _blobs(planes: _Planes, limit: int) -> list[Proposal]:
    if limit <= 0 or not planes.mask.any():
        return []
    skin_sum, lum_sum, sq_sum = planes.sums
    height, width = planes.mask.shape
    # Two rankings, taken in turn: by contrast, and by contrast relative to the brightness
    # (dark skin shows its eyes and mouth in proportion; by contrast alone light faces and
    # bright clutter come first).
    rankings: tuple[list[_Window], list[_Window]] = ([], [])
    for side in WINDOWS:
        outer = 3 * side  # the window and its ring
        if height < outer or width < outer:
            continue
        rows, cols = (height - outer) // STRIDE + 1, (width - outer) // STRIDE + 1
        inner = _box(skin_sum, side, side, rows, cols) / side**2
        ring = (_box(skin_sum, 0, outer, rows, cols) - inner * side**2) / (outer**2 - side**2)
        mean = _box(lum_sum, side, side, rows, cols) / side**2
        square = _box(sq_sum, side, side, rows, cols) / side**2
        contrast = np.sqrt(np.maximum(square - mean * mean, 0.0))
        relative = contrast * (BRIGHT / np.clip(mean, MIN_LUMA, BRIGHT))
        ok = (inner >= MIN_SKIN) & (inner - ring >= MIN_BLOB) & (relative >= MIN_CONTRAST)
        blob = np.where(ok, inner - ring, 0.0)
        for ranking, measure in zip(rankings, (contrast, relative), strict=True):
            ranking.extend(_top_windows(blob * np.minimum(measure, CONTRAST_CAP), side, limit))
    for ranking in rankings:
        ranking.sort(key=lambda w: -w.score)
    picked: list[_Window] = []
    heads = [iter(r) for r in rankings]
    while len(picked) < limit and heads:
        for head in list(heads):
            # One proposal per blob: a window overlapping one already picked adds nothing.
            nxt = next((w for w in head if not any(w.overlaps(p) for p in picked)), None)
            if nxt is None:
                heads.remove(head)
            elif len(picked) < limit:
                picked.append(nxt)
    return [_proposal(w, width, height) for w in picked]


def skin_textures(image: Image.Image, limit: int) -> list[Proposal]:
    """Up to `limit` face-sized windows inside skin-coloured areas, best first, whose
    luminance varies much more than their ring's: what a face on a skin-coloured background
    looks like, where `skin_blobs` sees no blob."""
    return propose(image, 0, limit)


def _textures(planes: _Planes, limit: int) -> list[Proposal]:
    if limit <= 0 or planes.mask.mean() < MIN_SKIN_AREA:
        return []
    skin_sum, lum_sum, sq_sum = planes.sums
    height, width = planes.mask.shape
    windows: list[_Window] = []
    for side in WINDOWS:
        outer = 3 * side
        if height < outer or width < outer:
            continue
        rows, cols = (height - outer) // STRIDE + 1, (width - outer) // STRIDE + 1
        inner_area, ring_area = side**2, outer**2 - side**2
        skin_in = _box(skin_sum, side, side, rows, cols)
        ring_skin = (_box(skin_sum, 0, outer, rows, cols) - skin_in) / ring_area
        sum_in, sq_in = _box(lum_sum, side, side, rows, cols), _box(sq_sum, side, side, rows, cols)
        sum_all, sq_all = _box(lum_sum, 0, outer, rows, cols), _box(sq_sum, 0, outer, rows, cols)
        mean_in, mean_ring = sum_in / inner_area, (sum_all - sum_in) / ring_area
        dev_in = np.sqrt(np.maximum(sq_in / inner_area - mean_in**2, 0.0))
        dev_ring = np.sqrt(np.maximum((sq_all - sq_in) / ring_area - mean_ring**2, 0.0))
        ok = (
            (skin_in / inner_area >= MIN_SKIN)
            & (ring_skin >= MIN_RING_SKIN)
            & (dev_in >= MIN_CONTRAST)
            & (dev_in >= TEXTURE_RATIO * dev_ring)
        )
        score = np.where(ok, np.minimum(dev_in, CONTRAST_CAP) / (dev_ring + 2.0), 0.0)
        windows += _top_windows(score, side, limit)
    windows.sort(key=lambda w: -w.score)
    picked: list[_Window] = []
    for w in windows:
        if len(picked) >= limit:
            break
        if not any(w.overlaps(p) for p in picked):
            picked.append(w)
    return [replace(_proposal(w, width, height), texture=True) for w in picked]


@dataclass(frozen=True)
class _Planes:
    """The skin mask (0/1) and the luminance of the image reduced to about WORK_SIDE."""

    mask: np.ndarray
    lum: np.ndarray

    @classmethod
    def of(cls, image: Image.Image) -> _Planes:
        factor = max(1, round(max(image.size) / WORK_SIDE))
        small = image.reduce(factor) if factor > 1 else image
        luma, cb, cr = small.convert("YCbCr").split()
        mask = (
            np.asarray(cb.point(_CB_LUT), dtype=np.uint8)
            & np.asarray(cr.point(_CR_LUT), dtype=np.uint8)
            & np.asarray(luma.point(_LUMA_LUT), dtype=np.uint8)
        )
        return cls(mask, np.asarray(luma, dtype=np.float64))

    @functools.cached_property
    def sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Summed-area tables of the mask, the luminance and its square (made once)."""
        return _integral(self.mask), _integral(self.lum), _integral(self.lum * self.lum)


def _top_windows(score: np.ndarray, side: int, limit: int) -> list[_Window]:
    """The windows of `side` with a score, at most the 8 * limit best (unordered)."""
    best = np.flatnonzero(score)
    if best.size > 8 * limit:
        best = best[np.argpartition(-score.ravel()[best], 8 * limit)[: 8 * limit]]
    return [
        _Window(
            float(score[r, c]), float(STRIDE * c + 1.5 * side), float(STRIDE * r + 1.5 * side), side
        )
        for r, c in zip(*np.unravel_index(best, score.shape), strict=True)
    ]


def _proposal(w: _Window, width: int, height: int) -> Proposal:
    x, y = float(w.x - w.side / 2) / width, float(w.y - w.side / 2) / height
    return Proposal(RelBox(x, y, w.side / width, w.side / height), w.score)


@dataclass(frozen=True)
class _Window:
    score: float
    x: float  # centre, pixels of the reduced image
    y: float
    side: int

    def overlaps(self, other: _Window) -> bool:
        return abs(self.x - other.x) < other.side and abs(self.y - other.y) < other.side


def _integral(values: np.ndarray) -> np.ndarray:
    out = np.zeros((values.shape[0] + 1, values.shape[1] + 1), dtype=np.float64)
    np.cumsum(np.cumsum(values, axis=0, dtype=np.float64), axis=1, out=out[1:, 1:])
    return out


def _box(table: np.ndarray, offset: int, side: int, rows: int, cols: int) -> np.ndarray:
    """Sums of the side x side windows whose top-left corners are offset + STRIDE * (rows, cols)."""
    near, far = offset, offset + side
    top = table[near : near + STRIDE * rows : STRIDE]
    bottom = table[far : far + STRIDE * rows : STRIDE]
    sums: np.ndarray = (
        bottom[:, far : far + STRIDE * cols : STRIDE]
        - top[:, far : far + STRIDE * cols : STRIDE]
        - bottom[:, near : near + STRIDE * cols : STRIDE]
        + top[:, near : near + STRIDE * cols : STRIDE]
    )
    return sums
