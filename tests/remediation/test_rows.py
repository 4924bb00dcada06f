"""Database rows on the real servers (PostgreSQL and MariaDB, tests/db_helpers.py), through the
CLI: rows named by primary key with their value hashes; the face column cleared (or the row
deleted) in one transaction per table, the values in the vault first; a row changed between
plan and apply skipped while the others are done; a restore puts the values back; a SIGKILL
leaves every value in its row or in the vault, and the next run finishes; the URI's password
never reaches the plan or the log."""

from __future__ import annotations

import getpass
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from db_helpers import face_jpeg, mysql_connect, mysql_database, pg_database

import scanner
from tests.remediation.conftest import entries, faceaudit, finding, write_report

KILL = "FACEAUDIT_REMEDIATE_KILL_AFTER"
SCHEMA = Path(scanner.__file__).resolve().parent / "schemas" / "plan.schema.json"
PASSWORD = "PlantedRowsPassword77"
FACES = {1: face_jpeg() + b"\x01", 2: face_jpeg() + b"\x02", 3: face_jpeg() + b"\x03"}


class Db:
    """One throwaway database with a `faces` table (id, name, photo) of three face photos."""

    def __init__(self, kind: str, uri: str) -> None:
        self.kind, self.uri = kind, uri
        if kind == "pg":
            self.dsn = uri.replace("postgresql://", f"postgresql://{getpass.getuser()}:{PASSWORD}@")
            self.column = f"{uri}#public.faces.photo"
            self.run(
                "CREATE TABLE faces (id integer PRIMARY KEY, name text, photo bytea)",
            )
        else:
            self.dsn = uri  # root without a password on the test server
            self.column = f"{uri.replace('root@', '')}#faces.photo"
            self.run("CREATE TABLE faces (id INT PRIMARY KEY, name TEXT, photo LONGBLOB)")
        for n, body in FACES.items():
            self.run("INSERT INTO faces VALUES (%s, %s, %s)", (n, f"person {n}", body))

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "pg":
            import psycopg

            with psycopg.connect(self.uri, autocommit=True) as conn:
                cur = conn.execute(sql.encode(), params)
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
        conn = mysql_connect(self.uri)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
        finally:
            conn.close()

    def photos(self) -> dict[int, bytes | None]:
        rows = self.run("SELECT id, photo FROM faces ORDER BY id")
        return {int(r[0]): None if r[1] is None else bytes(r[1]) for r in rows}


DATABASES: dict[str, Callable[[], AbstractContextManager[str]]] = {
    "pg": pg_database,
    "mariadb": mysql_database,
}


@pytest.fixture(params=["pg", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[Db]:
    with DATABASES[request.param]("fa_rem") as uri:
        yield Db(request.param, uri)


def _plan(tmp_path: Path, db: Db, *extra: str) -> Path:
    report = write_report(tmp_path, [finding(db.column, location={"uri": db.column})])
    plan = tmp_path / "plan.json"
    done = faceaudit(
        "remediate", "plan", str(report), "-o", str(plan), "--dsn", db.dsn, *extra, env={}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return plan


def _cli(*args: str, db: Db, env: dict[str, str] | None = None) -> Any:
    return faceaudit(*args, "--dsn", db.dsn, env=env or {})


def _vault_rows(vault: Path, vid: str) -> list[dict[str, Any]]:
    from scanner.remediation import Vault
    from scanner.remediation.stash import unstash

    with Vault.open(vault, create=False) as v:
        entry = v.get("manifest", vid)
        assert entry is not None
        rows: list[dict[str, Any]] = json.loads(unstash(v, entry["parts"][0]))["rows"]
        return rows


def test_rows_cleared_one_skipped_then_restored(db: Db, tmp_path: Path) -> None:
    plan = _plan(tmp_path, db)
    (item,) = json.loads(plan.read_text())["items"]
    assert item["action"] == "delete" and item["rows"]["mode"] == "clear"
    jsonschema.validate(json.loads(plan.read_text()), json.loads(SCHEMA.read_text()))
    assert [dict(r["key"]) for r in item["rows"]["rows"]] == [{"id": "1"}, {"id": "2"}, {"id": "3"}]
    assert PASSWORD not in plan.read_text()
    db.run("UPDATE faces SET photo = %s WHERE id = 2", (b"changed since the plan",))
    vault = tmp_path / "vault"
    dry = _cli("remediate", "apply", str(plan), "--vault", str(vault), db=db)
    assert dry.returncode == 3 and "1 changed since the plan" in dry.stdout
    assert db.photos()[1] == FACES[1]  # a dry run touches nothing
    done = _cli("remediate", "apply", str(plan), "--vault", str(vault), "--yes", db=db)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "partial" in done.stdout and "id=2" in done.stdout
    assert db.photos() == {1: None, 2: b"changed since the plan", 3: None}
    (entry,) = entries(vault, "quarantined")
    assert entry["kind"] == "rows" and entry["rows"] == 2
    kept = _vault_rows(vault, entry["id"])
    assert [r["key"] for r in kept] == [[["id", "1"]], [["id", "3"]]]
    log = (vault / "audit.jsonl").read_text()
    assert PASSWORD not in log and "person" not in log
    back = _cli("remediate", "restore", entry["id"], "--vault", str(vault), db=db)
    assert back.returncode == 0, back.stdout + back.stderr
    assert db.photos() == {1: FACES[1], 2: b"changed since the plan", 3: FACES[3]}
    assert entries(vault, "restored") and not list((vault / "keys").iterdir())


def test_restore_never_over_a_new_value(db: Db, tmp_path: Path) -> None:
    plan = _plan(tmp_path, db)
    vault = tmp_path / "vault"
    done = _cli("remediate", "apply", str(plan), "--vault", str(vault), "--yes", db=db)
    assert done.returncode == 0, done.stdout + done.stderr
    db.run("UPDATE faces SET photo = %s WHERE id = 3", (b"a new photo",))
    (entry,) = entries(vault, "quarantined")
    back = _cli("remediate", "restore", entry["id"], "--vault", str(vault), db=db)
    assert back.returncode == 3 and "conflict" in back.stdout and "id=3" in back.stdout
    assert db.photos() == {1: None, 2: None, 3: b"a new photo"}  # nothing restored
    assert entries(vault, "quarantined")


def test_rows_deleted_and_inserted_again(db: Db, tmp_path: Path) -> None:
    plan = _plan(tmp_path, db, "--rows", "delete")
    vault = tmp_path / "vault"
    done = _cli("remediate", "apply", str(plan), "--vault", str(vault), "--yes", db=db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert db.photos() == {}
    (entry,) = entries(vault, "quarantined")
    back = _cli("remediate", "restore", entry["id"], "--vault", str(vault), db=db)
    assert back.returncode == 0, back.stdout + back.stderr
    assert db.photos() == FACES
    assert db.run("SELECT name FROM faces WHERE id = 2") == [("person 2",)]


def test_without_the_dsn_nothing_is_done(db: Db, tmp_path: Path) -> None:
    plan = _plan(tmp_path, db)
    vault = tmp_path / "vault"
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes", env={})
    assert done.returncode == 3 and "--dsn" in done.stdout
    assert db.photos() == FACES


@pytest.mark.parametrize("state", ["intent", "copied", "verified", "source_removed"])
def test_killed_during_clearing(db: Db, tmp_path: Path, state: str) -> None:
    plan = _plan(tmp_path, db)
    vault = tmp_path / "vault"
    args = ("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    killed = _cli(*args, db=db, env={KILL: f"rows:{state}"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    # right after the kill: every value is in its row or in the vault
    now = db.photos()
    saved: dict[int, str] = {}
    if state not in ("intent", "copied"):
        (entry,) = entries(vault, "quarantined")
        saved = {int(r["key"][0][1]): r["sha256"] for r in _vault_rows(vault, entry["id"])}
    for n, body in FACES.items():
        assert now[n] == body or n in saved, (state, n)
    # the next run (with the DSN) recovers, then finishes the plan
    again = _cli(*args, db=db)
    assert again.returncode == 0, again.stdout + again.stderr
    assert db.photos() == {1: None, 2: None, 3: None}
    (entry,) = entries(vault, "quarantined")
    assert len(_vault_rows(vault, entry["id"])) == 3
    assert not list((vault / "journal").iterdir())


def test_killed_then_run_without_the_dsn_is_not_done(db: Db, tmp_path: Path) -> None:
    plan = _plan(tmp_path, db)
    vault = tmp_path / "vault"
    args = ("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    killed = _cli(*args, db=db, env={KILL: "rows:verified"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    blind = faceaudit(*args, env={})  # no --dsn: recovery cannot reach the rows
    assert blind.returncode == 3 and "not finished" in blind.stdout, blind.stdout + blind.stderr
    assert db.photos() == FACES  # the transaction never committed: every value in its row
    again = _cli(*args, db=db)
    assert again.returncode == 0, again.stdout + again.stderr
    assert db.photos() == {1: None, 2: None, 3: None}
