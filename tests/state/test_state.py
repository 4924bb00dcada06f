"""The state database for real: unchanged files are not decoded again, changes of content,
metadata or configuration are seen, the lock, crash safety, history, and what it holds."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from helpers import astronaut, encode, no_face

from scanner.config import DetectionSettings, ScanConfig
from scanner.engine import run_scan
from scanner.model import ScanResult
from scanner.reporters.html import render as render_html
from scanner.state.store import FileEntry, FileIdentity, StateDB


def tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "face.jpg").write_bytes(encode(astronaut(), "JPEG"))
    (root / "coffee.png").write_bytes(encode(no_face(), "PNG"))
    with zipfile.ZipFile(root / "old.zip", "w") as zf:
        zf.writestr("badge.jpg", encode(astronaut().resize((256, 256)), "JPEG"))
    time.sleep(2.1)  # past the racy window: files modified just before a scan are not trusted
    return root


def scan(root: Path, state: Path, **kw: object) -> ScanResult:
    with StateDB(state) as db:
        return run_scan(ScanConfig(targets=(root,), workers=0, **kw), state=db)  # type: ignore[arg-type]


def view(result: ScanResult) -> list[tuple[str, str, int]]:
    return [
        (i.location.display, i.evidence[0].kind.value, i.evidence[0].faces) for i in result.items
    ]


def test_unchanged_files_are_reused_with_identical_results(tmp_path: Path) -> None:
    root, state = tree(tmp_path / "t"), tmp_path / "state.db"
    first = scan(root, state)
    second = scan(root, state)
    assert first.stats.reused == 0 and second.stats.reused == 3
    assert view(first) == view(second) and len(view(first)) == 2
    assert dict(first.stats.by_content_type) == dict(second.stats.by_content_type)
    assert first.stats.items_scanned == second.stats.items_scanned


def test_changes_are_seen(tmp_path: Path) -> None:
    root, state = tree(tmp_path / "t"), tmp_path / "state.db"
    scan(root, state)
    (root / "coffee.png").write_bytes(encode(astronaut(), "PNG"))  # now a face
    os.setxattr(root / "face.jpg", "user.test", b"1") if hasattr(os, "setxattr") else None
    time.sleep(2.1)
    again = scan(root, state)
    assert (f"{root}/coffee.png", "face_image", 1) in view(again)
    assert again.stats.reused == 1  # only the zip was untouched (face.jpg's ctime moved)


def test_configuration_changes_invalidate(tmp_path: Path) -> None:
    root, state = tree(tmp_path / "t"), tmp_path / "state.db"
    scan(root, state)
    other = scan(root, state, detection=DetectionSettings(min_face_px=50))
    assert other.stats.reused == 0


def test_since_skips_older_files(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    root = tree(tmp_path / "t")
    later = datetime.now(timezone.utc)
    time.sleep(0.05)
    (root / "new.jpg").write_bytes(encode(astronaut(), "JPEG"))
    result = run_scan(ScanConfig(targets=(root,), workers=0, since=later))
    assert [i.location.display for i in result.items] == [f"{root}/new.jpg"]
    assert result.stats.excluded == 3


def test_runs_share_the_database(tmp_path: Path) -> None:
    """Two runs at once (two connections, two locks) read and write side by side."""
    state = tmp_path / "state.db"
    entry = FileEntry(FileIdentity(1, 2, 3, 4, 5), "key", False, "{}", "[]", "[]", 0)
    with StateDB(state) as one, StateDB(state, wait_s=0) as two:
        one.save_files([("/a/1.jpg", entry)])
        two.save_files([("/b/1.jpg", entry)])
        assert set(one.load_files()) == set(two.load_files()) == {"/a/1.jpg", "/b/1.jpg"}
        assert not one.notes and not two.notes


def test_killed_mid_write_leaves_a_database_the_next_run_trusts(tmp_path: Path) -> None:
    root, state = tree(tmp_path / "t"), tmp_path / "state.db"
    scan(root, state)
    writer = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from scanner.state.store import StateDB, FileEntry, FileIdentity\n"
        "db = StateDB(Path(sys.argv[1]))\n"
        "print('ready', flush=True)\n"
        "n = 0\n"
        "while True:\n"
        "    e = FileEntry(FileIdentity(1, n, 1, 1, 1), 'k', False, '{}', '[]', '[]', 0)\n"
        "    db.save_files([(f'/x/{n}', e) for n in range(n, n + 500)])\n"
        "    n += 500\n"
    )
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(state)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with StateDB(state) as db:  # the lock died with the process; the file is sound
            assert not db.notes
            assert db.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    again = scan(root, state)
    assert again.stats.reused == 3


def test_a_damaged_database_is_moved_aside(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    state.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with StateDB(state) as db:
        assert db.notes and "damaged" in db.notes[0]
    assert list(tmp_path.glob("state.db.corrupt-*"))


def test_history_records_new_and_resolved(tmp_path: Path) -> None:
    root, state = tree(tmp_path / "t"), tmp_path / "state.db"
    scan(root, state)
    (root / "face.jpg").unlink()
    scan(root, state)
    with StateDB(state) as db:
        records = db.history()
    assert [(r.new_findings, r.resolved_findings) for r in records] == [(2, 0), (0, 1)]
    assert records[0].by_kind == {"face_image": 2}


def test_the_result_carries_the_trend_of_its_targets(tmp_path: Path) -> None:
    root, state = tree(tmp_path / "t"), tmp_path / "state.db"
    other = tmp_path / "other"
    other.mkdir()
    (other / "face.jpg").write_bytes(encode(astronaut(), "JPEG"))
    first = scan(root, state)
    scan(other, state)  # another target: not part of the trend of `root`
    (root / "face.jpg").unlink()
    third = scan(root, state)
    assert [p.findings_open for p in first.trend] == [2]
    assert [(p.findings_open, p.new_findings, p.resolved_findings) for p in third.trend] == [
        (2, 2, 0),
        (1, 0, 1),
    ]
    assert third.trend[-1].faces == 1 and not third.trend[-1].incomplete
    html = render_html(third)
    assert '<svg role="img" aria-labelledby="trend-title"' in html
    assert html.count('class="trend-point"') == 2
    assert "2 scans since" in html and "1 open finding now, 1 fewer than at the first" in html
    assert "trend-title" not in render_html(first)  # one scan: a sentence, no chart
    assert "first recorded scan of these targets" in render_html(first)


def test_the_state_holds_no_payload(tmp_path: Path) -> None:
    root, state = tree(tmp_path / "t"), tmp_path / "state.db"
    scan(root, state)
    conn = sqlite3.connect(state)
    text = "\n".join(str(v) for row in conn.execute("SELECT * FROM files") for v in row)
    conn.close()
    assert "face_image" in text and "boxes" in text
    assert "base64" not in text and "\\x" not in text
    assert max(len(str(v)) for v in text.split("\n")) < 20_000  # no pixel data, no vectors


def test_a_write_that_fails_midway_saves_none_of_it(tmp_path: Path) -> None:
    """Each write is one transaction: a scan is recorded with all its findings or not at all,
    files are saved all together or not at all (a full disk fails them the same way)."""
    with StateDB(tmp_path / "state.db") as db:
        for table, column in (("scan_findings", "fingerprint"), ("files", "key")):
            db.db.execute(
                f"CREATE TRIGGER full_{table} BEFORE INSERT ON {table} "
                f"WHEN NEW.{column} LIKE '%3' BEGIN SELECT RAISE(ABORT, 'disk is full'); END"
            )
        record = {
            "started_at": "2026-06-01T02:30:00+00:00",
            "finished_at": "2026-06-01T02:31:00+00:00",
            "targets": "[]",
            "policy": "org",
            "exit_code": 1,
            "incomplete": False,
            "items_with_evidence": 5,
            "faces": 5,
            "embeddings": 0,
            "findings_open": 5,
            "new_findings": 5,
            "resolved_findings": 0,
            "by_kind": {},
            "by_severity": {},
            "by_store": {},
        }
        with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
            db.record_scan(record, [(f"fp{n}", "R-1", "high", f"/x/{n}", "") for n in range(5)])
        assert db.history() == [] and db.last_fingerprints("[]", "org") is None
        entry = FileEntry(FileIdentity(1, 2, 3, 4, 5), "key", False, "{}", "[]", "[]", 0)
        with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
            db.save_files([(f"/x/{n}", entry) for n in range(5)])
        assert db.load_files() == {}
        db.record_scan(record, [(f"fp{n}", "R-1", "high", f"/x/{n}", "") for n in range(3)])
        assert db.last_fingerprints("[]", "org") == {"fp0", "fp1", "fp2"}  # usable after
