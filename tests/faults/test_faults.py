"""Fault injection: things going wrong around a scan, not in the data.

A worker killed mid-item, a full disk under the report, permissions changed while the scan
runs, files truncated or replaced between the walk and the read, a database connection
killed from the server side, SIGINT and SIGTERM. In each case the scan ends by itself, a
partial report marked incomplete is written (or, when the report itself cannot be written,
the error says so), the exit code is 3, and what had been found before the fault is in the
report. Every scan keeps a state database: after the fault it passes SQLite's check, the
next run opens it without moving it aside, it remembers nothing the fault cut short (that is
looked at again), and the next run finds everything: nothing is lost.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import db_helpers
import pytest
from helpers import astronaut, encode
from PIL import Image
from reporters.sample import schema_errors

from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.model import ExitCode, ProblemReason
from scanner.state.store import StateDB

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
MiB = 1024 * 1024
BUSY_RSS = 450 * MiB  # a worker decoding a 150-megapixel image is far above its idle size


# -- helpers -------------------------------------------------------------------------------


@functools.cache
def face_jpeg() -> bytes:
    return encode(astronaut(), "JPEG", quality=85)


@functools.cache
def slow_png() -> bytes:
    """150 megapixels (under --max-pixels): about a second of decoding, ~0.8 GB resident."""
    return encode(Image.new("L", (15_000, 10_000)), "PNG", compress_level=1)


def start(*args: str, cwd: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """`faceaudit scan ARGS` with its state database beside cwd (outside what is scanned)."""
    return subprocess.Popen(
        [FACEAUDIT, "scan", *args, "--state", str(state_of(cwd))],
        cwd=cwd,
        stdout=kwargs.pop("stdout", subprocess.PIPE),
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                raw = (entry / "stat").read_text()
                fields = raw[raw.rindex(")") + 2 :].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    out.append(int(entry.name))
    return out


def rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def busy_worker(proc: subprocess.Popen[bytes]) -> int:
    """The pid of a worker in the middle of the big item (its memory says so)."""

    def find() -> int | None:
        assert proc.poll() is None, "the scan ended before the fault could be injected"
        return next((pid for pid in children(proc.pid) if rss(pid) > BUSY_RSS), None)

    return int(wait_for(find, "a worker busy with the big item"))


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> tuple[str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (err or b"").decode("utf-8", "replace")
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return (out or b"").decode("utf-8", "replace"), stderr


def report(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert schema_errors(document) == []
    return document


def reasons(document: dict[str, Any]) -> dict[str, str]:
    return {p["path"]: p["reason"] for p in document["problems"]}


def state_of(cwd: Path) -> Path:
    return cwd.parent / f"{cwd.name}-state.db"


def assert_state_trusted(state: Path, cut_short: tuple[str, ...] = ()) -> dict[str, Any]:
    """The state database after a fault: sound, opened by the next run as it is (not moved
    aside as damaged), and holding no entry for what the fault cut short."""
    with sqlite3.connect(f"file:{state}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()
    with StateDB(state) as db:
        assert db.notes == [], db.notes
        files: dict[str, Any] = dict(db.load_files())
        columns = db.load_columns()
    assert not list(state.parent.glob(state.name + ".corrupt-*"))
    for location in cut_short:
        assert location not in files and location not in columns, location
    return files


def rescan(targets: tuple[Path, ...], state: Path) -> Any:
    """The next run, with the same state and the fault gone: a complete result."""
    with StateDB(state) as db:
        result = run_scan(ScanConfig(targets=targets, workers=2), state=db)
    assert not result.incomplete, result.problems
    return result


def _drop_dac() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH: permission bits apply to root
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.fixture
def small_fs() -> Iterator[Path]:
    """A 160 KiB tmpfs: a state database is created, a large report or a state that grows does
    not fit (needs root to mount; skipped otherwise)."""
    where = Path(tempfile.mkdtemp(prefix="faceaudit-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


# -- a worker killed -----------------------------------------------------------------------


def test_a_worker_killed_mid_item(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.png").write_bytes(slow_png())
    for i in range(6):
        (tree / f"face-{i}.jpg").write_bytes(face_jpeg())
    out = tmp_path / "report.json"
    proc = start(str(tree), "-j", "2", "-f", "json", "-o", str(out), cwd=tmp_path)
    os.kill(busy_worker(proc), signal.SIGKILL)
    finish(proc)
    assert proc.returncode == ExitCode.INCOMPLETE
    document = report(out)
    assert document["summary"]["incomplete"] and not document["scan"]["interrupted"]
    (crashed,) = [p for p in document["problems"] if p["reason"] == "worker_crashed"]
    assert crashed["path"] == str(tree / "big.png") and "SIGKILL" in crashed["detail"]
    # Nothing lost: every face was still found by the replacement worker.
    faces = [str(tree / f"face-{i}.jpg") for i in range(6)]
    assert sorted(i["path"] for i in document["items"]) == faces
    assert_state_trusted(state_of(tmp_path), cut_short=(str(tree / "big.png"),))
    again = rescan((tree,), state_of(tmp_path))
    assert sorted(i.location.path for i in again.items) == faces


# -- the disk full -------------------------------------------------------------------------


def test_stdout_on_a_full_disk(tmp_path: Path) -> None:
    (tmp_path / "face.jpg").write_bytes(face_jpeg())
    with open("/dev/full", "wb") as full:
        proc = start(str(tmp_path), "-j", "0", "-f", "json", cwd=tmp_path, stdout=full)
        _, stderr = finish(proc)
    assert proc.returncode == ExitCode.INCOMPLETE
    assert "cannot write the report to stdout" in stderr and "No space left" in stderr


def test_output_device_that_is_full(tmp_path: Path) -> None:
    (tmp_path / "face.jpg").write_bytes(face_jpeg())
    proc = start(str(tmp_path), "-j", "0", "-f", "json", "-o", "/dev/full", cwd=tmp_path)
    _, stderr = finish(proc)
    assert proc.returncode == ExitCode.INCOMPLETE
    assert "cannot write /dev/full" in stderr and "No space left" in stderr


def test_a_report_that_does_not_fit_leaves_the_old_one_intact(
    tmp_path: Path, small_fs: Path
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(1200):  # 1,200 problems: a report far larger than 160 KiB
        (tree / f"empty-{i:03}.jpg").write_bytes(b"")
    old = small_fs / "report.json"
    old.write_text('{"previous": "report"}\n', encoding="utf-8")
    proc = start(str(tree), "-j", "2", "-f", "json", "-o", str(old), cwd=tmp_path)
    _, stderr = finish(proc)
    assert proc.returncode == ExitCode.INCOMPLETE
    assert f"cannot write {old}" in stderr and "No space left" in stderr
    assert old.read_text(encoding="utf-8") == '{"previous": "report"}\n'  # atomic: untouched
    assert os.listdir(small_fs) == ["report.json"]  # no half-written temporary file
    assert_state_trusted(state_of(tmp_path))


def test_the_state_database_on_a_full_disk(tmp_path: Path, small_fs: Path) -> None:
    """The state fills its disk mid-scan: the report is still written, whole, and says so
    (state_not_saved, exit 3); the state database stays consistent and usable."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "face.jpg").write_bytes(face_jpeg())
    for i in range(1500):
        (tree / f"note-{i:04}.txt").write_text("nothing\n")
    out = tmp_path / "report.json"
    state = small_fs / "state.db"
    proc = subprocess.Popen(
        [FACEAUDIT, "scan", str(tree), "-j", "2", "--state", str(state), "-f", "json", "-o",
         str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    finish(proc)
    assert proc.returncode == ExitCode.INCOMPLETE
    document = report(out)
    assert [i["path"] for i in document["items"]] == [str(tree / "face.jpg")]  # nothing lost
    (problem,) = document["problems"]
    assert problem["reason"] == "state_not_saved" and "disk is full" in problem["detail"]
    assert_state_trusted(state)
    # The next run, on the disk still full, opens the state and scans: a whole report again.
    again = subprocess.run(
        [FACEAUDIT, "scan", str(tree), "-j", "2", "--state", str(state), "-f", "json", "-o",
         str(out)],
        cwd=tmp_path, capture_output=True, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert again.returncode == ExitCode.INCOMPLETE, again.stderr
    assert [i["path"] for i in report(out)["items"]] == [str(tree / "face.jpg")]
    assert_state_trusted(state)


# -- permissions changed during the scan ---------------------------------------------------


def test_permissions_changed_during_the_scan(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to scan without the capabilities that bypass permissions")
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "z" / "sub").mkdir(parents=True)
    for i in range(3):  # keeps both workers busy while the permissions change
        (tree / "a" / f"big-{i}.png").write_bytes(slow_png())
    (tree / "z" / "face.jpg").write_bytes(face_jpeg())
    (tree / "z" / "sub" / "face.jpg").write_bytes(face_jpeg())
    out = tmp_path / "report.json"
    proc = start(
        str(tree), "-j", "2", "-f", "json", "-o", str(out), cwd=tmp_path, preexec_fn=_drop_dac
    )
    try:
        busy_worker(proc)
        os.chmod(tree / "z" / "face.jpg", 0)
        os.chmod(tree / "z" / "sub", 0)
        finish(proc)
    finally:
        os.chmod(tree / "z" / "sub", 0o755)
    assert proc.returncode == ExitCode.INCOMPLETE
    got = reasons(report(out))
    assert got[str(tree / "z" / "face.jpg")] == "unreadable_file"
    assert got[str(tree / "z" / "sub")] == "unreadable_directory"
    os.chmod(tree / "z" / "face.jpg", 0o644)
    files = assert_state_trusted(state_of(tmp_path), cut_short=(str(tree / "z" / "face.jpg"),))
    assert not any(k.startswith(str(tree / "z" / "sub")) for k in files)
    again = rescan((tree,), state_of(tmp_path))
    assert sorted(i.location.path for i in again.items) == [
        str(tree / "z" / "face.jpg"),
        str(tree / "z" / "sub" / "face.jpg"),
    ]


# -- a file changed while a worker reads it -----------------------------------------------


def _npy(megabytes: int) -> bytes:
    rows = megabytes * MiB // 512
    header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, 128), }}"
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


def _reader_of(path: Path) -> int | None:
    """A worker (a child of this process) that has `path` open right now."""
    for pid in children(os.getpid()):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                        return pid
    return None


@pytest.mark.parametrize("change", ["truncate", "rewrite"])
def test_a_file_changed_while_a_worker_reads_it(tmp_path: Path, change: str) -> None:
    """The worker is frozen (SIGSTOP) with the file open, the file is changed, the worker
    goes on: what it read is refused, not analysed as if it were the file."""
    big = tmp_path / "m-big.npy"
    big.write_bytes(_npy(90) + bytes(90 * MiB))
    for name in ("a-face.jpg", "z-face.jpg"):
        (tmp_path / name).write_bytes(face_jpeg())
    caught: list[int] = []

    def saboteur() -> None:
        deadline = time.monotonic() + 60
        while not caught and time.monotonic() < deadline:
            pid = _reader_of(big)
            if pid is None:
                continue
            os.kill(pid, signal.SIGSTOP)
            try:
                if change == "truncate":
                    os.truncate(big, 4 * MiB)
                else:  # same size, other bytes, a later mtime
                    with open(big, "r+b") as fh:
                        fh.seek(50 * MiB)
                        fh.write(b"\x01" * 4096)
                    st = big.stat()
                    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
            finally:
                os.kill(pid, signal.SIGCONT)
            caught.append(pid)

    thread = threading.Thread(target=saboteur, daemon=True)
    thread.start()
    state = state_of(tmp_path)
    with StateDB(state) as db:
        result = run_scan(ScanConfig(targets=(tmp_path,), workers=2), state=db)
    thread.join(5)
    if not caught:
        pytest.skip("the worker read the file before it could be caught open (machine too fast)")
    assert result.exit_code is ExitCode.INCOMPLETE
    (problem,) = result.problems
    assert problem.location.path == str(big)
    assert problem.reason is ProblemReason.CHANGED_DURING_SCAN, problem.detail
    assert sorted(Path(i.location.path).name for i in result.items) == ["a-face.jpg", "z-face.jpg"]
    assert_state_trusted(state, cut_short=(str(big),))


# -- a database connection killed ----------------------------------------------------------


def _face_table(name: str) -> str:
    return f"CREATE TABLE {name} (id int PRIMARY KEY, photo bytea)"


def test_postgres_connection_killed_mid_scan(tmp_path: Path) -> None:
    import psycopg

    with db_helpers.pg_database("fa_fault") as uri:
        dbname = uri.rsplit("/", 1)[1]
        with psycopg.connect(uri, autocommit=True) as conn:
            for table in ("a_faces", "z_faces"):
                conn.execute(_face_table(table))  # type: ignore[arg-type]
                conn.execute(f"INSERT INTO {table} VALUES (1, %s)", (face_jpeg(),))  # type: ignore[arg-type]
            conn.execute("CREATE VIEW m_slow AS SELECT pg_sleep(60)::text AS t, 'x'::bytea AS b")
        out = tmp_path / "report.json"
        proc = start(uri, "-j", "2", "--statement-timeout", "90", "-f", "json", "-o", str(out),
                     "--read-views", cwd=tmp_path)  # fmt: skip
        with psycopg.connect(uri, autocommit=True) as admin:

            def sleeping() -> list[Any]:
                assert proc.poll() is None, "the scan ended before the connection was killed"
                return admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND "
                    "wait_event = 'PgSleep'",
                    (dbname,),
                ).fetchall()

            wait_for(sleeping, "the scan to reach the slow view")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (dbname,),
            )
        finish(proc)
    assert proc.returncode == ExitCode.INCOMPLETE
    document = report(out)
    lost = [p for p in document["problems"] if p["reason"] == "database_unreadable"]
    assert lost and "connection lost" in lost[0]["detail"], document["problems"]
    # What was read before the connection died is in the report.
    assert [i["path"].rsplit("#", 1)[1] for i in document["items"]] == ["public.a_faces.photo"]
    cut = tuple(p["path"] for p in document["problems"] if p["incomplete"])
    assert_state_trusted(state_of(tmp_path), cut_short=cut)


def test_mariadb_connection_killed_mid_scan(tmp_path: Path) -> None:
    with db_helpers.mysql_database("fa_fault") as uri:
        dbname = uri.rsplit("/", 1)[1]
        conn = db_helpers.mysql_connect(uri)
        try:
            cur = conn.cursor()
            for table in ("a_faces", "z_faces"):
                cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, photo longblob)")
                cur.execute(f"INSERT INTO {table} VALUES (1, %s)", (face_jpeg(),))
            cur.execute("CREATE VIEW m_slow AS SELECT SLEEP(60) AS s, REPEAT('x', 300) AS p")
            out = tmp_path / "report.json"
            proc = start(uri, "-j", "2", "--statement-timeout", "90", "-f", "json", "-o",
                         str(out), "--read-views", cwd=tmp_path)  # fmt: skip

            def sleeping() -> list[Any]:
                assert proc.poll() is None, "the scan ended before the connection was killed"
                cur.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = %s AND "
                    "info LIKE %s AND id <> CONNECTION_ID()",
                    (dbname, "%m_slow%"),
                )
                return list(cur.fetchall())

            for (thread,) in wait_for(sleeping, "the scan to reach the slow view"):
                cur.execute(f"KILL CONNECTION {int(thread)}")
            finish(proc)
        finally:
            conn.close()
    assert proc.returncode == ExitCode.INCOMPLETE
    document = report(out)
    # The killed statement's relation is reported; the source reconnects for the rest, so
    # the tables after it are read too.
    (killed,) = [p for p in document["problems"] if p["incomplete"]]  # and the warnings
    assert killed["path"].endswith("#m_slow") and killed["incomplete"], killed
    assert killed["reason"] in ("query_timeout", "database_unreadable")
    assert [i["path"].rsplit("#", 1)[1] for i in document["items"]] == [
        "a_faces.photo",
        "z_faces.photo",
    ]
    assert_state_trusted(state_of(tmp_path), cut_short=(killed["path"],))


# -- signals -------------------------------------------------------------------------------


@pytest.fixture
def slow_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(4):
        (tree / f"a-face-{i}.jpg").write_bytes(face_jpeg())
    for i in range(6):
        (tree / f"b-big-{i}.png").write_bytes(slow_png())
    return tree


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_scan_writes_a_partial_report(
    slow_tree: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "report.json"
    proc = start(str(slow_tree), "-j", "2", "-f", "json", "-o", str(out), cwd=tmp_path)
    busy_worker(proc)
    workers = children(proc.pid)
    proc.send_signal(sig)
    stdout, _ = finish(proc, timeout=30)
    assert proc.returncode == ExitCode.INCOMPLETE and stdout == ""
    document = report(out)
    assert document["scan"]["interrupted"] and document["summary"]["incomplete"]
    assert any(p["reason"] == "interrupted" for p in document["problems"])
    # The faces found before the signal are in the partial report.
    assert {i["path"] for i in document["items"]} == {
        str(slow_tree / f"a-face-{i}.jpg") for i in range(4)
    }
    wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), "workers to exit", 15)
    files = assert_state_trusted(state_of(tmp_path))
    examined = {p["path"] for p in document["problems"] if p["reason"] == "interrupted"}
    assert not examined & set(files)  # what the signal cut short is looked at again
    if sig is signal.SIGINT:  # the next run finds everything (SIGTERM: the same code path)
        again = rescan((slow_tree,), state_of(tmp_path))
        assert {i.location.path for i in again.items} == {i["path"] for i in document["items"]}


def test_sigterm_while_a_worker_recovers_a_database_in_its_private_copy(tmp_path: Path) -> None:
    """A database with a -wal is recovered in a copy in the worker's private folder, then
    a view that never ends keeps the worker busy (--read-views): SIGTERM still ends the
    scan with a partial report, and nothing is left in TMPDIR."""
    tree, temp = tmp_path / "tree", tmp_path / "tmp"
    tree.mkdir()
    temp.mkdir()
    live = tmp_path / "live.db"
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE faces (photo BLOB)")
    conn.executemany("INSERT INTO faces VALUES (?)", [(face_jpeg(),)] * 3)
    conn.execute(
        "CREATE VIEW endless AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 "
        "FROM r) SELECT n, 'x' AS label FROM r WHERE n < 0"
    )
    for suffix in ("", "-wal"):  # a crash image: the rows are only in the -wal
        (tree / f"app.db{suffix}").write_bytes(Path(f"{live}{suffix}").read_bytes())
    conn.close()
    out = tmp_path / "report.json"
    proc = start(
        str(tree), "-j", "2", "-f", "json", "-o", str(out), "--read-views",
        "--statement-timeout", "120", "--timeout", "300", cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(temp)},
    )  # fmt: skip
    copies = wait_for(lambda: list(temp.glob("faceaudit-*/worker-*/sqlite-*")), "a copy", 60)
    time.sleep(1.0)  # into the endless view
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    finish(proc, timeout=30)
    assert proc.returncode == ExitCode.INCOMPLETE
    document = report(out)
    assert document["scan"]["interrupted"]
    assert copies and not any(c.exists() for c in copies)
    assert list(temp.iterdir()) == [], "the private folders were left behind"


def _ignore_sigint() -> None:  # pragma: no cover - runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_sigint_stops_a_scan_started_with_sigint_ignored(slow_tree: Path, tmp_path: Path) -> None:
    """A background job of a script starts with SIGINT ignored; `kill -INT` still stops it."""
    out = tmp_path / "report.json"
    proc = start(
        str(slow_tree), "-j", "2", "-f", "json", "-o", str(out), cwd=tmp_path,
        preexec_fn=_ignore_sigint,
    )  # fmt: skip
    busy_worker(proc)
    proc.send_signal(signal.SIGINT)
    finish(proc, timeout=30)
    assert proc.returncode == ExitCode.INCOMPLETE
    assert report(out)["scan"]["interrupted"]
    assert_state_trusted(state_of(tmp_path))


def test_sigterm_with_the_report_on_stdout(slow_tree: Path, tmp_path: Path) -> None:
    proc = start(str(slow_tree), "-j", "2", "-f", "json", cwd=tmp_path)
    busy_worker(proc)
    proc.send_signal(signal.SIGTERM)
    stdout, _ = finish(proc, timeout=30)
    assert proc.returncode == ExitCode.INCOMPLETE
    document = json.loads(stdout)  # a whole JSON document, not a cut one
    assert schema_errors(document) == [] and document["scan"]["interrupted"]
    assert_state_trusted(state_of(tmp_path))


def test_two_sigints_never_leave_a_half_written_report(slow_tree: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "report.json"
    proc = start(str(slow_tree), "-j", "2", "-f", "json", "-o", str(out), cwd=tmp_path)
    busy_worker(proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)  # impatient: a second Ctrl-C while the report is written
    finish(proc, timeout=30)
    assert proc.returncode == ExitCode.INCOMPLETE
    assert os.listdir(out_dir) in ([], ["report.json"])  # never a temporary file left behind
    if out.exists():
        assert report(out)["scan"]["interrupted"]  # whole, or not there at all
    assert_state_trusted(state_of(tmp_path))
