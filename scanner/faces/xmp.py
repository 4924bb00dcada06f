"""Face regions and person tags in XMP metadata, read without trusting the XML.

Schemas understood (what photo managers write when someone tags a face or a person):
- MWG Regions (`mwg-rs:RegionList`, Type=Face): Picasa, Apple Photos, Lightroom, digiKam,
  darktable, Windows Photos export
- Microsoft Photo People (`MP:RegionInfo` / `MPReg:PersonDisplayName`)
- ACDSee regions (`acdsee-rs`, Type=Face)
- IPTC Extension: `PersonInImage`, and image regions typed "human"
- Person keywords: digiKam `TagsList`, Lightroom `hierarchicalSubject`, Microsoft
  `LastKeywordXMP` under a People/Persons root

Names are never returned: only a short digest of each normalised name, so the same person
can be correlated across files (and found again from a name) without a report holding it.
"""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
MP_REG = "http://ns.microsoft.com/photo/1.2/t/Region#"
MP_RI = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
ACDSEE_RS = "http://ns.acdsee.com/regions/"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
LIGHTROOM = "http://ns.adobe.com/lightroom/1.0/"
MS_PHOTO = "http://ns.microsoft.com/photo/1.0/"

_PERSON_ROOTS = re.compile(r"^(people|persons|person|personen|personnes|faces)\s*[|/]", re.I)
# Packet wrappers: x:xmpmeta (and the older x:xapmeta) is optional around rdf:RDF.
_WRAPPERS = (
    (b"<x:xmpmeta", b"</x:xmpmeta>"),
    (b"<x:xapmeta", b"</x:xapmeta>"),
    (b"<rdf:RDF", b"</rdf:RDF>"),
)
_MAX_PACKETS = 8
_EXTENSION = b"http://ns.adobe.com/xmp/extension/\x00"  # JPEG Extended XMP APP1 signature
_EXTENSION_HEADER = len(_EXTENSION) + 32 + 4 + 4  # signature, GUID, full length, offset


@dataclass(frozen=True)
class Region:
    """A tagged face region, relative to the image (top-left origin)."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class FaceTags:
    face_regions: int
    regions: tuple[Region, ...]
    name_digests: tuple[str, ...]  # sorted, unique
    person_keywords: int
    schemas: tuple[str, ...]
    packets: int
    unreadable_packets: int

    @property
    def any(self) -> bool:
        return bool(self.face_regions or self.name_digests or self.person_keywords)


def name_digest(name: str) -> str:
    """A stable, non-reversible-by-reading token for a person's name."""
    normal = " ".join(name.split()).casefold()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()[:16]


def packets(data: bytes, max_bytes: int) -> Iterator[bytes]:
    """XMP packets embedded anywhere in the bytes (JPEG APP1, PNG iTXt, TIFF, WebP, …).

    A packet that is not closed within `max_bytes` (truncated, or over the limit) is yielded
    cut at the limit, so that it is counted as unreadable rather than silently skipped."""
    data = _join_extended_xmp(data)
    pos = 0
    for _ in range(_MAX_PACKETS):
        found = [(data.find(opening, pos), closing) for opening, closing in _WRAPPERS]
        starts = [(start, closing) for start, closing in found if start >= 0]
        if not starts:
            return
        start, closing = min(starts)
        end = data.find(closing, start, start + max_bytes)
        if end < 0:
            yield data[start : start + max_bytes]
            return
        end += len(closing)
        yield data[start:end]
        pos = end


def _join_extended_xmp(data: bytes) -> bytes:
    """JPEG stores XMP beyond 64 KiB ("Extended XMP", e.g. phones' depth maps) in several
    APP1 segments, each with a header: drop the segment headers so the packet reads whole."""
    if not data.startswith(b"\xff\xd8") or _EXTENSION not in data:
        return data
    out = bytearray()
    pos = last = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] not in (0xD9, 0xDA):
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            break
        if data[pos + 1] == 0xE1 and data.startswith(_EXTENSION, pos + 4):
            out += data[last:pos]
            last = pos + 4 + _EXTENSION_HEADER
        pos += 2 + length
    return data[:2] + bytes(out) + data[last:]


def read_face_tags(data: bytes, max_bytes: int) -> FaceTags:
    regions: list[Region] = []
    face_regions = 0
    names: set[str] = set()
    keywords = 0
    schemas: set[str] = set()
    found = unreadable = 0
    for packet in packets(data, max_bytes):
        found += 1
        try:
            root = SafeET.fromstring(packet)
        except (ET.ParseError, DefusedXmlException, ValueError):
            unreadable += 1
            continue
        for schema, region, name in _regions(root):
            schemas.add(schema)
            face_regions += 1
            if region is not None:
                regions.append(region)
            if name:
                names.add(name_digest(name))
        for schema, name in _named_people(root):
            schemas.add(schema)
            names.add(name_digest(name))
        for schema, keyword in _person_keywords(root):
            schemas.add(schema)
            keywords += 1
            leaf = re.split(r"[|/]", keyword)[-1].strip()
            if leaf:
                names.add(name_digest(leaf))
    return FaceTags(
        face_regions=face_regions,
        regions=tuple(regions),
        name_digests=tuple(sorted(names)),
        person_keywords=keywords,
        schemas=tuple(sorted(schemas)),
        packets=found,
        unreadable_packets=unreadable,
    )


def _value(el: ET.Element, ns: str, name: str) -> str | None:
    """A property written either as an attribute or as a child element."""
    attr = el.get(f"{{{ns}}}{name}")
    if attr is not None:
        return attr
    child = el.find(f"{{{ns}}}{name}")
    if child is None:
        return None
    if child.text and child.text.strip():
        return child.text.strip()
    li = child.find(f".//{{{RDF}}}li")
    return li.text.strip() if li is not None and li.text else None


def _float(text: str | None) -> float | None:
    """A finite number, or None: "nan" and "inf" parse as floats but are not coordinates."""
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _items(root: ET.Element, ns: str, list_name: str) -> Iterator[ET.Element]:
    """rdf:li entries of every `ns:list_name` container; nested Descriptions flattened.

    Only the items of the container's own Bag/Seq: lists nested inside an item (an IPTC
    region's RCtype and its Identifier bag) are not more items."""
    for container in root.iter(f"{{{ns}}}{list_name}"):
        for li in container.iterfind(f"{{{RDF}}}*/{{{RDF}}}li"):
            desc = li.find(f"{{{RDF}}}Description")
            yield desc if desc is not None else li


def _regions(root: ET.Element) -> Iterator[tuple[str, Region | None, str | None]]:
    for item in _items(root, MWG_RS, "RegionList"):
        kind = (_value(item, MWG_RS, "Type") or "").strip().lower()
        if kind != "face":
            continue
        yield "mwg-regions", _mwg_area(item), _value(item, MWG_RS, "Name")
    for item in _items(root, MP_RI, "Regions"):
        name = _value(item, MP_REG, "PersonDisplayName")
        yield "microsoft-people", _mp_rectangle(_value(item, MP_REG, "Rectangle")), name
    for item in _items(root, ACDSEE_RS, "RegionList"):
        if (_value(item, ACDSEE_RS, "Type") or "").strip().lower() == "face":
            yield "acdsee-regions", None, _value(item, ACDSEE_RS, "Name")
    for item in _items(root, IPTC_EXT, "ImageRegion"):
        types = " ".join(
            (el.text or "") + " ".join(el.attrib.values()) for el in item.iter()
        ).lower()
        if (
            "imageregiontype/human" in types
            or "human" in (_value(item, IPTC_EXT, "RCtype") or "").lower()
        ):
            yield "iptc-regions", None, None


def _mwg_area(item: ET.Element) -> Region | None:
    area = item.find(f"{{{MWG_RS}}}Area")
    if area is not None and (desc := area.find(f"{{{RDF}}}Description")) is not None:
        area = desc  # the struct written as a nested rdf:Description
    holder = area if area is not None else item
    x, y = _float(_value(holder, ST_AREA, "x")), _float(_value(holder, ST_AREA, "y"))
    w, h = _float(_value(holder, ST_AREA, "w")), _float(_value(holder, ST_AREA, "h"))
    unit = (_value(holder, ST_AREA, "unit") or "normalized").lower()
    if None in (x, y, w, h) or unit != "normalized":
        return None
    assert x is not None and y is not None and w is not None and h is not None
    return Region(x - w / 2, y - h / 2, w, h)  # MWG areas are centred


def _mp_rectangle(text: str | None) -> Region | None:
    if not text:
        return None
    parts = [_float(p) for p in text.split(",")]
    if len(parts) != 4 or any(p is None for p in parts):
        return None
    x, y, w, h = (p if p is not None else 0.0 for p in parts)
    return Region(x, y, w, h)


def _named_people(root: ET.Element) -> Iterator[tuple[str, str]]:
    for container in root.iter(f"{{{IPTC_EXT}}}PersonInImage"):
        for li in container.iter(f"{{{RDF}}}li"):
            if li.text and li.text.strip():
                yield "iptc-person-in-image", li.text.strip()


def _person_keywords(root: ET.Element) -> Iterator[tuple[str, str]]:
    sources = (
        (DIGIKAM, "TagsList", "digikam-tags"),
        (LIGHTROOM, "hierarchicalSubject", "lightroom-keywords"),
        (MS_PHOTO, "LastKeywordXMP", "microsoft-keywords"),
    )
    found: list[tuple[str, str]] = []
    for ns, prop, schema in sources:
        for container in root.iter(f"{{{ns}}}{prop}"):
            for li in container.iter(f"{{{RDF}}}li"):
                text = (li.text or "").strip()
                if _PERSON_ROOTS.match(text) and re.split(r"[|/]", text)[-1].strip():
                    found.append((schema, text))
    paths = {_keyword_path(text) for _, text in found}
    for schema, text in found:
        path = _keyword_path(text)
        if not any(other.startswith(path + "/") for other in paths):
            yield schema, text  # a leaf; `People/Family` above `People/Family/Ann` is a group


def _keyword_path(text: str) -> str:
    return "/".join(part.strip().casefold() for part in re.split(r"[|/]", text))
