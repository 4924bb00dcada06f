"""SQLite source: what is sampled, and that nothing is ever changed (HOSTILE.md).

Every hostile case hashes the database and its sidecars before and after the scan.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from app_fixtures import digikam
from db_helpers import dlib_descriptors, sentence_like, with_sidecars

from scanner.config import SampleLimits, ScanConfig
from scanner.engine import run_scan
from scanner.model import EvidenceKind, Problem, ProblemReason
from scanner.sources.database import ColumnSample, DatabaseError
from scanner.sources.sqlite import SqliteSource

FAST = SampleLimits(statement_timeout_s=1.0)


def samples(source: SqliteSource) -> tuple[dict[str, ColumnSample], list[Problem]]:
    got: dict[str, ColumnSample] = {}
    problems: list[Problem] = []
    for entry in source.columns():
        if isinstance(entry, Problem):
            problems.append(entry)
        else:
            got[f"{entry.table}.{entry.column}"] = entry
    return got, problems


def uri(path: Path) -> str:
    return "sqlite://" + str(path)


def test_columns_are_sampled_with_context_app_and_counts(tmp_path: Path) -> None:
    db = digikam(tmp_path / "recognition.db")
    got, problems = samples(SqliteSource(uri(db), FAST))
    assert problems == []
    assert list(got) == ["FaceMatrices.vecdata"]  # ids, counts, short text: skipped
    col = got["FaceMatrices.vecdata"]
    assert col.location.path == f"sqlite://{db}#FaceMatrices.vecdata"
    assert col.rows == 24 and not col.rows_estimated and col.non_null == 24
    assert len(col.values) == 24 and all(len(v) == 512 for v in col.values)  # type: ignore[arg-type]
    assert col.app == "digiKam" and col.app_face_column and col.linked_store
    assert "identity" in col.context and "vecdata" not in col.context
    notes = dict(col.notes)
    assert notes["columns_skipped_by_type"] == 1 and notes["columns_skipped_by_values"] >= 5


def test_big_tables_are_sampled_at_seeded_random_rowids(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB, created_at TEXT)")
        rows = [(np.full(16, n, "<f4").tobytes(), f"2024-{n % 12 + 1:02d}-01") for n in range(5000)]
        conn.executemany("INSERT INTO t (v, created_at) VALUES (?, ?)", rows)
    conn.close()
    limits = SampleLimits(rows=50)
    first = samples(SqliteSource(uri(db), limits))[0]["t.v"]
    again = samples(SqliteSource(uri(db), limits))[0]["t.v"]
    assert first.values == again.values  # deterministic
    marks = sorted(np.frombuffer(v, "<f4")[0] for v in first.values)  # type: ignore[arg-type]
    assert len(marks) == 50 and marks[-1] > 2500  # spread over the table, not its first rows
    assert first.rows == 5000 and first.timestamps == (("created_at", "2024-01-01", "2024-12-01"),)
    other = samples(SqliteSource(uri(db), SampleLimits(rows=50, seed=7)))[0]["t.v"]
    assert other.values != first.values


def test_leftover_wal_rows_are_found_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crashed app leaves db + -wal + -shm; rows that exist only in the -wal are found."""
    live = tmp_path / "live"
    live.mkdir()
    src = digikam(live / "recognition.db", rows=4)
    app = sqlite3.connect(src)
    app.execute("PRAGMA journal_mode=WAL")
    app.execute("PRAGMA wal_autocheckpoint=0")
    for vec in dlib_descriptors()[4:12]:
        app.execute(
            "INSERT INTO FaceMatrices (identity, vecdata) VALUES (1, ?)",
            (vec.astype("<f4").tobytes(),),
        )
    app.commit()
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal", "-shm"):  # copied while the app still runs: a crash image
        shutil.copy2(str(src) + suffix, str(crashed / "recognition.db") + suffix)
    app.close()
    db = crashed / "recognition.db"
    assert os.path.getsize(str(db) + "-wal") > 0
    before, listing = with_sidecars(db), sorted(os.listdir(crashed))
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))  # where the private copy goes
    source = SqliteSource(uri(db), FAST)
    got, _ = samples(source)
    assert got["FaceMatrices.vecdata"].rows == 12  # 4 in the main file + 8 only in the -wal
    assert dict(source.summary.notes())["private_copy_for_wal"] == 1  # -shm: rebuilt, not copied
    assert with_sidecars(db) == before and sorted(os.listdir(crashed)) == listing
    assert os.listdir(private) == []  # the private copy is gone


def test_hot_rollback_journal_uncommitted_rows_are_not_read(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    src = digikam(live / "recognition.db", rows=3)
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE other (v BLOB)")
        conn.executemany("INSERT INTO other VALUES (randomblob(600))", [()] * 2000)
    conn.close()
    app = sqlite3.connect(src, isolation_level=None)
    app.execute("PRAGMA cache_size=1")  # uncommitted pages spill into the main file...
    app.execute("BEGIN")
    for n in range(3000):
        app.execute(
            "INSERT INTO FaceMatrices (identity, vecdata) VALUES (?, randomblob(512))", (n,)
        )
    app.execute("SELECT count(*), sum(length(v)) FROM other").fetchone()  # ...root included
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-journal"):
        shutil.copy2(str(src) + suffix, str(crashed / "recognition.db") + suffix)
    app.execute("ROLLBACK")
    app.close()
    db = crashed / "recognition.db"
    before = with_sidecars(db)
    assert before["-journal"] is not None
    immutable = sqlite3.connect(f"file:{db}?immutable=1", uri=True)  # what the naive way sees
    try:
        naive = immutable.execute("SELECT count(*) FROM FaceMatrices").fetchone()[0]
    except sqlite3.DatabaseError:
        naive = "malformed"
    immutable.close()
    assert naive != 3  # uncommitted pages, or a torn b-tree
    got, _ = samples(SqliteSource(uri(db), FAST))
    assert got["FaceMatrices.vecdata"].rows == 3  # the committed state only
    assert with_sidecars(db) == before


def test_wal_mode_database_without_sidecars_gets_none(tmp_path: Path) -> None:
    db = digikam(tmp_path / "recognition.db", rows=3)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    assert sorted(os.listdir(tmp_path)) == ["recognition.db"]
    before = with_sidecars(db)
    got, _ = samples(SqliteSource(uri(db), FAST))
    assert got["FaceMatrices.vecdata"].rows == 3
    assert sorted(os.listdir(tmp_path)) == ["recognition.db"] and with_sidecars(db) == before


@pytest.mark.parametrize("name", ["faces#1.db", "faces?mode=rwc.db", "a#b?c=d.db"])
def test_hash_and_question_mark_in_file_names(tmp_path: Path, name: str) -> None:
    db = digikam(tmp_path / name, rows=2)
    before, listing = with_sidecars(db), sorted(os.listdir(tmp_path))
    got, problems = samples(SqliteSource(uri(db), FAST))
    assert problems == [] and got["FaceMatrices.vecdata"].rows == 2
    assert got["FaceMatrices.vecdata"].location.path == f"sqlite://{db}#FaceMatrices.vecdata"
    assert sorted(os.listdir(tmp_path)) == listing and with_sidecars(db) == before


def test_missing_file_is_reported_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(DatabaseError):
        list(SqliteSource(uri(missing), FAST).columns())
    result = run_scan(ScanConfig(targets=(uri(missing),), workers=0))
    (problem,) = result.problems
    assert problem.reason is ProblemReason.DATABASE_UNREADABLE and result.exit_code == 3
    assert not missing.exists() and os.listdir(tmp_path) == []


def test_not_a_database_is_reported(tmp_path: Path) -> None:
    fake = tmp_path / "notes.db"
    fake.write_text("hello")
    with pytest.raises(DatabaseError, match="not a SQLite database"):
        list(SqliteSource(uri(fake), FAST).columns())


def test_endless_view_times_out_and_the_scan_goes_on(tmp_path: Path) -> None:
    """With --read-views (by default a view is not read at all)."""
    db = digikam(tmp_path / "recognition.db", rows=2)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE VIEW endless AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
            "FROM r) SELECT n, 'payload' AS p FROM r WHERE n < 0"
        )
    conn.close()
    before = with_sidecars(db)
    started = time.monotonic()
    limits = SampleLimits(statement_timeout_s=1.0, read_views=True)
    got, problems = samples(SqliteSource(uri(db), limits))
    assert time.monotonic() - started < 4 * FAST.statement_timeout_s
    problems = [p for p in problems if p.reason is not ProblemReason.VIEWS_READ]
    assert [p.reason for p in problems] == [ProblemReason.QUERY_TIMEOUT]
    assert problems[0].location.path.endswith("#endless")
    assert "FaceMatrices.vecdata" in got and with_sidecars(db) == before


def test_large_values_are_counted_or_read_in_chunks(tmp_path: Path) -> None:
    db = tmp_path / "blobs.db"
    big = np.random.default_rng(1).bytes(3 * 1024 * 1024)  # read through blobopen
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB, txt TEXT)")
        conn.execute("INSERT INTO t VALUES (1, zeroblob(40000000), NULL)")
        conn.execute("INSERT INTO t VALUES (2, ?, NULL)", (big,))
        conn.execute("INSERT INTO t VALUES (3, NULL, ?)", ("x" * 20_000_000,))  # beyond the limit
        conn.execute("INSERT INTO t VALUES (4, NULL, ?)", ("y" * 300,))
    conn.close()
    got, problems = samples(SqliteSource(uri(db), SampleLimits(value_bytes=8 * 1024 * 1024)))
    assert got["t.b"].oversized == 1 and got["t.b"].values == (big,)
    assert got["t.txt"].oversized == 1 and got["t.txt"].values == ("y" * 300,)
    assert {p.reason for p in problems} == {ProblemReason.VALUE_TOO_LARGE}


def test_an_fts_index_is_reported_and_its_rows_are_read_from_content(tmp_path: Path) -> None:
    db = tmp_path / "fts.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE VIRTUAL TABLE docs USING fts5(body)")
        conn.execute("INSERT INTO docs VALUES (?)", ("a long body of text " * 20,))
    conn.close()
    got, problems = samples(SqliteSource(uri(db), FAST))
    assert list(got) == ["docs_content.c0"]  # the rows, an ordinary table
    (problem,) = problems
    assert problem.reason is ProblemReason.INDEX_NOT_READ and not problem.incomplete
    assert problem.location.path.endswith("fts.db#docs") and "docs_content" in problem.detail


def test_a_virtual_table_of_an_unknown_module_is_reported_incomplete(tmp_path: Path) -> None:
    """No extension is ever loaded: a virtual table whose module is not built in cannot be
    read. It is a problem that makes the scan incomplete, never a silent skip; the tables it
    keeps its data in are ordinary tables and are scanned."""
    db = tmp_path / "vectors.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE faces_data (id INTEGER PRIMARY KEY, vector BLOB)")
    conn.executemany(
        "INSERT INTO faces_data (vector) VALUES (?)",
        [(np.full(512, 0.01 * i, "<f4").tobytes(),) for i in range(1, 11)],
    )
    conn.execute("PRAGMA writable_schema=ON")  # as a file made by an extension we lack
    conn.execute(
        "INSERT INTO sqlite_master VALUES ('table', 'faces', 'faces', 0, "
        "'CREATE VIRTUAL TABLE faces USING vectorlite(embedding float32[512])')"
    )
    conn.commit()
    conn.close()
    got, problems = samples(SqliteSource(uri(db), FAST))
    assert list(got) == ["faces_data.vector"]
    (problem,) = problems
    assert problem.reason is ProblemReason.VIRTUAL_TABLE_NOT_READ and problem.incomplete
    assert "'vectorlite'" in problem.detail and "faces_data" in problem.detail


def test_views_are_read_only_when_asked(tmp_path: Path) -> None:
    db = digikam(tmp_path / "recognition.db")
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE VIEW recent AS SELECT * FROM FaceMatrices")
    conn.close()
    got, problems = samples(SqliteSource(uri(db), FAST))
    assert list(got) == ["FaceMatrices.vecdata"]
    assert [(p.reason, p.location.path.rsplit("#", 1)[-1]) for p in problems] == [
        (ProblemReason.VIEW_NOT_READ, "recent")
    ]
    got, problems = samples(SqliteSource(uri(db), SampleLimits(read_views=True)))
    assert sorted(got) == ["FaceMatrices.vecdata", "recent.vecdata"]
    assert [p.reason for p in problems] == [ProblemReason.VIEWS_READ]


def test_sqlite_vec_tables_are_read_from_their_shadow_tables(tmp_path: Path) -> None:
    sqlite_vec = pytest.importorskip("sqlite_vec", reason="sqlite-vec (dev extra) builds vec0")
    cli = shutil.which("sqlite3")
    if cli is None:
        pytest.skip("the sqlite3 command (Debian package sqlite3) loads the vec0 extension")
    db = tmp_path / "vectors.db"
    rows = ",".join(
        f"({n + 1}, '[{','.join(f'{x:.6f}' for x in v)}]', 'person {n}')"
        for n, v in enumerate(dlib_descriptors()[:12])
    )
    script = (
        f".load {sqlite_vec.loadable_path()}\n"
        "CREATE VIRTUAL TABLE face_vectors USING vec0(face_id integer primary key, "
        "embedding float[128], +label text);\n"
        f"INSERT INTO face_vectors(face_id, embedding, label) VALUES {rows};\n"
    )
    subprocess.run([cli, str(db)], input=script.encode(), check=True, capture_output=True)
    got, problems = samples(SqliteSource(uri(db), FAST))
    assert problems == [] and list(got) == ["face_vectors.embedding"]
    col = got["face_vectors.embedding"]
    assert col.rows == 12 and col.declared_type == "vec0 float[128]"
    first = np.frombuffer(col.values[0], "<f4")  # type: ignore[arg-type]
    assert np.allclose(first, dlib_descriptors()[0], atol=1e-5)
    result = run_scan(ScanConfig(targets=(uri(db),), workers=0))
    (item,) = result.items
    assert item.primary is not None and item.primary.detail("dims") == 128


def test_sqlite_inside_an_archive_is_read_in_memory(tmp_path: Path) -> None:
    inner = digikam(tmp_path / "recognition.db", rows=12)
    conn = sqlite3.connect(inner)
    conn.execute("PRAGMA journal_mode=WAL")  # an in-memory image of a WAL-mode file
    conn.close()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(inner, "backup/recognition.db")
    inner.unlink()
    archive = tmp_path / "backup.zip"
    archive.write_bytes(buf.getvalue())
    result = run_scan(ScanConfig(targets=(archive,), workers=0))
    (item,) = result.items
    assert item.location.display.endswith("backup/recognition.db#FaceMatrices.vecdata")
    assert item.primary is not None and item.primary.detail("app") == "digiKam"


def test_walked_file_is_named_by_uri_and_negative_control_is_silent(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT, body TEXT, "
            "thumbnail BLOB, embedding BLOB, score REAL)"
        )
        for n, vec in enumerate(sentence_like(40)):
            conn.execute(
                "INSERT INTO documents VALUES (NULL, ?, ?, ?, ?, ?)",
                (f"doc {n}", "words " * 40, os.urandom(900), vec.astype("<f4").tobytes(), n / 3),
            )
    conn.close()
    before = with_sidecars(db)
    result = run_scan(ScanConfig(targets=(tmp_path,), workers=0))
    assert [i for i in result.items if i.has_evidence] == []
    assert not any(p.incomplete for p in result.problems)
    assert with_sidecars(db) == before
    digikam(tmp_path / "recognition.db", rows=12)
    result = run_scan(ScanConfig(targets=(tmp_path,), workers=0))
    (item,) = result.items
    assert item.location.path == f"sqlite://{tmp_path}/recognition.db#FaceMatrices.vecdata"
    primary = item.primary
    assert primary is not None and primary.kind is EvidenceKind.FACE_EMBEDDING
