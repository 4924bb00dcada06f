"""Jurisdiction: places from a database's country/region columns, end to end through SQLite.

(EXIF GPS places are read by the worker: tests/context/test_exif.py and
tests/context/test_end_to_end.py.)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from db_helpers import face_jpeg

from scanner.config import SampleLimits
from scanner.context.jurisdiction import with_places
from scanner.model import (
    ContentType,
    DatabaseLocation,
    Evidence,
    EvidenceKind,
    ItemContext,
    ItemResult,
    Place,
    Problem,
    ScanResult,
)
from scanner.sources.database import ColumnSample, sqlite_ref
from scanner.sources.relational import place_role
from scanner.sources.sqlite import SqliteSource


def column_item(*details: tuple[str, str], context: ItemContext | None = None) -> ItemResult:
    evidence = (
        Evidence(EvidenceKind.FACE_IMAGE, "face.column-images", 0.9, faces=3, details=details),
        Evidence(EvidenceKind.FACE_EMBEDDING, "embedding.column", 0.8, details=details),
    )
    return ItemResult(
        DatabaseLocation(sqlite_ref("/x.db"), None, "people", "photo"),
        ContentType.DB_COLUMN,
        0,
        None,
        None,
        evidence,
        context=context or ItemContext(),
    )


def test_place_details_become_places_once() -> None:
    item = with_places(
        column_item(("places.country", "GB:3,FR:2"), ("places.state", "US-IL:4"), ("rows", "9"))
    )
    assert item.context.places == (
        Place("GB", "column:country", None, 3),
        Place("FR", "column:country", None, 2),
        Place("US", "column:state", "US-IL", 4),
    )
    assert item.context.countries == ("FR", "GB", "US")


def test_gps_places_are_kept_and_nothing_else_changes_without_details() -> None:
    gps = ItemContext(places=(Place("IE", "exif-gps"),))
    item = column_item(context=gps)
    assert with_places(item) is item
    item = with_places(column_item(("places.country", "GB:1"), context=gps))
    assert item.context.places == (Place("IE", "exif-gps"), Place("GB", "column:country"))


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("country", "country"),
        ("country_code", "country"),
        ("countryCode", "country"),
        ("residence_country", "country"),
        ("nationality", "country"),
        ("CountryName", "country"),
        ("region", "region"),
        ("state", "region"),
        ("home_state", "region"),
        ("state_code", "region"),
        ("status", None),
        ("statement", None),
        ("real_estate", None),
        ("countless", None),
        ("created_at", None),
        ("photo", None),
    ],
)
def test_place_columns_are_matched_on_whole_words(name: str, role: str | None) -> None:
    assert place_role(name) == role


def people_db(path: Path, rows: list[tuple[str, str | None, str | None]]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, created_at TEXT, country TEXT, "
        "home_state TEXT, status TEXT, photo BLOB)"
    )
    conn.executemany(
        "INSERT INTO people (created_at, country, home_state, status, photo) "
        "VALUES (?, ?, ?, 'active', ?)",
        [(created, country, state, face_jpeg()) for created, country, state in rows],
    )
    conn.commit()
    conn.close()
    return path


ROWS = [
    ("2021-01-01 10:00:00", "GB", None),
    ("2021-06-01 10:00:00", "United Kingdom", None),
    ("2022-01-01 10:00:00", "uk", None),
    ("2023-01-01 10:00:00", "France", "IL"),
    ("2024-01-01 10:00:00", "FR", "Illinois"),
    ("2025-01-01 10:00:00", "Narnia", "active"),
]


def test_sqlite_source_counts_places_over_the_sampled_rows(tmp_path: Path) -> None:
    db = people_db(tmp_path / "people.db", ROWS)
    samples = [
        e
        for e in SqliteSource("sqlite://" + str(db), SampleLimits()).columns()
        if not isinstance(e, Problem)
    ]
    (photo,) = [s for s in samples if isinstance(s, ColumnSample)]
    assert photo.column == "photo"
    assert photo.places == (
        ("country", "GB", None, 3),
        ("country", "FR", None, 2),
        ("home_state", "US", "US-IL", 2),
    )
    notes = dict(photo.notes)
    assert notes["places.country"] == "1 sampled value(s) not a known country"
    assert notes["places.home_state"] == "1 sampled value(s) not a known region"
    assert "Narnia" not in repr(photo.notes)  # unrecognised values are counted, not kept


def test_database_places_and_age_reach_the_item_context(
    tmp_path: Path, scan: Callable[..., ScanResult]
) -> None:
    people_db(tmp_path / "people.db", ROWS)
    result = scan(tmp_path)
    (item,) = result.items
    assert item.location.path.endswith("people.db#people.photo")
    assert set(item.context.places) == {
        Place("GB", "column:country", None, 3),
        Place("FR", "column:country", None, 2),
        Place("US", "column:home_state", "US-IL", 2),
    }
    assert item.context.created == datetime(2021, 1, 1, 10, tzinfo=timezone.utc)
    assert item.context.created_source == "column:created_at (oldest row)"
    assert item.context.newest == datetime(2025, 1, 1, 10, tzinfo=timezone.utc)
    primary = item.primary
    assert primary is not None and primary.detail("places.country") == "GB:3,FR:2"


PLACES = [("GB", None), ("United Kingdom", None), ("France", "TX"), ("FR", "Texas"), ("EU", None)]
EXPECTED = (  # most rows first, then by code
    ("country", "FR", None, 2),
    ("country", "GB", None, 2),
    ("state", "US", "US-TX", 2),
)


def photo_sample(samples: list[ColumnSample | Problem]) -> ColumnSample:
    (photo,) = [s for s in samples if isinstance(s, ColumnSample) and s.column == "photo"]
    return photo


def test_postgres_source_counts_places() -> None:
    import psycopg
    from db_helpers import pg_database

    from scanner.sources.postgres import PostgresSource

    with pg_database() as uri:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE people (id serial PRIMARY KEY, country text, state text, photo bytea)"
            )
            for country, state in PLACES:
                conn.execute(
                    "INSERT INTO people (country, state, photo) VALUES (%s, %s, %s)",
                    (country, state, face_jpeg()),
                )
        photo = photo_sample(list(PostgresSource(uri, SampleLimits()).columns()))
    assert photo.places == EXPECTED
    assert dict(photo.notes)["places.country"] == "1 sampled value(s) not a known country"


def test_mysql_source_counts_places() -> None:
    from db_helpers import mysql_connect, mysql_database

    from scanner.sources.mysql import MysqlSource

    with mysql_database() as uri:
        conn = mysql_connect(uri)
        cur = conn.cursor()
        cur.execute(
            "CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, country VARCHAR(64), "
            "state VARCHAR(64), photo LONGBLOB)"
        )
        for country, state in PLACES:
            cur.execute(
                "INSERT INTO people (country, state, photo) VALUES (%s, %s, %s)",
                (country, state, face_jpeg()),
            )
        conn.close()
        photo = photo_sample(list(MysqlSource(uri, SampleLimits()).columns()))
    assert photo.places == EXPECTED
