"""Subject search names the match (issue 13, point 6): the matching row's key (primary key or
rowid) and its own date — not the table's oldest row —, or the label stored beside the vector
in a pickle or JSON file, with the distance; in the JSON, Markdown and HTML subject reports.
Real SQLite and PostgreSQL tables, real pickles (parsed, never unpickled) and JSON files."""

from __future__ import annotations

import json
import pickle
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from db_helpers import mysql_connect, mysql_database, pg_database
from helpers import astronaut, encode, no_face
from reporters.sample import HOSTILE_PATH
from subject_helpers import dlib_like

from scanner.config import SampleLimits, ScanConfig
from scanner.model import EvidenceKind, RowKey
from scanner.reporters.subject_formats import SubjectFormat, render_subject
from scanner.subject.probe import Probes
from scanner.subject.search import find_subject
from scanner.subject_results import SubjectMatch, SubjectResult

ROWS = 40
MATCH_ID = 27  # the probe's person is stored in this row, dated below
MATCH_DATE = "2025-03-04 10:00:00"
OLDEST = "2019-01-01 08:00:00"


def dates(n: int) -> list[str]:
    """Row dates: the table's oldest is row 1; the matching row is much newer."""
    out = [f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 09:00:00" for i in range(n)]
    out[0] = OLDEST
    out[MATCH_ID - 1] = MATCH_DATE
    return out


def vectors(probe_vector: np.ndarray) -> np.ndarray:
    rows = dlib_like(ROWS, seed=21)
    rows[MATCH_ID - 1] = probe_vector + 0.004
    return rows


def search(target: str, probes: Probes) -> SubjectResult:
    config = ScanConfig(targets=(target,), workers=0, sampling=SampleLimits(rows=1000))
    return find_subject(config, probes)


def the_match(result: SubjectResult) -> SubjectMatch:
    (match,) = [m for m in result.matches if m.kind is EvidenceKind.FACE_EMBEDDING]
    return match


@pytest.fixture
def sqlite_db(tmp_path: Path, probe_vector: np.ndarray) -> Path:
    path = tmp_path / "kiosk.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE visitors (visitor_id INTEGER PRIMARY KEY, created_at TEXT, "
            "face_encoding BLOB)"
        )
        db.executemany(
            "INSERT INTO visitors VALUES (?, ?, ?)",
            [
                (i, d, v.astype("<f8").tobytes())
                for i, d, v in zip(
                    range(1, ROWS + 1), dates(ROWS), vectors(probe_vector), strict=True
                )
            ],
        )
    db.close()
    return path


def test_sqlite_match_names_its_row_and_its_own_date(sqlite_db: Path, probes: Probes) -> None:
    result = search(f"sqlite:///{sqlite_db}", probes)
    m = the_match(result)
    assert (m.within, m.compared) == (1, ROWS)
    (hit,) = m.hits
    assert hit.ref.row == RowKey((("visitor_id", str(MATCH_ID)),))
    assert (hit.ref.date, hit.ref.date_column) == (MATCH_DATE, "created_at")
    assert hit.distance == m.distance and hit.distance < 0.1
    # the item's context still dates the column by its oldest row; the match by its own
    assert m.context.created is not None and m.context.created.year == 2019
    for fmt in (SubjectFormat.MARKDOWN, SubjectFormat.HTML):
        text = render_subject(result, fmt).replace("\\_", "_")  # Markdown escapes `_`
        assert f"row visitor_id={MATCH_ID} (created_at {MATCH_DATE}) at 0.0" in text, fmt
        assert f"{MATCH_DATE} (created_at of the matching row)" in text, fmt
        assert "2019-01-01" not in text, fmt
    document = json.loads(render_subject(result, SubjectFormat.JSON))
    (entry,) = document["matches"]
    assert entry["hits"] == [
        {
            "key": {"visitor_id": str(MATCH_ID)},
            "label": None,
            "path": None,
            "date": MATCH_DATE,
            "date_column": "created_at",
            "distance": hit.distance,
        }
    ]


def test_a_face_in_an_image_stored_in_a_row_names_the_row(tmp_path: Path, probes: Probes) -> None:
    path = tmp_path / "badges.db"
    photo = encode(astronaut().resize((240, 240)), "JPEG")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE badges (badge TEXT PRIMARY KEY, taken_at TEXT, photo BLOB)")
        db.executemany(
            "INSERT INTO badges VALUES (?, ?, ?)",
            [
                ("B-1", OLDEST, encode(no_face(), "JPEG")),
                ("B-2", MATCH_DATE, photo),
                ("B-3", "2024-01-01 00:00:00", encode(no_face(), "JPEG")),
            ],
        )
    db.close()
    result = search(f"sqlite:///{path}", probes)
    (m,) = [m for m in result.matches if m.kind is EvidenceKind.FACE_IMAGE]
    (hit,) = m.hits
    assert hit.ref.row == RowKey((("badge", "B-2"),))
    assert (hit.ref.date, hit.ref.date_column) == (MATCH_DATE, "taken_at")
    assert hit.distance == m.distance
    text = render_subject(result, SubjectFormat.MARKDOWN).replace("\\_", "_")
    assert "face in an image stored in this database column: row badge=B-2 (taken_at " in text
    assert f"{MATCH_DATE} (taken_at of the matching row)" in text


def test_a_table_without_a_primary_key_names_the_rowid(
    tmp_path: Path, probes: Probes, probe_vector: np.ndarray
) -> None:
    path = tmp_path / "plain.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE encodings (who TEXT, face_encoding BLOB)")
        db.executemany(
            "INSERT INTO encodings VALUES (?, ?)",
            [(f"p{i}", v.astype("<f8").tobytes()) for i, v in enumerate(vectors(probe_vector))],
        )
    db.close()
    result = search(f"sqlite:///{path}", probes)
    (hit,) = the_match(result).hits
    assert hit.ref.row == RowKey((("rowid", str(MATCH_ID)),)) and hit.ref.date is None
    md = render_subject(result, SubjectFormat.MARKDOWN)
    assert "unknown (the matching row has no date column)" in md


@pytest.fixture
def pg_uri(probe_vector: np.ndarray) -> Iterator[str]:
    import psycopg

    with pg_database() as uri:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE public.visitors (visitor_id bigint PRIMARY KEY, "
                "created_at timestamptz, face_encoding bytea)"
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO public.visitors VALUES (%s, %s::timestamptz, %s)",
                    [
                        (i, d + "+00", v.astype("<f8").tobytes())
                        for i, d, v in zip(
                            range(1, ROWS + 1), dates(ROWS), vectors(probe_vector), strict=True
                        )
                    ],
                )
        yield uri


def test_postgresql_match_names_its_row_and_its_own_date(pg_uri: str, probes: Probes) -> None:
    result = search(pg_uri, probes)
    m = the_match(result)
    assert m.location.display.endswith("#public.visitors.face_encoding")
    (hit,) = m.hits
    assert hit.ref.row == RowKey((("visitor_id", str(MATCH_ID)),))
    assert hit.ref.date == "2025-03-04T10:00:00+00:00" and hit.ref.date_column == "created_at"
    text = render_subject(result, SubjectFormat.MARKDOWN).replace("\\_", "_")
    assert f"row visitor_id={MATCH_ID} (created_at 2025-03-04T10:00:00+00:00)" in text


def test_mariadb_match_names_its_row_and_its_own_date(
    probes: Probes, probe_vector: np.ndarray
) -> None:
    with mysql_database() as uri:
        conn = mysql_connect(uri)
        cur = conn.cursor()
        cur.execute(
            "CREATE TABLE visitors (visitor_id INT PRIMARY KEY, created_at DATETIME, "
            "face_encoding BLOB)"
        )
        cur.executemany(
            "INSERT INTO visitors VALUES (%s, %s, %s)",
            [
                (i, d, v.astype("<f8").tobytes())
                for i, d, v in zip(
                    range(1, ROWS + 1), dates(ROWS), vectors(probe_vector), strict=True
                )
            ],
        )
        conn.close()
        result = search(uri, probes)
    (hit,) = the_match(result).hits
    assert hit.ref.row == RowKey((("visitor_id", str(MATCH_ID)),))
    assert (hit.ref.date, hit.ref.date_column) == (MATCH_DATE, "created_at")


def test_a_pickle_match_names_the_label_beside_the_vector(
    tmp_path: Path, probes: Probes, probe_vector: np.ndarray
) -> None:
    """face_recognition's {"encodings", "names"}: the matching vector's name; the pickle is
    parsed by the scanner's own walk (a class the file names is never imported)."""
    rows = dlib_like(6, seed=3)
    rows[4] = probe_vector + 0.002
    names = ["ada", "ada", "bob", "cy", "astronaut", HOSTILE_PATH]
    (tmp_path / "encodings.pickle").write_bytes(
        pickle.dumps({"encodings": list(rows), "names": names}, protocol=4)
    )
    result = search(str(tmp_path / "encodings.pickle"), probes)
    m = the_match(result)
    assert (m.within, m.compared) == (1, 6)
    (hit,) = m.hits
    assert hit.ref.label == "astronaut" and hit.ref.path == "encodings #4"
    assert hit.ref.row is None
    md = render_subject(result, SubjectFormat.MARKDOWN)
    assert "label 'astronaut' at encodings #4 at 0.0" in md
    document = json.loads(render_subject(result, SubjectFormat.JSON))
    (json_hit,) = document["matches"][0]["hits"]
    assert (json_hit["label"], json_hit["key"]) == ("astronaut", None)


def test_a_json_match_names_the_record_it_is_in(
    tmp_path: Path, probes: Probes, probe_vector: np.ndarray
) -> None:
    rows = dlib_like(5, seed=4)
    rows[2] = probe_vector + 0.002
    records = [
        {"identity": f"faces/person{i}.jpg", "embedding": [float(x) for x in v]}
        for i, v in enumerate(rows)
    ]
    (tmp_path / "representations.json").write_text(json.dumps(records))
    result = search(str(tmp_path / "representations.json"), probes)
    (hit,) = the_match(result).hits
    assert hit.ref.label == "faces/person2.jpg" and hit.ref.path == "$[2].embedding"
    html = render_subject(result, SubjectFormat.HTML)
    assert "label &#x27;faces/person2.jpg&#x27; at $[2].embedding" in html


def test_hostile_labels_stay_inert(
    tmp_path: Path, probes: Probes, probe_vector: np.ndarray
) -> None:
    rows = dlib_like(4, seed=5)
    rows[1] = probe_vector + 0.002
    names = ["a", "<script>x</script>\x1b[2J", "c", "d"]
    (tmp_path / "e.pickle").write_bytes(
        pickle.dumps({"encodings": list(rows), "names": names}, protocol=4)
    )
    result = search(str(tmp_path / "e.pickle"), probes)
    assert the_match(result).hits[0].ref.label == names[1]
    for fmt in (SubjectFormat.MARKDOWN, SubjectFormat.HTML):
        text = render_subject(result, fmt)
        assert "<script>" not in text and "\x1b" not in text, fmt
