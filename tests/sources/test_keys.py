"""Whose face data a column holds (scanner.sources.keys): read as safely as the column.

The keys of a store keyed by a column (a policy's `subject.column`) used to be read with
`SELECT DISTINCT key FROM table WHERE column IS NOT NULL`, in the main process: PostgreSQL
then ran the key type's equality operator and the planner's folded expressions (user code),
and a SQLite file was opened outside the workers. Real servers and files; the PostgreSQL
payload is test_pg_user_code's `public.trace`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from sources.test_pg_user_code import canary, execute, naive_read, planted  # noqa: F401
from sources.test_sqlite_recovery import crashed_db, name_super_journal

from scanner.config import SampleLimits
from scanner.sources import keys
from scanner.sources.keys import KeyRead, KeysUnreadable
from scanner.sources.postgres import PostgresSource

FAST = SampleLimits(statement_timeout_s=5.0)


def test_keys_are_compared_on_the_client_and_planner_code_never_runs(
    planted: str,  # noqa: F811
) -> None:
    """A key type whose `=` is the owner's plpgsql, on a table with an index expression the
    planner folds: DISTINCT would run both; the keys are read by COPY and compared here."""
    execute(
        planted,
        "CREATE TYPE public.badge AS (n int)",
        "CREATE FUNCTION public.badge_eq(a public.badge, b public.badge) RETURNS boolean "
        "LANGUAGE plpgsql IMMUTABLE AS $f$ BEGIN PERFORM public.trace('equality'); "
        "RETURN a.n = b.n; END $f$",
        "CREATE OPERATOR public.= (LEFTARG = public.badge, RIGHTARG = public.badge, "
        "FUNCTION = public.badge_eq)",
        "CREATE TABLE public.staff (badge public.badge, photo bytea)",
        "INSERT INTO public.staff SELECT ROW(g % 3)::public.badge, "
        "CASE WHEN g % 4 = 0 THEN NULL ELSE '\\x00'::bytea END FROM generate_series(1, 12) g",
        "CREATE INDEX ON public.staff (((badge).n + public.trace('index')))",
    )
    naive_read(planted, "SELECT DISTINCT badge FROM public.staff WHERE photo IS NOT NULL")
    assert set(canary(planted, clear=True)) >= {"index"}  # the payload is live
    read = KeyRead(planted, "public.staff", "photo", "badge")
    found = PostgresSource(planted, FAST).keys(read)
    assert keys.subjects_of(found) == ("(0)", "(1)", "(2)")
    assert canary(planted) == []


def test_keys_without_planner_code_are_read_by_select(planted: str) -> None:  # noqa: F811
    execute(
        planted,
        "CREATE TABLE public.customers (customer_id text, face bytea)",
        "INSERT INTO public.customers VALUES ('C1', '\\x01'), ('C2', NULL), ('C1', '\\x02')",
        "CREATE VIEW public.recent AS SELECT * FROM public.customers",
    )
    source = PostgresSource(planted, FAST)
    found = source.keys(KeyRead(planted, "public.customers", "face", "customer_id"))
    assert keys.subjects_of(found) == ("C1",)
    with pytest.raises(KeysUnreadable, match="not a stored relation"):
        PostgresSource(planted, FAST).keys(KeyRead(planted, "public.recent", "face", "customer_id"))
    with pytest.raises(KeysUnreadable, match="no stored column"):
        PostgresSource(planted, FAST).keys(KeyRead(planted, "public.customers", "face", "nobody"))
    assert canary(planted) == []


def test_sqlite_keys_use_the_safe_opening(tmp_path: Path) -> None:
    """A crash image whose journal names a file elsewhere: the keys are read from a private
    copy, rolled back without the super-journal, which survives."""
    db = tmp_path / "kiosk.db"
    crashed_db(db)
    canary_file = tmp_path / "precious.txt"
    canary_file.write_text("keep")
    name_super_journal(Path(f"{db}-journal"), str(canary_file).encode())
    read = KeyRead(f"sqlite://{db}", "faces", "embedding", "id")
    with tempfile.TemporaryDirectory() as private:
        found = keys.read_sqlite(read, private, 1 << 30)
    assert canary_file.exists() and len(keys.subjects_of(found)) == 40
    with (
        tempfile.TemporaryDirectory() as private,
        pytest.raises(KeysUnreadable, match="not a table"),
    ):
        keys.read_sqlite(KeyRead(f"sqlite://{db}", "nope", "x", "y"), private, 1 << 30)
