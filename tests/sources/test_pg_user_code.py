"""PostgreSQL: a scan runs no code the database holds — casts, views, row-level security,
index/statistics/partition-key expressions folded by the planner, operators, event triggers —
and reports a role that could write. Against the real server (PostgreSQL 15), as superuser
unless a test creates a role.

The payload is `public.trace(tag)`, an IMMUTABLE SECURITY DEFINER plpgsql function that
inserts `tag` into `public.canary` through dblink: a separate connection, so the row stays
even though the scan's own transaction is read-only and rolled back. Each test first shows
its payload is live (a naive read runs it), then that the scan does not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import pytest
from db_helpers import face_jpeg, unique

from scanner.config import SampleLimits
from scanner.model import Problem, ProblemReason
from scanner.sources.database import ColumnSample
from scanner.sources.postgres import PostgresSource

FAST = SampleLimits(statement_timeout_s=2.0)
VIEWS = SampleLimits(statement_timeout_s=2.0, read_views=True)
WARNINGS = (ProblemReason.DATABASE_ROLE_WRITABLE, ProblemReason.VIEWS_READ)


def run(uri: str, limits: SampleLimits = FAST) -> tuple[dict[str, ColumnSample], list[Problem]]:
    """Samples by `table.column`, and the problems but the superuser's warnings (checked)."""
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


def _trace_sql(uri: str) -> str:
    db = uri.rsplit("/", 1)[1]
    target = f"dbname={db} host=127.0.0.1 port=5432 user=postgres"
    return (
        "CREATE FUNCTION public.trace(tag text) RETURNS int LANGUAGE plpgsql IMMUTABLE "
        "SECURITY DEFINER SET search_path = public AS $f$ BEGIN "
        f"PERFORM public.dblink_exec('{target}', "
        "format('INSERT INTO public.canary VALUES (%L)', tag)); RETURN 1; END $f$"
    )


@pytest.fixture
def planted(pg_uri: str) -> str:
    """A database with dblink, an empty `public.canary` and the `public.trace` payload."""
    with psycopg.connect(pg_uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION dblink")
        conn.execute("CREATE TABLE public.canary (what text)")
        conn.execute(_trace_sql(pg_uri))  # type: ignore[arg-type]
    return pg_uri


def execute(uri: str, *statements: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def canary(uri: str, *, clear: bool = False) -> list[str]:
    """The payload's traces (and, with clear, empties the canary for the real test)."""
    with psycopg.connect(uri, autocommit=True) as conn:
        rows = [r[0] for r in conn.execute("SELECT what FROM public.canary ORDER BY 1")]
        if clear:
            conn.execute("TRUNCATE public.canary")
    return rows


def naive_read(uri: str, statement: str) -> None:
    """What a careful-looking reader does: read-only transaction, empty search_path."""
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("SET search_path = ''")
        with contextlib.suppress(psycopg.Error), conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(statement)  # type: ignore[arg-type]


def face_table(uri: str, name: str, *extra: str) -> None:
    execute(uri, f"CREATE TABLE public.{name} (id int, photo bytea, seen timestamptz)", *extra)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO public.{name} VALUES (1, %s, '2025-01-02'), (2, %s, '2025-03-04')",  # type: ignore[arg-type]
            (face_jpeg(), face_jpeg()),
        )


# -- casts -------------------------------------------------------------------------------


def test_a_cast_from_a_fake_vector_type_is_never_run(planted: str) -> None:
    """`public.vector` is not pgvector's: a composite whose casts to text (one implicit)
    are the database owner's plpgsql. Old code cast it (`octet_length(col::text)`, then
    `min(created_at)` through the implicit cast, `left(country::text)`)."""
    execute(
        planted,
        "CREATE TYPE public.vector AS (x float8[])",
        "CREATE FUNCTION public.vec_text(v public.vector) RETURNS text LANGUAGE plpgsql "
        "IMMUTABLE AS $f$ BEGIN PERFORM public.trace('cast'); RETURN 'v'; END $f$",
        "CREATE CAST (public.vector AS text) WITH FUNCTION public.vec_text(public.vector) "
        "AS IMPLICIT",
        "CREATE TABLE public.faces (id int, embedding public.vector, "
        "created_at public.vector, country public.vector, photo bytea)",
        "INSERT INTO public.faces SELECT g, ROW(ARRAY[g, 2, 3])::public.vector, "
        "ROW(ARRAY[1])::public.vector, ROW(ARRAY[2])::public.vector, "
        "decode(repeat('ab', 100), 'hex') FROM generate_series(1, 5) g",
    )
    naive_read(planted, "SELECT octet_length(embedding::text) FROM public.faces")
    assert canary(planted, clear=True) != []  # the payload is live
    got, problems = run(planted)
    assert canary(planted) == []
    assert problems == []
    assert "public.faces.embedding" not in got  # never taken for pgvector's type
    photo = got["public.faces.photo"]
    assert len(photo.values) == 5
    assert photo.timestamps == (("created_at", None, None),)
    assert "not built in" in str(dict(photo.notes)["timestamps.created_at"])


# -- views -------------------------------------------------------------------------------


def test_a_view_with_a_security_definer_writer_is_not_read(planted: str) -> None:
    face_table(planted, "people")
    execute(
        planted,
        "CREATE FUNCTION public.logged(x bytea) RETURNS bytea LANGUAGE plpgsql "
        "SECURITY DEFINER AS $f$ BEGIN PERFORM public.trace('view'); RETURN x; END $f$",
        "CREATE VIEW public.people_v AS SELECT id, public.logged(photo) AS photo "
        "FROM public.people",
    )
    naive_read(planted, "SELECT photo FROM public.people_v")
    assert canary(planted, clear=True) != []  # despite the read-only transaction
    got, problems = run(planted)
    assert canary(planted) == []
    (problem,) = problems
    assert problem.reason is ProblemReason.VIEW_NOT_READ and not problem.reason.incomplete
    assert problem.location.path.endswith("#public.people_v")
    assert "--read-views" in problem.detail
    assert len(got["public.people.photo"].values) == 2  # the base table is scanned
    # Asked for, views are read: the database says so, and the view's code did run.
    got, problems = run(planted, VIEWS)  # run() checks the views_read warning
    assert "public.people_v.photo" in got and canary(planted) != []


# -- row-level security ------------------------------------------------------------------


@contextlib.contextmanager
def reader(uri: str, *grants: str) -> Iterator[str]:
    """A login role with SELECT on public's tables (and `grants`); yields its URI."""
    role = unique("fa_reader")
    execute(
        uri,
        f"CREATE ROLE {role} LOGIN",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
        *(g.format(role=role) for g in grants),
    )
    try:
        yield uri.replace("postgresql://", f"postgresql://{role}@")
    finally:
        execute(uri, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def test_a_row_security_policy_function_is_never_run(planted: str) -> None:
    face_table(planted, "guarded", "ALTER TABLE public.guarded ENABLE ROW LEVEL SECURITY")
    face_table(planted, "open_faces")
    execute(
        planted,
        "CREATE FUNCTION public.allowed(i int) RETURNS bool LANGUAGE plpgsql "
        "SECURITY DEFINER AS $f$ BEGIN PERFORM public.trace('policy'); RETURN true; END $f$",
        "CREATE POLICY p ON public.guarded USING (public.allowed(id))",
    )
    with reader(planted) as uri:
        naive_read(uri, "SELECT photo FROM public.guarded")
        assert canary(planted, clear=True) != []
        got, problems = [], []
        for entry in PostgresSource(uri, FAST).columns():
            (problems if isinstance(entry, Problem) else got).append(entry)  # type: ignore[arg-type]
    assert canary(planted) == []
    (problem,) = problems  # a SELECT-only role: no role warning
    assert problem.reason is ProblemReason.DATABASE_UNREADABLE
    assert problem.location.path.endswith("#public.guarded")
    assert "row-level security" in problem.detail
    assert [f"{s.table}.{s.column}" for s in got] == ["public.open_faces.photo"]  # type: ignore[attr-defined]


# -- the planner -------------------------------------------------------------------------

PLANNER_PLANTS = {
    "by_index": "CREATE INDEX ON public.by_index ((id + public.trace('index')))",
    "by_predicate": "CREATE INDEX ON public.by_predicate (id) WHERE public.trace('predicate') = 1",
    "by_statistics": "CREATE STATISTICS public.s ON (id + public.trace('statistics')), id "
    "FROM public.by_statistics",
}


def test_planner_folded_expressions_never_run_and_the_table_is_still_sampled(
    planted: str,
) -> None:
    for name, plant in PLANNER_PLANTS.items():
        face_table(planted, name, plant)
    execute(
        planted,
        "CREATE TABLE public.by_key (id int, photo bytea, seen timestamptz) "
        "PARTITION BY RANGE ((id + public.trace('partition key')))",
        "CREATE TABLE public.by_key_1 PARTITION OF public.by_key FOR VALUES FROM (0) TO (100)",
        "CREATE TABLE public.by_key_2 PARTITION OF public.by_key FOR VALUES FROM (100) TO (200)",
        "INSERT INTO public.by_key SELECT g, decode(repeat('cd', 100), 'hex'), "
        "'2025-05-06' FROM generate_series(1, 150) g",
    )
    face_table(planted, "with_lower", "CREATE INDEX ON public.with_lower (lower(id::text))")
    for name in (*PLANNER_PLANTS, "by_key"):
        naive_read(planted, f"SELECT photo FROM public.{name}")
    assert sorted(set(canary(planted, clear=True))) == [
        "index", "partition key", "predicate", "statistics"
    ]  # fmt: skip
    got, problems = run(planted)
    assert canary(planted) == []
    assert problems == []
    for name in PLANNER_PLANTS:
        col = got[f"public.{name}.photo"]
        assert col.values == (face_jpeg(), face_jpeg()) and col.rows == 2
        assert "COPY" in str(dict(col.notes)["sampling"])
        assert "non-built-in code" in str(dict(col.notes)["read_by_copy"])
        assert col.timestamps == (("seen", "2025-01-02 00:00:00+00", "2025-03-04 00:00:00+00"),)
    key = got["public.by_key.photo"]
    assert key.rows == 150 and len(key.values) == 150 and "partition key" in str(key.notes)
    # An index on built-in code leaves the table to the planner (TABLESAMPLE path).
    assert "ctid" in str(dict(got["public.with_lower.photo"].notes)["sampling"])


def test_a_copy_sample_stops_early_and_is_bounded(planted: str) -> None:
    face_table(planted, "big", PLANNER_PLANTS["by_index"].replace("by_index", "big"))
    execute(
        planted,
        "INSERT INTO public.big SELECT g, decode(repeat('ef', 200), 'hex'), now() "
        "FROM generate_series(3, 300000) g",
        "INSERT INTO public.big VALUES (0, convert_to(repeat('z', 2000000), 'UTF8'), now())",
        "ANALYZE public.big",
    )
    canary(planted, clear=True)
    limits = SampleLimits(rows=20, statement_timeout_s=10, value_bytes=1_000_000)
    got, problems = run(planted, limits)
    assert canary(planted) == [] and problems == []
    col = got["public.big.photo"]
    assert col.sampled_rows == 20 and col.rows_estimated and (col.rows or 0) > 250000
    assert "first" in str(dict(col.notes)["sampling"])


def test_a_risky_materialized_view_is_reported_not_read(planted: str) -> None:
    face_table(planted, "src")
    execute(
        planted,
        "CREATE MATERIALIZED VIEW public.mv AS SELECT * FROM public.src",
        "CREATE INDEX ON public.mv ((id + public.trace('matview index')))",
        "CREATE MATERIALIZED VIEW public.safe_mv AS SELECT * FROM public.src",
    )
    canary(planted, clear=True)
    got, problems = run(planted)
    assert canary(planted) == []
    (problem,) = problems
    assert problem.reason is ProblemReason.DATABASE_UNREADABLE
    assert problem.location.path.endswith("#public.mv") and "matview_idx" not in problem.detail
    assert "materialized view not read" in problem.detail
    assert len(got["public.safe_mv.photo"].values) == 2  # read as stored, never refreshed


# -- inheritance, operators, event triggers -----------------------------------------------


def test_inheritance_children_are_read_once_as_themselves(planted: str) -> None:
    face_table(planted, "parent")
    execute(
        planted,
        "CREATE TABLE public.child () INHERITS (public.parent)",
        "INSERT INTO public.child SELECT g, decode(repeat('ab', 100), 'hex'), now() "
        "FROM generate_series(10, 14) g",
    )
    got, _problems = run(planted)
    assert got["public.parent.photo"].rows == 2  # ONLY the parent's own rows
    assert got["public.child.photo"].rows == 5


def test_planted_operators_and_an_event_trigger_never_run(planted: str) -> None:
    face_table(planted, "people")
    execute(
        planted,
        "CREATE FUNCTION public.op(a int, b int) RETURNS bool LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.trace('operator'); RETURN a <= b; END $f$",
        "CREATE OPERATOR public.<= (LEFTARG = int, RIGHTARG = int, FUNCTION = public.op)",
        "CREATE FUNCTION public.bop(a bytea, b bytea) RETURNS bool LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.trace('bytea operator'); RETURN true; END $f$",
        "CREATE OPERATOR public.= (LEFTARG = bytea, RIGHTARG = bytea, FUNCTION = public.bop)",
        "CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS "
        "$f$ BEGIN PERFORM public.trace('ddl'); END $f$",
        "CREATE EVENT TRIGGER planted ON ddl_command_start EXECUTE FUNCTION public.on_ddl()",
    )
    execute(planted, "SET search_path = public", "CREATE TEMP TABLE t (x int)")
    assert canary(planted, clear=True) == ["ddl"]  # the event trigger is live
    run(planted)
    run(planted, VIEWS)
    assert canary(planted) == []
    execute(planted, "DROP EVENT TRIGGER planted")


# -- the role ----------------------------------------------------------------------------


def test_the_role_warning_names_what_a_role_can_do(pg_uri: str) -> None:
    face_table(pg_uri, "faces")
    face_table(pg_uri, "logs")
    warnings = [
        p for p in PostgresSource(pg_uri, FAST).columns()
        if isinstance(p, Problem) and p.reason is ProblemReason.DATABASE_ROLE_WRITABLE
    ]  # fmt: skip
    (superuser,) = warnings
    assert "superuser" in superuser.detail and "SELECT-only role" in superuser.detail
    assert not superuser.reason.incomplete
    execute(pg_uri, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    with reader(pg_uri) as uri:
        entries = list(PostgresSource(uri, FAST).columns())
        assert [p for p in entries if isinstance(p, Problem)] == []
    with reader(pg_uri, "GRANT INSERT ON public.logs TO {role}") as uri:
        problems = [p for p in PostgresSource(uri, FAST).columns() if isinstance(p, Problem)]
        (problem,) = problems
        assert problem.reason is ProblemReason.DATABASE_ROLE_WRITABLE
        assert "public.logs" in problem.detail and "public.faces" not in problem.detail
