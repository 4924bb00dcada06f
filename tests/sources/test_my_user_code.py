"""MariaDB: a scan reads base tables only, so a view's stored functions never run — even
ones that change server-wide settings as root inside a read-only transaction — and an
account that could do more than read is reported. Against the real server (MariaDB 10.11)."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest
from db_helpers import MY_HOST, MY_PORT, face_jpeg, mysql_connect, unique

from scanner.config import SampleLimits
from scanner.model import Problem, ProblemReason
from scanner.sources.database import ColumnSample
from scanner.sources.mysql import MysqlSource

FAST = SampleLimits(statement_timeout_s=2.0)
VIEWS = SampleLimits(statement_timeout_s=2.0, read_views=True)
GLOBALS = "SELECT @@GLOBAL.event_scheduler, @@GLOBAL.max_connect_errors, @@GLOBAL.read_only"


def scan(uri: str, limits: SampleLimits = FAST) -> tuple[dict[str, ColumnSample], list[Problem]]:
    got: dict[str, ColumnSample] = {}
    problems: list[Problem] = []
    for entry in MysqlSource(uri, limits).columns():
        if isinstance(entry, Problem):
            problems.append(entry)
        else:
            got[f"{entry.table}.{entry.column}"] = entry
    return got, problems


def server_globals() -> tuple[object, ...]:
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute(GLOBALS)
            return tuple(cur.fetchone() or ())
    finally:
        conn.close()


@pytest.fixture
def restored_globals() -> Iterator[tuple[object, ...]]:
    """The server's settings before the test, put back whatever the test did."""
    before = server_globals()
    try:
        yield before
    finally:
        conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="")
        with conn.cursor() as cur:
            cur.execute("SET GLOBAL event_scheduler = %s", (str(before[0]),))
            cur.execute("SET GLOBAL max_connect_errors = %s", (before[1],))
        conn.close()


def planted(uri: str) -> None:
    conn = mysql_connect(uri)
    cur = conn.cursor()
    cur.execute("CREATE TABLE faces (id int PRIMARY KEY, photo longblob)")
    cur.execute("INSERT INTO faces VALUES (1, %s), (2, %s)", (face_jpeg(), face_jpeg()))
    cur.execute(
        "CREATE DEFINER = root@localhost FUNCTION plant(x longblob) RETURNS longblob "
        "SQL SECURITY DEFINER BEGIN SET GLOBAL event_scheduler = ON; "
        "SET GLOBAL max_connect_errors = 4242; RETURN x; END"
    )
    cur.execute(
        "CREATE DEFINER = root@localhost SQL SECURITY DEFINER VIEW planted AS "
        "SELECT id, plant(photo) AS photo FROM faces"
    )
    conn.close()


def test_a_definer_view_that_sets_globals_is_not_read(
    mysql_uri: str, restored_globals: tuple[object, ...]
) -> None:
    planted(mysql_uri)
    got, problems = scan(mysql_uri)  # as root
    assert server_globals() == restored_globals  # event scheduler, max_connect_errors
    by_reason = {p.reason: p for p in problems}
    assert set(by_reason) == {ProblemReason.VIEW_NOT_READ, ProblemReason.DATABASE_ROLE_WRITABLE}
    view = by_reason[ProblemReason.VIEW_NOT_READ]
    assert view.location.path.endswith("#planted") and not view.reason.incomplete
    assert len(got["faces.photo"].values) == 2  # the base table is scanned
    assert "planted.photo" not in got


def test_read_views_reads_them_and_says_what_that_runs(mysql_uri: str) -> None:
    conn = mysql_connect(mysql_uri)
    conn.cursor().execute("CREATE TABLE t (id int PRIMARY KEY, body longtext)")
    conn.cursor().execute("INSERT INTO t VALUES (1, REPEAT('x', 300))")
    conn.cursor().execute("CREATE VIEW v AS SELECT id, body FROM t")
    conn.close()
    got, problems = scan(mysql_uri, VIEWS)
    assert "v.body" in got and "t.body" in got
    (warning,) = [p for p in problems if p.reason is ProblemReason.VIEWS_READ]
    assert "SET GLOBAL" in warning.detail and not warning.reason.incomplete


def test_the_account_warning_is_absent_for_a_select_only_account(mysql_uri: str) -> None:
    planted(mysql_uri)
    db = mysql_uri.rsplit("/", 1)[1]
    user = unique("fa_ro")
    conn = mysql_connect(mysql_uri)
    cur = conn.cursor()
    cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'ro-pass-1'")
    try:
        cur.execute(f"GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{user}'@'%'")
        uri = f"mysql://{user}:ro-pass-1@{MY_HOST}:{MY_PORT}/{db}"
        got, problems = scan(uri)
        assert [p.reason for p in problems] == [ProblemReason.VIEW_NOT_READ]
        assert len(got["faces.photo"].values) == 2
        cur.execute(f"GRANT INSERT, DELETE ON `{db}`.`faces` TO '{user}'@'%'")
        cur.execute(f"GRANT EXECUTE ON `{db}`.* TO '{user}'@'%'")
        _got, problems = scan(uri)
        (warning,) = [p for p in problems if p.reason is ProblemReason.DATABASE_ROLE_WRITABLE]
        assert "INSERT" in warning.detail and "DELETE" in warning.detail
        assert "EXECUTE" in warning.detail and "SELECT-only" in warning.detail
    finally:
        cur.execute(f"DROP USER '{user}'@'%'")
        conn.close()
    _got, problems = scan(mysql_uri)  # root
    (root,) = [p for p in problems if p.reason is ProblemReason.DATABASE_ROLE_WRITABLE]
    assert "ALL PRIVILEGES" in root.detail and "ro-pass" not in root.detail
