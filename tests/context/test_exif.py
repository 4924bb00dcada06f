"""Facts from an item's bytes: capture date, GPS country, XMP/IPTC source — never the position."""

from __future__ import annotations

import io
import os
from datetime import datetime, timezone

import pytest
from context_helpers import CHICAGO, LONDON, exif, jpeg, xmp_packet
from helpers import astronaut

from scanner.context.exif import embedded_context, read_embedded
from scanner.context.geo import Geocoder
from scanner.model import ContentType, ItemContext, Place, Provenance

UTC = timezone.utc
NOW_NS = 1_900_000_000 * 10**9  # 2030: later than every date written here


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return Geocoder()


def test_exif_date_with_offset(geocoder: Geocoder) -> None:
    data = jpeg(exif_block=exif("2023:06:01 10:00:00", "+01:00"))
    facts = read_embedded(data, ContentType.JPEG, NOW_NS, geocoder)
    assert facts.created == datetime(2023, 6, 1, 9, tzinfo=UTC)
    assert facts.created_source == "exif:DateTimeOriginal"


def test_exif_date_without_offset_is_read_as_utc_and_says_so(geocoder: Geocoder) -> None:
    facts = read_embedded(
        jpeg(exif_block=exif("2023:06:01 10:00:00")), ContentType.JPEG, None, geocoder
    )
    assert facts.created == datetime(2023, 6, 1, 10, tzinfo=UTC)
    assert facts.created_source == "exif:DateTimeOriginal (no offset, read as UTC)"


def test_xmp_dates_when_exif_has_none(geocoder: Geocoder) -> None:
    data = jpeg(xmp=xmp_packet(xmp_CreateDate="2021-03-04T05:06:07+02:00"))
    facts = read_embedded(data, ContentType.JPEG, NOW_NS, geocoder)
    assert facts.created == datetime(2021, 3, 4, 3, 6, 7, tzinfo=UTC)
    assert facts.created_source == "xmp:xmp:CreateDate"
    data = jpeg(
        xmp=xmp_packet(photoshop_DateCreated="2020-01-02", exif_DateTimeOriginal="2019-05-06T07:08")
    )
    facts = read_embedded(data, ContentType.JPEG, NOW_NS, geocoder)
    assert facts.created == datetime(2019, 5, 6, 7, 8, tzinfo=UTC)  # DateTimeOriginal first
    assert facts.created_source == "xmp:exif:DateTimeOriginal (no offset, read as UTC)"


def test_bad_exif_date_is_ignored_with_a_note_and_xmp_is_used(geocoder: Geocoder) -> None:
    data = jpeg(
        exif_block=exif("0000:00:00 00:00:00"),
        xmp=xmp_packet(xmp_CreateDate="2021-03-04T05:06:07Z"),
    )
    facts = read_embedded(data, ContentType.JPEG, NOW_NS, geocoder)
    assert facts.created_source == "xmp:xmp:CreateDate"
    assert any(k == "context.exif:DateTimeOriginal" and "ignored" in str(v) for k, v in facts.notes)


def test_date_after_the_files_mtime_is_ignored(geocoder: Geocoder) -> None:
    mtime_ns = int(datetime(2022, 1, 1, tzinfo=UTC).timestamp()) * 10**9
    data = jpeg(exif_block=exif("2023:06:01 10:00:00"))
    facts = read_embedded(data, ContentType.JPEG, mtime_ns, geocoder)
    assert facts.created is None
    assert (
        "context.exif:DateTimeOriginal",
        "ignored: '2023:06:01 10:00:00' is after the file's mtime",
    ) in facts.notes
    # within a day of the mtime is clock skew, not absurd
    facts = read_embedded(
        jpeg(exif_block=exif("2022:01:01 20:00:00")), ContentType.JPEG, mtime_ns, geocoder
    )
    assert facts.created == datetime(2022, 1, 1, 20, tzinfo=UTC)


def test_gps_becomes_a_country_and_the_position_is_dropped(geocoder: Geocoder) -> None:
    context, notes = embedded_context(
        jpeg(exif_block=exif("2023:06:01 10:00:00", gps=CHICAGO)), ContentType.JPEG, None, geocoder
    )
    assert context.places == (Place("US", "exif-gps", "US-IL"),)
    text = repr(context) + repr(notes)
    assert "41.8" not in text and "87.6" not in text and "Chicago" not in text


def test_southern_and_western_references(geocoder: Geocoder) -> None:
    facts = read_embedded(
        jpeg(exif_block=exif(gps=(-33.8688, 151.2093))), ContentType.JPEG, None, geocoder
    )
    assert facts.places == [Place("AU", "exif-gps")]
    facts = read_embedded(jpeg(exif_block=exif(gps=LONDON)), ContentType.JPEG, None, geocoder)
    assert facts.places == [Place("GB", "exif-gps", "GB-ENG")]


def test_gps_at_sea_or_zero_gives_no_place_but_a_note(geocoder: Geocoder) -> None:
    facts = read_embedded(
        jpeg(exif_block=exif(gps=(30.0, -40.0))), ContentType.JPEG, None, geocoder
    )
    assert facts.places == [] and any(k == "context.gps" for k, _ in facts.notes)
    facts = read_embedded(jpeg(exif_block=exif(gps=(0.0, 0.0))), ContentType.JPEG, None, geocoder)
    assert facts.places == []


def test_xmp_gps_when_exif_has_none(geocoder: Geocoder) -> None:
    data = jpeg(xmp=xmp_packet(exif_GPSLatitude="53,20.988N", exif_GPSLongitude="6,15.618W"))
    facts = read_embedded(data, ContentType.JPEG, None, geocoder)
    assert facts.places == [Place("IE", "xmp-gps")]


def test_webp_exif(geocoder: Geocoder) -> None:
    buf = io.BytesIO()
    astronaut().save(buf, "WEBP", exif=exif("2020:02:03 04:05:06", "+00:00", gps=LONDON))
    facts = read_embedded(buf.getvalue(), ContentType.WEBP, None, geocoder)
    assert facts.created == datetime(2020, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert facts.places == [Place("GB", "exif-gps", "GB-ENG")]


def test_xmp_sidecar_and_iptc_provenance(geocoder: Geocoder) -> None:
    packet = xmp_packet(
        photoshop_Source="https://www.instagram.com/p/abc/", xmp_CreateDate="2021-01-01"
    )
    context, _ = embedded_context(packet, ContentType.XMP, None, geocoder)
    assert context.provenance == (
        Provenance("xmp:photoshop:Source", "www.instagram.com", "instagram"),
    )
    assert context.created == datetime(2021, 1, 1, tzinfo=UTC)
    data = jpeg(iptc={(2, 103): b"FBMD01000a"})
    context, _ = embedded_context(data, ContentType.JPEG, None, geocoder)
    assert context.platforms == ("meta",)


def test_nothing_embedded_and_non_images(geocoder: Geocoder) -> None:
    assert embedded_context(jpeg(), ContentType.JPEG, None, geocoder) == (ItemContext(), ())
    assert embedded_context(b"\x93NUMPY", ContentType.NPY, None, geocoder) == (ItemContext(), ())


def test_broken_metadata_is_a_note_not_an_error(geocoder: Geocoder) -> None:
    data = jpeg(exif_block=exif("2023:06:01 10:00:00"))
    broken = data[:200] + os.urandom(64) + data[264:]  # the EXIF block's bytes scrambled
    context, notes = embedded_context(broken, ContentType.JPEG, None, geocoder)
    assert isinstance(context, ItemContext)
    bad_xmp = jpeg(xmp=b"<x:xmpmeta><rdf:RDF><unclosed></x:xmpmeta>")
    _, notes = embedded_context(bad_xmp, ContentType.JPEG, None, geocoder)
    assert ("context.xmp", "an XMP packet could not be parsed") in notes


class _Broken(Geocoder):
    def locate(self, lat: float, lon: float) -> None:
        raise RuntimeError("boom")


def test_a_geocoder_failure_is_a_note() -> None:
    facts = read_embedded(jpeg(exif_block=exif(gps=LONDON)), ContentType.JPEG, None, _Broken())
    assert (
        facts.places == [] and ("context.gps", "position not geocoded: RuntimeError") in facts.notes
    )
