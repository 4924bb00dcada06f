"""Content sniffing by magic bytes: real encodings of a real photo, real archives, and hard
negatives that merely look like a signature.

Every image row is produced at test time by Pillow (or pillow-heif) from astronaut.png, so a
row fails if the encoder's output ever stops matching what the sniffer expects.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import pickle
import random
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable

import pytest
from helpers import astronaut, encode
from PIL import Image, features

from scanner import demo_documents as documents
from scanner.model import ContentType
from scanner.sniff import HEAD_BYTES, name_claims_image, sniff

CT = ContentType


@functools.cache
def photo() -> Image.Image:
    return astronaut().resize((96, 64))


def pil(fmt: str, mode: str = "RGB", **params: object) -> Callable[[], bytes]:
    return lambda: encode(photo().convert(mode), fmt, **params)


def heif() -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encode(photo(), "HEIF", quality=60)


def avif() -> bytes:
    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF codec")
    return encode(photo(), "AVIF", quality=60)


def jpeg2000(**params: object) -> Callable[[], bytes]:
    def make() -> bytes:
        if not features.check("jpg_2000"):
            pytest.skip("this Pillow build has no openjpeg")
        return encode(photo(), "JPEG2000", **params)

    return make


def with_major_brand(make: Callable[[], bytes], brand: bytes) -> Callable[[], bytes]:
    """The same ISO-BMFF file with another major brand (compatible brands unchanged)."""

    def patched() -> bytes:
        data = bytearray(make())
        assert data[4:8] == b"ftyp"
        data[8:12] = brand
        return bytes(data)

    return patched


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 4 + len(body)) + body + b"\x00\x00\x00\x08free"


def psd() -> bytes:
    """Pillow cannot write PSD: a minimal valid one (RGB, 8 bit, raw planes) built by hand."""
    im = photo()
    w, h = im.size
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, resources, layers
    planes = b"".join(band.tobytes() for band in im.split())
    return header + sections + struct.pack(">H", 0) + planes


def plain_pnm() -> bytes:
    return b"P3\n# written by hand\n2 1\n255\n255 0 0  0 0 255\n"


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def pptx() -> bytes:
    """A slide deck with a photo, written by python-pptx (a dev dependency)."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])
    slide.shapes.add_picture(io.BytesIO(encode(photo(), "JPEG")), Inches(1), Inches(1))
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def ole_header() -> bytes:
    """The header sector of an OLE compound file (version 3, 512-byte sectors), as legacy
    Word and Excel files start; the sniffer reads only its signature."""
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + struct.pack("<HHHH", 0x3E, 3, 0xFFFE, 9)
    )
    return (header + struct.pack("<H", 6)).ljust(512, b"\x00") + bytes(512)


def tarred(fmt: int) -> bytes:
    buf = io.BytesIO()
    data = encode(photo(), "JPEG")
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        info = tarfile.TarInfo("photos/a.jpg")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def dos_eps() -> bytes:
    """The DOS EPS binary header: magic, then offset/length of the PostScript section."""
    ps = encode(photo(), "EPS")
    return b"\xc5\xd0\xd3\xc6" + struct.pack("<IIIIIIH", 30, len(ps), 0, 0, 0, 0, 0xFFFF) + ps


XMP_BODY = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>'
)
XPACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    + XMP_BODY
    + b'\n<?xpacket end="w"?>'
)


def _npy() -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 128), dtype=np.float32))
    return buf.getvalue()


POSITIVES: list[tuple[str, Callable[[], bytes], ContentType]] = [
    ("jpeg", pil("JPEG"), CT.JPEG),
    ("jpeg-exif", pil("JPEG", exif=Image.Exif()), CT.JPEG),
    ("jpeg-cmyk", pil("JPEG", "CMYK"), CT.JPEG),
    ("png", pil("PNG"), CT.PNG),
    ("png-16bit-grey", pil("PNG", "I;16"), CT.PNG),
    ("gif", pil("GIF"), CT.GIF),
    ("bmp", pil("BMP"), CT.BMP),
    ("bmp-palette", pil("BMP", "P"), CT.BMP),
    ("tiff-little-endian", pil("TIFF"), CT.TIFF),
    ("tiff-big-endian", pil("TIFF", "I;16B"), CT.TIFF),
    ("tiff-lzw", pil("TIFF", compression="tiff_lzw"), CT.TIFF),
    ("bigtiff", pil("TIFF", big_tiff=True), CT.TIFF),
    ("webp-lossy", pil("WEBP"), CT.WEBP),
    ("webp-lossless", pil("WEBP", lossless=True), CT.WEBP),
    ("psd", psd, CT.PSD),
    ("ppm", pil("PPM"), CT.PNM),
    ("pgm", pil("PPM", "L"), CT.PNM),
    ("pbm", pil("PPM", "1"), CT.PNM),
    ("pnm-plain-with-comment", plain_pnm, CT.PNM),
    ("pam", lambda: b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 3\nMAXVAL 255\nENDHDR\n" + bytes(6), CT.PNM),
    ("jp2", jpeg2000(), CT.JPEG2000),
    ("j2k-codestream", jpeg2000(no_jp2=True), CT.JPEG2000),
    ("heic", heif, CT.HEIF),
    ("heic-major-mif1", with_major_brand(heif, b"mif1"), CT.HEIF),
    ("avif", avif, CT.AVIF),
    # MIAF allows the generic `mif1` as major brand with `avif` among the compatible ones:
    # the AV1 codec brand decides, not the container brand.
    ("avif-major-mif1", with_major_brand(avif, b"mif1"), CT.AVIF),
    ("zip", lambda: zipped({"a.jpg": encode(photo(), "JPEG")}), CT.ZIP),
    ("zip-empty", lambda: zipped({}), CT.ZIP),
    ("docx", lambda: documents.docx(photo(), "CV"), CT.OOXML),
    ("pptx", pptx, CT.OOXML),
    ("odt", lambda: documents.odt(photo(), "CV"), CT.OPENDOCUMENT),
    # a zip that merely holds a [Content_Types].xml later on is a zip
    (
        "zip-content-types-not-first",
        lambda: zipped({"a.txt": b"x", "[Content_Types].xml": b""}),
        CT.ZIP,
    ),
    (
        "zip-mimetype-not-opendocument",
        lambda: zipped({"mimetype": b"application/epub+zip"}),
        CT.ZIP,
    ),
    ("ole-compound-file", ole_header, CT.OLE),
    ("tar-ustar", lambda: tarred(tarfile.USTAR_FORMAT), CT.TAR),
    ("tar-gnu", lambda: tarred(tarfile.GNU_FORMAT), CT.TAR),
    ("tar-pax", lambda: tarred(tarfile.PAX_FORMAT), CT.TAR),
    ("gzip", lambda: gzip.compress(b"hello"), CT.GZIP),
    ("tar-gz-is-gzip", lambda: gzip.compress(tarred(tarfile.PAX_FORMAT)), CT.GZIP),
    ("bzip2", lambda: bz2.compress(b"hello"), CT.BZIP2),
    ("xz", lambda: lzma.compress(b"hello"), CT.XZ),
    ("7z", lambda: b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24), CT.SEVEN_ZIP),
    ("rar4", lambda: b"Rar!\x1a\x07\x00\xcf\x90\x73\x00\x00\x0d\x00", CT.RAR),
    ("rar5", lambda: b"Rar!\x1a\x07\x01\x00\x33\x92\xb5\xe5\x0a\x01", CT.RAR),
    ("eps", pil("EPS"), CT.POSTSCRIPT),
    ("ps", lambda: b"%!PS-Adobe-3.0\n%%Pages: 1\nshowpage\n", CT.POSTSCRIPT),
    ("eps-dos-binary", dos_eps, CT.POSTSCRIPT),
    ("pdf", pil("PDF"), CT.PDF),
    ("xmp-sidecar-bare", lambda: XMP_BODY, CT.XMP),
    ("xmp-sidecar-xpacket", lambda: XPACKET, CT.XMP),
    ("xmp-sidecar-bom-xpacket", lambda: b"\xef\xbb\xbf" + XPACKET, CT.XMP),
    ("xmp-sidecar-xml-decl", lambda: b'<?xml version="1.0"?>\n' + XMP_BODY, CT.XMP),
    ("xmp-sidecar-leading-blank-lines", lambda: b"\r\n\n  " + XMP_BODY, CT.XMP),
    ("npy", _npy, CT.NPY),
    ("pickle-protocol-5", lambda: pickle.dumps({"embedding": [0.1, -0.2]}, protocol=5), CT.PICKLE),
    ("pickle-protocol-0", lambda: pickle.dumps({"embedding": [0.1, -0.2]}, protocol=0), CT.PICKLE),
    ("joblib-zlib", lambda: zlib.compress(pickle.dumps([0.5] * 8)), CT.ZLIB),
    ("json-object", lambda: b'{"faces": 3, "path": "a.jpg"}', CT.JSON),
    ("json-array-of-floats", lambda: b"[0.12, -0.5, 0.33]", CT.JSON),
    ("csv", lambda: b"name,x,y\nann,0.1,0.2\nbob,0.3,0.4\n", CT.CSV),
    ("tsv", lambda: b"name\tx\nann\t0.1\nbob\t0.3\n", CT.CSV),
    ("yaml-text", lambda: b"faces:\n  - name: ann\n    encoding: [0.1, 0.2]\n", CT.TEXT),
    ("parquet", lambda: b"PAR1" + bytes(100), CT.PARQUET),
    # videos (scanner.expand_video) and mail (scanner.expand_mail)
    ("mp4-ftyp-isom", lambda: ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), CT.VIDEO),
    ("quicktime-ftyp-qt", lambda: ftyp(b"qt  ", b"qt  "), CT.VIDEO),
    (
        "quicktime-moov-first",
        lambda: b"\x00\x00\x00\x6cmoov\x00\x00\x00\x6cmvhd" + bytes(99),
        CT.VIDEO,
    ),
    (
        "matroska-webm-ebml",
        lambda: b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm" + bytes(20),
        CT.VIDEO,
    ),
    ("avi", lambda: b"RIFF\x00\x10\x00\x00AVI LIST" + bytes(40), CT.VIDEO),
    ("mpeg-ts", lambda: (b"\x47\x40\x00\x10" + bytes(184)) * 8, CT.VIDEO),
    ("mpeg-ps", lambda: b"\x00\x00\x01\xba\x44\x00\x04" + bytes(40), CT.VIDEO),
    (
        "eml",
        lambda: b"Return-Path: <a@x.example>\r\nFrom: a@x.example\r\nSubject: hi\r\n\r\nbody",
        CT.EMAIL,
    ),
    (
        "eml-folded-headers",
        lambda: (
            b"From: A <a@x.example>\nTo: b@y.example,\n  c@y.example\n"
            b"Date: Tue, 1 Mar 2022 10:00:00 +0000\n\nhi\n"
        ),
        CT.EMAIL,
    ),
    (
        "mbox",
        lambda: b"From a@x Tue Mar  1 10:00:00 2022\nMessage-ID: <1@x>\nFrom: a@x\n\nhi\n",
        CT.MBOX,
    ),
    ("outlook-pst", lambda: b"!BDN\x8f\x01\x00\x00SM" + bytes(500), CT.OUTLOOK_PST),
    ("arrow-ipc", lambda: b"ARROW1\x00\x00" + bytes(100), CT.ARROW),
    ("hdf5", lambda: b"\x89HDF\r\n\x1a\n" + bytes(100), CT.HDF5),
    ("hdf5-after-user-block", lambda: bytes(512) + b"\x89HDF\r\n\x1a\n" + bytes(100), CT.HDF5),
    ("sqlite", lambda: b"SQLite format 3\x00" + bytes(100), CT.SQLITE),
]

NEGATIVES: list[tuple[str, Callable[[], bytes]]] = [
    ("empty", lambda: b""),
    ("random", lambda: random.Random(7).randbytes(HEAD_BYTES)),
    ("text-starting-BM", lambda: b"BMW service history, 2019-2024\n" + b"oil change\n" * 20),
    ("bmp-magic-too-short", lambda: b"BM6\x00\x00\x00\x00\x00\x006\x00"),
    ("P7-then-letter", lambda: b"P7Zip notes: use 7z a archive.7z\n"),
    ("P1-text-not-a-bitmap", lambda: b"P1 priority: fix the login page\nP2 later\n"),
    ("P6-without-size", lambda: b"P6 \n\n"),
    ("m4a-ftyp", lambda: ftyp(b"M4A ", b"M4A ", b"mp42", b"isom")),
    ("riff-wave-not-webp", lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24)),
    ("html-without-xmp", lambda: b"<!doctype html><html><body>x:xmp</body></html>"),
    ("yaml-with-one-mail-word", lambda: b"From: config\nversion: 2\nitems: []\n"),
    ("prose-from-line", lambda: b"From here on we list what changed.\nSubject to review.\n"),
    ("yaml-from-and-to-values", lambda: b"From: 2020\nTo: 2021\nrate: 0.5\n"),
    ("xmp-marker-in-plain-text", lambda: b"notes about <?xpacket and x:xmpmeta\n"),
    ("bzip-letter-not-digit", lambda: b"BZhx not bzip2"),
    ("truncated-jpeg-magic", lambda: b"\xff\xd8"),
    ("gif-version-unknown", lambda: b"GIF90a" + bytes(10)),
]


@pytest.mark.parametrize(
    ("make", "expected"), [p[1:] for p in POSITIVES], ids=[p[0] for p in POSITIVES]
)
def test_positive(make: Callable[[], bytes], expected: ContentType) -> None:
    data = make()
    assert sniff(data[:HEAD_BYTES]) is expected


@pytest.mark.parametrize("make", [n[1] for n in NEGATIVES], ids=[n[0] for n in NEGATIVES])
def test_hard_negative_is_not_an_image_or_container(make: Callable[[], bytes]) -> None:
    """Text that starts like a signature is text (scanned for number arrays), never an
    image or an archive; binary noise is unknown."""
    found = sniff(make()[:HEAD_BYTES])
    assert found in (CT.UNKNOWN, CT.TEXT, CT.JSON), found


def test_pnm_check_is_linear_on_hostile_headers() -> None:
    """The PNM pattern runs on the whole head: long whitespace or comment runs without a
    size must not backtrack for long."""
    for head in (
        b"P1" + b" " * (HEAD_BYTES - 3) + b"x",
        b"P1" + b"#" * (HEAD_BYTES - 2),
        b"P1 " + b"# c\n" * 1000 + b"x",
    ):
        started = time.perf_counter()
        assert sniff(head) in (CT.UNKNOWN, CT.TEXT)
        assert time.perf_counter() - started < 0.05


def test_every_image_type_has_a_positive_row() -> None:
    covered = {expected for _, _, expected in POSITIVES}
    assert {ct for ct in ContentType if ct.is_image} <= covered
    not_sniffed = {CT.UNKNOWN, CT.DB_COLUMN}  # DB_COLUMN names database columns, not bytes
    assert {ct for ct in ContentType if ct not in not_sniffed} <= covered


def test_head_is_enough_for_every_row() -> None:
    """The engine only ever passes HEAD_BYTES: sniffing the whole file agrees."""
    for name, make, expected in POSITIVES:
        if name.startswith(("avif", "heic", "jp")):
            continue  # optional codecs: covered by the table, which skips with a reason
        data = make()
        assert sniff(data) is sniff(data[:HEAD_BYTES]) is expected, name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.jpg", True),
        ("PHOTO.JPEG", True),
        ("scan.Tiff", True),
        ("phone/IMG_0001.HEIC", True),
        ("a.b.c.webp", True),
        ("portrait.avif", True),
        ("layers.psd", True),
        ("frame.jp2", True),
        ("x.pbm", True),
        ("photo.jpg.exe", False),
        ("photo.jpg.xmp", False),
        ("archive.tar.gz", False),
        ("notes.txt", False),
        ("jpg", False),
        (".jpg", False),  # a hidden file called ".jpg" has no extension
        ("photo.", False),
        ("photo", False),
        ("", False),
        ("photo.jpeg2000", False),
    ],
)
def test_name_claims_image(name: str, expected: bool) -> None:
    assert name_claims_image(name) is expected
