"""The pictures inside a PDF: each embedded image becomes a member `file.pdf!/page-3/image-2`
for the face detectors, and the document's XMP packet `file.pdf!/metadata.xmp` for the tag
detector.

Nothing is rendered and nothing in the document runs: pages are never drawn, so JavaScript,
actions, forms and fonts are never looked at; only the page tree, each page's image
XObjects (and the form XObjects they sit in) and the catalog's metadata stream are read, with
pypdf (BSD-3-Clause, pure Python). A scanned page is one big image: it is that image.

Bounds are the archive walker's (scanner.config.Limits): pages and images together count as
entries (`archive_max_entries`; a document may declare 100 objects for each), the bytes
they decode to share `archive_max_total_bytes`, forms nest at most `archive_max_depth` deep,
and an image's declared size is checked against
`max_pixels` and `max_file_bytes` before a byte of it is decompressed (a small stream that
declares a huge picture is a bomb). Encrypted documents are reported, never cracked (the empty
password that any viewer tries is tried); a document pypdf cannot parse is a problem of its
own, and the scan goes on.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scanner.config import Limits
from scanner.model import ContentType, Location, MemberLocation, Problem, ProblemReason
from scanner.sniff import sniff
from scanner.sources.archive import Member
from scanner.sources.streams import LimitHit

# Pictures smaller than this on either side cannot show a face a detector finds (YuNet's
# smallest is about 10 px): rules, bullets and logos are counted, not handed on.
MIN_SIDE_PX = 24
# Objects a document may declare: 100 for each entry (page or picture) the limit allows (a
# page is a handful of objects: its dictionary, contents, resources, fonts).
OBJECTS_PER_ENTRY = 100


@dataclass
class PdfCounts:
    """What one document held: its pages, those looked at, and its pictures."""

    pages: int = 0
    pages_examined: int = 0
    images: int = 0
    members: int = 0  # pictures and the XMP packet handed on


class PdfWalker:
    """Expands one PDF, held in memory, into members and problems."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.counts = PdfCounts()
        self._entries = 0
        self._spent = 0

    def expand(self, location: Location, data: bytes) -> Iterator[Member | Problem]:
        # pypdf logs what it repairs; the library never prints: what matters is a problem
        log = logging.getLogger("pypdf")
        level = log.level
        log.setLevel(logging.CRITICAL)
        try:
            yield from self._document(location, data)
        except LimitHit as hit:
            yield Problem(location, hit.reason, hit.detail)
        except RecursionError:
            detail = "objects nested too deeply to read (a PDF bomb construction); not read"
            yield Problem(location, ProblemReason.ARCHIVE_DEPTH, detail)
        except MemoryError:
            raise
        except Exception as exc:  # pypdf tripping over hostile bytes fails this document only
            detail = f"malformed PDF ({type(exc).__name__}: {exc})"[:400]
            yield Problem(location, ProblemReason.DECODE_ERROR, detail)
        finally:
            log.setLevel(level)

    # -- the document -----------------------------------------------------------------------

    def _document(self, location: Location, data: bytes) -> Iterator[Member | Problem]:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        most = OBJECTS_PER_ENTRY * self.limits.archive_max_entries
        try:
            reader = PdfReader(io.BytesIO(data), strict=False, xref_stream_maximum_entries=most)
        except PdfReadError as exc:
            yield Problem(location, ProblemReason.DECODE_ERROR, f"malformed PDF: {exc}"[:400])
            return
        declared = _int(reader.trailer.get("/Size"))
        if declared > most:
            detail = f"declares {declared} objects, more than {most}; not read"
            yield Problem(location, ProblemReason.ARCHIVE_ENTRIES, detail)
            return
        if reader.is_encrypted and not _opens_without_password(reader):
            detail = "encrypted: opens only with a password (never guessed); pictures not read"
            yield Problem(location, ProblemReason.ENCRYPTED_DOCUMENT, detail)
            return
        xmp = self._metadata(reader)
        if xmp is not None:
            self.counts.members += 1
            yield Member(location.child("metadata.xmp"), xmp, ContentType.XMP, None)
        pages = reader.pages
        self.counts.pages = len(pages)
        seen: set[tuple[int, int]] = set()
        for number in range(self.counts.pages):
            self._entry(f"more than {self.limits.archive_max_entries} pages and pictures")
            page = pages[number]
            self.counts.pages_examined += 1
            images = self._page_images(page.get("/Resources"), seen, 0)
            for found, stream in enumerate(images, 1):
                where = location.child(f"page-{number + 1}/image-{found}")
                self._entry(f"more than {self.limits.archive_max_entries} pages and pictures")
                result = self._image(where, stream)
                if result is not None:
                    if isinstance(result, Member):
                        self.counts.images += 1
                        self.counts.members += 1
                    yield result

    def _entry(self, detail: str) -> None:
        self._entries += 1
        if self._entries > self.limits.archive_max_entries:
            raise LimitHit(ProblemReason.ARCHIVE_ENTRIES, detail + "; the rest was not read")

    def _spend(self, n: int) -> None:
        self._spent += n
        if self._spent > self.limits.archive_max_total_bytes:
            raise LimitHit(
                ProblemReason.ARCHIVE_SIZE,
                f"pictures decode to more than {self.limits.archive_max_total_bytes} bytes; "
                "the rest was not read",
            )

    def _metadata(self, reader: Any) -> bytes | None:
        """The catalog's XMP packet (its raw bytes, inflated within the XMP limit)."""
        root: Any = _deref(reader.trailer.get("/Root"))
        meta: Any = root.get("/Metadata") if hasattr(root, "get") else None
        stream: Any = _deref(meta)
        if stream is None or not hasattr(stream, "_data"):
            return None
        filters = _names(stream.get("/Filter"))
        raw = bytes(stream._data)
        if filters == ["/FlateDecode"]:
            raw = _inflate(raw, self.limits.xmp_max_bytes)
        elif filters:
            return None
        return raw[: self.limits.xmp_max_bytes] if raw.strip() else None

    def _page_images(self, resources: Any, seen: set[tuple[int, int]], depth: int) -> Iterator[Any]:
        """A page's image XObjects, those inside its forms too, each picture once per document
        (a logo on every page is looked at on the first)."""
        resources = _deref(resources)
        xobjects: Any = resources.get("/XObject") if hasattr(resources, "get") else None
        xobjects = _deref(xobjects)
        if not hasattr(xobjects, "items"):
            return
        for ref in xobjects.values():
            key = (ref.idnum, ref.generation) if hasattr(ref, "idnum") else None
            if key is not None:
                if key in seen:
                    continue
                seen.add(key)
            obj = ref.get_object()
            if not hasattr(obj, "get"):
                continue
            subtype = obj.get("/Subtype")
            if subtype == "/Image":
                yield obj
            elif subtype == "/Form":
                if depth + 1 >= self.limits.archive_max_depth:
                    continue
                yield from self._page_images(obj.get("/Resources"), seen, depth + 1)

    # -- one picture ------------------------------------------------------------------------

    def _image(self, where: MemberLocation, stream: Any) -> Member | Problem | None:
        if stream.get("/ImageMask"):
            return None  # a stencil: one colour through a shape, no picture
        width, height = _int(stream.get("/Width")), _int(stream.get("/Height"))
        if width <= 0 or height <= 0:
            return Problem(where, ProblemReason.DECODE_ERROR, "picture without a size")
        if width * height > self.limits.max_pixels:
            detail = (
                f"declares {width}x{height} pixels, more than the {self.limits.max_pixels} "
                "pixel limit; not decoded"
            )
            return Problem(where, ProblemReason.PIXEL_LIMIT, detail)
        if min(width, height) < MIN_SIDE_PX:
            return None
        filters = _names(stream.get("/Filter"))
        raw = bytes(stream._data)  # as stored (pypdf's own decoding is not used)
        if filters and filters[-1] in ("/DCTDecode", "/JPXDecode"):
            return self._encoded(where, raw, filters, width * height)
        return self._samples(where, stream, raw, filters, (width, height))

    def _encoded(
        self, where: MemberLocation, raw: bytes, filters: list[str], pixels: int
    ) -> Member | Problem:
        """A JPEG or JPEG 2000 picture: its bytes are a file the detectors read."""
        data = self._unwrap(where, raw, filters[:-1])
        if isinstance(data, Problem):
            return data
        ct = sniff(data[:4096])
        if ct not in (ContentType.JPEG, ContentType.JPEG2000):
            detail = f"{filters[-1]} picture whose bytes are {ct.value}"
            return Problem(where, ProblemReason.DECODE_ERROR, detail)
        self._spend(pixels * 3)
        return Member(where, data, ct, None)

    def _samples(
        self,
        where: MemberLocation,
        stream: Any,
        raw: bytes,
        filters: list[str],
        size: tuple[int, int],
    ) -> Member | Problem:
        """Raw samples (Flate-compressed or not): rebuilt as a PNG or a PNM, their size known
        from the picture's declared size before anything is inflated."""
        pixels = _Pixels.of(stream, *size)
        if isinstance(pixels, str):
            return Problem(where, ProblemReason.UNSUPPORTED_ENCODING, pixels)
        if filters not in ([], ["/FlateDecode"]):
            detail = f"a picture encoded with {' + '.join(filters)} is not decoded; not analysed"
            return Problem(where, ProblemReason.UNSUPPORTED_ENCODING, detail)
        params = _params(stream.get("/DecodeParms"), len(filters))[-1]
        if filters and _int(params.get("/Predictor", 1)) > 1:
            png = pixels.png_of_predicted(raw, params)
            if png is None:
                detail = "a picture with a TIFF predictor is not decoded; not analysed"
                return Problem(where, ProblemReason.UNSUPPORTED_ENCODING, detail)
            self._spend(pixels.expected)  # PNG rows: the stream is a PNG's image data already
            return Member(where, png, ContentType.PNG, None)
        data = self._unwrap(where, raw, filters, pixels.expected) if filters else raw
        if isinstance(data, Problem):
            return data
        if len(data) < pixels.expected:
            detail = f"picture data ends after {len(data)} of {pixels.expected} bytes"
            return Problem(where, ProblemReason.DECODE_ERROR, detail)
        self._spend(pixels.expected)
        return Member(where, pixels.to_file(data[: pixels.expected]), ContentType.PNM, None)

    def _unwrap(
        self, where: Location, raw: bytes, filters: list[str], expected: int | None = None
    ) -> bytes | Problem:
        """Undo the Flate layers in front of an image's own encoding, never past the bound."""
        cap = self.limits.max_file_bytes if expected is None else expected
        if cap > self.limits.max_file_bytes:
            detail = f"picture declares {cap} bytes, more than {self.limits.max_file_bytes}"
            return Problem(where, ProblemReason.OVERSIZE, detail)
        for name in filters:
            if name != "/FlateDecode":
                detail = f"a picture encoded with {' + '.join(filters)} is not decoded"
                return Problem(where, ProblemReason.UNSUPPORTED_ENCODING, detail)
            try:
                raw = _inflate(raw, cap)
            except zlib.error as exc:
                return Problem(where, ProblemReason.DECODE_ERROR, f"FlateDecode: {exc}")
        return raw


@dataclass(frozen=True)
class _Pixels:
    """An image's raw samples: 8 bits of gray, RGB or CMYK, an 8-bit palette, or 1-bit."""

    width: int
    height: int
    mode: str  # Pillow's: "L", "RGB", "CMYK", "P", "1"
    palette: bytes = b""

    @property
    def expected(self) -> int:
        bits = {"L": 8, "RGB": 24, "CMYK": 32, "P": 8, "1": 1}[self.mode]
        return (self.width * bits + 7) // 8 * self.height

    @classmethod
    def of(cls, stream: Any, width: int, height: int) -> _Pixels | str:
        bpc = _int(stream.get("/BitsPerComponent", 8))
        space = stream.get("/ColorSpace")
        space = space.get_object() if space is not None else None
        mode, palette = _mode(space)
        if mode == "L" and bpc == 1:
            mode = "1"
        elif bpc != 8:
            return f"a picture of {bpc} bits per sample is not decoded; not analysed"
        if mode is None:
            return f"a picture in colour space {_describe(space)} is not decoded; not analysed"
        return cls(width, height, mode, palette)

    def png_of_predicted(self, raw: bytes, params: dict[str, Any]) -> bytes | None:
        """A PNG made of the stream as it is, when its predictor rows are PNG's own rows."""
        colors = {"L": 1, "RGB": 3}.get(self.mode)
        if colors is None or _int(params.get("/Predictor", 1)) < 10:
            return None
        if (
            _int(params.get("/Colors", 1)) != colors
            or _int(params.get("/BitsPerComponent", 8)) != 8
        ):
            return None
        if _int(params.get("/Columns", 1)) != self.width:
            return None
        header = struct.pack(
            ">IIBBBBB", self.width, self.height, 8, 0 if colors == 1 else 2, 0, 0, 0
        )
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", raw)
            + _chunk(b"IEND", b"")
        )

    def to_file(self, samples: bytes) -> bytes:
        """The samples as a file the detectors read: a PGM or PPM (converted by Pillow when
        they are CMYK, a palette or 1-bit)."""
        size = f"{self.width} {self.height}\n".encode()
        if self.mode == "L":
            return b"P5\n" + size + b"255\n" + samples
        if self.mode == "RGB":
            return b"P6\n" + size + b"255\n" + samples
        from PIL import Image

        image = Image.frombytes(self.mode, (self.width, self.height), samples)
        if self.mode == "P":
            image.putpalette(self.palette.ljust(768, b"\x00")[:768])
        rgb = image.convert("L" if self.mode == "1" else "RGB")
        return (b"P5\n" if rgb.mode == "L" else b"P6\n") + size + b"255\n" + rgb.tobytes()


def _mode(space: Any) -> tuple[str | None, bytes]:
    names = {"/DeviceGray": "L", "/CalGray": "L", "/DeviceRGB": "RGB", "/CalRGB": "RGB"}
    names["/DeviceCMYK"] = "CMYK"
    if isinstance(space, str):
        return names.get(space), b""
    if not isinstance(space, list) or not space:
        return None, b""
    family = space[0]
    if family in names:
        return names[family], b""
    if family == "/ICCBased" and len(space) > 1:
        profile = space[1].get_object()
        n = _int(profile.get("/N", 0)) if hasattr(profile, "get") else 0
        return {1: "L", 3: "RGB", 4: "CMYK"}.get(n), b""
    if family == "/Indexed" and len(space) > 3:
        base = space[1].get_object()
        base_mode, _ = _mode(base)
        lookup = space[3].get_object()
        table = bytes(lookup.get_data()) if hasattr(lookup, "get_data") else bytes(lookup)
        if base_mode == "RGB":
            return "P", table[:768]
    return None, b""


def _describe(space: Any) -> str:
    if isinstance(space, list) and space:
        return str(space[0])
    return str(space)


def _opens_without_password(reader: Any) -> bool:
    """Documents encrypted only to restrict printing or copying open with the empty user
    password, as in every viewer; a real password is never guessed."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # an unknown handler, a missing AES library: not opened
        return False


def _names(value: Any) -> list[str]:
    value = value.get_object() if hasattr(value, "get_object") else value
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v.get_object() if hasattr(v, "get_object") else v) for v in value]
    return [str(value)]


def _params(value: Any, n: int) -> list[dict[str, Any]]:
    value = _deref(value)
    items = value if isinstance(value, list) else [value]
    out: list[dict[str, Any]] = []
    for v in items:
        params = _deref(v)
        out.append(dict(params) if isinstance(params, dict) else {})
    return (out + [{}] * max(n, 1))[: max(n, 1)]


def _deref(value: Any) -> Any:
    return value.get_object() if hasattr(value, "get_object") else value


def _int(value: Any) -> int:
    value = _deref(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _inflate(raw: bytes, cap: int) -> bytes:
    """A zlib stream inflated to at most `cap` bytes (what is beyond is never produced)."""
    out = zlib.decompressobj().decompress(raw, cap)
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
