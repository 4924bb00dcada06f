"""SQLite's recovery never reaches outside a private folder, whatever the sidecars say.

A hot rollback journal may name a super-journal, which SQLite opens and deletes after a
rollback: the name is attacker data. These tests build real crash images (a writer killed
mid-transaction), plant a super-journal record naming a canary file, a face photo inside the
scanned tree, or a FIFO, and scan them with the real CLI and two workers. They also swap a
FIFO in under a database's name between the check and SQLite's open, and bound the private
copy that recovery needs.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut, encode

from scanner.sources import sqlite_open
from scanner.sources.filesystem import FileChangedError

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")


def templates(n: int, seed: int = 3) -> list[bytes]:
    """L2-normalised 512-d float32 vectors, as a face model stores them."""
    rng = np.random.default_rng(seed)
    vs = rng.normal(size=(n, 512)).astype("<f4")
    vs /= np.linalg.norm(vs, axis=1, keepdims=True)
    return [v.tobytes() for v in vs]


def crashed_db(path: Path) -> None:
    """A database in rollback-journal mode whose writer died mid-transaction: pages were
    written to the main file, the journal holds the originals (a hot journal)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.execute("CREATE TABLE faces (id INTEGER PRIMARY KEY, embedding BLOB)")
    conn.executemany("INSERT INTO faces (embedding) VALUES (?)", [(t,) for t in templates(40)])
    conn.close()
    code = (
        "import sqlite3, os, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA cache_size=1')\n"
        "c.execute('BEGIN')\n"
        "c.execute('UPDATE faces SET embedding = zeroblob(2048)')\n"
        "os._exit(0)\n"  # no commit, no rollback: the journal stays hot
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    assert Path(f"{path}-journal").stat().st_size > 512


def name_super_journal(journal: Path, target: bytes, page_size: int = 4096) -> None:
    """Append the record SQLite writes at the end of a journal of a multi-database commit."""
    record = (
        struct.pack(">I", 0x40000000 // page_size + 1)
        + target
        + struct.pack(">II", len(target), sum(target) & 0xFFFFFFFF)
        + JOURNAL_MAGIC
    )
    with open(journal, "ab") as fh:
        fh.write(record)


def snapshot(*roots: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                if not os.path.isfile(p) or os.path.islink(p):
                    out[p] = ("special", st.st_mode, 0)
                    continue
                digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
                out[p] = (digest, st.st_size, st.st_mtime_ns)
    return out


def scan(tmp: Path, *targets: str, options: tuple[str, ...] = ()) -> tuple[int, dict]:
    report = tmp / "report.json"
    temp = tmp / "tmpdir"
    temp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(temp)}
    proc = subprocess.run(
        [FACEAUDIT, "scan", *targets, "--no-state", "-j", "2", "-f", "json", "-o", str(report),
         *options],
        capture_output=True,
        env=env,
        timeout=180,
        check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1, 3), proc.stderr.decode()
    assert list(temp.iterdir()) == [], "a private folder was left behind"
    return proc.returncode, json.loads(report.read_text())


def evidence_at(report: dict, suffix: str) -> list[str]:
    return [e["kind"] for i in report["items"] if i["path"].endswith(suffix) for e in i["evidence"]]


def test_a_super_journal_named_outside_the_tree_is_never_deleted(tmp_path: Path) -> None:
    tree, outside = tmp_path / "share", tmp_path / "elsewhere"
    tree.mkdir()
    outside.mkdir()
    canary = outside / "precious.txt"
    canary.write_text("must survive the scan")
    crashed_db(tree / "app.db")
    name_super_journal(tree / "app.db-journal", str(canary).encode())
    before = snapshot(tree, outside)
    code, report = scan(tmp_path, str(tree))
    assert canary.exists(), "the scan deleted a file named by a hostile journal"
    assert snapshot(tree, outside) == before
    # rolled back (the super-journal exists: the transaction never committed): the stored
    # templates are what the application would see, and they are found
    assert evidence_at(report, "app.db#faces.embedding") == ["face_embedding"]
    assert code == 1


def test_a_face_photo_named_as_super_journal_is_still_there_and_found(tmp_path: Path) -> None:
    """The journal names a face photo later in the walk: deleting it would also have hidden
    it from the report."""
    tree = tmp_path / "share"
    tree.mkdir()
    crashed_db(tree / "a.db")
    photo = tree / "z-badge.jpg"
    photo.write_bytes(encode(astronaut(), "JPEG"))
    name_super_journal(tree / "a.db-journal", str(photo).encode())
    before = snapshot(tree)
    _, report = scan(tmp_path, str(tree))
    assert photo.exists() and snapshot(tree) == before
    assert evidence_at(report, "z-badge.jpg") == ["face_image"]


def test_a_missing_super_journal_means_committed_and_nothing_is_replayed(
    tmp_path: Path,
) -> None:
    """What SQLite itself decides: with the named super-journal gone the multi-database
    transaction committed, so the journal is not hot: the database reads as the same file
    without any journal would."""
    tree, alone = tmp_path / "share", tmp_path / "alone"
    tree.mkdir()
    alone.mkdir()
    crashed_db(tree / "a.db")
    (alone / "a.db").write_bytes((tree / "a.db").read_bytes())
    hot = (tree / "a.db-journal").read_bytes()
    name_super_journal(tree / "a.db-journal", str(tmp_path / "gone.super").encode())
    before = snapshot(tree)
    _, with_journal = scan(tmp_path, str(tree))
    _, without = scan(tmp_path, str(alone))
    assert snapshot(tree) == before
    assert _columns(with_journal) == _columns(without)
    # control: the same crash image whose super-journal exists is rolled back, and differs
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.db").write_bytes((alone / "a.db").read_bytes())
    (other / "a.db-journal").write_bytes(hot)
    live = tmp_path / "live.super"
    live.write_text("a super-journal whose transaction never committed")
    name_super_journal(other / "a.db-journal", str(live).encode())
    _, rolled_back = scan(tmp_path, str(other))
    assert live.exists()
    assert _columns(rolled_back) != _columns(without)


def _columns(report: dict) -> list[tuple[str, list[object]]]:
    return sorted(
        (i["path"].rsplit("#", 1)[-1], [e.get("details") for e in i["evidence"]])
        for i in report["items"]
    )


class FifoWatch:
    """A FIFO that must never be opened: a thread keeps trying to open it for writing
    without blocking, which succeeds only while someone has it open for reading."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path)
        self.path, self.opened, self._stop = path, False, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO  # no reader: as it must be
            else:
                self.opened = True
                os.close(fd)  # the reader sees EOF instead of hanging
            time.sleep(0.002)

    def stop(self) -> bool:
        self._stop.set()
        self._thread.join(5)
        return self.opened


def test_a_super_journal_that_is_a_fifo_is_never_opened(tmp_path: Path) -> None:
    tree, outside = tmp_path / "share", tmp_path / "elsewhere"
    tree.mkdir()
    outside.mkdir()
    crashed_db(tree / "app.db")
    watch = FifoWatch(outside / "super")
    name_super_journal(tree / "app.db-journal", str(watch.path).encode())
    started = time.monotonic()
    _, report = scan(tmp_path, str(tree))
    assert not watch.stop(), "the FIFO named by the journal was opened"
    assert time.monotonic() - started < 60
    assert evidence_at(report, "app.db#faces.embedding") == ["face_embedding"]


def _plain_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE faces (embedding BLOB)")
    conn.executemany("INSERT INTO faces VALUES (?)", [(t,) for t in templates(5)])
    conn.commit()
    conn.close()


def test_a_fifo_swapped_in_after_the_check_is_never_opened(tmp_path: Path) -> None:
    """Between the check of the descriptor and SQLite's own open, the file is unlinked and a
    FIFO appears where /proc names the deleted file: refused, never opened."""
    db = tmp_path / "x.db"
    _plain_db(db)
    fd = os.open(db, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        db.unlink()
        watch = FifoWatch(tmp_path / "x.db (deleted)")
        with pytest.raises(FileChangedError):
            sqlite_open.open_fd(fd, str(db), str(tmp_path), 1 << 30)
        assert not watch.stop()
    finally:
        os.close(fd)


def test_a_renamed_database_is_read_from_the_checked_file(tmp_path: Path) -> None:
    """Renamed away with a FIFO left at its name: SQLite is handed the checked file itself."""
    db = tmp_path / "x.db"
    _plain_db(db)
    fd = os.open(db, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        db.rename(tmp_path / "moved.db")
        watch = FifoWatch(db)
        opened = sqlite_open.open_fd(fd, str(db), str(tmp_path), 1 << 30)
        try:
            assert opened.copy_dir is None
            assert opened.conn.execute("SELECT count(*) FROM faces").fetchone() == (5,)
        finally:
            sqlite_open.close(opened)
        assert not watch.stop()
    finally:
        os.close(fd)


def test_a_sidecar_that_is_a_fifo_or_a_link_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    _plain_db(db)
    watch = FifoWatch(Path(f"{db}-journal"))
    with pytest.raises(OSError, match="not a regular file"):
        sqlite_open.open_path(str(db), str(tmp_path), 1 << 30)
    assert not watch.stop()
    os.unlink(f"{db}-journal")
    os.symlink("/etc/passwd", f"{db}-wal")
    with pytest.raises(OSError):
        sqlite_open.open_path(str(db), str(tmp_path), 1 << 30)


def _sparse_db_with_wal(path: Path, size: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE faces (embedding BLOB)")
    conn.executemany("INSERT INTO faces VALUES (?)", [(t,) for t in templates(5)])
    copy = Path(f"{path}.tmp")
    for suffix in ("", "-wal"):  # a crash image: the WAL still holds the rows
        Path(f"{copy}{suffix}").write_bytes(Path(f"{path}{suffix}").read_bytes())
    conn.close()
    for suffix in ("", "-wal"):
        os.replace(f"{copy}{suffix}", f"{path}{suffix}")
    with open(path, "r+b") as fh:  # a sparse tail: huge, nearly no blocks
        fh.truncate(size)


def test_a_copy_over_the_temporary_space_limit_is_refused_not_made(tmp_path: Path) -> None:
    """A sparse 3 GiB database with a WAL: recovering it needs a 3 GiB private copy, over
    the 1 GiB default: reported as oversize (incomplete), and nothing is written."""
    tree = tmp_path / "share"
    tree.mkdir()
    _sparse_db_with_wal(tree / "big.db", 3 * 1024**3)
    before = snapshot(tree)
    code, report = scan(tmp_path, str(tree))
    assert code == 3 and snapshot(tree) == before
    (problem,) = [p for p in report["problems"] if p["path"].endswith("big.db")]
    assert problem["reason"] == "oversize" and "--max-temp-mb" in problem["detail"]


def test_the_temporary_space_limit_is_an_option(tmp_path: Path) -> None:
    tree = tmp_path / "share"
    tree.mkdir()
    _sparse_db_with_wal(tree / "small.db", 64 * 1024)
    _sparse_db_with_wal(tree / "four.db", 4 * 1024 * 1024)
    code, report = scan(tmp_path, str(tree), options=("--max-temp-mb", "2"))
    assert code == 3
    assert evidence_at(report, "small.db#faces.embedding") == ["face_embedding"]
    assert [(p["path"].rsplit("/", 1)[-1], p["reason"]) for p in report["problems"]] == [
        ("four.db", "oversize")
    ]


def test_an_empty_sidecar_needs_no_copy(tmp_path: Path) -> None:
    """An empty -wal or a journal without SQLite's header holds nothing to recover: the
    database is read in place (a sparse 3 GiB file is not copied)."""
    tree = tmp_path / "share"
    tree.mkdir()
    db = tree / "big.db"
    _plain_db(db)
    with open(db, "r+b") as fh:
        fh.truncate(3 * 1024**3)
    Path(f"{db}-wal").write_bytes(b"")
    Path(f"{db}-journal").write_bytes(bytes(512))  # PERSIST mode's zeroed header
    code, report = scan(tmp_path, str(tree))
    assert code == 1
    assert evidence_at(report, "big.db#faces.embedding") == ["face_embedding"]


def test_workers_run_confined_and_the_report_says_so(tmp_path: Path) -> None:
    tree = tmp_path / "share"
    tree.mkdir()
    _plain_db(tree / "x.db")
    _, report = scan(tmp_path, str(tree))
    protections = report["scan"]["protections"]
    assert protections["sandbox.landlock"].startswith("abi "), protections
    assert "writes confined to the private directory" in protections["sandbox.landlock"]
    assert protections["sandbox.no_new_privs"] == "on"
