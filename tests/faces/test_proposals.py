"""Skin-blob proposals on real photographs: a small real face is proposed (light and dark
skin), and images with nothing face-like propose nothing.

The face is scikit-image's astronaut.png (head and shoulders) pasted at the sizes the fine
pass misses (12-20 px face height in a 1000 px image: ~50-80 px in a 4000 px photo).
"""

from __future__ import annotations

import pytest
from helpers import astronaut, no_face
from PIL import Image

from scanner.faces.proposals import skin_blobs, skin_textures

SIZE = (1000, 750)  # the fine working image of a 4000x3000 photo
LIMIT = 4  # the detector's MAX_PROPOSALS


def scene(background: str, face_px: int, tone: float = 1.0) -> tuple[Image.Image, float, float]:
    """The astronaut's head pasted into a no-face photo; the face centre, relative."""
    canvas = no_face(background).resize(SIZE, Image.Resampling.BICUBIC)
    head = astronaut().crop((110, 0, 350, 300))  # the face is ~130 px tall in this crop
    if tone != 1.0:  # darker skin: luminance scaled, chroma kept
        luma, cb, cr = head.convert("YCbCr").split()
        luma = luma.point(lambda v: round(v * tone))
        head = Image.merge("YCbCr", (luma, cb, cr)).convert("RGB")
    k = face_px / 130
    head = head.resize((round(head.width * k), round(head.height * k)))
    at = (600, 300)
    canvas.paste(head, at)
    return canvas, (at[0] + 118 * k) / SIZE[0], (at[1] + 140 * k) / SIZE[1]


def proposed_at(image: Image.Image, x: float, y: float) -> bool:
    return any(
        abs(p.box.x + p.box.w / 2 - x) < 0.012 and abs(p.box.y + p.box.h / 2 - y) < 0.016
        for p in skin_blobs(image, LIMIT)
    )


@pytest.mark.parametrize(
    ("background", "face_px", "tone"),
    [
        ("coffee.png", 16, 1.0),
        ("coffee.png", 20, 1.0),
        ("rocket.jpg", 12, 1.0),
        ("rocket.jpg", 20, 1.0),
        ("rocket.jpg", 20, 0.5),
        ("chelsea.png", 16, 1.0),
        pytest.param(
            "motorcycle_left.png",
            20,
            1.0,
            marks=pytest.mark.xfail(
                strict=True,
                reason="the chroma box widened for pale faces (Cr 135, Cb 128) lets the "
                "motorcycle's bright clutter outrank this face; measured trade-off, "
                "docs/scanning.md step 4",
            ),
        ),
        ("brick.png", 12, 1.0),
        ("brick.png", 16, 0.5),
        ("brick.png", 20, 0.3),
        ("grass.png", 16, 1.0),
        ("grass.png", 12, 0.5),
        ("gravel.png", 20, 0.3),
        ("color.png", 16, 0.5),
    ],
)
def test_a_small_face_is_proposed(background: str, face_px: int, tone: float) -> None:
    image, x, y = scene(background, face_px, tone)
    assert proposed_at(image, x, y)


@pytest.mark.parametrize("background", ["brick.png", "grass.png", "gravel.png", "camera.png"])
def test_no_skin_no_proposal(background: str) -> None:
    assert skin_blobs(no_face(background).resize(SIZE), LIMIT) == []


def test_a_flat_skin_coloured_wall_is_not_a_face() -> None:
    """All skin and no edges: no blob, no eyes."""
    assert skin_blobs(Image.new("RGB", SIZE, (224, 172, 140)), LIMIT) == []


def test_a_grayscale_photo_gets_no_proposal() -> None:
    """No chroma: the small faces of black-and-white photos are left to --thorough."""
    image, _, _ = scene("brick.png", 16)
    assert skin_blobs(image.convert("L").convert("RGB"), LIMIT) == []
    assert skin_blobs(image.convert("L"), LIMIT) == []


def test_at_most_limit_proposals_best_first_and_apart() -> None:
    image = no_face("coffee.png").resize(SIZE)
    found = skin_blobs(image, LIMIT)
    assert len(found) <= LIMIT
    assert skin_blobs(image, 0) == []
    for i, a in enumerate(found):
        for b in found[i + 1 :]:
            apart = abs(a.box.x - b.box.x) >= min(a.box.w, b.box.w) or abs(
                a.box.y - b.box.y
            ) >= min(a.box.h, b.box.h)
            assert apart


def skin_wall(name: str = "brick.png", tint: tuple[int, int, int] = (214, 160, 128)) -> Image.Image:
    """A real no-face texture recoloured skin-coloured: its luminance, a skin tone's chroma."""
    luma = no_face(name).resize(SIZE).convert("L")
    luma = luma.point(lambda v: 120 + v // 4)  # a plain surface: a little grain, no edges
    tone = Image.new("RGB", SIZE, tint).convert("YCbCr").split()
    return Image.merge("YCbCr", (luma, tone[1], tone[2])).convert("RGB")


def textured_at(image: Image.Image, x: float, y: float) -> bool:
    return any(
        abs(p.box.x + p.box.w / 2 - x) < 0.012 and abs(p.box.y + p.box.h / 2 - y) < 0.016
        for p in skin_textures(image, 2)
    )


@pytest.mark.parametrize(
    ("wall", "face_px"), [("brick.png", 16), ("brick.png", 20), ("gravel.png", 16)]
)
def test_a_face_on_a_skin_coloured_wall_is_proposed_by_texture(wall: str, face_px: int) -> None:
    """The face alone (no hair or shoulders around it) on the wall: no blob, a textured spot."""
    canvas = skin_wall(wall)
    face = astronaut().crop((175, 70, 285, 200))  # ~130 px tall, centre (235, 140) of the photo
    k = face_px / 130
    face = face.resize((round(face.width * k), round(face.height * k)))
    canvas.paste(face, (600, 300))
    x, y = (600 + 60 * k) / SIZE[0], (300 + 70 * k) / SIZE[1]
    assert textured_at(canvas, x, y)
    assert not proposed_at(canvas, x, y)  # what skin_blobs cannot see


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(Image.new("RGB", SIZE, (224, 172, 140)), id="flat skin-coloured wall"),
        pytest.param(no_face("grass.png").resize(SIZE), id="no skin"),
        pytest.param(no_face("camera.png").resize(SIZE).convert("RGB"), id="grayscale"),
    ],
)
def test_no_texture_proposal_without_a_textured_spot(image: Image.Image) -> None:
    assert skin_textures(image, 2) == []


def test_no_texture_proposal_unless_most_of_the_image_is_skin() -> None:
    """The gate: a face on a skin-coloured wall that covers half the image is left to the blobs."""
    canvas = no_face("grass.png").resize(SIZE)
    canvas.paste(skin_wall("brick.png").crop((500, 0, 1000, 750)), (500, 0))
    face = astronaut().crop((175, 70, 285, 200)).resize((14, 16))
    canvas.paste(face, (600, 300))
    assert skin_textures(canvas, 2) == []


def test_textured_windows_are_marked_as_such() -> None:
    """The detector gives a textured window (off the face's centre, on its eyes or mouth) a
    plain tile and a blob an upsampled one: each proposal says which it is."""
    canvas = skin_wall("brick.png")
    face = astronaut().crop((175, 70, 285, 200)).resize((14, 16))
    canvas.paste(face, (600, 300))
    textures = skin_textures(canvas, 2)
    assert textures and all(p.texture for p in textures)
    image, _, _ = scene("coffee.png", 16)
    blobs = skin_blobs(image, LIMIT)
    assert blobs and not any(p.texture for p in blobs)
