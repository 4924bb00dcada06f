"""Dates as EXIF, XMP and databases write them, read as UTC; junk is refused."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scanner.context.dates import BadDate, parse_exif, parse_iso, parse_offset, parse_stored

UTC = timezone.utc


def test_exif_with_offset_is_converted_to_utc() -> None:
    assert parse_exif("2023:06:01 10:00:00", "+01:00") == (
        datetime(2023, 6, 1, 9, tzinfo=UTC),
        True,
    )
    assert parse_exif("2023:06:01 10:00:00", "-05:00")[0] == datetime(2023, 6, 1, 15, tzinfo=UTC)


def test_exif_without_offset_is_read_as_utc_and_says_so() -> None:
    assert parse_exif("2023:06:01 10:00:00") == (datetime(2023, 6, 1, 10, tzinfo=UTC), False)
    assert parse_exif("2023:06:01 10:00:00", "   ") == (datetime(2023, 6, 1, 10, tzinfo=UTC), False)


@pytest.mark.parametrize(
    ("text", "expected", "had_offset"),
    [
        ("2024-01-02T03:04:05+01:00", datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC), True),
        ("2024-01-02T03:04:05.25Z", datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), True),
        ("2024-01-02T03:04", datetime(2024, 1, 2, 3, 4, tzinfo=UTC), False),
        ("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC), False),
        ("2024-01", datetime(2024, 1, 1, tzinfo=UTC), False),
        ("2024", datetime(2024, 1, 1, tzinfo=UTC), False),
    ],
)
def test_xmp_iso_dates(text: str, expected: datetime, had_offset: bool) -> None:
    assert parse_iso(text) == (expected, had_offset)


@pytest.mark.parametrize(
    ("text", "expected", "had_offset"),
    [
        ("2024-01-01 12:00:00", datetime(2024, 1, 1, 12, tzinfo=UTC), False),
        ("2024-01-01 12:00:00.123456", datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC), False),
        ("2024-01-01 12:00:00+00", datetime(2024, 1, 1, 12, tzinfo=UTC), True),  # PostgreSQL
        ("2024-01-01 12:00:00-0600", datetime(2024, 1, 1, 18, tzinfo=UTC), True),
        ("2024-01-01T12:00:00Z", datetime(2024, 1, 1, 12, tzinfo=UTC), True),
        ("1704067200", datetime(2024, 1, 1, tzinfo=UTC), True),  # epoch seconds
        ("1704067200.5", datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), True),
        ("1704067200000", datetime(2024, 1, 1, tzinfo=UTC), True),  # milliseconds
        ("1704067200000000", datetime(2024, 1, 1, tzinfo=UTC), True),  # microseconds
    ],
)
def test_database_timestamps(text: str, expected: datetime, had_offset: bool) -> None:
    assert parse_stored(text) == (expected, had_offset)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "0000:00:00 00:00:00",  # EXIF "unset"
        "1970-01-01 00:00:00",  # epoch zero as text
        "0",
        "86400",  # a small number is no epoch time
        "1985-06-01",  # before 1990
        "2024-13-01",
        "2024-02-30 10:00:00",
        "2024-01-01T25:00:00",
        "2024-01-01 12:00:00+99:00",
        "99999999999999999",  # beyond datetime's range at any scale
        "20240101",
    ],
)
def test_junk_is_refused(text: str) -> None:
    with pytest.raises(BadDate):
        parse_stored(text)


def test_unset_exif_date_is_refused() -> None:
    with pytest.raises(BadDate):
        parse_exif("0000:00:00 00:00:00")
    with pytest.raises(BadDate):
        parse_exif("    :  :     :  :  ")


def test_offsets() -> None:
    assert parse_offset("+05:30") is not None and parse_offset("-0800") is not None
    assert (
        parse_offset("+15:00") is None and parse_offset("Z?") is None and parse_offset("") is None
    )
