"""The YuNet binding: libfacedetection called directly gives exactly the detections of the
wheel's own entry point, and repeated calls do not grow the process (the entry point leaks a
copy of every image)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from helpers import skimage_data
from PIL import Image

from scanner.faces import yunet

PHOTOS = ["astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png"]


@pytest.fixture(scope="module")
def model() -> yunet.YuNet:
    loaded = yunet.load()
    assert loaded.function is not None, "libfacedetection's facedetect_cnn was not found"
    return loaded


def rss_mib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 // (1024 * 1024)


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("size", [None, (320, 240), (1000, 750)])
def test_identical_to_the_wheels_entry_point(
    model: yunet.YuNet, name: str, size: tuple[int, int] | None
) -> None:
    image = Image.open(skimage_data() / name).convert("RGB")
    if size is not None:
        image = image.resize(size)
    rgb = np.asarray(image)
    direct = yunet.detect(model, rgb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = model.module.detectRGB(image.width, image.height, rgb.tobytes())
    via_entry_point = [
        yunet.Candidate(float(x), float(y), float(w), float(h), score / 100.0)
        for x, y, w, h, score in raw
        if w > 0 and h > 0
    ]
    assert direct == via_entry_point
    if name == "astronaut.png":
        assert any(c.score >= 0.8 for c in direct)  # her face


def test_padding_is_removed_from_the_boxes(model: yunet.YuNet) -> None:
    rgb = np.asarray(Image.open(skimage_data() / "astronaut.png").convert("RGB"))
    padded = np.pad(rgb, ((40, 40), (40, 40), (0, 0)))
    plain = max(yunet.detect(model, rgb), key=lambda c: c.score)
    moved = max(yunet.detect(model, padded, 40), key=lambda c: c.score)
    assert abs(plain.x - moved.x) <= 4 and abs(plain.y - moved.y) <= 4


def test_repeated_calls_do_not_grow_the_process(model: yunet.YuNet) -> None:
    rgb = np.zeros((800, 800, 3), np.uint8)
    for _ in range(20):
        yunet.detect(model, rgb)
    before = rss_mib()
    for _ in range(200):  # the wheel's entry point would keep ~370 MiB of copies
        yunet.detect(model, rgb)
    assert rss_mib() - before < 40


@pytest.mark.parametrize("shape", [(40, 40), (40, 40, 4), (40, 40, 1)])
def test_only_three_channel_images_reach_the_c_function(
    model: yunet.YuNet, shape: tuple[int, ...]
) -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        yunet.detect(model, np.zeros(shape, np.uint8))


def _face_at(face_height: int, centre_y: int) -> np.ndarray:
    """A 1000x750 photo (coffee) with the astronaut's head pasted so that her face, ~130 px
    tall in the 300 px crop, is `face_height` px tall and centred on row `centre_y`."""
    bg = Image.open(skimage_data() / "coffee.png").convert("RGB").resize((1000, 750))
    head = Image.open(skimage_data() / "astronaut.png").convert("RGB").crop((110, 0, 350, 300))
    k = face_height / 130
    head = head.resize((round(head.width * k), round(head.height * k)))
    face_centre = round(110 * k)  # the face's centre row in the crop, scaled
    bg.paste(head, (400, centre_y - face_centre))
    return np.asarray(bg)


def _strong(found: list[yunet.Candidate]) -> list[tuple[float, float, float, float]]:
    return [(c.x, c.y, c.w, c.h) for c in found if c.score >= 0.8]


@pytest.mark.parametrize("centre_y", [150, 375, 360, 600])
def test_halves_find_what_the_whole_image_shows(model: yunet.YuNet, centre_y: int) -> None:
    """A face up to the overlap's height is found whole, once, wherever it sits, also on the
    middle row where the halves meet."""
    rgb = _face_at(90, centre_y)
    whole, halves = (
        _strong(yunet.detect(model, rgb)),
        _strong(yunet.detect_in_halves(model, rgb, 128)),
    )
    assert len(whole) == 1 and len(halves) == 1
    assert np.allclose(whole[0], halves[0], atol=4), (whole, halves)


def test_halves_stop_after_the_top_half_holds_a_clear_face(model: yunet.YuNet) -> None:
    """With `stop_at`, a clear face in the top half ends the search: a second face in the
    bottom half is then not looked for; without it (exact counts), both are found."""
    top, bottom = _face_at(90, 150), _face_at(90, 600)
    rgb = np.concatenate([top[:375], bottom[375:]])
    assert len(_strong(yunet.detect_in_halves(model, rgb, 128))) == 2
    stopped = _strong(yunet.detect_in_halves(model, rgb, 128, stop_at=0.8))
    assert len(stopped) == 1 and stopped[0][1] < 375, stopped
    # A face only in the bottom half is still found when stopping is allowed.
    assert len(_strong(yunet.detect_in_halves(model, bottom, 128, stop_at=0.8))) == 1


def test_halves_report_no_part_of_a_taller_face(model: yunet.YuNet) -> None:
    """A face taller than the overlap, cut where a half ends (rows 311 and 439 here), leaves
    no partial box that reaches the cut (the caller's close-up pass finds such faces)."""
    rgb = _face_at(260, 375)
    for c in yunet.detect_in_halves(model, rgb, 128):
        assert abs(c.y + c.h - 439) > 2 and abs(c.y - 311) > 2, c


def test_the_bgr_copy_reverses_the_channels_of_any_view() -> None:
    rgb = np.arange(6 * 5 * 3, dtype=np.uint8).reshape(6, 5, 3)
    for view in (rgb, rgb[1:4], rgb[:, 1:4], rgb[::2, ::2]):
        bgr = yunet._bgr(view)
        assert bgr.flags["C_CONTIGUOUS"] and bgr.dtype == np.uint8
        assert np.array_equal(bgr, view[:, :, ::-1])
