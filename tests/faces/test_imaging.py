"""Safe image decoding on real files: format allowlists, pixel and text-chunk bombs, truncated
data, DCT-domain draft decoding, EXIF orientation, frame sampling and mode conversion.

Every image is encoded by Pillow (or pillow-heif) at test time; the hostile ones (pixel bomb,
text-chunk bomb) are assembled chunk by chunk with correct CRCs so that only the property
under test is wrong.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut, encode, no_face
from PIL import Image, ImageDraw, ImageFile, ImageOps, features

from scanner.config import Limits
from scanner.faces import imaging
from scanner.faces.imaging import ImageProblem, decode_working, open_image, to_rgb
from scanner.model import ContentType, ProblemReason
from scanner.sniff import sniff

CT = ContentType
BIG = 10**9  # a pixel limit no test image reaches

imaging.register_plugins()  # HEIF, as each worker process does once


@functools.cache
def photo() -> Image.Image:
    return astronaut().resize((96, 64))


# --- hand-built files ------------------------------------------------------------------------


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_by_hand(
    width: int, height: int, *, before_idat: bytes = b"", after_idat: bytes = b""
) -> bytes:
    """An 8-bit greyscale PNG whose IDAT holds at most 64 KiB of rows: a huge header costs
    nothing to build (and must cost nothing to refuse)."""
    rows = min(height, max(1, 65536 // max(width, 1)))
    raw = (b"\x00" + bytes(range(256)) * (width // 256) + bytes(width % 256)) * rows
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + before_idat
        + png_chunk(b"IDAT", zlib.compress(raw))
        + after_idat
        + png_chunk(b"IEND", b"")
    )


def ztxt_bomb(megabytes: int = 32) -> bytes:
    """A zTXt chunk of ~32 KiB that inflates to `megabytes` MiB."""
    text = zlib.compress(b"A" * (megabytes << 20), 9)
    return png_chunk(b"zTXt", b"Comment\x00\x00" + text)


def itxt_bomb(megabytes: int = 32) -> bytes:
    text = zlib.compress(b"<x:xmpmeta/>" + b" " * (megabytes << 20), 9)
    return png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + text)


def psd(im: Image.Image) -> bytes:
    """Pillow cannot write PSD: a minimal valid one (RGB, 8 bit, raw planes)."""
    w, h = im.size
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    planes = b"".join(band.tobytes() for band in im.convert("RGB").split())
    return header + struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0) + planes


def plain_ppm(im: Image.Image) -> bytes:
    values = " ".join(str(v) for v in im.convert("RGB").tobytes())
    return f"P3\n# plain text\n{im.width} {im.height}\n255\n{values}\n".encode()


def eps() -> bytes:
    return encode(photo(), "EPS")


def dos_eps() -> bytes:
    ps = eps()
    return b"\xc5\xd0\xd3\xc6" + struct.pack("<IIIIIIH", 30, len(ps), 0, 0, 0, 0, 0xFFFF) + ps


def need(feature: str) -> None:
    if not features.check(feature):
        pytest.skip(f"this Pillow build lacks {feature}")


# --- every image type opens and decodes ------------------------------------------------------


def _avif() -> bytes:
    need("avif")
    return encode(photo(), "AVIF", quality=90)


def _jp2(**params: object) -> Callable[[], bytes]:
    def make() -> bytes:
        need("jpg_2000")
        return encode(photo(), "JPEG2000", **params)

    return make


def _as(mode: str, fmt: str, **params: object) -> Callable[[], bytes]:
    return lambda: encode(photo().convert(mode), fmt, **params)


# (id, bytes, sniffed type, the mode the pixels went through, mean tolerance for lossy codecs)
DECODABLE: list[tuple[str, Callable[[], bytes], ContentType, str, float]] = [
    ("jpeg", _as("RGB", "JPEG", quality=95), CT.JPEG, "RGB", 6),
    ("jpeg-grey", _as("L", "JPEG", quality=95), CT.JPEG, "L", 6),
    ("jpeg-cmyk", _as("CMYK", "JPEG", quality=95), CT.JPEG, "RGB", 6),
    (
        "mpo",
        lambda: encode(photo(), "MPO", save_all=True, append_images=[no_face()], quality=95),
        CT.JPEG,
        "RGB",
        6,
    ),
    ("png", _as("RGB", "PNG"), CT.PNG, "RGB", 0),
    ("png-16bit-grey", _as("I;16", "PNG"), CT.PNG, "L", 0),
    ("png-palette", _as("P", "PNG"), CT.PNG, "P", 0),
    ("gif", _as("P", "GIF"), CT.GIF, "P", 0),
    ("bmp", _as("RGB", "BMP"), CT.BMP, "RGB", 0),
    ("tiff", _as("RGB", "TIFF"), CT.TIFF, "RGB", 0),
    ("tiff-lzw", _as("RGB", "TIFF", compression="tiff_lzw"), CT.TIFF, "RGB", 0),
    ("tiff-big-endian-16bit", _as("I;16B", "TIFF"), CT.TIFF, "L", 0),
    ("webp-lossless", _as("RGB", "WEBP", lossless=True), CT.WEBP, "RGB", 0),
    ("webp", _as("RGB", "WEBP", quality=95), CT.WEBP, "RGB", 6),
    ("heic", _as("RGB", "HEIF", quality=95), CT.HEIF, "RGB", 6),
    ("avif", _avif, CT.AVIF, "RGB", 6),
    ("psd", lambda: psd(photo()), CT.PSD, "RGB", 0),
    ("ppm", _as("RGB", "PPM"), CT.PNM, "RGB", 0),
    ("pgm", _as("L", "PPM"), CT.PNM, "L", 0),
    ("pbm", _as("1", "PPM"), CT.PNM, "1", 0),
    ("ppm-plain", lambda: plain_ppm(photo()), CT.PNM, "RGB", 0),
    ("jp2", _jp2(), CT.JPEG2000, "RGB", 0),
    ("j2k-codestream", _jp2(no_jp2=True), CT.JPEG2000, "RGB", 0),
]


@pytest.mark.parametrize(
    ("make", "content_type", "mode", "tolerance"),
    [d[1:] for d in DECODABLE],
    ids=[d[0] for d in DECODABLE],
)
def test_every_sniffed_image_type_decodes(
    make: Callable[[], bytes], content_type: ContentType, mode: str, tolerance: float
) -> None:
    data = make()
    assert sniff(data[:4096]) is content_type
    work = decode_working(open_image(data, content_type, BIG), content_type, 0, 1024)
    assert work.image.mode == "RGB"
    assert work.image.size == work.original == (96, 64)
    assert work.scale == 1.0
    expected = np.asarray(photo().convert(mode).convert("RGB"), np.int16)
    error = np.abs(np.asarray(work.image, np.int16) - expected).mean()
    assert error <= tolerance, f"mean error {error:.2f}"


# --- only the sniffed format is ever decoded -------------------------------------------------


@pytest.mark.parametrize(
    ("make", "claimed"),
    [
        (eps, CT.JPEG),
        (dos_eps, CT.JPEG),
        (eps, CT.PNG),
        (eps, CT.TIFF),
        (lambda: encode(photo(), "PNG"), CT.JPEG),
        (lambda: encode(photo(), "JPEG"), CT.PNG),
        (lambda: encode(photo(), "BMP"), CT.GIF),
        (lambda: encode(photo(), "PDF"), CT.JPEG),
        (lambda: encode(photo(), "TGA"), CT.BMP),  # TGA has no magic: the classic impostor
    ],
    ids=["eps-as-jpeg", "dos-eps-as-jpeg", "eps-as-png", "eps-as-tiff", "png-as-jpeg",
         "jpeg-as-png", "bmp-as-gif", "pdf-as-jpeg", "tga-as-bmp"],
)  # fmt: skip
def test_open_accepts_only_the_sniffed_format(
    make: Callable[[], bytes], claimed: ContentType
) -> None:
    with pytest.raises(ImageProblem) as caught:
        open_image(make(), claimed, BIG)
    assert caught.value.reason is ProblemReason.DECODE_ERROR
    assert caught.value.detail.startswith("UnidentifiedImageError: cannot identify image file")


@pytest.mark.parametrize(
    "content_type",
    [CT.POSTSCRIPT, CT.PDF, CT.XMP, CT.ZIP, CT.TAR, CT.GZIP, CT.RAR, CT.UNKNOWN],
)
def test_non_image_types_are_refused_by_name(content_type: ContentType) -> None:
    with pytest.raises(ImageProblem) as caught:
        open_image(eps(), content_type, BIG)
    assert caught.value.reason is ProblemReason.DECODE_ERROR
    assert caught.value.detail == f"{content_type.value} is not an image"


GHOSTSCRIPT_PROBE = textwrap.dedent(
    """
    import io, os, sys
    from PIL import Image
    from scanner.faces.imaging import ImageProblem, open_image
    from scanner.model import ContentType
    data = open(sys.argv[1], "rb").read()
    marker = sys.argv[2]
    try:
        open_image(data, ContentType.JPEG, 10**9)
    except ImageProblem as exc:
        print("refused", exc.reason.value)
    print("gs-before-control", os.path.exists(marker))
    try:  # the control: what a naive Image.open does with the same bytes
        Image.open(io.BytesIO(data)).load()
    except Exception as exc:
        pass
    print("gs-after-control", os.path.exists(marker))
    """
)


def test_eps_named_jpeg_never_reaches_ghostscript(tmp_path: Path) -> None:
    """A `gs` on PATH that records each call. Our open refuses the EPS before any decoder
    runs; the control (Pillow without an allowlist) proves the probe would have seen gs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "gs-was-called"
    gs = bin_dir / "gs"
    gs.write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\nexit 1\n')
    gs.chmod(0o755)
    sample = tmp_path / "holiday.jpg"
    sample.write_bytes(eps())
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(
        [sys.executable, "-c", GHOSTSCRIPT_PROBE, str(sample), str(marker)],
        capture_output=True, text=True, env=env, check=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert run.stdout.split("\n")[:3] == [
        "refused decode_error",
        "gs-before-control False",
        "gs-after-control True",
    ], run.stderr


# --- pixel limits ------------------------------------------------------------------------------


def test_header_only_pixel_bomb_is_refused_at_open_without_allocating() -> None:
    """100000 x 100000 greyscale is 10 GB of pixels; the file is a few hundred bytes."""
    bomb = png_by_hand(100_000, 100_000)
    assert len(bomb) < 2_000
    assert sniff(bomb) is CT.PNG
    started = time.perf_counter()
    with pytest.raises(ImageProblem) as caught:
        open_image(bomb, CT.PNG, Limits().max_pixels)
    assert time.perf_counter() - started < 0.5
    assert caught.value.reason is ProblemReason.PIXEL_LIMIT
    assert "10000000000 pixels" in caught.value.detail


def test_warning_range_is_decided_by_our_limit() -> None:
    """Between Pillow's warning level and twice it, Pillow only warns: our limit decides."""
    side = int((Image.MAX_IMAGE_PIXELS * 1.5) ** 0.5)
    data = png_by_hand(side, side)
    im = open_image(data, CT.PNG, side * side)  # exactly at the limit: accepted
    assert im.size == (side, side)
    with pytest.raises(ImageProblem) as caught:
        open_image(data, CT.PNG, side * side - 1)
    assert caught.value.reason is ProblemReason.PIXEL_LIMIT
    assert caught.value.detail == (
        f"{side}x{side} = {side * side} pixels exceeds the {side * side - 1} pixel limit"
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_custom_pixel_limit_below_the_image(fmt: str) -> None:
    data = encode(photo(), fmt)
    ct = sniff(data)
    assert open_image(data, ct, 96 * 64).size == (96, 64)
    with pytest.raises(ImageProblem) as caught:
        open_image(data, ct, 6000)
    assert caught.value.reason is ProblemReason.PIXEL_LIMIT
    assert caught.value.detail == "96x64 = 6144 pixels exceeds the 6000 pixel limit"


def test_zero_sized_header_is_a_decode_error() -> None:
    with pytest.raises(ImageProblem) as caught:
        open_image(png_by_hand(0, 0), CT.PNG, BIG)
    assert caught.value.reason is ProblemReason.DECODE_ERROR


# --- text-chunk bombs and truncation -----------------------------------------------------------


@pytest.mark.parametrize("chunk", [ztxt_bomb, itxt_bomb], ids=["zTXt", "iTXt"])
def test_text_chunk_bomb_before_the_pixels_is_refused_at_open(chunk: Callable[[], bytes]) -> None:
    """Refused as DECODE_ERROR (Pillow inflates at most 1 MiB per text chunk and raises);
    the 32 MiB of text is never inflated, so this is fast."""
    data = png_by_hand(64, 64, before_idat=chunk())
    assert len(data) < 100_000
    started = time.perf_counter()
    with pytest.raises(ImageProblem) as caught:
        open_image(data, CT.PNG, BIG)
    assert time.perf_counter() - started < 0.5
    assert caught.value.reason is ProblemReason.DECODE_ERROR
    assert caught.value.detail.startswith("ValueError: Decompressed data too large")


@pytest.mark.parametrize("chunk", [ztxt_bomb, itxt_bomb], ids=["zTXt", "iTXt"])
def test_text_chunk_bomb_after_the_pixels_is_refused_at_decode(chunk: Callable[[], bytes]) -> None:
    """After IDAT Pillow meets the chunk only while loading: decode_working refuses it too,
    rather than returning pixels from a file it could not read to the end."""
    data = png_by_hand(64, 64, after_idat=chunk())
    im = open_image(data, CT.PNG, BIG)
    with pytest.raises(ImageProblem) as caught:
        decode_working(im, CT.PNG, 0, 1024)
    assert caught.value.reason is ProblemReason.DECODE_ERROR
    assert caught.value.detail.startswith("ValueError: Decompressed data too large")


def test_small_text_chunks_are_fine() -> None:
    text = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"hello " * 1000))
    data = png_by_hand(300, 20, before_idat=text, after_idat=text)
    work = decode_working(open_image(data, CT.PNG, BIG), CT.PNG, 0, 1024)
    assert work.image.size == (300, 20)


@pytest.mark.parametrize(
    ("size", "keep"),
    [((512, 512), 0.5), ((512, 512), 0.9), ((4000, 3000), 0.5), ((4000, 3000), 0.05)],
    ids=["small-half", "small-90pct", "draft-half", "draft-5pct"],
)
def test_truncated_jpeg_is_a_decode_error_never_a_partial_image(
    size: tuple[int, int], keep: float
) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = big_jpeg(size) if size != (512, 512) else encode(astronaut(), "JPEG", quality=90)
    cut = data[: int(len(data) * keep)]
    im = open_image(cut, CT.JPEG, BIG)  # the header is intact
    with pytest.raises(ImageProblem) as caught:
        decode_working(im, CT.JPEG, 0, 1024)
    assert caught.value.reason is ProblemReason.DECODE_ERROR
    assert "truncated" in caught.value.detail
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP", "TIFF", "BMP", "PPM", "HEIF", "AVIF"])
def test_truncated_file_of_any_format_is_a_decode_error(fmt: str) -> None:
    """Cut in half: refused at open or at decode, never returned as a partial image."""
    if fmt == "AVIF":
        need("avif")
    data = encode(astronaut(), fmt)
    cut = data[: len(data) // 2]
    ct = sniff(cut)
    with pytest.raises(ImageProblem) as caught:
        decode_working(open_image(cut, ct, BIG), ct, 0, 1024)
    assert caught.value.reason is ProblemReason.DECODE_ERROR


# --- draft decoding and working size -----------------------------------------------------------


@functools.cache
def big_jpeg(size: tuple[int, int] = (4000, 3000), orient: int = 1) -> bytes:
    exif = Image.Exif()
    if orient != 1:
        exif[0x0112] = orient
    return encode(corner_marked(size), "JPEG", quality=85, exif=exif)


@pytest.mark.parametrize(
    ("target", "handle_size", "working", "scale"),
    [
        (1024, (1000, 750), (1000, 750), 0.25),  # DCT 1/4, within 1.3x of the target
        (500, (500, 375), (500, 375), 0.125),  # DCT 1/8
        (300, (500, 375), (300, 225), 0.075),  # DCT 1/8, then resized down to the target
        (2000, (2000, 1500), (2000, 1500), 0.5),  # DCT 1/2
        (4000, (4000, 3000), (4000, 3000), 1.0),  # no draft
        (8000, (4000, 3000), (4000, 3000), 1.0),  # never upsampled
    ],
)
def test_big_jpeg_is_decoded_with_the_dct_draft(
    target: int, handle_size: tuple[int, int], working: tuple[int, int], scale: float
) -> None:
    im = open_image(big_jpeg(), CT.JPEG, BIG)
    work = decode_working(im, CT.JPEG, 0, target)
    assert im.size == handle_size  # the decoder itself produced the reduced size
    assert work.image.size == working
    assert work.scale == pytest.approx(scale)
    assert work.original == (4000, 3000)
    assert work.long_side == max(working)
    assert corners(work.image) == ("red", "green", "blue", "black")


def test_detail_keeps_the_half_scale_decode_beside_the_working_image() -> None:
    im = open_image(big_jpeg(), CT.JPEG, BIG)
    work = decode_working(im, CT.JPEG, 0, 1024, detail=True)
    assert im.size == (2000, 1500)  # one decode, at the DCT's 1/2 scale...
    assert work.detail is not None and work.detail.size == (2000, 1500)
    assert work.image.size == (1000, 750)  # ...halved for the working image
    assert work.scale == pytest.approx(0.25)
    assert work.detail_scale == pytest.approx(0.5)
    assert corners(work.detail) == corners(work.image) == ("red", "green", "blue", "black")


def reopen_of(data: bytes) -> Callable[[], Image.Image]:
    return lambda: open_image(data, CT.JPEG, BIG)


@pytest.mark.parametrize(
    ("size", "orient"),
    [((4000, 3000), 1), ((4001, 2999), 1), ((3999, 3001), 6), ((4000, 3000), 8), ((3000, 50), 1)],
)
def test_a_jpegs_detail_is_decoded_only_when_used(size: tuple[int, int], orient: int) -> None:
    """With `reopen` the working image comes from its own DCT scale (as without `detail`) and
    the detail image is decoded on first use, once, at the size it announced, with the pixels
    the eager decode gives."""
    data = big_jpeg(size, orient)
    im = open_image(data, CT.JPEG, BIG)
    work = decode_working(im, CT.JPEG, 0, 1024, detail=True, reopen=reopen_of(data))
    eager = decode_working(open_image(data, CT.JPEG, BIG), CT.JPEG, 0, 1024, detail=True)
    assert work.later_detail is not None and eager.later_detail is not None
    assert not work.later_detail.decoded  # nothing asked for it yet
    if size == (4000, 3000):
        assert sorted(im.size) == [750, 1000]  # the handle itself decoded at DCT 1/4
    plain = decode_working(open_image(data, CT.JPEG, BIG), CT.JPEG, 0, 1024)
    assert work.image.size == plain.image.size and work.scale == plain.scale  # as without detail
    assert work.original == eager.original
    assert work.detail_size == eager.detail_size and work.detail_scale == eager.detail_scale
    assert work.later_detail.decodes == 0
    detail = work.detail
    assert detail is not None and detail.size == work.detail_size
    assert work.detail is detail and work.later_detail.decodes == 1  # decoded once
    assert corners(detail) == corners(work.image) == corners(eager.image)
    assert np.array_equal(np.asarray(detail), np.asarray(eager.detail))  # the same pixels


@pytest.mark.parametrize("size", [(1400, 900), (2000, 1400)])
def test_no_later_detail_when_the_jpeg_is_not_much_larger(size: tuple[int, int]) -> None:
    data = encode(corner_marked(size), "JPEG", quality=85)
    work = decode_working(
        open_image(data, CT.JPEG, BIG), CT.JPEG, 0, 1024, detail=True, reopen=reopen_of(data)
    )
    eager = decode_working(open_image(data, CT.JPEG, BIG), CT.JPEG, 0, 1024, detail=True)
    assert work.detail_size == eager.detail_size
    assert work.image.size == eager.image.size


@pytest.mark.parametrize("size", [(1400, 900), (1300, 900), (96, 64)])
def test_no_detail_when_the_original_is_not_much_larger(size: tuple[int, int]) -> None:
    data = encode(corner_marked(size), "PNG")
    work = decode_working(open_image(data, CT.PNG, BIG), CT.PNG, 0, 1024, detail=True)
    plain = decode_working(open_image(data, CT.PNG, BIG), CT.PNG, 0, 1024)
    assert work.detail is None and work.detail_scale == 0.0
    assert work.image.size == plain.image.size and work.scale == plain.scale


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_other_formats_are_resized_to_the_target(fmt: str) -> None:
    data = encode(corner_marked((3000, 2000)), fmt)
    work = decode_working(open_image(data, sniff(data), BIG), sniff(data), 0, 1024)
    assert work.image.size == (1024, 683)
    assert work.scale == pytest.approx(1024 / 3000)
    assert work.original == (3000, 2000)


@pytest.mark.parametrize("target", [1024, 2000])
def test_small_images_are_never_upsampled(target: int) -> None:
    data = encode(photo(), "JPEG")
    work = decode_working(open_image(data, CT.JPEG, BIG), CT.JPEG, 0, target)
    assert work.image.size == (96, 64)
    assert work.scale == 1.0


def test_bgr_is_the_reversed_contiguous_array() -> None:
    work = decode_working(open_image(encode(photo(), "PNG"), CT.PNG, BIG), CT.PNG, 0, 1024)
    rgb = np.asarray(work.image)
    bgr = work.bgr()
    assert bgr.flags["C_CONTIGUOUS"]
    assert np.array_equal(bgr, rgb[:, :, ::-1])
    padded = work.bgr(pad=5)
    assert padded.shape == (64 + 10, 96 + 10, 3)
    assert np.array_equal(padded[5:-5, 5:-5], bgr)


# --- EXIF orientation ----------------------------------------------------------------------------

COLOURS = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
}


def corner_marked(size: tuple[int, int]) -> Image.Image:
    """White, with a red top-left, green top-right, blue bottom-left and black bottom-right
    block: every one of the eight orientations looks different."""
    w, h = size
    bw, bh = w // 4, h // 4
    im = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, bw, bh), fill=COLOURS["red"])
    draw.rectangle((w - bw, 0, w - 1, bh), fill=COLOURS["green"])
    draw.rectangle((0, h - bh, bw, h - 1), fill=COLOURS["blue"])
    draw.rectangle((w - bw, h - bh, w - 1, h - 1), fill=COLOURS["black"])
    return im


def colour_name(pixel: tuple[int, ...]) -> str:
    return min(
        COLOURS, key=lambda n: sum((a - b) ** 2 for a, b in zip(COLOURS[n], pixel, strict=True))
    )


def corners(im: Image.Image) -> tuple[str, str, str, str]:
    """Colour names at top-left, top-right, bottom-left, bottom-right (inset 2%)."""
    w, h = im.size
    dx, dy = max(1, w // 50), max(1, h // 50)
    points = ((dx, dy), (w - 1 - dx, dy), (dx, h - 1 - dy), (w - 1 - dx, h - 1 - dy))
    tl, tr, bl, br = (colour_name(im.convert("RGB").getpixel(p)) for p in points)  # type: ignore[arg-type]
    return tl, tr, bl, br


# Where the stored red (top-left), green (top-right), blue (bottom-left) and black
# (bottom-right) corners must appear once upright, from the EXIF definition of each value
# ("row 0 is the visual top/bottom/left/right, column 0 the visual left/right/top/bottom").
UPRIGHT_CORNERS: dict[int, tuple[str, str, str, str]] = {
    1: ("red", "green", "blue", "black"),  # row 0 top, column 0 left
    2: ("green", "red", "black", "blue"),  # row 0 top, column 0 right
    3: ("black", "blue", "green", "red"),  # row 0 bottom, column 0 right
    4: ("blue", "black", "red", "green"),  # row 0 bottom, column 0 left
    5: ("red", "blue", "green", "black"),  # row 0 left, column 0 top
    6: ("blue", "red", "black", "green"),  # row 0 right, column 0 top
    7: ("black", "green", "blue", "red"),  # row 0 right, column 0 bottom
    8: ("green", "black", "red", "blue"),  # row 0 left, column 0 bottom
}


def with_orientation(im: Image.Image, fmt: str, orient: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orient
    return encode(im, fmt, exif=exif, **({"quality": 90} if fmt == "JPEG" else {}))


@pytest.mark.parametrize("orient", range(1, 9))
@pytest.mark.parametrize(
    ("stored", "target"),
    [((120, 80), 1024), ((2400, 1600), 600)],
    ids=["plain", "after-draft"],
)
def test_exif_orientation_jpeg(orient: int, stored: tuple[int, int], target: int) -> None:
    data = with_orientation(corner_marked(stored), "JPEG", orient)
    work = decode_working(open_image(data, CT.JPEG, BIG), CT.JPEG, 0, target)
    upright = stored[::-1] if orient >= 5 else stored
    assert work.original == upright
    factor = 1 if stored[0] <= target else 4  # 2400 -> 600 is the DCT 1/4 draft
    assert work.image.size == (upright[0] // factor, upright[1] // factor)
    assert corners(work.image) == UPRIGHT_CORNERS[orient]
    # Pillow's own reference transpose agrees.
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    assert reference.size == upright


@pytest.mark.parametrize("orient", [3, 6, 8])
@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF", "TIFF-LZW"])
def test_exif_orientation_other_formats(orient: int, fmt: str) -> None:
    """TIFF is the trap: Pillow's TIFF plugin turns the image itself while loading (and drops
    the tag); turning it again would double-rotate it."""
    params = {"compression": "tiff_lzw"} if fmt == "TIFF-LZW" else {}
    exif = Image.Exif()
    exif[0x0112] = orient
    data = encode(corner_marked((120, 80)), fmt.removesuffix("-LZW"), exif=exif, **params)
    ct = sniff(data)
    work = decode_working(open_image(data, ct, BIG), ct, 0, 1024)
    upright = (80, 120) if orient >= 5 else (120, 80)
    assert work.original == work.image.size == upright
    assert corners(work.image) == UPRIGHT_CORNERS[orient]


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_out_of_range_orientation_is_ignored(value: int) -> None:
    data = with_orientation(corner_marked((120, 80)), "JPEG", value)
    im = open_image(data, CT.JPEG, BIG)
    assert imaging.orientation(im) == 1
    work = decode_working(im, CT.JPEG, 0, 1024)
    assert corners(work.image) == UPRIGHT_CORNERS[1]


# --- frames and pages ----------------------------------------------------------------------------


def frame_colour(i: int) -> tuple[int, int, int]:
    return (6 * i, 255 - 6 * i, (97 * i) % 256)


@functools.cache
def animation(fmt: str, n: int) -> bytes:
    frames = [Image.new("RGB", (48, 32), frame_colour(i)) for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=40, loop=0)
    return buf.getvalue()


@functools.cache
def pages(n: int) -> bytes:
    frames = [Image.new("RGB", (48, 32), frame_colour(i)) for i in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


@pytest.mark.parametrize(
    ("max_frames", "expected"),
    [
        (8, [0, 6, 11, 17, 22, 28, 33, 39]),
        (2, [0, 39]),
        (3, [0, 20, 39]),  # round(19.5) is 20 (banker's rounding only at .5: 19.5 -> 20)
        (1, [0]),
        (40, list(range(40))),
        (100, list(range(40))),
    ],
)
def test_animation_frames_are_sampled_evenly(max_frames: int, expected: list[int]) -> None:
    data = animation("GIF", 40)
    im = open_image(data, CT.GIF, BIG)
    assert im.n_frames == 40
    indices = imaging.frame_indices(im, CT.GIF, max_frames, max_pages=16)
    assert indices == expected
    assert indices[0] == 0
    assert len(indices) == min(max_frames, 40)
    if max_frames > 1:
        assert indices[-1] == 39


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_sampled_frames_decode_to_their_own_pixels(fmt: str) -> None:
    data = animation(fmt, 12)
    ct = sniff(data)
    indices = imaging.frame_indices(open_image(data, ct, BIG), ct, 4, 16)
    assert indices == [0, 4, 7, 11]
    for index in indices:
        work = decode_working(open_image(data, ct, BIG), ct, index, 1024)
        got = np.asarray(work.image)[16, 24].astype(int)
        assert np.abs(got - frame_colour(index)).max() <= 12, (index, got)


@pytest.mark.parametrize(("n", "max_pages", "expected"), [(20, 16, 16), (3, 16, 3), (5, 2, 2)])
def test_tiff_pages_are_capped_in_order(n: int, max_pages: int, expected: int) -> None:
    data = pages(n)
    im = open_image(data, CT.TIFF, BIG)
    assert imaging.frame_indices(im, CT.TIFF, max_frames=1, max_pages=max_pages) == list(
        range(expected)
    )
    last = expected - 1
    work = decode_working(open_image(data, CT.TIFF, BIG), CT.TIFF, last, 1024)
    assert tuple(np.asarray(work.image)[16, 24]) == frame_colour(last)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF"])
def test_single_frame_is_frame_zero(fmt: str) -> None:
    data = encode(photo(), fmt)
    assert imaging.frame_indices(open_image(data, sniff(data), BIG), sniff(data), 8, 16) == [0]


# --- modes -------------------------------------------------------------------------------------


def grey_ramp(mode: str, peak: float) -> Image.Image:
    """A horizontal ramp from 0 to `peak` in a high-bit-depth or float mode."""
    arr = np.tile(np.linspace(0, peak, 256, dtype=np.float64), (16, 1))
    if mode == "F":
        return Image.fromarray(arr.astype(np.float32), "F")
    if mode == "I":
        return Image.fromarray(arr.astype(np.int32), "I")
    raw = arr.astype(">u2" if mode == "I;16B" else "<u2").tobytes()
    return Image.frombytes(mode, (256, 16), raw)


def transparent_half(mode: str) -> Image.Image:
    """Left half opaque red (or white for grey modes), right half fully transparent black."""
    rgba = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle((0, 0, 19, 19), fill=(255, 0, 0, 255))
    if mode == "LA":
        return rgba.convert("LA")
    if mode == "PA":
        return rgba.convert("PA")
    if mode == "P":
        p = Image.new("P", (40, 20), 1)
        p.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
        ImageDraw.Draw(p).rectangle((20, 0, 39, 19), fill=0)
        p.info["transparency"] = 0
        return p
    return rgba


@pytest.mark.parametrize(
    ("mode", "opaque"),
    [("RGBA", (255, 0, 0)), ("LA", (76, 76, 76)), ("PA", (255, 0, 0)), ("P", (255, 0, 0))],
)
def test_transparency_is_flattened_onto_mid_grey(mode: str, opaque: tuple[int, ...]) -> None:
    im = transparent_half(mode)
    assert im.mode == mode
    out = to_rgb(im)
    assert (out.mode, out.size) == ("RGB", (40, 20))
    assert out.getpixel((5, 5)) == opaque
    assert out.getpixel((35, 5)) == (128, 128, 128)  # not black, not white


def test_transparent_png_through_decode() -> None:
    data = encode(transparent_half("RGBA"), "PNG")
    work = decode_working(open_image(data, CT.PNG, BIG), CT.PNG, 0, 1024)
    assert work.image.getpixel((35, 5)) == (128, 128, 128)
    gif = encode(transparent_half("P"), "GIF", transparency=0)
    work = decode_working(open_image(gif, CT.GIF, BIG), CT.GIF, 0, 1024)
    assert work.image.getpixel((35, 5)) == (128, 128, 128)
    assert work.image.getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "P"])
def test_colour_modes_become_8bit_rgb(mode: str) -> None:
    source = photo().convert(mode)
    out = to_rgb(source)
    assert (out.mode, out.size) == ("RGB", (96, 64))
    arr = np.asarray(out)
    assert arr.dtype == np.uint8
    expected = np.asarray(source.convert("RGB"), np.int16)
    assert np.abs(arr.astype(np.int16) - expected).max() <= 1


@pytest.mark.parametrize(
    ("mode", "peak"),
    [
        ("I;16", 65535),
        ("I;16L", 65535),
        ("I;16B", 65535),
        ("I;16", 4095),  # 12-bit sensor data in 16-bit containers
        ("I", 65535),
        ("I", 1_000_000),
        ("F", 65535.0),
        ("F", 255.0),
        ("F", 1.0),  # float images scaled 0..1
    ],
)
def test_high_bit_depth_is_scaled_not_clipped(mode: str, peak: float) -> None:
    out = to_rgb(grey_ramp(mode, peak))
    assert (out.mode, out.size) == ("RGB", (256, 16))
    row = np.asarray(out)[0, :, 0].astype(int)
    assert row[0] == 0
    assert row[-1] in (254, 255)
    assert abs(int(row[128]) - 128) <= 2  # the middle of the ramp stays mid-grey
    assert np.all(np.diff(row) >= 0)
    assert (row == 255).sum() <= 2  # a clipped ramp would be mostly white


def test_values_within_8_bits_are_kept() -> None:
    """A 16-bit container holding 8-bit values is not stretched."""
    out = to_rgb(grey_ramp("I;16", 100))
    assert np.asarray(out)[0, :, 0].max() == 100


def test_negative_integers_are_black() -> None:
    arr = np.array([[-500, 0, 100, 200]], dtype=np.int32)
    out = to_rgb(Image.fromarray(arr, "I"))
    assert list(np.asarray(out)[0, :, 0]) == [0, 0, 100, 200]
