"""Age: a capture date from the bytes, a database column's oldest/newest rows, else mtime."""

from __future__ import annotations

import os
import tarfile
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from helpers import astronaut, encode

from scanner.context.age import with_age
from scanner.model import (
    ContentType,
    DatabaseLocation,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemContext,
    ItemResult,
    Location,
    ScalarValue,
    ScanResult,
)
from scanner.sources.database import sqlite_ref

UTC = timezone.utc


def column_item(**details: ScalarValue) -> ItemResult:
    evidence = Evidence(
        EvidenceKind.FACE_EMBEDDING, "embedding.column", 0.9, details=tuple(details.items())
    )
    return ItemResult(
        DatabaseLocation(sqlite_ref("/x.db"), None, "faces", "embedding"),
        ContentType.DB_COLUMN,
        0,
        None,
        None,
        (evidence,),
    )


def file_item(mtime_ns: int | None, location: Location, **context: object) -> ItemResult:
    evidence = Evidence(EvidenceKind.FACE_IMAGE, "face.yunet", 0.9, faces=1)
    return ItemResult(
        location,
        ContentType.JPEG,
        10,
        "0" * 64,
        mtime_ns,
        (evidence,),
        context=ItemContext(**context),  # type: ignore[arg-type]
    )


def test_database_column_oldest_and_newest_rows() -> None:
    item = with_age(
        column_item(
            timestamp_column="created_at", oldest="2021-01-01 10:00:00", newest="2025-09-30"
        )
    )
    assert item.context.created == datetime(2021, 1, 1, 10, tzinfo=UTC)
    assert item.context.created_source == "column:created_at (oldest row)"
    assert item.context.newest == datetime(2025, 9, 30, tzinfo=UTC)
    assert ("context.column:created_at", "no time zone in the column: read as UTC") in item.notes


def test_database_epoch_milliseconds_and_offsets() -> None:
    item = with_age(
        column_item(
            timestamp_column="createdAt", oldest="1609459200000", newest="2024-01-01 12:00:00+00"
        )
    )
    assert item.context.created == datetime(2021, 1, 1, tzinfo=UTC)
    assert item.context.newest == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert item.notes == ()


def test_malformed_database_dates_are_ignored_with_a_note() -> None:
    item = with_age(column_item(timestamp_column="taken", oldest="not a date", newest="0"))
    assert item.context.created is None and item.context.newest is None
    notes = [str(v) for k, v in item.notes if k == "context.column:taken"]
    assert notes == [
        "oldest row ignored: 'not a date' (not an ISO 8601 date)",
        "newest row ignored: '0' (not an ISO 8601 date)",
    ]


def test_column_without_timestamps_has_no_age() -> None:
    item = with_age(column_item(timestamps="range not computed (see notes)"))
    assert item.context == ItemContext()


def test_a_capture_date_from_the_bytes_wins_over_the_mtime() -> None:
    taken = datetime(2020, 5, 5, tzinfo=UTC)
    item = file_item(
        1_700_000_000 * 10**9,
        FileLocation("/p/a.jpg"),
        created=taken,
        created_source="exif:DateTimeOriginal",
    )
    assert with_age(item) is item


def test_plain_file_mtime() -> None:
    item = with_age(file_item(1_700_000_000 * 10**9, FileLocation("/p/a.jpg")))
    assert item.context.created == datetime.fromtimestamp(1_700_000_000, UTC)
    assert item.context.created_source == "mtime"


def test_items_without_evidence_are_left_alone() -> None:
    item = ItemResult(FileLocation("/p/a.jpg"), ContentType.JPEG, 1, None, 1)
    assert with_age(item) is item


def test_archive_members_tar_mtime_else_the_archives(
    tmp_path: Path, scan: Callable[..., ScanResult]
) -> None:
    photo = tmp_path / "src.jpg"
    photo.write_bytes(encode(astronaut(), "JPEG"))
    member_time = 1_600_000_000
    os.utime(photo, (member_time, member_time))
    archives = tmp_path / "archives"
    archives.mkdir()
    with tarfile.open(archives / "photos.tar", "w") as tf:
        tf.add(photo, arcname="face.jpg")
    taken = datetime.fromtimestamp(member_time, UTC)
    with zipfile.ZipFile(archives / "photos.zip", "w") as zf:  # DOS time: read as UTC
        zf.writestr(zipfile.ZipInfo("face.jpg", taken.timetuple()[:6]), photo.read_bytes())
    with zipfile.ZipFile(archives / "undated.zip", "w") as zf:  # 1980-01-01: "no date"
        zf.writestr(zipfile.ZipInfo("face.jpg"), photo.read_bytes())
    zip_time = 1_650_000_000
    os.utime(archives / "undated.zip", (zip_time, zip_time))
    result = scan(archives)
    by_archive = {i.location.path.rsplit("/", 1)[-1]: i.context for i in result.items}
    for name in ("photos.tar", "photos.zip"):
        assert by_archive[name].created == taken
        assert by_archive[name].created_source == "mtime (archive member)"
    assert by_archive["undated.zip"].created == datetime.fromtimestamp(zip_time, UTC)
    assert by_archive["undated.zip"].created_source == (
        "mtime (the archive's; the member records none)"
    )
