"""Safe, fast image decoding for the detectors.

- Pillow only ever sees the one format the magic bytes announced (`formats=`), so EPS named
  `.jpg` never reaches Ghostscript and a mislabelled file cannot pick its own decoder.
- The pixel count is checked from the header before anything is decoded.
- JPEGs are decoded in the DCT domain (`draft`) straight to a working size on the 1/2, 1/4,
  1/8 factors; EXIF orientation is applied after that, on the small image.
- Animations and multi-page files yield a bounded sample of frames.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from scanner.errors import FaceauditError
from scanner.model import ContentType, ProblemReason

PIL_FORMATS: dict[ContentType, tuple[str, ...]] = {
    ContentType.JPEG: ("JPEG",),  # the JPEG factory returns MPO files itself
    ContentType.PNG: ("PNG",),
    ContentType.GIF: ("GIF",),
    ContentType.BMP: ("BMP", "DIB"),
    ContentType.TIFF: ("TIFF",),
    ContentType.WEBP: ("WEBP",),
    ContentType.HEIF: ("HEIF",),
    ContentType.AVIF: ("AVIF", "HEIF"),
    ContentType.PSD: ("PSD",),
    ContentType.PNM: ("PPM",),
    ContentType.JPEG2000: ("JPEG2000",),
}

_TRANSPOSE = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


class ImageProblem(FaceauditError):
    """An image that cannot be examined, with the reason reported for it."""

    def __init__(self, reason: ProblemReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def register_plugins() -> None:
    """Make HEIF readable. Called once per worker process, never at import time."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - a declared dependency
        return
    pillow_heif.register_heif_opener()


def registered(formats: tuple[str, ...]) -> tuple[str, ...]:
    """The formats among `formats` Pillow can open. Its common plug-ins (JPEG, PNG, GIF, BMP,
    PPM) are imported first; the ~40 others only when a format is still missing, so a
    worker that sees only JPEGs and PNGs never imports them."""
    Image.preinit()
    if any(f not in Image.OPEN for f in formats):
        Image.init()
    return tuple(f for f in formats if f in Image.OPEN)


def open_image(data: bytes, content_type: ContentType, max_pixels: int) -> Image.Image:
    """Open (not decode) an image of the sniffed type, refusing pixel bombs from the header."""
    formats = PIL_FORMATS.get(content_type)
    if formats is None:
        raise ImageProblem(ProblemReason.DECODE_ERROR, f"{content_type.value} is not an image")
    # Only registered formats: Pillow raises KeyError for a name it does not know (HEIF
    # before register_plugins()) when an earlier format in the list rejects the bytes.
    formats = registered(formats)
    im: Image.Image
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=list(formats))
        except Image.DecompressionBombError as exc:
            raise ImageProblem(ProblemReason.PIXEL_LIMIT, str(exc)) from exc
        except Image.DecompressionBombWarning as exc:
            im = _open_unchecked(data, formats, str(exc))
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageProblem(ProblemReason.DECODE_ERROR, _describe(exc)) from exc
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageProblem(ProblemReason.DECODE_ERROR, f"invalid dimensions {width}x{height}")
    if width * height > max_pixels:
        raise ImageProblem(
            ProblemReason.PIXEL_LIMIT,
            f"{width}x{height} = {width * height} pixels exceeds the {max_pixels} pixel limit",
        )
    return im


def _open_unchecked(data: bytes, formats: tuple[str, ...], warning: str) -> Image.Image:
    """Pillow warned (not refused); our own pixel limit decides right after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=list(formats))
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageProblem(ProblemReason.DECODE_ERROR, f"{warning}; {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


def orientation(im: Image.Image) -> int:
    """EXIF orientation tag (1 = upright)."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not stop face detection
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def has_orientation(im: Image.Image) -> bool:
    """Whether the image carries an EXIF orientation tag (whatever its value)."""
    try:
        return 0x0112 in im.getexif()
    except Exception:  # a broken EXIF block is no tag
        return False


def frame_count(im: Image.Image) -> int:
    n = getattr(im, "n_frames", 1)
    return n if isinstance(n, int) and n > 0 else 1


def frame_indices(
    im: Image.Image, content_type: ContentType, max_frames: int, max_pages: int
) -> list[int]:
    """Which frames/pages to examine: all pages up to the cap, animation frames sampled evenly."""
    n = getattr(im, "n_frames", 1)
    if not isinstance(n, int) or n <= 1:
        return [0]
    if content_type is ContentType.TIFF:
        return list(range(min(n, max_pages)))
    if n <= max_frames:
        return list(range(n))
    if max_frames <= 1:
        return [0]
    step = (n - 1) / (max_frames - 1)
    return sorted({round(i * step) for i in range(max_frames)})


class LaterImage:
    """An image decoded the first time it is asked for (`get`), at most once; its size is
    known before (a JPEG's DCT scale is chosen from its header). `decodes` counts decodes."""

    def __init__(self, size: tuple[int, int], decode: Callable[[], Image.Image]) -> None:
        self.size = size
        self._decode: Callable[[], Image.Image] | None = decode
        self._image: Image.Image | None = None
        self.decodes = 0

    @classmethod
    def ready(cls, image: Image.Image) -> LaterImage:
        """An image decoded already."""
        later = cls(image.size, lambda: image)
        later._image, later._decode = image, None
        return later

    @property
    def decoded(self) -> bool:
        return self._image is not None

    def get(self) -> Image.Image:
        if self._image is None:
            assert self._decode is not None
            self._image, self._decode = self._decode(), None
            self.decodes += 1
        return self._image


@dataclass(frozen=True)
class WorkingImage:
    """An upright RGB image at a working size, and its scale against the upright original."""

    image: Image.Image
    scale: float  # working pixels per original pixel
    original: tuple[int, int]  # upright size of the original
    # The same frame at about twice the working size, when the original has those pixels
    # (decode_working's `detail`): a closer look at small candidates, tile by tile. Decoded
    # when first used (`detail`): most photos never need it.
    later_detail: LaterImage | None = field(default=None, repr=False)
    # The file said which way is up (an EXIF orientation tag, applied): the camera recorded
    # its orientation, so the pixels are not a sideways photo that needs turning.
    oriented: bool = False

    @property
    def has_detail(self) -> bool:
        """Whether there is a detail image (without decoding it)."""
        return self.later_detail is not None

    @property
    def detail(self) -> Image.Image | None:
        """The detail image, decoded on first use (None: the original is not that large)."""
        return self.later_detail.get() if self.later_detail is not None else None

    @property
    def detail_size(self) -> tuple[int, int] | None:
        """The detail image's size, known without decoding it."""
        return self.later_detail.size if self.later_detail is not None else None

    @property
    def detail_scale(self) -> float:
        """Detail pixels per original pixel (0 without a detail image)."""
        size = self.detail_size
        return max(size) / max(self.original) if size is not None else 0.0

    @property
    def long_side(self) -> int:
        return max(self.image.size)

    def bgr(self, pad: int = 0) -> np.ndarray:
        arr = np.asarray(self.image)[:, :, ::-1]
        if pad:
            arr = np.pad(arr, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        return np.ascontiguousarray(arr)


def decode_working(
    im: Image.Image,
    content_type: ContentType,
    frame: int,
    target_long: int,
    floor_long: int | None = None,
    *,
    detail: bool = False,
    reopen: Callable[[], Image.Image] | None = None,
) -> WorkingImage:
    """Decode one frame upright, in RGB, with its long side near `target_long` (never above
    1.3x; never upsampled here). A JPEG's DCT scale keeps the long side at least
    `floor_long` (default 70% of the target: 1000 px serves a 1024 px target).

    `detail` also keeps the frame at about twice the target (WorkingImage.detail) when the
    original is that large. For the first frame of a JPEG, with `reopen` (a fresh handle of
    the same bytes: a handle's DCT scale is chosen once), the working image is decoded at its
    own DCT scale (1/4 for 12 MP: ~22 ms) and the detail image at 1/2 only if it is used
    (~35 ms; decoding at 1/2 and halving cost ~37 ms every time, and most photos never look
    at their detail image). Otherwise the frame is decoded once at about twice the target,
    and the working image is that halved."""
    if detail and reopen is not None and content_type is ContentType.JPEG and frame == 0:
        return _detail_later(im, target_long, reopen)
    if detail:
        big = decode_working(im, content_type, frame, 2 * target_long)
        if big.long_side < 1.4 * target_long:
            # Not much larger than the target: the working image alone, as without `detail`.
            fine = _shrink(big.image, target_long)
            scale = max(fine.size) / max(big.original)
            return WorkingImage(fine, scale, big.original, oriented=big.oriented)
        half = big.image.reduce(2)  # a box filter: cheap, and as good as a resize here
        fine = _shrink(half if max(half.size) >= 0.7 * target_long else big.image, target_long)
        scale = max(fine.size) / max(big.original)
        return WorkingImage(
            fine, scale, big.original, LaterImage.ready(big.image), oriented=big.oriented
        )
    floor = floor_long if floor_long is not None else 0.7 * target_long
    try:
        if frame:
            im.seek(frame)
        stored = im.size  # before any draft
        if content_type is ContentType.JPEG and frame == 0:
            _draft(im, floor)
        im.load()
        # Read after decoding: Pillow's TIFF plugin applies the orientation itself while
        # loading (size already upright, tag dropped); turning it again would double-rotate.
        orient = orientation(im)
        oriented = has_orientation(im)
        original = (stored[1], stored[0]) if orient in (5, 6, 7, 8) else stored
        rgb = to_rgb(im)
    except ImageProblem:
        raise
    except MemoryError as exc:
        raise ImageProblem(ProblemReason.MEMORY_LIMIT, "out of memory while decoding") from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as exc:
        raise ImageProblem(ProblemReason.DECODE_ERROR, _describe(exc)) from exc
    for method in _TRANSPOSE.get(orient, ()):
        rgb = rgb.transpose(method)
    rgb = _shrink(rgb, target_long)
    return WorkingImage(rgb, max(rgb.size) / max(original), original, oriented=oriented)


def _draft(im: Image.Image, floor: float) -> None:
    """Choose a JPEG's DCT scale (1/2, 1/4, 1/8) keeping the long side at least `floor`."""
    long_side = max(im.size)
    k = 8
    while k > 1 and long_side / k < floor:
        k //= 2
    if k > 1:
        im.draft(im.mode, (math.ceil(im.size[0] / k), math.ceil(im.size[1] / k)))


def _detail_later(
    im: Image.Image, target_long: int, reopen: Callable[[], Image.Image]
) -> WorkingImage:
    """A JPEG's working image now, its detail image (twice the target) when first used."""
    work = decode_working(im, ContentType.JPEG, 0, target_long)
    # The detail image's size without decoding it: a fresh handle's DCT scale is set from the
    # header (what decode_working will choose), then turned upright and shrunk like the image.
    probe = reopen()
    _draft(probe, 0.7 * 2 * target_long)
    stored = probe.size
    upright = (stored[1], stored[0]) if orientation(probe) in (5, 6, 7, 8) else stored
    size = _shrunk_size(upright, 2 * target_long)
    if max(size) < 1.4 * target_long:
        return work  # not much larger than the working image: no detail image

    def decode() -> Image.Image:
        return decode_working(reopen(), ContentType.JPEG, 0, 2 * target_long).image

    return replace(work, later_detail=LaterImage(size, decode))


def _shrunk_size(size: tuple[int, int], target_long: int) -> tuple[int, int]:
    """The size _shrink gives an image of `size`."""
    width, height = size
    if max(size) <= 1.3 * target_long:
        return size
    factor = target_long / max(size)
    return max(1, round(width * factor)), max(1, round(height * factor))


def _shrink(rgb: Image.Image, target_long: int) -> Image.Image:
    """Resized to `target_long` when more than 1.3x larger; otherwise as it is."""
    size = _shrunk_size(rgb.size, target_long)
    if size == rgb.size:
        return rgb
    return rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is flattened onto mid-grey so faces on
    both black and white backgrounds stay visible."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        peak = float(arr.max()) if arr.size else 0.0
        if peak > 255.0:
            arr = arr * (255.0 / peak)
        elif mode == "F" and 0.0 < peak <= 1.0:  # float images are often scaled 0..1
            arr = arr * 255.0
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (128, 128, 128, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return im.convert("RGB")
