"""Provenance facts: hosts from URLs, download attributes, Zone.Identifier, XMP/IPTC fields."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from context_helpers import app13, jpeg, set_xattr, xmp_packet
from defusedxml import ElementTree as SafeET
from helpers import astronaut
from PIL import Image, IptcImagePlugin

from scanner.context.origins import (
    FREE_TEXT,
    filename_provenance,
    from_text,
    host_of,
    iptc_provenance,
    parse_zone_identifier,
    xattr_provenance,
    xmp_provenance,
    zone_identifier_provenance,
)
from scanner.model import Provenance

CDN = "https://scontent-lhr8-1.cdninstagram.com/v/t51.2885-15/123_n.jpg?_nc_ht=x&oh=SECRET"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        (CDN, "scontent-lhr8-1.cdninstagram.com"),
        ("https://user:pass@Example.COM:8443/a?b=c", "example.com"),
        ("http://pbs.twimg.com./media/F1abc?format=jpg&name=large", "pbs.twimg.com"),
        ("ftp://files.example.org/x.jpg", "files.example.org"),
        ("file:///home/alice/x.jpg", None),
        ("about:internet", None),
        ("javascript:alert(1)", None),
        ("not a url", None),
        ("https://[::1", None),
    ],
)
def test_host_of(url: str, host: str | None) -> None:
    assert host_of(url) == host


@pytest.mark.parametrize(
    ("text", "value", "platform"),
    [
        ("https://www.instagram.com/p/Cabc123/", "www.instagram.com", "instagram"),
        ("Downloaded from https://pbs.twimg.com/media/x.jpg", "pbs.twimg.com", "x"),
        ("via facebook.com", "facebook.com", "facebook"),
        ("Instagram", "names Instagram", "instagram"),
        ("Photo: Jane Doe / Twitter", "names Twitter", "x"),
        ("Jane Doe", FREE_TEXT, None),  # a person's name is never kept
        ("Reuters", FREE_TEXT, None),
    ],
)
def test_source_and_credit_text_keeps_only_host_or_platform(
    text: str, value: str, platform: str | None
) -> None:
    found = from_text("xmp:photoshop:Credit", text)
    assert found == Provenance("xmp:photoshop:Credit", value, platform)
    assert "Jane" not in found.value


def test_blank_text_is_nothing() -> None:
    assert from_text("s", "   ") is None


def test_xmp_source_fields() -> None:
    root = SafeET.fromstring(
        xmp_packet(
            photoshop_Source="https://www.instagram.com/p/abc/",
            photoshop_Credit="Jane Doe",
            dc_source="https://vk.com/photo1_2",
            xmpRights_WebStatement="https://example.org/licence",
        )
    )
    got = xmp_provenance(root)
    assert Provenance("xmp:photoshop:Source", "www.instagram.com", "instagram") in got
    assert Provenance("xmp:photoshop:Credit", FREE_TEXT) in got
    assert Provenance("xmp:dc:source", "vk.com", "vk") in got
    assert Provenance("xmp:xmpRights:WebStatement", "example.org") in got


def test_iptc_source_credit_and_meta_marker_from_a_real_jpeg() -> None:
    data = jpeg(
        iptc={
            (2, 115): b"https://www.facebook.com/photo/?fbid=1",
            (2, 110): b"Jane Doe",
            (2, 103): b"FBMD0a000a6f0100003e2a0000",
        }
    )
    info = IptcImagePlugin.getiptcinfo(Image.open(io.BytesIO(data)))  # type: ignore[arg-type]
    assert info is not None
    got = iptc_provenance(info)
    assert got == [
        Provenance("iptc:2:115 Source", "www.facebook.com", "facebook"),
        Provenance("iptc:2:110 Credit", FREE_TEXT),
        Provenance("iptc:2:103", "FBMD marker (Meta's upload pipeline)", "meta"),
    ]


def test_app13_helper_is_a_real_segment() -> None:
    assert app13({(2, 115): b"x"}).startswith(b"\xff\xed")


ZONE = (
    "[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl=https://www.instagram.com/someone/\r\n"
    f"HostUrl={CDN}\r\n"
)


def test_zone_identifier_text() -> None:
    got = parse_zone_identifier(ZONE, "zone-identifier")
    assert got == [
        Provenance("zone-identifier:ZoneId", "3 (Internet)"),
        Provenance("zone-identifier:HostUrl", "scontent-lhr8-1.cdninstagram.com", "instagram"),
        Provenance("zone-identifier:ReferrerUrl", "www.instagram.com", "instagram"),
    ]
    assert parse_zone_identifier("[ZoneTransfer]\nZoneId=3\nHostUrl=about:internet\n", "z") == [
        Provenance("z:ZoneId", "3 (Internet)")
    ]
    assert parse_zone_identifier("garbage", "z") == []


def test_zone_identifier_stream_copied_beside_the_file(tmp_path: Path) -> None:
    photo = tmp_path / "face.jpg"
    photo.write_bytes(b"")
    (tmp_path / "face.jpg:Zone.Identifier").write_bytes(ZONE.encode("utf-16"))  # with a BOM
    got = zone_identifier_provenance(str(photo))
    assert [p.source for p in got] == [
        "zone-identifier:ZoneId",
        "zone-identifier:HostUrl",
        "zone-identifier:ReferrerUrl",
    ]
    assert zone_identifier_provenance(str(tmp_path / "other.jpg")) == []


def test_zone_identifier_symlink_and_fifo_are_not_read(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text(ZONE)
    (tmp_path / "a.jpg:Zone.Identifier").symlink_to(target)
    os.mkfifo(tmp_path / "b.jpg:Zone.Identifier")
    assert zone_identifier_provenance(str(tmp_path / "a.jpg")) == []
    assert zone_identifier_provenance(str(tmp_path / "b.jpg")) == []  # does not block


def test_download_attributes_keep_the_host_only(tmp_path: Path) -> None:
    photo = tmp_path / "face.jpg"
    photo.write_bytes(jpeg(astronaut()))
    set_xattr(photo, "user.xdg.origin.url", CDN.encode())
    set_xattr(photo, "user.xdg.referrer.url", b"https://www.instagram.com/someone/")
    got = xattr_provenance(str(photo))
    assert got == [
        Provenance("xattr:user.xdg.origin.url", "scontent-lhr8-1.cdninstagram.com", "instagram"),
        Provenance("xattr:user.xdg.referrer.url", "www.instagram.com", "instagram"),
    ]
    assert "SECRET" not in repr(got) and "someone" not in repr(got)


def test_samba_stream_attribute(tmp_path: Path) -> None:
    photo = tmp_path / "face.jpg"
    photo.write_bytes(b"x")
    set_xattr(photo, "user.DosStream.Zone.Identifier:$DATA", ZONE.encode() + b"\x00")
    got = xattr_provenance(str(photo))
    assert Provenance("zone-identifier (samba stream):ZoneId", "3 (Internet)") in got


def test_attributes_are_not_read_through_a_symlink(tmp_path: Path) -> None:
    photo = tmp_path / "face.jpg"
    photo.write_bytes(b"x")
    set_xattr(photo, "user.xdg.origin.url", CDN.encode())
    link = tmp_path / "link.jpg"
    link.symlink_to(photo)
    assert xattr_provenance(str(link)) == []
    assert xattr_provenance(str(tmp_path / "missing.jpg")) == []


def test_file_name_scheme() -> None:
    got = filename_provenance("dir/IMG-20240101-WA0001.jpg")
    assert got == Provenance("filename", "WhatsApp media name", "whatsapp")
    assert filename_provenance("IMG_1234.JPG") is None
