"""Hostile databases that hold code a read could run (corpus cases, see corpus_db.py).

Each PostgreSQL payload creates the case's canary file (`COPY … TO` writes it as the server's
user) — but only inside the scan's own session (`application_name` is `faceaudit`), so that
building the case (CREATE INDEX evaluates an index expression) leaves no canary. MariaDB
payloads change server-wide settings, which are part of the state compared after the scan.
"""

from __future__ import annotations

from typing import Any

import db_helpers
from helpers import astronaut
from hostile.corpus import Case, Env, Expect, case, jpeg
from hostile.corpus_db import DB, FOUND, my_database, pg_database

E = Expect


def _writer(env: Env) -> str:
    """`public.drop_canary()`: writes the canary file (volatile, so it may run COPY even when
    an IMMUTABLE function calls it, and inside a read-only transaction)."""
    return (
        "CREATE FUNCTION public.drop_canary() RETURNS int LANGUAGE plpgsql SECURITY DEFINER "
        "AS $f$ BEGIN EXECUTE pg_catalog.format('COPY (SELECT 1) TO %L', "
        f"'{env.canary}'); RETURN 1; END $f$"
    )


def _payload(name: str, args: str = "tag text", returns: str = "int",
             result: str = "1", extra: str = "") -> str:  # fmt: skip
    """A plpgsql function that calls the writer when the scan's session runs it."""
    return (
        f"CREATE FUNCTION public.{name}({args}) RETURNS {returns} LANGUAGE plpgsql {extra} "
        "AS $f$ BEGIN IF pg_catalog.current_setting('application_name') = 'faceaudit' THEN "
        f"PERFORM public.drop_canary(); END IF; RETURN {result}; END $f$"
    )


def _faces(name: str, columns: str = "") -> tuple[str, tuple[str, tuple[object, ...]]]:
    return (
        f"CREATE TABLE public.{name} (id int, photo bytea{columns})",
        (f"INSERT INTO public.{name} (id, photo) VALUES (1, %s)", (jpeg(astronaut()),)),
    )


def pg_cast_from_fake_vector(env: Env) -> tuple[str, ...]:
    """`public.vector` is not pgvector's: its implicit cast to text is the owner's code."""
    uri = pg_database(
        env,
        "CREATE TYPE public.vector AS (x float8[])",
        _writer(env),
        _payload("vec_text", "v public.vector", "text", "'v'", "IMMUTABLE"),
        "CREATE CAST (public.vector AS text) WITH FUNCTION public.vec_text(public.vector) "
        "AS IMPLICIT",
        *_faces("faces", ", embedding public.vector, created_at public.vector"),
        "UPDATE public.faces SET embedding = ROW(ARRAY[1, 2])::public.vector, "
        "created_at = ROW(ARRAY[3])::public.vector",
    )
    return (uri,)


def pg_planner_folds_user_code(env: Env) -> tuple[str, ...]:
    """IMMUTABLE user code with constant arguments in an index expression, a partial-index
    predicate, extended statistics and a partition key: the planner runs it while planning
    any SELECT on the table."""
    uri = pg_database(
        env,
        _writer(env),
        _payload("trace", extra="IMMUTABLE"),
        *_faces("by_index"),
        "CREATE INDEX ON public.by_index ((id + public.trace('index')))",
        *_faces("by_predicate"),
        "CREATE INDEX ON public.by_predicate (id) WHERE public.trace('predicate') = 1",
        *_faces("by_statistics"),
        "CREATE STATISTICS public.s ON (id + public.trace('stats')), id FROM public.by_statistics",
        "CREATE TABLE public.by_key (id int, photo bytea) "
        "PARTITION BY RANGE ((id + public.trace('key')))",
        "CREATE TABLE public.by_key_1 PARTITION OF public.by_key FOR VALUES FROM (0) TO (10)",
        ("INSERT INTO public.by_key VALUES (1, %s)", (jpeg(astronaut()),)),
    )
    return (uri,)


def pg_security_definer_view(env: Env) -> tuple[str, ...]:
    uri = pg_database(
        env,
        _writer(env),
        _payload("logged", "x bytea", "bytea", "x", "SECURITY DEFINER"),
        *_faces("people"),
        "CREATE VIEW public.people_v AS SELECT id, public.logged(photo) AS photo "
        "FROM public.people",
    )
    return (uri,)


def pg_event_trigger(env: Env) -> tuple[str, ...]:
    """A scan runs no DDL: a `ddl_command_start` event trigger never fires."""
    uri = pg_database(
        env,
        *_faces("people"),
        _writer(env),
        _payload("on_ddl", "", "event_trigger", "").replace("RETURN ;", "RETURN;"),
        "CREATE EVENT TRIGGER planted ON ddl_command_start EXECUTE FUNCTION public.on_ddl()",
    )
    return (uri,)


GLOBALS = (
    "SELECT @@GLOBAL.event_scheduler, @@GLOBAL.max_connect_errors, @@GLOBAL.general_log, "
    "@@GLOBAL.max_statement_time"
)


def _globals(uri: str) -> list[tuple[Any, ...]]:
    conn = db_helpers.mysql_connect(uri)
    try:
        cur = conn.cursor()
        cur.execute(GLOBALS)
        return [tuple(cur.fetchone() or ())]
    finally:
        conn.close()


def my_view_sets_globals(env: Env) -> tuple[str, ...]:
    """A DEFINER view calling a stored function that changes server-wide settings: read as
    root, it would do so inside a read-only transaction."""
    uri = my_database(
        env,
        "CREATE TABLE faces (id int PRIMARY KEY, photo longblob)",
        "CREATE DEFINER = root@localhost FUNCTION plant(x longblob) RETURNS longblob "
        "SQL SECURITY DEFINER BEGIN SET GLOBAL event_scheduler = ON; "
        "SET GLOBAL max_connect_errors = 4242; RETURN x; END",
        "CREATE DEFINER = root@localhost SQL SECURITY DEFINER VIEW planted AS "
        "SELECT id, plant(photo) AS photo FROM faces",
    )
    conn = db_helpers.mysql_connect(uri)
    try:
        conn.cursor().execute("INSERT INTO faces VALUES (1, %s)", (jpeg(astronaut()),))
    finally:
        conn.close()
    before = _globals(uri)[0]

    def restore() -> None:  # whatever the scan did, the next tests meet the server as it was
        conn = db_helpers.mysql_connect(uri)
        try:
            conn.cursor().execute("SET GLOBAL event_scheduler = %s", (str(before[0]),))
            conn.cursor().execute("SET GLOBAL max_connect_errors = %s", (before[1],))
        finally:
            conn.close()

    env.stack.callback(restore)
    env.db_state.append(lambda: _globals(uri))
    return (uri,)


CODE_CASES: tuple[Case, ...] = (
    case("pg-cast-from-fake-vector", pg_cast_from_fake_vector, FOUND,
         E("#public.faces.photo", "evidence:face_image"), **DB),
    case("pg-planner-folds-user-code", pg_planner_folds_user_code, FOUND,
         E("#public.by_index.photo", "evidence:face_image"),
         E("#public.by_predicate.photo", "evidence:face_image"),
         E("#public.by_statistics.photo", "evidence:face_image"),
         E("#public.by_key.photo", "evidence:face_image"), **DB),
    case("pg-security-definer-view", pg_security_definer_view, FOUND,
         E("#public.people.photo", "evidence:face_image"),
         E("#public.people_v", "view_not_read", "--read-views"), **DB),
    case("pg-event-trigger", pg_event_trigger, FOUND,
         E("#public.people.photo", "evidence:face_image"), **DB),
    case("my-view-sets-globals", my_view_sets_globals, FOUND,
         E("#faces.photo", "evidence:face_image"),
         E("#planted", "view_not_read", "SET GLOBAL"), **DB),
)  # fmt: skip
