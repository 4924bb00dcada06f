"""Documents made from pictures, for the demo organisation, the tests and the benchmark: a
small PDF writer (pages of pictures and a line of text, pictures stored as JPEG, as raw
Flate samples or as PNG rows), a Word document and an OpenDocument text with a photo.

Each is a real, valid file of its format, written by hand here (no PDF or office library is
needed to make them): PDF 1.7 objects with a cross-reference table, OOXML and ODF zips with
the parts their readers require.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from PIL import Image

Encoding = Literal["jpeg", "flate", "png"]


@dataclass(frozen=True)
class Picture:
    """A picture on a page: where (points from the bottom left), how large, how stored."""

    image: Image.Image
    encoding: Encoding = "jpeg"
    jpeg: bytes | None = None  # a JPEG file stored as it is (encoding "jpeg"), e.g. a photo's
    x: float = 36
    y: float = 36
    width: float | None = None  # points; None: the page's width less the margins
    quality: int = 90


@dataclass(frozen=True)
class Page:
    pictures: Sequence[Picture] = ()
    text: str = ""
    size: tuple[float, float] = (595, 842)  # A4


def pdf(pages: Sequence[Page], xmp: bytes | None = None) -> bytes:
    """A PDF of these pages (with an XMP packet in the catalog when given)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in last
    tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for page in pages:
        names = []
        draw = []
        for n, picture in enumerate(page.pictures, 1):
            ref = add(_image_object(picture))
            names.append(b"/Im%d %d 0 R" % (n, ref))
            w = picture.width or page.size[0] - 2 * picture.x
            h = w * picture.image.height / picture.image.width
            draw.append(
                b"q %.2f 0 0 %.2f %.2f %.2f cm /Im%d Do Q" % (w, h, picture.x, picture.y, n)
            )
        if page.text:
            escaped = page.text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            y = page.size[1] - 60
            draw.append(b"BT /F1 14 Tf 36 %.2f Td (%s) Tj ET" % (y, escaped.encode("latin-1")))
        content = add(stream_object(b"<< >>", b"\n".join(draw)))
        resources = b"<< /Font << /F1 %d 0 R >> /XObject << %s >> >>" % (font, b" ".join(names))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %g %g] /Resources %s "
                b"/Contents %d 0 R >>" % (tree, page.size[0], page.size[1], resources, content)
            )
        )
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    meta = b""
    if xmp is not None:
        ref = add(stream_object(b"<< /Type /Metadata /Subtype /XML >>", xmp))
        meta = b" /Metadata %d 0 R" % ref
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R%s >>" % (tree, meta)
    return assemble(objects, catalog)


def assemble(objects: Sequence[bytes], root: int) -> bytes:
    """A PDF file of these object bodies (numbered from 1), the catalog being `root`."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (n, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\n" % (len(objects) + 1, root))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def stream_object(head: bytes, data: bytes) -> bytes:
    """A stream object's body: the dictionary `head` (`<< … >>`) with its /Length, then data."""
    entries = head.strip()[2:-2]
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (entries, len(data), data)


def _image_object(picture: Picture) -> bytes:
    image = picture.image if picture.image.mode in ("RGB", "L") else picture.image.convert("RGB")
    space = b"/DeviceRGB" if image.mode == "RGB" else b"/DeviceGray"
    head = (
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8"
        % (
            image.width,
            image.height,
            space,
        )
    )
    if picture.encoding == "jpeg":
        data = picture.jpeg
        if data is None:
            buf = io.BytesIO()
            image.save(buf, "JPEG", quality=picture.quality)
            data = buf.getvalue()
        return stream_object(b"<< %s /Filter /DCTDecode >>" % head, data)
    if picture.encoding == "flate":
        return stream_object(
            b"<< %s /Filter /FlateDecode >>" % head, zlib.compress(image.tobytes())
        )
    colors = 3 if image.mode == "RGB" else 1
    parms = b"/DecodeParms << /Predictor 15 /Colors %d /BitsPerComponent 8 /Columns %d >>" % (
        colors,
        image.width,
    )
    return stream_object(b"<< %s /Filter /FlateDecode %s >>" % (head, parms), png_rows(image))


def png_rows(image: Image.Image) -> bytes:
    """The zlib stream of a PNG's IDAT chunks (rows with PNG predictors), as Pillow writes it."""
    buf = io.BytesIO()
    image.save(buf, "PNG")
    data = buf.getvalue()
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            out.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return b"".join(out)


# -- office documents ---------------------------------------------------------------------------

_DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="jpeg" ContentType="image/jpeg"/>'
    '<Default Extension="jpg" ContentType="image/jpeg"/>'
    '<Default Extension="png" ContentType="image/png"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_DOCX_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_DOCX_DOC_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/image" Target="media/image1.jpeg"/></Relationships>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_WP = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"
_A = "http://schemas.openxmlformats.org/drawingml/2006/main"
_PIC = "http://schemas.openxmlformats.org/drawingml/2006/picture"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def docx(
    photo: Image.Image, text: str, stored: bytes | None = None, name: str = "image1.jpeg"
) -> bytes:
    """A Word document: a paragraph of text, then the photo (5 cm wide) inline; `stored`:
    the photo's own file (JPEG or PNG, named `name`), kept as it is."""
    cx = 1_800_000  # EMU: 5 cm
    cy = cx * photo.height // photo.width
    drawing = (
        f'<w:drawing><wp:inline><wp:extent cx="{cx}" cy="{cy}"/><wp:docPr id="1" name="Photo"/>'
        f'<a:graphic><a:graphicData uri="{_PIC}"><pic:pic><pic:nvPicPr>'
        f'<pic:cNvPr id="0" name="{name}"/><pic:cNvPicPr/></pic:nvPicPr>'
        '<pic:blipFill><a:blip r:embed="rId5"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
        f'<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="{cx}" cy="{cy}"/></a:xfrm>'
        '<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic>'
        "</a:graphicData></a:graphic></wp:inline></w:drawing>"
    )
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document xmlns:w="{_W}" xmlns:wp="{_WP}" xmlns:a="{_A}" xmlns:pic="{_PIC}" '
        f'xmlns:r="{_R}"><w:body><w:p><w:r><w:t>{_xml_text(text)}</w:t></w:r></w:p>'
        f"<w:p><w:r>{drawing}</w:r></w:p></w:body></w:document>"
    )
    return _zip(
        [
            ("[Content_Types].xml", _DOCX_TYPES.encode()),
            ("_rels/.rels", _DOCX_RELS.encode()),
            ("word/document.xml", document.encode()),
            ("word/_rels/document.xml.rels", _DOCX_DOC_RELS.replace("image1.jpeg", name).encode()),
            (f"word/media/{name}", _jpeg(photo) if stored is None else stored),
        ]
    )


_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3"'
)


def odt(
    photo: Image.Image, text: str, stored: bytes | None = None, name: str = "photo.jpg"
) -> bytes:
    """An OpenDocument text: a paragraph, then the photo in a frame (`stored`: as docx)."""
    kind = "image/png" if name.endswith(".png") else "image/jpeg"
    mime = b"application/vnd.oasis.opendocument.text"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type="'
        f'{mime.decode()}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        f'<manifest:file-entry manifest:full-path="Pictures/{name}" '
        f'manifest:media-type="{kind}"/></manifest:manifest>'
    )
    height = 5 * photo.height / photo.width
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}>'
        f"<office:body><office:text><text:p>{_xml_text(text)}</text:p><text:p>"
        f'<draw:frame draw:name="Photo" text:anchor-type="as-char" svg:width="5cm" '
        f'svg:height="{height:.2f}cm"><draw:image xlink:href="Pictures/{name}" '
        'xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame>'
        "</text:p></office:text></office:body></office:document-content>"
    )
    return _zip(
        [
            ("mimetype", mime),
            ("META-INF/manifest.xml", manifest.encode()),
            ("content.xml", content.encode()),
            (f"Pictures/{name}", _jpeg(photo) if stored is None else stored),
        ],
        stored_first=True,
    )


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _zip(parts: Sequence[tuple[str, bytes]], stored_first: bool = False) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, (name, data) in enumerate(parts):
            info = zipfile.ZipInfo(name, (2026, 1, 5, 9, 0, 0))
            stored = stored_first and n == 0
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()
