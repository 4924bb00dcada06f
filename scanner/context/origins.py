"""Where a file came from, as the tools that downloaded or published it recorded it.

- Extended attributes that browsers and downloaders set on Linux and macOS-from-Linux copies:
  `user.xdg.origin.url` (Chromium, wget --xattr, curl --xattr) and `user.xdg.referrer.url`.
- Windows' Mark of the Web: the `Zone.Identifier` alternate data stream, as it survives off
  NTFS — a `NAME:Zone.Identifier` file beside the file (WSL, Samba without streams, some
  unzip tools) or Samba's `user.DosStream.Zone.Identifier:$DATA` attribute.
- Source and credit fields embedded by publishing pipelines: XMP `photoshop:Source`,
  `photoshop:Credit`, `dc:source`, `xmpRights:WebStatement`; IPTC IIM 2:115 Source, 2:110
  Credit, and Meta's `FBMD…` marker in 2:103 (Original Transmission Reference).
- A platform's own file-name scheme (scanner.reference.platforms).

What is kept is a host name or a short label, never a full URL (paths and queries carry
user ids and tokens) and never free text (a credit line may be a person's name): free text
is kept only as the platform it names, or as "set (free text not kept)".
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scanner.model import Provenance
from scanner.reference.platforms import platform_of_host, platform_of_name

if TYPE_CHECKING:  # the caller parsed the XMP packet: enriching a reused result needs no parser
    import xml.etree.ElementTree as ET

ORIGIN_ATTRIBUTES = ("user.xdg.origin.url", "user.xdg.referrer.url")
ZONE_STREAM = ":Zone.Identifier"
ZONE_ATTRIBUTE = "user.DosStream.Zone.Identifier:$DATA"  # Samba vfs_streams_xattr
MAX_STREAM_BYTES = 64 * 1024
FREE_TEXT = "set (free text not kept)"

PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
DC = "http://purl.org/dc/elements/1.1/"
XMP_RIGHTS = "http://ns.adobe.com/xap/1.0/rights/"
IPTC_CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

_XMP_FIELDS = (
    (PHOTOSHOP, "Source", "xmp:photoshop:Source"),
    (PHOTOSHOP, "Credit", "xmp:photoshop:Credit"),
    (DC, "source", "xmp:dc:source"),
    (IPTC_CORE, "Source", "xmp:Iptc4xmpCore:Source"),
    (XMP_RIGHTS, "WebStatement", "xmp:xmpRights:WebStatement"),
)
_IPTC_FIELDS = (((2, 115), "iptc:2:115 Source"), ((2, 110), "iptc:2:110 Credit"))
_ZONES = {
    "0": "0 (this computer)",
    "1": "1 (local intranet)",
    "2": "2 (trusted site)",
    "3": "3 (Internet)",
    "4": "4 (restricted site)",
}
_URL = re.compile(r"\b(?:https?|ftp)://[^\s\"'<>]+", re.I)
_HOSTLIKE = re.compile(r"\b((?:[a-z0-9-]+\.)+[a-z]{2,})\b", re.I)
_NAMED = re.compile(
    r"\b(instagram|facebook|twitter|tiktok|linkedin|vkontakte|pinterest|flickr|reddit|"
    r"snapchat|whatsapp|telegram|youtube|tumblr|weibo|bluesky)\b",
    re.I,
)
_NAMED_PLATFORM = {"twitter": "x", "vkontakte": "vk"}


def host_of(url: str) -> str | None:
    """The host of an http(s)/ftp URL, lower case, without user, password or port."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https", "ftp"):
        return None
    try:
        host = parts.hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def from_url(source: str, url: str) -> Provenance | None:
    host = host_of(url)
    if host is None:
        return None
    return Provenance(source, host, platform_of_host(host))


def from_text(source: str, text: str) -> Provenance | None:
    """A source or credit field: the host of a URL in it, else the platform it names, else
    only the fact that it is set."""
    text = text.strip()
    if not text:
        return None
    for url in _URL.findall(text):
        found = from_url(source, url)
        if found is not None:
            return found
    for host in _HOSTLIKE.findall(text):
        platform = platform_of_host(host)
        if platform is not None:
            return Provenance(source, host.lower(), platform)
    m = _NAMED.search(text)
    if m:
        name = m[1].lower()
        return Provenance(source, f"names {m[1].title()}", _NAMED_PLATFORM.get(name, name))
    return Provenance(source, FREE_TEXT)


def xmp_provenance(root: ET.Element) -> list[Provenance]:
    """Source, credit and web-statement fields of one parsed XMP packet."""
    out: list[Provenance] = []
    for ns, name, source in _XMP_FIELDS:
        for value in _texts(root, ns, name):
            found = from_text(source, value)
            if found is not None:
                out.append(found)
    return out


def _texts(root: ET.Element, ns: str, name: str) -> Iterable[str]:
    """A property's values, written as attributes or as (possibly rdf:Alt/Seq) elements."""
    for el in root.iter(f"{{{RDF}}}Description"):
        attr = el.get(f"{{{ns}}}{name}")
        if attr:
            yield attr
    for el in root.iter(f"{{{ns}}}{name}"):
        if el.text and el.text.strip():
            yield el.text
        for li in el.iter(f"{{{RDF}}}li"):
            if li.text and li.text.strip():
                yield li.text


def iptc_provenance(iptc: Mapping[tuple[int, int], bytes | list[bytes]]) -> list[Provenance]:
    """IPTC IIM Source, Credit, and the Meta upload marker."""
    out: list[Provenance] = []
    for key, source in _IPTC_FIELDS:
        for raw in _values(iptc.get(key)):
            found = from_text(source, raw.decode("utf-8", "replace"))
            if found is not None:
                out.append(found)
    for raw in _values(iptc.get((2, 103))):
        if raw.startswith(b"FBMD"):
            out.append(Provenance("iptc:2:103", "FBMD marker (Meta's upload pipeline)", "meta"))
    return out


def _values(value: bytes | list[bytes] | None) -> list[bytes]:
    if value is None:
        return []
    return [value] if isinstance(value, bytes) else [v for v in value if isinstance(v, bytes)]


def xattr_provenance(path: str) -> list[Provenance]:
    """Origin and referrer URLs a downloader stored in extended attributes (not followed
    through a symbolic link); a filesystem without user attributes yields nothing."""
    out: list[Provenance] = []
    for name in ORIGIN_ATTRIBUTES:
        raw = _xattr(path, name)
        if raw:
            found = from_url(f"xattr:{name}", raw.decode("utf-8", "replace"))
            if found is not None:
                out.append(found)
    raw = _xattr(path, ZONE_ATTRIBUTE)
    if raw:
        out += parse_zone_identifier(_decode(raw), "zone-identifier (samba stream)")
    return out


def _xattr(path: str, name: str) -> bytes | None:
    try:
        value = os.getxattr(path, name, follow_symlinks=False)
    except (OSError, AttributeError):  # ENODATA, ENOTSUP, EPERM; no xattrs on this platform
        return None
    return value[:MAX_STREAM_BYTES]


def zone_identifier_provenance(path: str) -> list[Provenance]:
    """The Mark of the Web copied beside the file as `NAME:Zone.Identifier`."""
    raw = _read_small(path + ZONE_STREAM)
    if raw is None:
        return []
    return parse_zone_identifier(_decode(raw), "zone-identifier")


def _read_small(path: str) -> bytes | None:
    """A small regular file, opened without following links or blocking on a FIFO."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    noatime = getattr(os, "O_NOATIME", 0)
    fd = -1
    for extra in (noatime, 0) if noatime else (0,):
        try:
            fd = os.open(path, flags | extra)
            break
        except PermissionError:
            continue  # O_NOATIME needs ownership: retry without it
        except OSError:
            return None
    if fd < 0:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, MAX_STREAM_BYTES)
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", "replace")
    return raw.decode("utf-8", "replace")


def parse_zone_identifier(text: str, source: str) -> list[Provenance]:
    """`[ZoneTransfer]` with ZoneId, ReferrerUrl and HostUrl (hosts only are kept)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip().lower()] = value.strip()
    out: list[Provenance] = []
    zone = fields.get("zoneid")
    if zone is not None and zone in _ZONES:
        out.append(Provenance(f"{source}:ZoneId", _ZONES[zone]))
    for key, name in (("hosturl", "HostUrl"), ("referrerurl", "ReferrerUrl")):
        url = fields.get(key)
        found = from_url(f"{source}:{name}", url) if url else None
        if found is not None:
            out.append(found)
    return out


def filename_provenance(name: str) -> Provenance | None:
    """A platform's download-name scheme; the name itself is not kept."""
    pattern = platform_of_name(name)
    if pattern is None:
        return None
    return Provenance("filename", pattern.label, pattern.platform)
