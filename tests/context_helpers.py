"""Photos with real metadata for the context tests: EXIF dates and GPS written by Pillow,
XMP packets, IPTC IIM records in a Photoshop APP13 segment, user extended attributes."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest
from helpers import astronaut
from PIL import Image

LONDON = (51.5072, -0.1276)
CHICAGO = (41.8781, -87.6298)


def dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def exif(
    taken: str | None = None,
    offset: str | None = None,
    gps: tuple[float, float] | None = None,
) -> Image.Exif:
    out = Image.Exif()
    if taken is not None:
        out.get_ifd(0x8769)[0x9003] = taken
    if offset is not None:
        out.get_ifd(0x8769)[0x9011] = offset
    if gps is not None:
        lat, lon = gps
        out.get_ifd(0x8825).update(
            {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
        )
    return out


def xmp_packet(**fields: str) -> bytes:
    """An XMP packet with `prefix_Name="value"` properties as attributes."""
    ns = {
        "exif": "http://ns.adobe.com/exif/1.0/",
        "xmp": "http://ns.adobe.com/xap/1.0/",
        "photoshop": "http://ns.adobe.com/photoshop/1.0/",
        "dc": "http://purl.org/dc/elements/1.1/",
        "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    }
    declared = " ".join(f'xmlns:{p}="{u}"' for p, u in ns.items())
    attrs = " ".join(f'{k.replace("_", ":", 1)}="{v}"' for k, v in fields.items())
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {declared} {attrs}/></rdf:RDF></x:xmpmeta>'
    ).encode()


def jpeg(
    image: Image.Image | None = None,
    *,
    exif_block: Image.Exif | None = None,
    xmp: bytes | None = None,
    iptc: dict[tuple[int, int], bytes] | None = None,
) -> bytes:
    params: dict[str, object] = {"quality": 85}
    if exif_block is not None:
        params["exif"] = exif_block
    if xmp is not None:
        params["xmp"] = xmp
    buf = io.BytesIO()
    (image or astronaut()).save(buf, "JPEG", **params)
    data = buf.getvalue()
    if iptc:
        data = data[:2] + app13(iptc) + data[2:]
    return data


def app13(records: dict[tuple[int, int], bytes]) -> bytes:
    """A Photoshop APP13 segment holding IPTC-NAA records (resource 0x0404)."""
    iim = b"".join(
        b"\x1c" + bytes([rec, ds]) + struct.pack(">H", len(v)) + v
        for (rec, ds), v in records.items()
    )
    if len(iim) % 2:
        iim += b"\x00"
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    body = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def set_xattr(path: Path, name: str, value: bytes) -> None:
    """A real user extended attribute; the test is skipped where the filesystem refuses."""
    try:
        os.setxattr(path, name, value)
    except OSError as exc:
        pytest.skip(f"user extended attributes unsupported here: {exc}")
