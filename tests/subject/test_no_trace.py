"""The hard rule: a probe photo and every descriptor (the probe's and the scanned faces')
exist only in memory. A real `faceaudit subject find` and `faceaudit triage` through the
worker pool, with TMPDIR, HOME and the state directory pointed at empty folders: afterwards
the temporary folder and HOME are still empty, and no report, output, state database or
stream holds the probe's bytes or any component of a descriptor, in text or in binary."""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut, encode, no_face
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from scanner.subject.probe import load_probes

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
NUMBER_RUN = re.compile(rb"(?:-?\d+\.\d+(?:e-?\d+)?\s*[,;]\s*){15,}-?\d+\.\d+")


def _forms(vector: np.ndarray) -> list[bytes]:
    """Every way a component could have been written: text at several precisions, float64
    and float32 bytes (both byte orders)."""
    out: list[bytes] = []
    for v in vector[:32]:
        f = float(v)
        out += [f"{f:.6f}".encode(), repr(f).encode(), str(np.float32(f)).encode()]
        out += [struct.pack("<d", f), struct.pack(">d", f)]
        out += [struct.pack("<f", f), struct.pack(">f", f)]
    return [o for o in out if len(o.strip(b"-0.")) >= 5]


def _watch(folders: list[Path], events: list[str]) -> BaseObserver:
    """inotify on the folders: any file created (even if deleted right after) is recorded."""

    class Record(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type not in ("opened", "closed_no_write"):
                events.append(f"{event.event_type} {event.src_path!r}")

    observer = Observer()
    for folder in folders:
        observer.schedule(Record(), str(folder), recursive=True)
    observer.start()
    return observer


def _files(*roots: Path) -> list[Path]:
    return [p for r in roots for p in r.rglob("*") if p.is_file()]


@pytest.fixture
def setting(tmp_path: Path) -> dict[str, Path]:
    paths = {name: tmp_path / name for name in ("tmp", "home", "xdg", "out", "tree", "probe")}
    for p in paths.values():
        p.mkdir()
    (paths["probe"] / "requester.jpg").write_bytes(encode(astronaut(), "JPEG", quality=95))
    (paths["tree"] / "badge.jpg").write_bytes(
        encode(astronaut().resize((360, 360)), "JPEG", quality=88)
    )
    (paths["tree"] / "coffee.jpg").write_bytes(encode(no_face(), "JPEG"))
    return paths


def _run(args: list[str], paths: dict[str, Path]) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ)
    env.update(
        TMPDIR=str(paths["tmp"]),
        TEMP=str(paths["tmp"]),
        TMP=str(paths["tmp"]),
        HOME=str(paths["home"]),
        XDG_STATE_HOME=str(paths["xdg"]),
        XDG_CACHE_HOME=str(paths["home"] / ".cache"),
    )
    return subprocess.run(
        [FACEAUDIT, *args],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
        cwd=paths["out"],
        stdin=subprocess.DEVNULL,
    )


def test_nothing_of_a_probe_or_a_descriptor_is_written_anywhere(
    setting: dict[str, Path],
) -> None:
    probe = setting["probe"] / "requester.jpg"
    events: list[str] = []
    observer = _watch([setting["tmp"], setting["home"]], events)
    canary = setting["tmp"] / "canary"  # the watch sees a file created and deleted at once
    canary.write_bytes(b"x")
    canary.unlink()
    deadline = time.monotonic() + 10
    while not any("deleted" in e and "canary" in e for e in events):
        assert time.monotonic() < deadline, events
        time.sleep(0.05)
    assert any("created" in e and "canary" in e for e in events)
    time.sleep(0.5)  # the canary's last events are in
    events.clear()
    runs = [
        _run(
            [
                "subject",
                "find",
                "--probe",
                str(probe),
                str(setting["tree"]),
                "-j",
                "2",
                "-f",
                fmt,
                "-o",
                f"subject.{fmt}",
            ],
            setting,
        )
        for fmt in ("json", "markdown", "html")
    ]
    runs.append(
        _run(["subject", "find", "--probe", str(probe), str(setting["tree"]), "-j", "2"], setting)
    )
    runs += [
        _run(["triage", str(setting["tree"]), "-j", "2", "-f", fmt, "-o", f"triage.{fmt}"], setting)
        for fmt in ("json", "markdown", "html")
    ]
    observer.stop()
    observer.join()
    for run in runs:
        assert run.returncode == 1, run.stderr.decode()  # found; face data found
    # No temporary file, nothing in HOME: not even one created and deleted during the runs.
    # The workers' private folders (their only writable place, scanner.sandbox) are made and
    # removed in TMPDIR; nothing is ever written inside them (no database is copied here).
    private = re.compile(r"/faceaudit-\w+(/worker-\w+)?'$")
    tmp_listing = f"modified {str(setting['tmp'])!r}"
    assert [
        e for e in events if "canary" not in e and not private.search(e) and e != tmp_listing
    ] == []
    assert _files(setting["tmp"]) == [] and list(setting["tmp"].iterdir()) == []
    assert list(setting["home"].iterdir()) == []
    # What was written: the reports, the state database; and the streams.
    written = _files(setting["out"], setting["xdg"])
    assert {p.name for p in _files(setting["out"])} >= {"subject.json", "triage.html"}
    blobs = [p.read_bytes() for p in written] + [r.stdout + r.stderr for r in runs]
    probe_bytes = probe.read_bytes()
    secrets = _forms(load_probes([probe]).descriptors[0])
    secrets += _forms(load_probes([setting["tree"] / "badge.jpg"]).descriptors[0])
    secrets += [probe_bytes[i : i + 32] for i in range(0, len(probe_bytes) - 32, 997)]
    secrets += [base64.b64encode(probe_bytes[600:648]), probe_bytes[600:648].hex().encode()]
    for blob in blobs:
        assert not NUMBER_RUN.search(blob)  # no vector-like run of numbers at all
        leaked = [s for s in secrets if s in blob]
        assert leaked == []
    # And the probe's name is nowhere either (it may name the person).
    assert all(b"requester" not in blob for blob in blobs)


def test_reports_carry_distances_not_vectors(setting: dict[str, Path]) -> None:
    probe = setting["probe"] / "requester.jpg"
    run = _run(
        ["subject", "find", "--probe", str(probe), str(setting["tree"]), "-j", "0", "-f", "json"],
        setting,
    )
    document = json.loads(run.stdout)

    def arrays(node: object) -> list[list[object]]:
        if isinstance(node, dict):
            return [a for v in node.values() for a in arrays(v)]
        if isinstance(node, list):
            own = [node] if node and all(isinstance(x, float) for x in node) else []
            return own + [a for v in node for a in arrays(v)]
        return []

    assert arrays(document) == []
    (match,) = document["matches"]
    assert match["path"].endswith("badge.jpg") and 0 <= match["distance"] < 0.2


def test_processes_holding_descriptors_never_dump_core() -> None:
    """A crashed worker (a decoder segfault) must not write its memory to a core file."""
    code = (
        "import resource, tempfile, numpy as np\n"
        "from scanner.config import DetectionSettings, Limits\n"
        "from scanner.subject.compare import FaceSearch\n"
        "from scanner.worker import WorkerSetup, _prepare_process\n"
        "resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, resource.RLIM_INFINITY))\n"
        "search = FaceSearch(np.zeros((1, 128)))\n"
        "setup = WorkerSetup(('face.yunet',), DetectionSettings(), Limits(), hook=search)\n"
        "_prepare_process(setup, tempfile.mkdtemp())\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=120, check=False
    )
    assert proc.stdout.strip() == b"0", proc.stderr
