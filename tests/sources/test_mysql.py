"""MariaDB/MySQL source against the real server: deterministic sampling, read-only sessions,
hostile schemas."""

from __future__ import annotations

import time

import pytest
from app_fixtures import photoprism
from db_helpers import mysql_connect, peak_rss, unique

from scanner.config import SampleLimits, ScanConfig
from scanner.engine import run_scan
from scanner.model import Problem, ProblemReason
from scanner.reporters.json_report import render
from scanner.sources.database import ColumnSample, DatabaseError
from scanner.sources.mysql import MysqlSource

FAST = SampleLimits(statement_timeout_s=2.0)
VIEWS = SampleLimits(statement_timeout_s=2.0, read_views=True)
WARNINGS = (ProblemReason.DATABASE_ROLE_WRITABLE, ProblemReason.VIEWS_READ)


def run(uri: str, limits: SampleLimits = FAST) -> tuple[dict[str, ColumnSample], list[Problem]]:
    """Samples by `table.column`, and problems other than the database-wide warnings: the
    tests connect as root, so the writable-account warning is always there (and the
    views-read warning with --read-views)."""
    got: dict[str, ColumnSample] = {}
    problems: list[Problem] = []
    for entry in MysqlSource(uri, limits).columns():
        if isinstance(entry, Problem):
            problems.append(entry)
        else:
            got[f"{entry.table}.{entry.column}"] = entry
    warnings = [p.reason for p in problems if p.reason in WARNINGS]
    assert warnings == [WARNINGS[0], *WARNINGS[1:] * limits.read_views], problems
    return got, [p for p in problems if p.reason not in WARNINGS]


def test_photoprism_columns_are_sampled(mysql_uri: str) -> None:
    photoprism(mysql_uri)
    got, problems = run(mysql_uri)
    assert problems == []
    assert set(got) == {"faces.embedding_json", "markers.embeddings_json", "markers.landmarks_json"}
    faces = got["faces.embedding_json"]
    assert faces.location.path == mysql_uri.replace("root@", "") + "#faces.embedding_json"
    assert faces.rows == 30 and faces.non_null == 30 and len(faces.values) == 30
    assert faces.app == "PhotoPrism" and faces.app_face_column and faces.linked_store
    assert ("created_at", "2024-01-02 10:00:00", "2024-09-02 10:00:00") in faces.timestamps
    assert got["markers.embeddings_json"].app_face_column
    assert not got["markers.landmarks_json"].app_face_column


def test_sampling_takes_the_start_and_the_middle_of_the_key_range(mysql_uri: str) -> None:
    conn = mysql_connect(mysql_uri)
    cur = conn.cursor()
    cur.execute("CREATE TABLE ints (id int PRIMARY KEY AUTO_INCREMENT, payload longtext)")
    cur.execute("CREATE TABLE strs (k varchar(20) PRIMARY KEY, payload longtext)")
    for n in range(1, 1001):
        cur.execute("INSERT INTO ints VALUES (%s, %s)", (n * 3, f"{n:06d}" + "p" * 100))
        cur.execute("INSERT INTO strs VALUES (%s, %s)", (f"k{n:06d}", f"{n:06d}" + "p" * 100))
    conn.close()
    limits = SampleLimits(rows=20, statement_timeout_s=5)
    got, _ = run(mysql_uri, limits)
    again, _ = run(mysql_uri, limits)
    for table in ("ints", "strs"):
        col = got[f"{table}.payload"]
        marks = [int(str(v)[:6]) for v in col.values]
        assert col.values == again[f"{table}.payload"].values  # deterministic
        assert marks[:10] == list(range(1, 11))  # the first rows by key...
        assert all(490 <= m <= 520 for m in marks[10:]) and len(marks) == 20  # ...the middle
    assert "middle of its range" in dict(got["ints.payload"].notes)["sampling"]
    assert "OFFSET" in dict(got["strs.payload"].notes)["sampling"]


def test_slow_view_times_out_and_the_scan_goes_on(mysql_uri: str) -> None:
    photoprism(mysql_uri, faces=3)
    conn = mysql_connect(mysql_uri)
    conn.cursor().execute(
        "CREATE VIEW slow AS SELECT SLEEP(1000) AS s, REPEAT('x', 300) AS payload"
    )
    conn.cursor().execute(
        "CREATE VIEW endless AS SELECT a.seq AS n, REPEAT('y', 300) AS payload "
        "FROM seq_1_to_1000000 a, seq_1_to_1000000 b WHERE a.seq + b.seq < 0"
    )
    conn.close()
    started = time.monotonic()
    got, problems = run(mysql_uri, VIEWS)  # views are read only when asked
    assert time.monotonic() - started < 6 * FAST.statement_timeout_s
    assert sorted((p.location.path.rsplit("#", 1)[1], p.reason) for p in problems) == [
        ("endless", ProblemReason.QUERY_TIMEOUT),
        ("slow", ProblemReason.QUERY_TIMEOUT),
    ]
    assert "faces.embedding_json" in got


def test_writes_are_refused_even_through_a_view(mysql_uri: str) -> None:
    conn = mysql_connect(mysql_uri)
    cur = conn.cursor()
    cur.execute("CREATE TABLE audit_log (at datetime)")
    cur.execute(
        "CREATE FUNCTION log_read() RETURNS text MODIFIES SQL DATA "
        "BEGIN INSERT INTO audit_log VALUES (NOW()); RETURN REPEAT('z', 300); END"
    )
    cur.execute("CREATE VIEW logged AS SELECT log_read() AS payload")
    _got, problems = run(mysql_uri, VIEWS)  # views are read only when asked
    (problem,) = problems
    assert problem.reason is ProblemReason.DATABASE_UNREADABLE and "READ ONLY" in problem.detail
    cur.execute("SELECT COUNT(*) FROM audit_log")
    assert cur.fetchone() == (0,)
    conn.close()


@pytest.fixture
def big_packets(mysql_uri: str):  # type: ignore[no-untyped-def]
    """max_allowed_packet raised for the insert only (the server default is 16 MiB)."""
    conn = mysql_connect(mysql_uri)
    cur = conn.cursor()
    cur.execute("SELECT @@GLOBAL.max_allowed_packet")
    (old,) = cur.fetchone()
    cur.execute("SET GLOBAL max_allowed_packet = 268435456")
    try:
        yield
    finally:
        cur.execute("SET GLOBAL max_allowed_packet = %s", (old,))
        conn.close()


def test_a_200_mb_longblob_is_counted_never_fetched(mysql_uri: str, big_packets: None) -> None:
    conn = mysql_connect(mysql_uri)  # a new session sees the raised packet size
    cur = conn.cursor()
    cur.execute("CREATE TABLE dump (id int PRIMARY KEY, payload longblob) ENGINE=MyISAM")
    cur.execute("INSERT INTO dump VALUES (1, REPEAT('a', 209715200))")
    cur.execute("INSERT INTO dump VALUES (2, REPEAT('b', 600))")
    conn.close()
    started = time.monotonic()
    with peak_rss() as memory:
        got, problems = run(mysql_uri, SampleLimits(statement_timeout_s=30))
    elapsed = time.monotonic() - started
    col = got["dump.payload"]
    assert col.oversized == 1 and col.values == (b"b" * 600,)
    assert [p.reason for p in problems] == [ProblemReason.VALUE_TOO_LARGE]
    assert memory[1] - memory[0] < 40 * 1024 * 1024, memory
    assert elapsed < 15, elapsed


def test_password_never_appears_and_unreachable_server_is_reported() -> None:
    secret = "s3cret-" + unique("pw")
    uri = f"mysql://root:{secret}@127.0.0.1:1/nowhere"
    with pytest.raises(DatabaseError) as caught:
        list(MysqlSource(uri, FAST).columns())
    assert secret not in str(caught.value)
    result = run_scan(ScanConfig(targets=(uri,), workers=0))
    (problem,) = result.problems
    assert problem.reason is ProblemReason.DATABASE_UNREADABLE and result.exit_code == 3
    assert secret not in render(result)


def test_wrong_password_is_reported_without_it(mysql_uri: str) -> None:
    secret = "s3cret-" + unique("pw")
    user = unique("fa_user")
    conn = mysql_connect(mysql_uri)
    conn.cursor().execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-one'")
    try:
        uri = mysql_uri.replace("root@", f"{user}:{secret}@")
        result = run_scan(ScanConfig(targets=(uri,), workers=0))
        (problem,) = result.problems
        assert problem.reason is ProblemReason.DATABASE_UNREADABLE
        assert secret not in render(result) and "denied" in problem.detail
    finally:
        conn.cursor().execute(f"DROP USER '{user}'@'%'")
        conn.close()
