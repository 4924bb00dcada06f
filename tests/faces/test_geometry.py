"""Box geometry against real pixels: a box found in a turned image maps back onto the box
drawn in the upright one, for every turn Pillow's transpose makes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from scanner.faces.geometry import ROTATIONS, RelBox, iou, unrotate

SIZE = (200, 120)  # not square: a swapped width/height would show

# Boxes in pixels (left, top, right-exclusive, bottom-exclusive) in the upright image.
BOXES = [(20, 10, 60, 40), (150, 70, 190, 115), (0, 0, 200, 120), (90, 0, 110, 120)]


def drawn(box: tuple[int, int, int, int]) -> Image.Image:
    im = Image.new("L", SIZE, 0)
    left, top, right, bottom = box
    ImageDraw.Draw(im).rectangle((left, top, right - 1, bottom - 1), fill=255)
    return im


def locate(im: Image.Image) -> RelBox:
    """The white box's extent, found from the pixels, in relative coordinates."""
    arr = np.asarray(im) > 127
    ys, xs = np.nonzero(arr)
    w, h = im.size
    return RelBox(
        xs.min() / w,
        ys.min() / h,
        (xs.max() + 1 - xs.min()) / w,
        (ys.max() + 1 - ys.min()) / h,
    )


def close(a: RelBox, b: RelBox) -> bool:
    return all(
        abs(p - q) < 1e-9 for p, q in zip((a.x, a.y, a.w, a.h), (b.x, b.y, b.w, b.h), strict=True)
    )


@pytest.mark.parametrize("box", BOXES)
@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_unrotate_matches_pillow_transpose(degrees: int, box: tuple[int, int, int, int]) -> None:
    upright = drawn(box)
    turned = upright.transpose(ROTATIONS[degrees])
    expected_size = SIZE[::-1] if degrees in (90, 270) else SIZE
    assert turned.size == expected_size
    found = locate(turned)
    back = unrotate(found, degrees)
    assert close(back, locate(upright)), (back, locate(upright))


def test_rotations_turn_counter_clockwise() -> None:
    """The table's meaning: ROTATIONS[90] turns the image 90 degrees counter-clockwise,
    so the upright top-right corner becomes the top-left."""
    upright = drawn((180, 0, 200, 10))  # top-right corner
    assert locate(upright.transpose(ROTATIONS[90])) == RelBox(0.0, 0.0, 10 / 120, 20 / 200)
    assert ROTATIONS[90] is Image.Transpose.ROTATE_90
    assert ROTATIONS[270] is Image.Transpose.ROTATE_270


@pytest.mark.parametrize(("first", "second"), [(90, 270), (270, 90), (180, 180)])
def test_turns_that_add_up_to_a_full_circle_cancel(first: int, second: int) -> None:
    box = RelBox(0.1, 0.2, 0.3, 0.4)
    assert close(unrotate(unrotate(box, first), second), box)


def test_four_quarter_turns_and_zero_are_the_identity() -> None:
    box = RelBox(0.1, 0.2, 0.3, 0.4)
    assert unrotate(box, 0) is box
    turned = box
    for _ in range(4):
        turned = unrotate(turned, 90)
    assert close(turned, box)


def test_unrotate_keeps_sizes_and_swaps_for_quarter_turns() -> None:
    box = RelBox(0.1, 0.2, 0.3, 0.4)
    assert close(unrotate(box, 180), RelBox(0.6, 0.4, 0.3, 0.4))
    assert close(unrotate(box, 90), RelBox(0.4, 0.1, 0.4, 0.3))
    assert close(unrotate(box, 270), RelBox(0.2, 0.6, 0.4, 0.3))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (RelBox(0, 0, 0.5, 0.5), RelBox(0, 0, 0.5, 0.5), 1.0),
        (RelBox(0, 0, 0.5, 0.5), RelBox(0.5, 0.5, 0.5, 0.5), 0.0),  # touching corners
        (RelBox(0, 0, 0.2, 0.2), RelBox(0.5, 0.5, 0.2, 0.2), 0.0),  # apart
        (RelBox(0, 0, 0.4, 0.4), RelBox(0.2, 0, 0.4, 0.4), 1 / 3),  # half overlaps half
        (RelBox(0, 0, 1, 1), RelBox(0.25, 0.25, 0.5, 0.5), 0.25),  # contained
        (RelBox(0, 0, 0, 0), RelBox(0, 0, 0, 0), 0.0),  # empty: no division by zero
        (RelBox(0.2, 0.2, -0.1, 0.3), RelBox(0.1, 0.2, 0.1, 0.3), 0.0),  # negative width
    ],
)
def test_iou(a: RelBox, b: RelBox, expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


@pytest.mark.parametrize("aspect", [0.5, 4 / 3, 16 / 9])
def test_iou_is_the_same_in_pixels_for_any_image_shape(aspect: float) -> None:
    """IoU of relative boxes equals IoU of the same boxes in pixels for any image shape."""
    a, b = RelBox(0.1, 0.1, 0.4, 0.3), RelBox(0.3, 0.2, 0.4, 0.5)
    w, h = 1000 * aspect, 1000.0
    ax0, ay0, ax1, ay1 = a.x * w, a.y * h, (a.x + a.w) * w, (a.y + a.h) * h
    bx0, by0, bx1, by1 = b.x * w, b.y * h, (b.x + b.w) * w, (b.y + b.h) * h
    inter = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    assert iou(a, b) == pytest.approx(inter / union)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (RelBox(0.1, 0.1, 0.2, 0.2), RelBox(0.1, 0.1, 0.2, 0.2)),
        (RelBox(-0.1, 0.5, 0.3, 0.7), RelBox(0.0, 0.5, 0.2, 0.5)),
        (RelBox(0.9, 0.9, 0.5, 0.5), RelBox(0.9, 0.9, 0.1, 0.1)),
        (RelBox(-0.2, -0.2, 1.5, 1.5), RelBox(0.0, 0.0, 1.0, 1.0)),
        # Entirely outside: an empty box on the border, never a coordinate above 1.
        (RelBox(1.2, 0.2, 0.1, 0.1), RelBox(1.0, 0.2, 0.0, 0.1)),
        (RelBox(0.2, 3.0, 0.1, 0.1), RelBox(0.2, 1.0, 0.1, 0.0)),
    ],
)
def test_clipped(box: RelBox, expected: RelBox) -> None:
    assert close(box.clipped(), expected)


@pytest.mark.parametrize(
    "box",
    [RelBox(1.2, 0.2, 0.1, 0.1), RelBox(-0.5, -0.5, 0.2, 0.2), RelBox(5, 5, 5, 5)],
)
def test_clipping_a_box_outside_the_image_leaves_nothing_outside(box: RelBox) -> None:
    clipped = box.clipped()
    assert clipped.area == 0.0
    for value in (clipped.x, clipped.y, clipped.w, clipped.h):
        assert 0.0 <= value <= 1.0


def test_area_of_a_degenerate_box_is_zero() -> None:
    assert RelBox(0, 0, -0.5, 0.5).area == 0.0
    assert RelBox(0, 0, 0.5, 0.5).area == 0.25
