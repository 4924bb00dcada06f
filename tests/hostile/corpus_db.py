"""Hostile databases of the corpus: SQLite files, and throwaway PostgreSQL and MariaDB
databases on the real servers (tests/db_helpers.py).

A server database's state (every table's content digest, its functions and views) is
recorded before and after the scan by `Env.db_state`; a SQLite file is covered by the tree
snapshot, sidecars included. Code planted in a database tries to create the canary file
(PostgreSQL's `COPY … TO` writes it as the server's user) or to write a canary table.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any

import db_helpers
from helpers import astronaut
from hostile.corpus import CLEAN, INCOMPLETE, Case, Env, Expect, case, jpeg, vectors, write

E = Expect
FOUND = 1
DB: dict[str, Any] = {"group": "databases", "options": ("--statement-timeout", "2")}
# Views are read only with --read-views (a command-wide option: a group of its own)
VIEWS: dict[str, Any] = {"group": "db-read-views", "options": (*DB["options"], "--read-views")}


def _blobs(n: int) -> list[tuple[int, bytes]]:
    return [(i, v.astype("<f4").tobytes()) for i, v in enumerate(vectors(n))]


def _faces_db(path: Path, n: int = 30) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE faces (id INTEGER PRIMARY KEY, embedding BLOB)")
    conn.executemany("INSERT INTO faces VALUES (?, ?)", _blobs(n))
    return conn


# -- SQLite --------------------------------------------------------------------------------


def sqlite_wal_leftover(env: Env) -> tuple[str, ...]:
    live = env.outside / "live.db"
    conn = _faces_db(live, 4)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.executemany("INSERT INTO faces VALUES (?, ?)", [(100 + i, b) for i, b in _blobs(30)])
    for suffix in ("", "-wal", "-shm"):  # copied while the app still has it open: a crash
        shutil.copy2(f"{live}{suffix}", env.data / f"app.db{suffix}")
    conn.close()
    return (str(env.data),)


def sqlite_hot_journal(env: Env) -> tuple[str, ...]:
    live = env.outside / "live.db"
    _faces_db(live).close()
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA cache_size=1")  # uncommitted pages spill into the main file
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO faces (embedding) VALUES (randomblob(512))", [()] * 3000)
    for suffix in ("", "-journal"):
        shutil.copy2(f"{live}{suffix}", env.data / f"app.db{suffix}")
    conn.execute("ROLLBACK")
    conn.close()
    return (str(env.data),)


def sqlite_hash_in_name(env: Env) -> tuple[str, ...]:
    _faces_db(env.data / "faces#1?mode=rw.db").close()
    return (str(env.data),)


def sqlite_endless_view(env: Env) -> tuple[str, ...]:
    conn = _faces_db(env.data / "slow.db")
    conn.execute(
        "CREATE VIEW forever AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL "
        "SELECT n + 1 FROM r) SELECT n, 'payload' AS label FROM r WHERE n < 0"
    )
    conn.close()
    return (str(env.data),)


def sqlite_corrupt(env: Env) -> tuple[str, ...]:
    data = (env.outside / "whole.db").resolve()
    _faces_db(data).close()
    raw = bytearray(data.read_bytes())
    raw[100:4096] = bytes(range(256)) * 15 + bytes(256)[: 3996 - 15 * 256]
    write(env.data / "broken.db", bytes(raw))
    return (str(env.data),)


def sqlite_huge_blob(env: Env) -> tuple[str, ...]:
    conn = _faces_db(env.data / "big.db")
    conn.execute("CREATE TABLE scans (id INTEGER PRIMARY KEY, image BLOB)")
    conn.execute("INSERT INTO scans (image) VALUES (zeroblob(17 * 1024 * 1024))")
    conn.close()
    return (str(env.data),)


def sqlite_unsafe_view(env: Env) -> tuple[str, ...]:
    conn = _faces_db(env.data / "views.db")
    conn.execute(
        f"CREATE VIEW v AS SELECT load_extension('{env.canary}') AS x, embedding FROM faces"
    )
    conn.close()
    return (str(env.data),)


def _hot_journal_naming(env: Env, name: str, target: bytes) -> None:
    """A crash image whose hot journal names `target` as its super-journal (the record of a
    multi-database commit, which SQLite opens and deletes after rolling back)."""
    sqlite_hot_journal(env)
    journal = env.data / "app.db-journal"
    record = struct.pack(">I", 0x40000000 // 4096 + 1) + target
    record += struct.pack(">II", len(target), sum(target) & 0xFFFFFFFF)
    record += bytes.fromhex("d9d505f920a163d7")
    journal.write_bytes(journal.read_bytes() + record)
    for suffix in ("", "-journal"):
        (env.data / f"app.db{suffix}").rename(env.data / f"{name}{suffix}")


def sqlite_super_journal_outside(env: Env) -> tuple[str, ...]:
    """The super-journal names a file beside the tree: it must survive (snapshotted)."""
    precious = write(env.outside / "precious.txt", b"deleted by a naive scanner\n")
    _hot_journal_naming(env, "app.db", str(precious.resolve()).encode())
    return (str(env.data),)


def sqlite_super_journal_fifo(env: Env) -> tuple[str, ...]:
    """The super-journal names a FIFO: opening it would hang the scan."""
    fifo = env.outside / "super"
    os.mkfifo(fifo)
    _hot_journal_naming(env, "fifo.db", str(fifo.resolve()).encode())
    return (str(env.data),)


def sqlite_unknown_virtual_table(env: Env) -> tuple[str, ...]:
    conn = _faces_db(env.data / "ext.db")
    conn.execute("PRAGMA writable_schema=ON")
    conn.execute(
        "INSERT INTO sqlite_master VALUES ('table', 'index_vectors', 'index_vectors', 0, "
        "'CREATE VIRTUAL TABLE index_vectors USING vectorlite(embedding float32[128])')"
    )
    conn.commit()
    conn.close()
    return (str(env.data),)


def sqlite_sparse_with_wal(env: Env) -> tuple[str, ...]:
    """3 GiB (sparse) with a -wal to recover: the private copy would exceed --max-temp-mb."""
    sqlite_wal_leftover(env)
    with open(env.data / "app.db", "r+b") as fh:
        fh.truncate(3 * 1024**3)
    return (str(env.data),)


def sqlite_views_not_read(env: Env) -> tuple[str, ...]:
    conn = _faces_db(env.data / "views.db")
    conn.execute("CREATE VIEW recent AS SELECT * FROM faces WHERE id > 10")
    conn.close()
    return (str(env.data),)


# -- PostgreSQL ----------------------------------------------------------------------------


def pg_state(uri: str) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        rels = conn.execute(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', "
            "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
        ).fetchall()
        out: list[tuple[object, ...]] = list(rels)
        for schema, name, kind in rels:
            if kind == "r":
                digest = conn.execute(
                    "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f'FROM "{schema}"."{name}" t'  # type: ignore[arg-type]
                ).fetchone()
                out.append((schema, name, digest))
        out += conn.execute(
            "SELECT proname, md5(prosrc) FROM pg_proc p JOIN pg_namespace n ON "
            "n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1, 2"
        ).fetchall()
    return out


Statement = str | tuple[str, tuple[object, ...]]


def pg_database(env: Env, *statements: Statement) -> str:
    """A throwaway database holding what `statements` create; its state is compared."""
    import psycopg

    uri = env.stack.enter_context(db_helpers.pg_database("fa_hostile"))
    with psycopg.connect(uri, autocommit=True) as conn:
        for statement in statements:
            sql, params = (statement, None) if isinstance(statement, str) else statement
            conn.execute(sql, params)  # type: ignore[arg-type]
    env.db_state.append(lambda: pg_state(uri))
    return uri


def pg_planted_functions(env: Env) -> tuple[str, ...]:
    """Functions planted in `public` under built-in names: a session that searched `public`
    would call them, and they would write the canary (COPY TO runs in a read-only session)."""
    body = f"BEGIN EXECUTE format('COPY (SELECT 1) TO %L', '{env.canary}'); RETURN $1; END"
    plants = [
        f"CREATE FUNCTION public.{name}(x {arg}) RETURNS {arg} LANGUAGE plpgsql AS $f${body}$f$"
        for name, arg in (("lower", "varchar"), ("lower", "text"), ("octet_length", "bytea"),
                          ("length", "text"), ("btrim", "text"), ("length", "bytea"))
    ]  # fmt: skip
    uri = pg_database(
        env,
        "CREATE TABLE people (name varchar(40), photo bytea, seen timestamptz)",
        ("INSERT INTO people VALUES ('ann', %s, now())", (jpeg(astronaut()),)),
        *plants,
    )
    return (uri,)


def pg_endless_views(env: Env) -> tuple[str, ...]:
    uri = pg_database(
        env,
        "CREATE VIEW slow AS SELECT pg_sleep(60)::text AS label, '\\x00'::bytea AS data",
        "CREATE VIEW forever AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
        "SELECT n, repeat('x', 300) AS label FROM r WHERE n < 0",
    )
    return (uri,)


def pg_huge_bytea(env: Env) -> tuple[str, ...]:
    uri = pg_database(
        env,
        "CREATE TABLE scans (id int, image bytea)",
        "INSERT INTO scans VALUES (1, convert_to(repeat('x', 17 * 1024 * 1024), 'UTF8'))",
    )
    return (uri,)


def pg_view_that_raises(env: Env) -> tuple[str, ...]:
    uri = pg_database(
        env,
        "CREATE TABLE t (x int, data bytea)",
        "INSERT INTO t VALUES (0, '\\xffd8ff'::bytea)",
        "CREATE VIEW bad AS SELECT data FROM t WHERE 1 / x = 1",
    )
    return (uri,)


def pg_unreachable_with_password(env: Env) -> tuple[str, ...]:
    return ("postgresql://audit:hunter2-pg-secret@127.0.0.1:1/none",)


# -- MariaDB -------------------------------------------------------------------------------


def my_database(env: Env, *statements: str) -> str:
    uri = env.stack.enter_context(db_helpers.mysql_database("fa_hostile"))
    conn = db_helpers.mysql_connect(uri)
    try:
        for sql in statements:
            conn.cursor().execute(sql)
    finally:
        conn.close()
    env.db_state.append(lambda: my_state(uri))
    return uri


def my_state(uri: str) -> list[tuple[object, ...]]:
    conn = db_helpers.mysql_connect(uri)
    try:
        cur = conn.cursor()
        db = uri.rsplit("/", 1)[1]
        cur.execute(
            "SELECT table_name, table_type FROM information_schema.tables "
            "WHERE table_schema = %s ORDER BY 1",
            (db,),
        )
        tables = list(cur.fetchall())
        out: list[tuple[object, ...]] = list(tables)
        for name, kind in tables:
            if kind == "BASE TABLE":
                cur.execute(f"CHECKSUM TABLE `{name}` EXTENDED")
                out.append(tuple(cur.fetchone() or ()))
        cur.execute(
            "SELECT routine_name, md5(routine_definition) FROM information_schema.routines "
            "WHERE routine_schema = %s ORDER BY 1",
            (db,),
        )
        out += list(cur.fetchall())
    finally:
        conn.close()
    return out


def my_slow_view(env: Env) -> tuple[str, ...]:
    uri = my_database(env, "CREATE VIEW slow AS SELECT SLEEP(60) AS s, REPEAT('x', 300) AS payload")
    return (uri,)


def my_broken_view(env: Env) -> tuple[str, ...]:
    uri = my_database(
        env,
        "CREATE TABLE t (id int, data longblob)",
        "CREATE VIEW v AS SELECT id, data FROM t",
        "DROP TABLE t",
    )
    return (uri,)


def my_writing_function(env: Env) -> tuple[str, ...]:
    uri = my_database(
        env,
        "CREATE TABLE canary (n int)",
        "CREATE TABLE faces (id int PRIMARY KEY, photo longblob)",
        "CREATE FUNCTION plant(x longblob) RETURNS longblob MODIFIES SQL DATA "
        "BEGIN INSERT INTO canary VALUES (1); RETURN x; END",
        "CREATE VIEW planted AS SELECT id, plant(photo) AS photo FROM faces",
    )
    conn = db_helpers.mysql_connect(uri)
    try:
        conn.cursor().execute("INSERT INTO faces VALUES (1, %s)", (jpeg(astronaut()),))
    finally:
        conn.close()
    return (uri,)


def my_wrong_password(env: Env) -> tuple[str, ...]:
    uri = my_database(env)
    return (uri.replace("mysql://root@", "mysql://root:hunter2-my-secret@"),)


DB_CASES: tuple[Case, ...] = (
    case("sqlite-wal-leftover", sqlite_wal_leftover, FOUND,
         E("app.db#faces.embedding", "evidence:face_embedding"), **DB),
    case("sqlite-hot-journal", sqlite_hot_journal, FOUND,
         E("app.db#faces.embedding", "evidence:face_embedding"), **DB),
    case("sqlite-hash-and-query-in-name", sqlite_hash_in_name, FOUND,
         E("faces#1?mode=rw.db#faces.embedding", "evidence:face_embedding"), **DB),
    case("sqlite-endless-view", sqlite_endless_view, INCOMPLETE,
         E("slow.db#forever", "query_timeout"), **VIEWS),
    case("sqlite-corrupt-pages", sqlite_corrupt, INCOMPLETE,
         E("broken.db", "database_unreadable"), **DB),
    case("sqlite-17mb-blob", sqlite_huge_blob, INCOMPLETE,
         E("big.db#scans.image", "value_too_large"), **DB),
    case("sqlite-view-loads-extension", sqlite_unsafe_view, INCOMPLETE,
         E("views.db#v", "database_unreadable"), **VIEWS),
    case("sqlite-views-not-read", sqlite_views_not_read, FOUND,
         E("views.db#recent", "view_not_read", "--read-views"),
         E("views.db#faces.embedding", "evidence:face_embedding"), **DB),
    case("sqlite-super-journal-outside", sqlite_super_journal_outside, FOUND,
         E("app.db#faces.embedding", "evidence:face_embedding"), **DB),
    case("sqlite-super-journal-fifo", sqlite_super_journal_fifo, FOUND,
         E("fifo.db#faces.embedding", "evidence:face_embedding"), **DB),
    case("sqlite-unknown-virtual-table", sqlite_unknown_virtual_table, INCOMPLETE,
         E("ext.db#index_vectors", "virtual_table_not_read", "vectorlite"),
         E("ext.db#faces.embedding", "evidence:face_embedding"), **DB),
    case("sqlite-sparse-3gib-with-wal", sqlite_sparse_with_wal, INCOMPLETE,
         E("app.db", "oversize", "--max-temp-mb"), **DB),
    case("pg-planted-public-functions", pg_planted_functions, FOUND,
         E("#public.people.photo", "evidence:face_image"), **DB),
    case("pg-endless-views", pg_endless_views, INCOMPLETE,
         E("#public.slow", "query_timeout"), E("#public.forever", "query_timeout"), **VIEWS),
    case("pg-views-not-read", pg_endless_views, CLEAN,
         E("#public.slow", "view_not_read"), E("#public.forever", "view_not_read"), **DB),
    case("pg-17mb-bytea", pg_huge_bytea, INCOMPLETE,
         E("#public.scans.image", "value_too_large"), **DB),
    case("pg-view-that-raises", pg_view_that_raises, INCOMPLETE,
         E("#public.bad", "database_unreadable", "division by zero"), **VIEWS),
    case("pg-unreachable-password", pg_unreachable_with_password, INCOMPLETE,
         E("127.0.0.1:1/none", "database_unreadable", "cannot connect"), secret="hunter2-pg-secret",
         **DB),
    case("my-slow-view", my_slow_view, INCOMPLETE, E("#slow", "query_timeout"), **VIEWS),
    case("my-broken-view", my_broken_view, INCOMPLETE, E("#v", "database_unreadable"), **VIEWS),
    case("my-view-with-writing-function", my_writing_function, FOUND,
         E("#faces.photo", "evidence:face_image"), E("#planted", "view_not_read"), **DB),
    case("my-wrong-password", my_wrong_password, INCOMPLETE,
         E("", "database_unreadable"), secret="hunter2-my-secret", **DB),
)  # fmt: skip
