"""`watch` on real watchdog observers and real directories: closed-after-write and moved-in
files, never half-written ones; deletes resolve; an overflowed event queue is rescanned to the
same findings as a one-shot scan; a restart announces nothing already known; --exec; SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import astronaut, encode, no_face

from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.state.store import StateDB
from scanner.watch import Watcher, marks

FACE = encode(astronaut(), "JPEG")
QUEUE = Path("/proc/sys/fs/inotify/max_queued_events")


class Events:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.items.append(event)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.items if e["event"] == kind]

    def wait(self, kind: str, n: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.of(kind)) >= n:
                return self.of(kind)
            time.sleep(0.02)
        raise AssertionError(f"no {n} {kind} event(s) in {timeout}s: {self.items}")


@contextmanager
def watching(root: Path, state: Path, **kw: Any) -> Iterator[tuple[Watcher, Events]]:
    events = Events()
    db = StateDB(state)
    watcher = Watcher(ScanConfig(targets=(root,), workers=1), db, events, **kw)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    try:
        events.wait("ready")
        yield watcher, events
    finally:
        stop.set()
        thread.join(30)
        db.close()


def test_closed_and_moved_in_files_are_found_and_deletes_resolve(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    with watching(root, tmp_path / "s.db") as (_, events):
        (root / "a.jpg").write_bytes(FACE)  # written and closed
        staging = tmp_path / "staging.jpg"
        staging.write_bytes(FACE)
        os.rename(staging, root / "b.jpg")  # moved in
        found = events.wait("finding", 2)
        assert {Path(e["location"]).name for e in found} == {"a.jpg", "b.jpg"}
        (root / "a.jpg").unlink()
        os.rename(root / "b.jpg", tmp_path / "away.jpg")
        resolved = events.wait("resolved", 2)
        assert {Path(e["location"]).name for e in resolved} == {"a.jpg", "b.jpg"}


def test_a_half_written_file_is_not_acted_on(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    with watching(root, tmp_path / "s.db") as (watcher, events):
        with (root / "slow.jpg").open("wb") as fh:
            fh.write(FACE[: len(FACE) // 2])
            fh.flush()
            time.sleep(1.5)  # three debounce periods with the file open and half written
            assert watcher.scans == 1 and not events.of("notice")
            fh.write(FACE[len(FACE) // 2 :])
        (e,) = events.wait("finding")
        assert e["location"].endswith("slow.jpg") and not events.of("notice")


def test_a_file_closed_behind_a_backlog_is_examined_first(tmp_path: Path) -> None:
    """A burst of photos keeps events coming; the file closed last is examined in the next
    batch, not after the whole backlog."""
    root = tmp_path / "inbox"
    root.mkdir()
    photo = encode(no_face().resize((640, 480)), "JPEG")
    with watching(root, tmp_path / "s.db", batch=4) as (watcher, events):
        for n in range(120):
            (root / f"photo{n:03d}.jpg").write_bytes(photo + n.to_bytes(2, "big"))
        (root / "face.jpg").write_bytes(FACE)
        (e,) = events.wait("finding", timeout=60)
        assert e["location"].endswith("face.jpg")
        assert not watcher.idle()  # the photos that came before it are still waiting
        deadline = time.monotonic() + 300
        while not watcher.idle() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.idle() and not events.of("notice")
    assert {Path(e["location"]).name for e in events.of("finding")} == {"face.jpg"}


def test_a_restart_announces_nothing_already_known(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    (root / "a.jpg").write_bytes(FACE)
    time.sleep(2.1)
    with watching(root, tmp_path / "s.db") as (_, events):
        events.wait("finding")
    with watching(root, tmp_path / "s.db") as (_, events):
        (ready,) = events.of("ready")
        assert ready["reused"] == 1 and not events.of("finding")


@pytest.mark.skipif(not os.access(QUEUE, os.W_OK), reason="needs root to shrink the inotify queue")
def test_an_overflowed_queue_is_rescanned_to_the_one_shot_findings(tmp_path: Path) -> None:
    root = tmp_path / "burst"
    root.mkdir()
    old = QUEUE.read_text()
    QUEUE.write_text("32")  # read when an inotify instance is created: this watcher only
    try:
        with watching(root, tmp_path / "s.db") as (watcher, events):
            QUEUE.write_text(old)
            for n in range(300):  # a burst of notes (cheap to look at) with three photos in it
                (root / f"note{n:04d}.txt").write_text(f"minutes of meeting {n}\n")
                if n % 100 == 50:
                    (root / f"face{n // 100}.jpg").write_bytes(FACE)
            events.wait("rescan")
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:  # the last rescan saw no further overflow
                done = events.of("rescanned")
                if done and not done[-1]["overflowed_again"] and not watcher.overflow.is_set():
                    break
                time.sleep(0.2)
    finally:
        QUEUE.write_text(old)
    one_shot = marks(run_scan(ScanConfig(targets=(root,), workers=1)))
    assert (
        {k for k, v in watcher.known.items() if v}
        == set(one_shot)
        == {str(root / f"face{n}.jpg") for n in range(3)}
    )


def test_exec_gets_arguments_without_a_shell(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    out = tmp_path / "calls.txt"
    script = tmp_path / "hook.py"
    script.write_text(
        "import sys, json\n"
        f"open({str(out)!r}, 'a').write(json.dumps([sys.argv[1:], json.load(sys.stdin)]) + '\\n')\n"
    )
    argv = [sys.executable, str(script), "{location}", "{kind}", "; rm -rf /tmp/nothing"]
    with watching(root, tmp_path / "s.db", exec_argv=argv) as (_, events):
        (root / "$(touch pwned).jpg").write_bytes(FACE)
        events.wait("finding")
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    args, payload = json.loads(out.read_text().splitlines()[0])
    assert args[0].endswith("$(touch pwned).jpg") and args[1] == "face_image"
    assert args[2] == "; rm -rf /tmp/nothing" and payload["kind"] == "face_image"
    assert not (root / "pwned").exists() and not Path("pwned").exists()


def test_the_cli_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    faceaudit = str(Path(sys.executable).parent / "faceaudit")
    log = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [
            faceaudit,
            "watch",
            str(root),
            "--state",
            str(tmp_path / "s.db"),
            "-o",
            str(log),
            "-j",
            "1",
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "ready" not in (
            log.read_text() if log.exists() else ""
        ):
            time.sleep(0.1)
        (root / "a.jpg").write_bytes(FACE)
        while time.monotonic() < deadline and '"finding"' not in log.read_text():
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    kinds = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert kinds[0] == "ready" and "finding" in kinds and kinds[-1] == "stopped"
    with StateDB(tmp_path / "s.db"):  # the lock was released
        pass


def _watch_cli(root: Path, log: Path, home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XDG_STATE_HOME": str(home)}
    faceaudit = str(Path(sys.executable).parent / "faceaudit")
    return subprocess.Popen(
        [faceaudit, "watch", str(root), "-o", str(log), "-j", "0", *args],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def _events_in(log: Path, kind: str, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        found = [e for e in map(json.loads, lines) if e["event"] == kind]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event in {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_the_cli_exec_gets_the_path_and_no_state_records_nothing(tmp_path: Path) -> None:
    """`{path}` is the file a finding is in (the archive of a member), `{location}` the
    finding's place; with --no-state no state database is opened or written, and a restart
    announces again what it finds."""
    import zipfile

    root, home = tmp_path / "inbox", tmp_path / "home"
    root.mkdir()
    calls = tmp_path / "calls.jsonl"
    hook = tmp_path / "hook.py"
    hook.write_text(
        f"import json, sys\nopen({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    command = f"{sys.executable} {hook} {{path}} {{location}} {{kind}}"
    log = tmp_path / "events.jsonl"
    proc = _watch_cli(root, log, home, "--no-state", "--exec", command)
    try:
        _events_in(log, "ready")
        staging = tmp_path / "staging.zip"
        with zipfile.ZipFile(staging, "w") as zf:
            zf.writestr("badges/ada.jpg", FACE)
        os.rename(staging, root / "badges.zip")  # moved in, complete
        (finding,) = _events_in(log, "finding")
        deadline = time.monotonic() + 20
        while not calls.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        _stop(proc)
    zipped = str(root / "badges.zip")
    assert finding["path"] == zipped and finding["location"] == f"{zipped}!/badges/ada.jpg"
    assert json.loads(calls.read_text().splitlines()[0]) == [
        zipped,
        f"{zipped}!/badges/ada.jpg",
        "face_image",
    ]
    assert not (home / "faceaudit").exists()  # no state database, not even created

    again = tmp_path / "again.jsonl"
    proc = _watch_cli(root, again, home, "--no-state")
    try:
        (ready,) = _events_in(again, "ready")
        (finding,) = _events_in(again, "finding")  # nothing remembered: announced again
    finally:
        _stop(proc)
    assert ready["reused"] == 0 and finding["path"] == zipped
    assert not (home / "faceaudit").exists()


@pytest.mark.parametrize(
    ("command", "policy", "message"),
    [
        ("notify {pth}", None, "'{pth}' names {pth}, which events of items (without --policy)"),
        ("notify {rule_id}", None, "names {rule_id}, which events of items"),
        ("notify {path", None, "'{path': expected '}' before end of string"),
        ("notify {fingerprint}", "gdpr", None),
        ("notify {path} {detector}", None, None),
    ],
)
def test_exec_fields_are_checked_before_watching(
    tmp_path: Path, command: str, policy: str | None, message: str | None
) -> None:
    from scanner.watch import exec_problem

    problem = exec_problem(command.split(), with_policy=policy is not None)
    if message is None:
        assert problem is None
        return
    assert problem is not None and message in problem
    faceaudit = str(Path(sys.executable).parent / "faceaudit")
    proc = subprocess.run(
        [faceaudit, "watch", str(tmp_path), "--no-state", "--exec", command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("faceaudit: error: --exec ") and message in proc.stderr
    assert "{path}" in proc.stderr or "expected" in proc.stderr


def test_exec_fields_are_the_fields_of_the_events(tmp_path: Path) -> None:
    """What --exec may name is what the events carry, with a policy and without."""
    from scanner import Judgement, load_policy
    from scanner.watch import FINDING_FIELDS, ITEM_FIELDS

    (tmp_path / "badge.jpg").write_bytes(FACE)
    items = marks(run_scan(ScanConfig(targets=(tmp_path,), workers=0)))
    assert [set(m.payload) for by in items.values() for m in by.values()] == [set(ITEM_FIELDS)]
    judged = run_scan(
        ScanConfig(targets=(tmp_path,), workers=0), judgement=Judgement(load_policy("gdpr"))
    )
    findings = [m.payload for by in marks(judged).values() for m in by.values()]
    assert findings and all(set(p) == set(FINDING_FIELDS) for p in findings)
