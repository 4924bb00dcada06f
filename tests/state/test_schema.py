"""The state database's version is read before anything is written: a database of the current
version is used as it is, an older one is upgraded in place by steps (its history kept, all or
nothing), and a newer one — or one whose version is no number — is refused and left exactly as
it was, by the library and by the CLI (exit 2)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.state import schema
from scanner.state.schema import StateVersionError
from scanner.state.store import FileEntry, FileIdentity, StateDB

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")

# Version 1 as it has been written since the state database exists (scanner/state/store.py
# at 808e616): the format an installed faceaudit leaves on disk, kept here as it was.
VERSION_1 = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)",
    "INSERT INTO meta VALUES ('schema', '1')",
    "CREATE TABLE files (key TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER, "
    "mtime_ns INTEGER, ctime_ns INTEGER, config TEXT, racy INTEGER, content_type TEXT, "
    "results TEXT, problems TEXT, members INTEGER, scanned_at TEXT)",
    "CREATE TABLE columns (key TEXT PRIMARY KEY, watermark TEXT, config TEXT, result TEXT, "
    "scanned_at TEXT)",
    "CREATE TABLE scans (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT, "
    "finished_at TEXT, targets TEXT, policy TEXT, exit_code INTEGER, incomplete INTEGER, "
    "items_with_evidence INTEGER, faces INTEGER, embeddings INTEGER, findings_open INTEGER, "
    "new_findings INTEGER, resolved_findings INTEGER, by_kind TEXT, by_severity TEXT, "
    "by_store TEXT)",
    "CREATE TABLE scan_findings (scan_id INTEGER, fingerprint TEXT, rule_id TEXT, "
    "severity TEXT, location TEXT, store TEXT)",
    "CREATE INDEX scan_findings_scan ON scan_findings (scan_id)",
]
TARGETS = json.dumps(["/srv/share"])
# Version 2 has the tables of version 1 (its cache holds typed locations); version 3 adds to
# each scan its absolute targets and its count of stored templates.
VERSION_3 = [
    "ALTER TABLE scans ADD COLUMN roots TEXT",
    "ALTER TABLE scans ADD COLUMN templates INTEGER",
    "ALTER TABLE scans ADD COLUMN templates_estimated INTEGER",
]
NOW = schema.SCHEMA_VERSION
NEXT = NOW + 1
NEWER = str(NEXT)


def version_1(path: Path, version: str = "1", more: list[str] | None = None) -> Path:
    """A state database at version 1 with two recorded scans and one cached file (with
    `more`: the statements of later versions, run before anything is recorded)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")  # as StateDB leaves it
    with conn:
        for statement in VERSION_1 + (more or []):
            conn.execute(statement)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (version,))
        for n, (opened, new, gone) in enumerate([(2, 2, 0), (1, 0, 1)], start=1):
            conn.execute(
                "INSERT INTO scans (id, started_at, finished_at, targets, policy, exit_code, "
                "incomplete, items_with_evidence, faces, embeddings, findings_open, "
                "new_findings, resolved_findings, by_kind, by_severity, by_store) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    n,
                    f"2026-0{n}-01T02:30:00+00:00",
                    f"2026-0{n}-01T02:31:00+00:00",
                    TARGETS,
                    "org",
                    1,
                    0,
                    opened,
                    opened,
                    0,
                    opened,
                    new,
                    gone,
                    json.dumps({"face_image": opened}),
                    json.dumps({"high": opened}),
                    json.dumps({"hr-badges": opened}),
                ),
            )
        conn.executemany(
            "INSERT INTO scan_findings VALUES (?,?,?,?,?,?)",
            [
                (1, "a" * 32, "R-1", "high", "/srv/share/a.jpg", "hr-badges"),
                (1, "b" * 32, "R-1", "high", "/srv/share/b.jpg", "hr-badges"),
                (2, "a" * 32, "R-1", "high", "/srv/share/a.jpg", "hr-badges"),
            ],
        )
        conn.execute(
            "INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ("/srv/share/a.jpg", 1, 2, 3, 4, 5, "key", 0, "{}", "[]", "[]", 0, "2026-02-01"),
        )
    conn.close()
    return path


def current(path: Path) -> Path:
    """A state database of this faceaudit's version (as it is without the tests' patches),
    with the history and cache of version_1."""
    return version_1(path, str(NOW), VERSION_3)


def files_of(path: Path) -> dict[str, bytes]:
    """The database and any journal beside it (the lock file is the run's, not the data's)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(path.parent.glob(path.name + "*"))
        if p.suffix != ".lock"
    }


def stored(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def history_of(db: StateDB) -> list[tuple[int, int, int, int]]:
    return [(r.id, r.findings_open, r.new_findings, r.resolved_findings) for r in db.history()]


HISTORY = [(1, 2, 2, 0), (2, 1, 0, 1)]


def test_the_current_version_is_used_as_it_is(tmp_path: Path) -> None:
    path = current(tmp_path / "state.db")
    with StateDB(path) as db:
        assert db.notes == []
        assert history_of(db) == HISTORY
        assert db.last_fingerprints(TARGETS, "org") == {"a" * 32}
        assert set(db.load_files()) == {"/srv/share/a.jpg"}
    assert stored(path, "SELECT value FROM meta") == [(str(schema.SCHEMA_VERSION),)]


def test_version_1_is_upgraded_keeping_its_history_but_not_its_cache(tmp_path: Path) -> None:
    """Version 2 stores typed locations: version 1's cached results cannot be read as
    such, so they go; the history of scans stays."""
    path = version_1(tmp_path / "state.db")
    with StateDB(path) as db:
        assert db.notes == [
            f"state database upgraded from schema version 1 to {NOW}",
            "the cache of earlier results was emptied: the next scan looks at every file again",
        ]
        assert history_of(db) == HISTORY
        assert db.load_files() == {}
    assert stored(path, "SELECT value FROM meta") == [(str(NOW),)]


def test_version_2_is_upgraded_keeping_its_history_and_its_cache(tmp_path: Path) -> None:
    """Version 3 adds each scan's absolute targets and template count: the scans recorded
    before have none (shown as unknown, matched by their targets as typed)."""
    path = version_1(tmp_path / "state.db", "2")
    with StateDB(path) as db:
        assert db.notes == [f"state database upgraded from schema version 2 to {NOW}"]
        assert history_of(db) == HISTORY
        assert set(db.load_files()) == {"/srv/share/a.jpg"}
        old = db.history()[0]
        assert (old.roots, old.templates, old.templates_estimated) == (None, None, False)
        assert [r.id for r in db.history(under=["/srv/share"])] == [1, 2]
        assert db.history(under=["/srv/other"]) == []
        with pytest.raises(KeyError):  # version 4's checkpoint tables, new and empty
            db.listing("any")
    assert stored(path, "SELECT value FROM meta") == [(str(NOW),)]
    columns = [r[1] for r in stored(path, "PRAGMA table_info(scans)")]
    assert columns[-3:] == ["roots", "templates", "templates_estimated"]


def test_a_new_database_is_created_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        assert db.notes == [] and db.history() == []
    assert stored(path, "SELECT value FROM meta WHERE key = 'schema'") == [
        (str(schema.SCHEMA_VERSION),)
    ]


def test_every_older_version_has_a_step() -> None:
    assert set(schema.STEPS) == set(range(1, schema.SCHEMA_VERSION))


# -- the upgrade mechanism, with a step that exists only in these tests ----------------------


def _add_tool_version(conn: sqlite3.Connection) -> str | None:
    conn.execute("ALTER TABLE scans ADD COLUMN tool_version TEXT")
    return None


@pytest.fixture
def one_more(monkeypatch: pytest.MonkeyPatch) -> None:
    """A next version whose step adds a column."""
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NEXT)
    monkeypatch.setattr(schema, "STEPS", {**schema.STEPS, NOW: _add_tool_version})


@pytest.mark.usefixtures("one_more")
def test_an_older_version_is_upgraded_in_place_keeping_its_history(tmp_path: Path) -> None:
    path = current(tmp_path / "state.db")
    with StateDB(path) as db:
        assert db.notes == [f"state database upgraded from schema version {NOW} to {NEXT}"]
        assert history_of(db) == HISTORY
        assert db.last_fingerprints(TARGETS, "org") == {"a" * 32}
        assert set(db.load_files()) == {"/srv/share/a.jpg"}  # this step carries the cache
    assert stored(path, "SELECT value FROM meta WHERE key = 'schema'") == [(str(NEXT),)]
    assert "tool_version" in [r[1] for r in stored(path, "PRAGMA table_info(scans)")]
    with StateDB(path) as db:  # upgraded once
        assert db.notes == []


def test_a_step_that_cannot_carry_the_cache_empties_only_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NEXT)
    monkeypatch.setattr(schema, "STEPS", {**schema.STEPS, NOW: schema.forget_cache})
    path = current(tmp_path / "state.db")
    with StateDB(path) as db:
        assert db.notes == [
            f"state database upgraded from schema version {NOW} to {NEXT}",
            "the cache of earlier results was emptied: the next scan looks at every file again",
        ]
        assert history_of(db) == HISTORY
        assert db.load_files() == {} and db.load_columns() == {}
        entry = FileEntry(FileIdentity(1, 2, 3, 4, 5), "key", False, "{}", "[]", "[]", 0)
        db.save_files([("/srv/share/b.jpg", entry)])  # the cache is there again, empty
        assert set(db.load_files()) == {"/srv/share/b.jpg"}


def test_an_upgrade_that_fails_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def halfway(conn: sqlite3.Connection) -> str | None:
        conn.execute("DELETE FROM scan_findings")
        conn.execute("ALTER TABLE scans ADD COLUMN tool_version TEXT")
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(schema, "SCHEMA_VERSION", NEXT)
    monkeypatch.setattr(schema, "STEPS", {**schema.STEPS, NOW: halfway})
    path = current(tmp_path / "state.db")
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        StateDB(path)
    assert stored(path, "SELECT value FROM meta WHERE key = 'schema'") == [(str(NOW),)]
    assert len(stored(path, "SELECT * FROM scan_findings")) == 3
    assert "tool_version" not in [r[1] for r in stored(path, "PRAGMA table_info(scans)")]
    monkeypatch.setattr(schema, "STEPS", {**schema.STEPS, NOW: _add_tool_version})
    with StateDB(path) as db:  # the lock was released; the next run upgrades it
        assert history_of(db) == HISTORY


# -- refused, and left as it was ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            NEWER,
            f"it is of schema version {NEWER}, newer than this faceaudit uses "
            f"({schema.SCHEMA_VERSION}): use a newer faceaudit, another --state file, or "
            "--no-state",
        ),
        ("two", "its schema version 'two' is not a number: not a faceaudit state database?"),
        (
            "0",
            "it is of schema version 0, which this faceaudit cannot upgrade "
            f"(to {schema.SCHEMA_VERSION}): use another --state file, or --no-state",
        ),
    ],
)
def test_a_version_it_cannot_use_is_refused_and_left_as_it_was(
    tmp_path: Path, version: str, message: str
) -> None:
    path = version_1(tmp_path / "state.db", version)
    os.chmod(path, 0o644)
    before = files_of(path)
    with pytest.raises(StateVersionError) as exc:
        StateDB(path)
    assert str(exc.value) == message
    assert files_of(path) == before
    assert os.stat(path).st_mode & 0o777 == 0o644
    with pytest.raises(StateVersionError):  # the lock was released
        StateDB(path)


def test_the_cli_refuses_a_newer_state_database(tmp_path: Path) -> None:
    path = version_1(tmp_path / "state.db", NEWER)
    before = files_of(path)
    proc = subprocess.run(
        [FACEAUDIT, "history", "--state", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"faceaudit: error: state database {path} left as it is: it is of schema version "
        f"{NEWER}, newer than this faceaudit uses ({schema.SCHEMA_VERSION}): use a newer "
        "faceaudit, another --state file, or --no-state\n"
    )
    assert files_of(path) == before
