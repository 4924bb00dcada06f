"""Provenance enricher: attributes and streams read by path for plain files; names for all."""

from __future__ import annotations

from pathlib import Path

from context_helpers import set_xattr

from scanner.context.provenance import with_provenance
from scanner.model import (
    ContentType,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemContext,
    ItemResult,
    Location,
    MemberLocation,
    Provenance,
)

FACE = Evidence(EvidenceKind.FACE_IMAGE, "face.yunet", 0.9, faces=1)
ORIGIN = b"https://pbs.twimg.com/media/F1abcDEFghiJKLm?format=jpg&name=large"


def item(location: Location, *, evidence: bool = True, **context: object) -> ItemResult:
    return ItemResult(
        location,
        ContentType.JPEG,
        1,
        None,
        1,
        (FACE,) if evidence else (),
        context=ItemContext(**context),  # type: ignore[arg-type]
    )


def test_plain_file_attributes_stream_and_name(tmp_path: Path) -> None:
    photo = tmp_path / "IMG-20240101-WA0001.jpg"
    photo.write_bytes(b"x")
    set_xattr(photo, "user.xdg.origin.url", ORIGIN)
    (tmp_path / "IMG-20240101-WA0001.jpg:Zone.Identifier").write_text(
        "[ZoneTransfer]\nZoneId=3\nHostUrl=https://web.whatsapp.com/\n"
    )
    embedded = Provenance("xmp:photoshop:Source", "www.instagram.com", "instagram")
    got = with_provenance(item(FileLocation(str(photo)), provenance=(embedded,))).context
    assert got.provenance == (
        embedded,
        Provenance("xattr:user.xdg.origin.url", "pbs.twimg.com", "x"),
        Provenance("zone-identifier:ZoneId", "3 (Internet)"),
        Provenance("zone-identifier:HostUrl", "web.whatsapp.com", "whatsapp"),
        Provenance("filename", "WhatsApp media name", "whatsapp"),
    )
    assert got.platforms == ("instagram", "whatsapp", "x")


def test_archive_members_get_name_patterns_but_not_the_archives_attributes(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "export.zip"
    archive.write_bytes(b"x")
    set_xattr(archive, "user.xdg.origin.url", ORIGIN)
    member = MemberLocation(FileLocation(str(archive)), ("photos/photo_2024-01-01_12-00-00.jpg",))
    got = with_provenance(item(member)).context.provenance
    assert got == (Provenance("filename", "Telegram Desktop download name", "telegram"),)


def test_duplicates_are_dropped_and_nothing_found_leaves_the_item(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1234.JPG"
    photo.write_bytes(b"x")
    plain = item(FileLocation(str(photo)))
    assert with_provenance(plain) is plain
    name = Provenance("filename", "WhatsApp media name", "whatsapp")
    wa = tmp_path / "IMG-20240101-WA0002.jpg"
    wa.write_bytes(b"x")
    assert with_provenance(item(FileLocation(str(wa)), provenance=(name,))).context.provenance == (
        name,
    )


def test_no_evidence_no_lookups(tmp_path: Path) -> None:
    photo = tmp_path / "IMG-20240101-WA0001.jpg"
    photo.write_bytes(b"x")
    quiet = item(FileLocation(str(photo)), evidence=False)
    assert with_provenance(quiet) is quiet
