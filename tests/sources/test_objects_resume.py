"""Resuming an interrupted object-store listing (scanner.state.incremental checkpoints) against
a real S3 server (moto, s3_server.py): a listing cut by a server fault, and a scan killed
with SIGKILL, each resumed by the next run after the last page it had looked at completely —
the next run's listing starts after that page's last key, it reads only what came after, and
it reports what a scan from the start reports."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from helpers import astronaut, encode, no_face
from s3_server import S3Server

from scanner import ScanConfig, scan
from scanner.model import ProblemReason, ScanResult
from scanner.sources import object_stores
from scanner.state.store import StateDB

FACE = encode(astronaut(), "JPEG")
COFFEE = encode(no_face(), "JPEG")
KEYS = [f"photos/{n:02d}.jpg" for n in range(14)]
PAGE = 4


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    s = S3Server()
    yield s
    s.stop()


@pytest.fixture
def s3(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    import boto3
    import s3fs

    server.reset()
    monkeypatch.setattr(object_stores, "PAGE_SIZE", PAGE)  # 14 objects: four pages
    server.use(monkeypatch, "not-a-secret-here", tmp_path / "none")
    client = boto3.client("s3", endpoint_url=server.url)
    client.create_bucket(Bucket="many")
    for n, key in enumerate(KEYS):
        client.put_object(Bucket="many", Key=key, Body=FACE if n % 5 == 0 else COFFEE)
    yield client
    s3fs.S3FileSystem.clear_instance_cache()


def _gets(server: S3Server) -> set[str]:
    return {
        r.path.lstrip("/").split("/", 1)[1]
        for r in server.requests()
        if r.method == "GET" and r.path.lstrip("/").count("/") >= 1
    }


def _listings(server: S3Server) -> list[dict[str, list[str]]]:
    return [
        parse_qs(r.query, keep_blank_values=True)
        for r in server.requests()
        if r.method == "GET" and r.path.strip("/") == "many" and "versions" in r.query
    ]


def _found(result: ScanResult) -> list[tuple[str, tuple[str, ...], int]]:
    return [
        (
            i.location.display,
            tuple(sorted(e.kind.value for e in i.evidence)),
            sum(e.faces for e in i.evidence),
        )
        for i in result.items
    ]


def test_a_listing_cut_by_a_fault_resumes_after_its_last_complete_page(
    s3: Any, server: S3Server, tmp_path: Path
) -> None:
    reference = scan(ScanConfig(targets=["s3://many"], workers=0))  # no state: from the start
    assert len(reference.items) == 3 and not reference.incomplete
    state = tmp_path / "state.db"
    server.clear_log()
    server.listings_before_fault = 2  # two pages answered, then every listing request fails
    with StateDB(state) as db:
        cut = scan(ScanConfig(targets=["s3://many"], workers=2), state=db)
    assert cut.incomplete
    assert [(p.location.display, p.reason) for p in cut.problems] == [
        ("s3://many/", ProblemReason.UNREADABLE_DIRECTORY)
    ]
    assert _gets(server) == set(KEYS[: 2 * PAGE])

    server.clear_log()
    with StateDB(state) as db:
        resumed = scan(ScanConfig(targets=["s3://many"], workers=2), state=db)
    # the listing starts after the last key of the last page looked at completely ...
    first = _listings(server)[0]
    assert first["key-marker"] == [KEYS[2 * PAGE - 1]]
    # ... nothing before it is read again, everything after it is
    assert _gets(server) == set(KEYS[2 * PAGE :])
    # and the report is the one a scan from the start gives
    assert _found(resumed) == _found(reference)
    assert not resumed.incomplete and resumed.problems == ()
    assert resumed.stats.items_scanned == reference.stats.items_scanned

    # the listing completed: the next scan lists from the start, and reads nothing
    server.clear_log()
    with StateDB(state) as db:
        again = scan(ScanConfig(targets=["s3://many"], workers=2), state=db)
    assert "key-marker" not in _listings(server)[0]
    assert _gets(server) == set()
    assert _found(again) == _found(reference)


def test_a_killed_scan_resumes_after_its_last_checkpoint(
    s3: Any, server: S3Server, tmp_path: Path
) -> None:
    reference = scan(ScanConfig(targets=["s3://many"], workers=0))
    state, report = tmp_path / "state.db", tmp_path / "report.json"
    server.clear_log()
    server.get_delay = 0.4  # a slow store: the scan is killed while it reads
    code = (
        "import scanner.sources.object_stores as o\n"
        f"o.PAGE_SIZE = {PAGE}\n"
        "from scanner.cli import main\n"
        "main()\n"
    )
    argv = [sys.executable, "-c", code, "scan", "s3://many", "-j", "1"]
    argv += ["--state", str(state), "-f", "json", "-o", str(report)]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    mark = None
    deadline = time.monotonic() + 120
    try:
        while mark is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            mark = _mark(state)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert mark is not None, "no checkpoint was saved before the scan ended"
    assert mark in KEYS[: len(KEYS) - 1] and not report.exists()  # killed mid-listing
    mark = _mark(state)  # the last one saved before the kill
    assert mark is not None

    server.clear_log()
    server.get_delay = 0.0
    with StateDB(state) as db:
        resumed = scan(ScanConfig(targets=["s3://many"], workers=2), state=db)
    assert _listings(server)[0]["key-marker"] == [mark]
    assert _gets(server) == {k for k in KEYS if k > mark}
    assert _found(resumed) == _found(reference)
    assert not resumed.incomplete


def _mark(state: Path) -> str | None:
    if not state.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT mark FROM listings").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def test_a_checkpoint_holds_no_payload(s3: Any, server: S3Server, tmp_path: Path) -> None:
    """What the checkpoint tables keep: keys and problems, never a result's payload."""
    server.listings_before_fault = 1
    with StateDB(tmp_path / "state.db") as db:
        scan(ScanConfig(targets=["s3://many"], workers=0), state=db)
    conn = sqlite3.connect(tmp_path / "state.db")
    rows = conn.execute("SELECT key, problem FROM listed").fetchall()
    conn.close()
    assert [k for k, _ in rows] == [f"s3://many/{k}" for k in KEYS[:PAGE]]
    assert all(p is None for _, p in rows)
    assert json.dumps(rows).count("faces") == 0
