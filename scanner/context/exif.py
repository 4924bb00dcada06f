"""Context that only an item's bytes can tell: when it was taken, where, and who published it.

Read in the worker, from the bytes the detectors already have, for items with evidence only:

- capture date: EXIF DateTimeOriginal (+ OffsetTimeOriginal), else XMP
  `exif:DateTimeOriginal`, `xmp:CreateDate`, `photoshop:DateCreated`; a date that cannot
  be read, is before 1990, or is later than the file's own mtime (+1 day) is skipped with a
  note, and the next candidate is tried;
- place: the EXIF GPS position (else XMP `exif:GPSLatitude`/`GPSLongitude`) turned into a
  country and region by scanner.context.geo — the position itself is dropped here;
- provenance: XMP and IPTC source/credit fields (scanner.context.origins).

Nothing here raises for bad metadata: what cannot be read becomes a note.
"""

from __future__ import annotations

import io
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException
from PIL import Image, IptcImagePlugin

from scanner.context.dates import BadDate, parse_exif, parse_iso, shown
from scanner.context.geo import Geocoder, GeocoderUnavailable
from scanner.context.origins import iptc_provenance, xmp_provenance
from scanner.faces import xmp
from scanner.faces.imaging import PIL_FORMATS, registered
from scanner.model import ContentType, ItemContext, Place, Provenance, ScalarValue

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4
MTIME_SLACK = timedelta(days=1)
XMP_MAX_BYTES = 4 * 1024 * 1024

EXIF_NS = "http://ns.adobe.com/exif/1.0/"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
PHOTOSHOP_NS = "http://ns.adobe.com/photoshop/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP_DATES = (
    (EXIF_NS, "DateTimeOriginal", "xmp:exif:DateTimeOriginal"),
    (XMP_NS, "CreateDate", "xmp:xmp:CreateDate"),
    (PHOTOSHOP_NS, "DateCreated", "xmp:photoshop:DateCreated"),
)
_XMP_GPS = re.compile(r"^\s*(\d{1,3}),(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])\s*$")
NO_OFFSET = " (no offset, read as UTC)"
_IPTC_TYPES = frozenset({ContentType.JPEG, ContentType.TIFF})  # where Pillow finds IIM records


@dataclass
class EmbeddedFacts:
    created: datetime | None = None
    created_source: str | None = None
    provenance: list[Provenance] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    notes: list[tuple[str, ScalarValue]] = field(default_factory=list)


def read_embedded(
    data: bytes,
    content_type: ContentType,
    mtime_ns: int | None,
    geocoder: Geocoder,
) -> EmbeddedFacts:
    """Dates, place and provenance embedded in an image (or an XMP sidecar)."""
    facts = EmbeddedFacts()
    latest = (
        datetime.fromtimestamp(mtime_ns / 1e9, tz=timezone.utc) + MTIME_SLACK
        if mtime_ns is not None
        else None
    )
    exif: Any = None
    iptc: dict[tuple[int, int], bytes | list[bytes]] | None = None
    if content_type.is_image:
        exif, iptc = _exif_and_iptc(data, content_type, facts)
    roots = _xmp_roots(data, facts)
    candidates = _exif_dates(exif) + [c for root in roots for c in _xmp_dates(root)]
    for source, text, offset, parse in candidates:
        try:
            when, had_offset = parse(text, offset)
        except BadDate as exc:
            facts.notes.append((f"context.{source}", f"ignored: {shown(text)} ({exc})"))
            continue
        if latest is not None and when > latest:
            facts.notes.append(
                (f"context.{source}", f"ignored: {shown(text)} is after the file's mtime")
            )
            continue
        facts.created = when
        facts.created_source = source + ("" if had_offset else NO_OFFSET)
        break
    position = _exif_position(exif)
    source = "exif-gps"
    if position is None:
        position = next(filter(None, map(_xmp_position, roots)), None)
        source = "xmp-gps"
    if position is not None:
        _locate(position, source, geocoder, facts)
    if iptc:
        facts.provenance += iptc_provenance(iptc)
    for root in roots:
        facts.provenance += xmp_provenance(root)
    return facts


def _exif_and_iptc(
    data: bytes, content_type: ContentType, facts: EmbeddedFacts
) -> tuple[Any, dict[tuple[int, int], bytes | list[bytes]] | None]:
    formats = list(registered(PIL_FORMATS.get(content_type, ())))
    if not formats:
        return None, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a pixel-bomb warning: only the header is read
            im = Image.open(io.BytesIO(data), formats=formats)
            exif = im.getexif()
            iptc = IptcImagePlugin.getiptcinfo(im) if content_type in _IPTC_TYPES else None
    except Exception as exc:  # broken metadata must not lose the evidence
        facts.notes.append(("context.exif", f"unreadable: {type(exc).__name__}"))
        return None, None
    return exif, iptc


def _xmp_roots(data: bytes, facts: EmbeddedFacts) -> list[ET.Element]:
    roots: list[ET.Element] = []
    for packet in xmp.packets(data, XMP_MAX_BYTES):
        try:
            roots.append(SafeET.fromstring(packet))
        except (ET.ParseError, DefusedXmlException, ValueError):
            facts.notes.append(("context.xmp", "an XMP packet could not be parsed"))
    return roots


_Candidate = tuple[str, str, str | None, Any]


def _exif_dates(exif: Any) -> list[_Candidate]:
    if exif is None:
        return []
    try:
        ifd = exif.get_ifd(EXIF_IFD)
    except Exception:
        return []
    text = ifd.get(DATETIME_ORIGINAL)
    if not isinstance(text, str) or not text.strip("\x00 "):
        return []
    offset = ifd.get(OFFSET_TIME_ORIGINAL)
    offset = offset.strip("\x00 ") if isinstance(offset, str) else None
    return [("exif:DateTimeOriginal", text.strip("\x00 "), offset, parse_exif)]


def _xmp_dates(root: ET.Element) -> list[_Candidate]:
    out: list[_Candidate] = []
    for ns, name, source in _XMP_DATES:
        value = _xmp_value(root, ns, name)
        if value:
            out.append((source, value, None, lambda text, _offset: parse_iso(text)))
    return out


def _xmp_value(root: ET.Element, ns: str, name: str) -> str | None:
    for el in root.iter(f"{{{RDF}}}Description"):
        attr = el.get(f"{{{ns}}}{name}")
        if attr and attr.strip():
            return attr.strip()
    for el in root.iter(f"{{{ns}}}{name}"):
        if el.text and el.text.strip():
            return el.text.strip()
    return None


def _exif_position(exif: Any) -> tuple[float, float] | None:
    if exif is None:
        return None
    try:
        gps = exif.get_ifd(GPS_IFD)
    except Exception:
        return None
    if not gps:
        return None
    lat = _degrees(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), "S")
    lon = _degrees(gps.get(GPS_LON), gps.get(GPS_LON_REF), "W")
    return None if lat is None or lon is None else (lat, lon)


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    try:
        parts = [float(v) for v in value] if isinstance(value, (tuple, list)) else [float(value)]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not parts or len(parts) > 3:
        return None
    degrees = sum(p / float(60**i) for i, p in enumerate(parts))
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() == negative:
        degrees = -degrees
    return degrees


def _xmp_position(root: ET.Element) -> tuple[float, float] | None:
    lat = _xmp_degrees(_xmp_value(root, EXIF_NS, "GPSLatitude"))
    lon = _xmp_degrees(_xmp_value(root, EXIF_NS, "GPSLongitude"))
    return None if lat is None or lon is None else (lat, lon)


def _xmp_degrees(text: str | None) -> float | None:
    """XMP GPS: `51,30.432N` or `51,30,25.9N`."""
    m = _XMP_GPS.match(text or "")
    if not m:
        return None
    value = int(m[1]) + float(m[2]) / 60 + float(m[3] or 0) / 3600
    return -value if m[4] in "SW" else value


def _locate(
    position: tuple[float, float], source: str, geocoder: Geocoder, facts: EmbeddedFacts
) -> None:
    """The position's country and region; the position itself goes no further."""
    try:
        found = geocoder.locate(*position)
    except GeocoderUnavailable as exc:
        facts.notes.append(("context.gps", f"position not geocoded: {exc}"))
        return
    except Exception as exc:  # a geocoder bug must not lose the evidence
        facts.notes.append(("context.gps", f"position not geocoded: {type(exc).__name__}"))
        return
    if found is None:
        facts.notes.append(("context.gps", "position not in any country (sea, or remote)"))
        return
    facts.places.append(Place(found.country, source, found.region))


def embedded_context(
    data: bytes, content_type: ContentType, mtime_ns: int | None, geocoder: Geocoder
) -> tuple[ItemContext, tuple[tuple[str, ScalarValue], ...]]:
    """The worker's one call: an item's embedded facts as its context, plus notes. Only
    images and XMP sidecars carry them; anything else gets an empty context."""
    if not (content_type.is_image or content_type is ContentType.XMP):
        return ItemContext(), ()
    try:
        facts = read_embedded(data, content_type, mtime_ns, geocoder)
    except Exception as exc:  # metadata is context: a bug here must not lose the evidence
        return ItemContext(), (("context", f"embedded metadata not read: {type(exc).__name__}"),)
    context = ItemContext(
        created=facts.created,
        created_source=facts.created_source,
        provenance=tuple(dict.fromkeys(facts.provenance)),
        places=tuple(dict.fromkeys(facts.places)),
    )
    return context, tuple(facts.notes)
