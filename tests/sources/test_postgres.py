"""PostgreSQL source against the real server: sampling, read-only sessions, hostile schemas."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from app_fixtures import compreface
from db_helpers import dlib_descriptors, peak_rss, unique

from scanner.config import SampleLimits, ScanConfig
from scanner.engine import run_scan
from scanner.model import Problem, ProblemReason
from scanner.reporters.json_report import render
from scanner.sources.database import ColumnSample, DatabaseError
from scanner.sources.postgres import PostgresSource

FAST = SampleLimits(statement_timeout_s=2.0)
VIEWS = SampleLimits(statement_timeout_s=2.0, read_views=True)
WARNINGS = (ProblemReason.DATABASE_ROLE_WRITABLE, ProblemReason.VIEWS_READ)


def run(uri: str, limits: SampleLimits = FAST) -> tuple[dict[str, ColumnSample], list[Problem]]:
    """Samples by `table.column`, and problems other than the database-wide warnings: the
    tests connect as the superuser, so the writable-role warning is always there (and the
    views-read warning with --read-views)."""
    got: dict[str, ColumnSample] = {}
    problems: list[Problem] = []
    for entry in PostgresSource(uri, limits).columns():
        if isinstance(entry, Problem):
            problems.append(entry)
        else:
            got[f"{entry.table}.{entry.column}"] = entry
    warnings = [p.reason for p in problems if p.reason in WARNINGS]
    assert warnings == [WARNINGS[0], *WARNINGS[1:] * limits.read_views], problems
    return got, [p for p in problems if p.reason not in WARNINGS]


def test_columns_are_sampled_with_app_counts_and_timestamps(pg_uri: str) -> None:
    compreface(pg_uri, images=False)
    got, problems = run(pg_uri)
    assert problems == []
    col = got["public.embedding.embedding"]
    host_db = pg_uri.split("//", 1)[1]
    assert col.location.path == f"postgresql://{host_db}#public.embedding.embedding"
    assert col.declared_type == "double precision[]" and col.rows == 20 and col.non_null == 20
    assert len(col.values) == 20 and all(len(v) == 128 for v in col.values)  # type: ignore[arg-type]
    assert col.app == "CompreFace" and col.app_face_column and col.linked_store
    ((name, oldest, newest),) = col.timestamps
    assert name == "created_at" and oldest.startswith("2025-01") and newest.startswith("2025-09")
    assert "calculator" in col.context
    # uuid/varchar(36) skipped by type; the short calculator names by their values
    assert dict(col.notes)["columns_skipped_by_type"] == 4


def test_planted_functions_in_public_are_never_executed(pg_uri: str) -> None:
    compreface(pg_uri)
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        for signature in ("lower(varchar)", "octet_length(varchar)", "upper(varchar)"):
            conn.execute(
                f"CREATE FUNCTION public.{signature} RETURNS int LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'trojan executed'; END $$"
            )
        conn.execute("CREATE TABLE public.notes (id int, body varchar(500))")
        conn.execute("INSERT INTO public.notes VALUES (1, repeat('n', 300))")
        # The trojans are live: a session with the default search_path runs them.
        with pytest.raises(psycopg.errors.RaiseException, match="trojan"):
            conn.execute("SELECT octet_length(body) FROM public.notes")
    got, problems = run(pg_uri)
    assert problems == []
    assert got["public.notes.body"].values == ("n" * 300,)  # measured with pg_catalog's
    assert "public.embedding.embedding" in got


def test_writes_are_refused_even_through_a_view(pg_uri: str) -> None:
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.audit_log (at timestamptz)")
        conn.execute(
            "CREATE FUNCTION public.log_read() RETURNS text LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO public.audit_log VALUES (now()); RETURN repeat('z', 200); END $$"
        )
        conn.execute("CREATE VIEW public.logged AS SELECT public.log_read() AS payload")
    _got, problems = run(pg_uri, VIEWS)  # views are read only when asked
    (problem,) = problems
    assert problem.reason is ProblemReason.DATABASE_UNREADABLE
    assert "read-only transaction" in problem.detail
    with psycopg.connect(pg_uri) as conn:
        assert conn.execute("SELECT count(*) FROM public.audit_log").fetchone() == (0,)


@pytest.mark.parametrize(
    "body",
    [
        "SELECT pg_sleep(1000)::text AS t, repeat('x', 300) AS payload",
        "SELECT g::text AS t, repeat('x', 300) AS payload "
        "FROM generate_series(1, 1000000000000) g WHERE g < 0",
    ],
)
def test_endless_view_times_out_and_the_scan_goes_on(pg_uri: str, body: str) -> None:
    compreface(pg_uri, rows=3)
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute(f"CREATE VIEW public.endless AS {body}")
    started = time.monotonic()
    got, problems = run(pg_uri, VIEWS)
    assert time.monotonic() - started < 4 * FAST.statement_timeout_s
    (problem,) = problems
    assert problem.reason is ProblemReason.QUERY_TIMEOUT
    assert problem.location.path.endswith("#public.endless")
    assert "public.embedding.embedding" in got


def test_a_200_mb_bytea_is_counted_never_fetched(pg_uri: str) -> None:
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.dump (id int, payload bytea)")
        conn.execute("ALTER TABLE public.dump ALTER COLUMN payload SET STORAGE EXTERNAL")
        conn.execute(
            "INSERT INTO public.dump VALUES (1, convert_to(repeat('a', 209715200), 'UTF8'))"
        )
        conn.execute("INSERT INTO public.dump VALUES (2, decode(repeat('ab', 300), 'hex'))")
    started = time.monotonic()
    with peak_rss() as memory:
        got, problems = run(pg_uri, SampleLimits(statement_timeout_s=30))
    elapsed = time.monotonic() - started
    col = got["public.dump.payload"]
    assert col.oversized == 1 and col.values == (bytes.fromhex("ab" * 300),)
    assert [p.reason for p in problems] == [ProblemReason.VALUE_TOO_LARGE]
    assert memory[1] - memory[0] < 40 * 1024 * 1024, memory
    assert elapsed < 10, elapsed


def test_big_tables_use_a_seeded_tablesample(pg_uri: str) -> None:
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.events (id int, body text)")
        conn.execute(
            "INSERT INTO public.events SELECT g, g::text || repeat('x', 200) "
            "FROM generate_series(1, 150000) g"
        )
        conn.execute("ANALYZE public.events")
    limits = SampleLimits(rows=40, statement_timeout_s=10)
    first = run(pg_uri, limits)[0]["public.events.body"]
    again = run(pg_uri, limits)[0]["public.events.body"]
    assert first.values == again.values and len(first.values) == 40
    ids = sorted(int(str(v).split("x", 1)[0]) for v in first.values)
    assert ids[0] < 40000 and ids[-1] > 110000  # spread over the table, not its first pages
    assert first.rows_estimated and abs((first.rows or 0) - 150000) < 15000
    assert first.non_null_estimated and first.non_null is not None
    assert any("TABLESAMPLE" in str(v) for _, v in first.notes)
    other = run(pg_uri, SampleLimits(rows=40, statement_timeout_s=10, seed=1))[0]
    assert other["public.events.body"].values != first.values


def test_views_json_and_text_are_sampled(pg_uri: str) -> None:
    compreface(pg_uri, rows=10)
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.meta (id int, doc jsonb, raw json, note text)")
        doc = json.dumps({"embedding": dlib_descriptors()[0].tolist()})
        conn.execute("INSERT INTO public.meta VALUES (1, %s, %s, %s)", (doc, doc, "t" * 200))
        conn.execute("CREATE VIEW public.face_view AS SELECT id, embedding FROM public.embedding")
    got, problems = run(pg_uri, VIEWS)
    assert problems == []
    assert isinstance(got["public.meta.doc"].values[0], str)
    assert json.loads(str(got["public.meta.raw"].values[0])) == json.loads(doc)
    view = got["public.face_view.embedding"]
    assert (
        view.rows == 10 and len(view.values) == 10 and dict(view.notes)["relation_kind"] == "view"
    )


def test_password_never_appears_and_unreachable_server_is_reported() -> None:
    secret = "s3cret-" + unique("pw")
    uri = f"postgresql://root:{secret}@127.0.0.1:1/nowhere?connect_timeout=2"
    with pytest.raises(DatabaseError) as caught:
        list(PostgresSource(uri, FAST).columns())
    assert secret not in str(caught.value)
    result = run_scan(ScanConfig(targets=(uri,), workers=0))
    (problem,) = result.problems
    assert problem.reason is ProblemReason.DATABASE_UNREADABLE and result.exit_code == 3
    assert secret not in render(result) and secret not in problem.detail


def test_password_in_a_working_uri_is_not_reported(pg_uri: str) -> None:
    compreface(pg_uri, rows=12)
    secret = "s3cret-" + unique("pw")
    uri = pg_uri.replace("postgresql://", f"postgresql://root:{secret}@")
    result = run_scan(ScanConfig(targets=(uri,), workers=0))
    assert result.items and secret not in render(result)
    assert all(secret not in p.detail for p in result.problems)


def test_scan_leaves_the_data_unchanged(pg_uri: str) -> None:
    compreface(pg_uri, rows=8)
    digest = "SELECT md5(string_agg(embedding::text, ',' ORDER BY id)) FROM public.embedding"
    with psycopg.connect(pg_uri) as conn:
        before = conn.execute(digest).fetchone()
    run(pg_uri)
    with psycopg.connect(pg_uri) as conn:
        assert conn.execute(digest).fetchone() == before
