"""Box geometry in relative coordinates (0..1 of the upright image): rotation and overlap."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

# Turning the image counter-clockwise by these degrees (PIL transpose methods).
ROTATIONS: dict[int, Image.Transpose] = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class RelBox:
    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    def clipped(self) -> RelBox:
        x0, y0 = min(1.0, max(0.0, self.x)), min(1.0, max(0.0, self.y))  # even if outside
        x1, y1 = min(1.0, self.x + self.w), min(1.0, self.y + self.h)
        return RelBox(x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0))


def _point_back(px: float, py: float, degrees: int) -> tuple[float, float]:
    """Map a relative point of the image turned CCW by `degrees` back to the upright image."""
    if degrees == 90:  # upright (x, y) -> turned (y, 1 - x)
        return 1.0 - py, px
    if degrees == 180:
        return 1.0 - px, 1.0 - py
    if degrees == 270:  # upright (x, y) -> turned (1 - y, x)
        return py, 1.0 - px
    return px, py


def unrotate(box: RelBox, degrees: int) -> RelBox:
    """A box found in the turned image, expressed in the upright image."""
    if degrees == 0:
        return box
    ax, ay = _point_back(box.x, box.y, degrees)
    bx, by = _point_back(box.x + box.w, box.y + box.h, degrees)
    return RelBox(min(ax, bx), min(ay, by), abs(bx - ax), abs(by - ay))


def iou(a: RelBox, b: RelBox) -> float:
    """Intersection over union (the same in relative and in pixel coordinates: scaling an
    axis scales intersection and union alike)."""
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0
