"""A real face photo, as a scraper would leave it, through the whole scan: the item's context
says when it was taken, where (the country, never the position) and where it came from."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from context_helpers import LONDON, exif, jpeg, set_xattr

from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.model import Place, Provenance

ORIGIN = (
    b"https://scontent-lhr8-1.cdninstagram.com/v/t51.2885-15/"
    b"123456789_1234567890123456_1234567890123456789_n.jpg?stp=dst-jpg&_nc_ht=x&oh=00_SECRET"
)


def test_scraped_photo_context(tmp_path: Path) -> None:
    photo = tmp_path / "123456789_1234567890123456_1234567890123456789_n.jpg"
    photo.write_bytes(jpeg(exif_block=exif("2023:06:01 10:00:00", "+01:00", gps=LONDON)))
    set_xattr(photo, "user.xdg.origin.url", ORIGIN)
    result = run_scan(ScanConfig(targets=(tmp_path,), workers=0))
    (item,) = result.items
    assert item.has_evidence and item.primary is not None and item.primary.faces >= 1
    ctx = item.context
    assert ctx.created == datetime(2023, 6, 1, 9, tzinfo=timezone.utc)
    assert ctx.created_source == "exif:DateTimeOriginal"
    assert ctx.places == (Place("GB", "exif-gps", "GB-ENG"),)
    assert ctx.countries == ("GB",)
    assert ctx.provenance == (
        Provenance("xattr:user.xdg.origin.url", "scontent-lhr8-1.cdninstagram.com", "instagram"),
        Provenance("filename", "Facebook/Instagram CDN file name", "meta"),
    )
    assert ctx.platforms == ("instagram", "meta")
    everything = repr(item)
    assert "51.5" not in everything and "0.127" not in everything  # no coordinates
    assert "SECRET" not in everything and "/v/t51" not in everything  # no URL path or query


def test_worker_processes_give_the_same_context(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.jpg"
    photo.write_bytes(jpeg(exif_block=exif("2022:02:02 02:02:02", gps=LONDON)))
    result = run_scan(ScanConfig(targets=(tmp_path,), workers=1))
    (item,) = result.items
    assert item.context.places == (Place("GB", "exif-gps", "GB-ENG"),)
    assert item.context.created_source == "exif:DateTimeOriginal (no offset, read as UTC)"
    assert item.context.provenance == ()
