"""Runs share one state database: two `faceaudit scan` processes of different targets on the
user's default state database run side by side (made to overlap for certain by a test-only
detector, tests/plugins/faceaudit_rendezvous.py) with their normal exit codes and a sound
database holding both; a run that must wait — another process has the database alone, or an
upgrade waits for the runs using it — says so once and waits, then goes on or gives up."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import astronaut, encode
from plugin_site import Site, installed_site

from scanner import demo_documents as documents
from scanner.state import schema
from scanner.state.store import StateDB, StateLocked

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
PLUGIN = Path(__file__).parents[1] / "plugins" / "faceaudit_rendezvous.py"
MODULE = "faceaudit_rendezvous"
FACE = encode(astronaut(), "JPEG")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    for site in installed_site(tmp_path, monkeypatch, {MODULE: PLUGIN.read_text()}):
        site.install("faceaudit-test-rendezvous", {"test.rendezvous": f"{MODULE}:Rendezvous"})
        yield site


def tree(root: Path, meet: Path, face: bool, count: int = 2) -> Path:
    """A target whose scan meets the others halfway (`count` scans in all); 200 small files so
    that each has its cache to write afterwards; one face photo, or none."""
    root.mkdir()
    line = f"%rendezvous {meet} {count}".encode()
    # a valid PDF (faceaudit opens PDFs for their pictures), the line in its page's text
    (root / "meet.pdf").write_bytes(documents.pdf([documents.Page(text=line.decode())]))
    for n in range(200):
        (root / f"note-{n:03}.txt").write_text(f"minutes of meeting {n}\n")
    if face:
        (root / "badge.jpg").write_bytes(FACE)
    return root


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FACEAUDIT_WAIT_LOCK"}
    env["XDG_STATE_HOME"] = str(home)  # the user's default state database, shared
    return {**env, **extra}


def start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FACEAUDIT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 180) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def wait_for(path: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.usefixtures("site")
def test_two_scans_of_different_targets_run_side_by_side(tmp_path: Path) -> None:
    meet = tmp_path / "meet"
    meet.mkdir()
    hr = tree(tmp_path / "hr", meet, face=True)
    sales = tree(tmp_path / "sales", meet, face=False)
    env = environment(tmp_path / "home")
    first = start(env, "scan", str(hr), "-j", "0", "-f", "json")
    second = start(env, "scan", str(sales), "-j", "0", "-f", "json")
    (code_hr, out_hr, err_hr), (code_sales, out_sales, err_sales) = finish(first), finish(second)

    assert {p.name for p in meet.glob("*.met")} == {f"{first.pid}.met", f"{second.pid}.met"}
    assert code_hr == 1, err_hr  # face data
    assert code_sales == 0, err_sales  # none
    assert "waiting" not in err_hr + err_sales and "lock" not in err_hr + err_sales
    found = [i["location"]["path"] for i in json.loads(out_hr)["items"]]
    assert len(found) == 1 and found[0].endswith("badge.jpg")
    assert json.loads(out_sales)["items"] == []

    db = tmp_path / "home" / "faceaudit" / "state.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        scans = conn.execute("SELECT roots, exit_code FROM scans ORDER BY roots").fetchall()
        assert scans == [(json.dumps([str(hr)]), 1), (json.dumps([str(sales)]), 0)]
        keys = [k for (k,) in conn.execute("SELECT key FROM files")]
    finally:
        conn.close()
    # each scan's cache is complete (files written within two seconds are racy, not absent)
    assert sum(k.startswith(f"{hr}/") for k in keys) == 202
    assert sum(k.startswith(f"{sales}/") for k in keys) == 201

    shown = subprocess.run(
        [FACEAUDIT, "history", "--target", str(sales), "-f", "json"],
        capture_output=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert [r["roots"] for r in json.loads(shown.stdout)] == [[str(sales)]]


@pytest.mark.usefixtures("site")
def test_two_scans_of_the_same_target_at_once_both_count(tmp_path: Path) -> None:
    """Nothing is locked for them either: both do the work, write the same cache entries
    (the last one stays) and are recorded one after the other, the second compared with the
    first."""
    meet = tmp_path / "meet"
    meet.mkdir()
    share = tree(tmp_path / "share", meet, face=True)
    env = environment(tmp_path / "home")
    runs = [start(env, "scan", str(share), "-j", "0", "-q") for _ in range(2)]
    results = [finish(run) for run in runs]
    assert len(list(meet.glob("*.met"))) == 2  # they overlapped
    assert [code for code, _, _ in results] == [1, 1], results
    db = tmp_path / "home" / "faceaudit" / "state.db"
    with StateDB(db) as state:
        first, second = state.history()
        assert (first.findings_open, first.new_findings) == (1, 1)
        assert (second.findings_open, second.new_findings, second.resolved_findings) == (1, 0, 0)
        assert len(state.load_files()) == 202
        assert state.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, f"pid {os.getpid()} since 2026-12-07T06:00:00+00:00, to be upgraded".encode(), 0)
print("held", flush=True)
sys.stdin.readline()
"""


def hold_alone(db: Path) -> subprocess.Popen[str]:
    """Another process with the state database alone (the lock an upgrade or a repair holds),
    until its stdin is closed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db) + ".lock"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_a_scan_waits_while_another_process_has_the_database_alone(tmp_path: Path) -> None:
    target = tmp_path / "share"
    target.mkdir()
    (target / "badge.jpg").write_bytes(FACE)
    db = tmp_path / "home" / "faceaudit" / "state.db"
    db.parent.mkdir(parents=True)
    holder = hold_alone(db)
    try:
        # told to wait one second: it gives up, exit 3, naming the holder
        began = time.monotonic()
        gave_up = subprocess.run(
            [FACEAUDIT, "scan", str(target), "-j", "0", "-q"],
            capture_output=True,
            text=True,
            env=environment(tmp_path / "home", FACEAUDIT_WAIT_LOCK="1"),
            timeout=120,
            check=False,
        )
        assert gave_up.returncode == 3
        assert time.monotonic() - began >= 1
        assert f"another faceaudit run (pid {holder.pid} since" in gave_up.stderr
        assert "gave up after 1 s" in gave_up.stderr and "FACEAUDIT_WAIT_LOCK" in gave_up.stderr

        # by default it waits, says so once, and goes on when the lock is released
        waiting = start(environment(tmp_path / "home"), "scan", str(target), "-j", "0", "-q")
        assert waiting.stderr is not None
        line = waiting.stderr.readline().decode()
        assert line.startswith(f"faceaudit: another faceaudit run (pid {holder.pid} since")
        assert line.rstrip().endswith("alone (waiting up to 60 s)")
        time.sleep(1.5)  # still waiting, and it said so once
        assert waiting.poll() is None
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    code, _, rest = finish(waiting)
    assert code == 1, rest  # the scan itself: face data found
    assert "waiting" not in rest
    with StateDB(db) as state:
        assert [r.exit_code for r in state.history()] == [1]


def test_an_upgrade_waits_for_the_runs_using_the_database(
    tmp_path: Path, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer faceaudit must upgrade the database alone: it waits for a scan that is using
    it (held halfway by the rendezvous), says so once, and upgrades when the scan is done."""
    meet = tmp_path / "meet"
    meet.mkdir()
    target = tree(tmp_path / "share", meet, face=True)
    env = environment(tmp_path / "home")
    db = tmp_path / "home" / "faceaudit" / "state.db"
    scan = start(env, "scan", str(target), "-j", "0", "-q")
    wait_for(meet / f"{scan.pid}.arrived")  # the scan has the database open, halfway through

    def add_column(conn: sqlite3.Connection) -> str | None:
        conn.execute("ALTER TABLE scans ADD COLUMN tool_version TEXT")
        return None

    now = schema.SCHEMA_VERSION
    monkeypatch.setattr(schema, "SCHEMA_VERSION", now + 1)
    monkeypatch.setattr(schema, "STEPS", {**schema.STEPS, now: add_column})
    with pytest.raises(StateLocked, match="must be upgraded first"):
        StateDB(db, wait_s=0.3)
    told: list[str] = []
    opened: list[StateDB] = []
    upgrade = threading.Thread(target=lambda: opened.append(StateDB(db, on_wait=told.append)))
    upgrade.start()
    time.sleep(1.5)
    assert upgrade.is_alive() and not opened
    assert told == [
        f"the state database {db} must be upgraded first, which needs it alone: waiting for "
        "the other faceaudit runs using it to finish (waiting up to 60 s)"
    ]
    (meet / "test.arrived").write_text("")  # let the scan finish
    code, _, err = finish(scan)
    upgrade.join(60)
    assert code == 1, err
    assert len(told) == 1 and len(opened) == 1
    with opened[0] as state:
        assert state.notes == [f"state database upgraded from schema version {now} to {now + 1}"]
        assert [r.exit_code for r in state.history()] == [1]  # the scan's record kept
