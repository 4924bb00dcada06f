"""Content sniffing by magic bytes: what a file is, whatever its name says."""

from __future__ import annotations

import re

from scanner.model import ContentType

HEAD_BYTES = 4096  # how much of a file the sniffer needs
# Formats read by their header or metadata and a sample of rows, by random access, so a large
# file or object is never read whole (scanner.embeddings: npy, hdf5vec, tables).
SAMPLED_TYPES = frozenset(
    {ContentType.NPY, ContentType.HDF5, ContentType.PARQUET, ContentType.ARROW}
)

_HEVC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
_HEIF_BRANDS = _HEVC_BRANDS | {b"mif1", b"msf1", b"mif2"}  # HEVC codec + generic containers
_AVIF_BRANDS = {b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"pnot"}  # QuickTime files without ftyp
_BMP_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
# Magic, whitespace or comments, then the width: text such as "P1 priority" is not a bitmap.
_PNM = re.compile(rb"P[1-6](?:\s|#[^\r\n]*[\r\n])+\d|P7\s")
_XMP_MARKERS = (b"x:xmpmeta", b"adobe:ns:meta", b"<?xpacket")

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".dib", ".tif",
        ".tiff", ".webp", ".heic", ".heif", ".hif", ".avif", ".psd", ".ppm", ".pgm", ".pbm",
        ".pnm", ".jp2", ".j2k",
    }
)  # fmt: skip


# (offset, magic, type), checked in order; special cases follow in sniff().
_MAGIC: tuple[tuple[int, bytes, ContentType], ...] = (
    (0, b"\xff\xd8\xff", ContentType.JPEG),
    (0, b"\x89PNG\r\n\x1a\n", ContentType.PNG),
    (0, b"GIF87a", ContentType.GIF),
    (0, b"GIF89a", ContentType.GIF),
    (0, b"II*\x00", ContentType.TIFF),
    (0, b"MM\x00*", ContentType.TIFF),
    (0, b"II+\x00", ContentType.TIFF),  # BigTIFF
    (0, b"MM\x00+", ContentType.TIFF),
    (0, b"8BPS", ContentType.PSD),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", ContentType.JPEG2000),
    (0, b"\xff\x4f\xff\x51", ContentType.JPEG2000),
    (0, b"PK\x03\x04", ContentType.ZIP),
    (0, b"PK\x05\x06", ContentType.ZIP),  # an empty zip
    (0, b"\x1f\x8b", ContentType.GZIP),
    (0, b"\xfd7zXZ\x00", ContentType.XZ),
    (0, b"7z\xbc\xaf\x27\x1c", ContentType.SEVEN_ZIP),
    (0, b"Rar!\x1a\x07", ContentType.RAR),
    (257, b"ustar", ContentType.TAR),
    (0, b"%!PS", ContentType.POSTSCRIPT),
    (0, b"\xc5\xd0\xd3\xc6", ContentType.POSTSCRIPT),  # DOS EPS binary header
    (0, b"%PDF-", ContentType.PDF),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ContentType.OLE),
    (0, b"\x93NUMPY", ContentType.NPY),
    (0, b"SQLite format 3\x00", ContentType.SQLITE),
    (0, b"PAR1", ContentType.PARQUET),
    (0, b"ARROW1", ContentType.ARROW),
    (0, b"FEA1", ContentType.ARROW),  # Feather v1
    (0, b"\x89HDF\r\n\x1a\n", ContentType.HDF5),
    (0, b"\x1a\x45\xdf\xa3", ContentType.VIDEO),  # EBML: Matroska, WebM
    (0, b"\x00\x00\x01\xba", ContentType.VIDEO),  # MPEG program stream (DVR exports)
    (0, b"!BDN", ContentType.OUTLOOK_PST),
    (512, b"\x89HDF\r\n\x1a\n", ContentType.HDF5),  # after a user block
    (1024, b"\x89HDF\r\n\x1a\n", ContentType.HDF5),
    (2048, b"\x89HDF\r\n\x1a\n", ContentType.HDF5),
)


def sniff(head: bytes) -> ContentType:
    """Classify bytes by their signature. `head` should be the first HEAD_BYTES of the item."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ContentType.WEBP
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    if _is_video(head):
        return ContentType.VIDEO
    for offset, magic, content_type in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            if content_type is ContentType.ZIP:
                return _sniff_zip(head)
            return content_type
    found = _sniff_unanchored(head)
    if found is not None:
        return found
    text = _sniff_text(head)
    if text is ContentType.TEXT:
        return _sniff_mail(head) or text
    return text


def _sniff_unanchored(head: bytes) -> ContentType | None:
    """The formats told by a test rather than one fixed magic (after the magic table)."""
    if _is_bmp(head):
        return ContentType.BMP
    if _PNM.match(head):
        return ContentType.PNM
    if head.startswith(b"BZh") and head[3:4].isdigit():
        return ContentType.BZIP2
    if _looks_like_xmp(head):
        return ContentType.XMP
    if _is_pickle(head):
        return ContentType.PICKLE
    if _is_zlib(head):
        return ContentType.ZLIB
    return None


def _is_video(head: bytes) -> bool:
    """AVI, QuickTime without `ftyp`, an MPEG transport stream (CCTV exports: a sync byte
    every 188 bytes); ISO-BMFF and Matroska are told by their magic."""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[4:8] in _QUICKTIME_ATOMS:
        return True
    return len(head) >= 4 * 188 and all(head[i] == 0x47 for i in range(0, 4 * 188, 188))


_MAIL_HEADER = re.compile(rb"[!-9;-~]+:[ \t]")
# Headers only mail carries; else "From:" with "Date:" or "Subject:" (a YAML file may have
# a From: and a To: key).
_MAIL_ONLY = (b"received:", b"message-id:", b"mime-version:", b"return-path:", b"delivered-to:")
_MAIL_COMMON = (b"date:", b"subject:")


def _sniff_mail(head: bytes) -> ContentType | None:
    """An RFC 5322 message (its first line a header field) or an mbox ("From " line first)."""
    lines = head.split(b"\n", 64)[:64]
    first = lines[0]
    kind = ContentType.EMAIL
    if first.startswith(b"From ") and len(lines) > 1:
        kind, lines = ContentType.MBOX, lines[1:]
    if not _MAIL_HEADER.match(lines[0]):
        return None
    names = []
    for line in lines:
        if not line.strip(b"\r"):
            break  # the end of the header block
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header's continuation
        if not _MAIL_HEADER.match(line):
            return None
        names.append(line.split(b":", 1)[0].lower() + b":")
    if any(n in _MAIL_ONLY for n in names) or (
        b"from:" in names and any(n in _MAIL_COMMON for n in names)
    ):
        return kind
    return None


def _sniff_zip(head: bytes) -> ContentType:
    """Office documents are zips told apart by their first member: OpenDocument's is an
    uncompressed `mimetype` naming an OpenDocument type; Office Open XML's is (as every
    office suite writes it) `[Content_Types].xml`."""
    if head[:4] != b"PK\x03\x04" or len(head) < 30:
        return ContentType.ZIP
    name_length = int.from_bytes(head[26:28], "little")
    extra_length = int.from_bytes(head[28:30], "little")
    name = head[30 : 30 + name_length]
    if name == b"[Content_Types].xml":
        return ContentType.OOXML
    data = head[30 + name_length + extra_length :]
    if name == b"mimetype" and data.startswith(b"application/vnd.oasis.opendocument."):
        return ContentType.OPENDOCUMENT
    return ContentType.ZIP


def _is_pickle(head: bytes) -> bool:
    """Protocol 2+ announce themselves; protocols 0/1 are checked by walking a few opcodes
    (pickletools parses, it never executes)."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if not head[:1] or head[:1] not in b"(]}cl":
        return False
    import io
    import pickletools

    ops = 0
    try:
        for op, _arg, _pos in pickletools.genops(io.BytesIO(head)):
            ops += 1
            if op.name == "STOP" or ops >= 8:
                return True
    except (ValueError, EOFError, UnicodeDecodeError, KeyError):
        return False
    return False


def _is_zlib(head: bytes) -> bool:
    """A raw zlib stream (joblib's default compression): deflate, valid header checksum."""
    return (
        len(head) >= 2
        and head[0] == 0x78
        and head[1] in (0x01, 0x5E, 0x9C, 0xDA)
        and (head[0] * 256 + head[1]) % 31 == 0
    )


_CSV_DELIMITERS = (b",", b"\t", b";", b"|")


def _json_start(body: str) -> bool:
    """`{`, or `[` followed by what a JSON array holds (an INI `[section]` is not JSON)."""
    if body[:1] == "{":
        return True
    if body[:1] != "[":
        return False
    rest = body[1:].lstrip()
    return (
        not rest
        or rest[0] in '[{"-]'
        or rest[0].isdigit()
        or rest.startswith(("true", "false", "null"))
    )


def _sniff_text(head: bytes) -> ContentType:
    """JSON, CSV/TSV, or other text; UNKNOWN for binary data."""
    if not head or b"\x00" in head:
        return ContentType.UNKNOWN
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut at the end of the head
            text = head[: exc.start].decode("utf-8")
        else:  # Latin-1/cp1252 text (an Excel export): still text when it is printable
            text = head.decode("latin-1")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if printable < 0.95 * len(text):
        return ContentType.UNKNOWN
    if _json_start(text.lstrip("\ufeff \t\r\n")):
        return ContentType.JSON
    lines = [line for line in head.splitlines()[:8] if line.strip()]
    if len(lines) >= 2:
        complete = lines[:-1] if len(lines) > 2 else lines  # the last may be cut
        for delimiter in _CSV_DELIMITERS:
            counts = {line.count(delimiter) for line in complete}
            if len(counts) == 1 and min(counts) >= 1:
                return ContentType.CSV
    return ContentType.TEXT


def _is_bmp(head: bytes) -> bool:
    return (
        head[:2] == b"BM"
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES
    )


def _sniff_isobmff(head: bytes) -> ContentType:
    """HEIF and AVIF are ISO-BMFF files told apart by their brands; videos are not images."""
    size = int.from_bytes(head[0:4], "big")
    end = min(len(head), size if size >= 16 else 16)
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    # The codec brand decides: `mif1`/`msf1` are generic containers that AVIF files may also
    # carry as major brand (MIAF), with `avif` only among the compatible brands.
    if head[8:12] in _AVIF_BRANDS or (brands & _AVIF_BRANDS and head[8:12] not in _HEVC_BRANDS):
        return ContentType.AVIF
    if brands & _HEIF_BRANDS:
        return ContentType.HEIF
    if head[8:12] in _AUDIO_BRANDS:
        return ContentType.UNKNOWN
    return ContentType.VIDEO  # mp4, mov, m4v, 3gp: PyAV finds out whether it holds video


def _looks_like_xmp(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"<") and any(m in head for m in _XMP_MARKERS)


def name_claims_image(name: str) -> bool:
    """True when a file name's extension says it is an image."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS
