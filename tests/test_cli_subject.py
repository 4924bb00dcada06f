"""`faceaudit subject find` and `faceaudit triage` as a user runs them: a real subprocess on
real photos; exit codes, formats, output files, usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import astronaut, encode, no_face

BIN = Path(sys.executable).parent
FACEAUDIT = str(BIN / "faceaudit")


def faceaudit(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [FACEAUDIT, *args], cwd=cwd, capture_output=True, timeout=300, env=dict(os.environ),
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _json(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(proc.stdout.decode("utf-8"))
    return document


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-subject")
    (root / "me.jpg").write_bytes(encode(astronaut(), "JPEG", quality=93))
    (root / "cat.png").write_bytes(encode(no_face("chelsea.png"), "PNG"))
    share = root / "share"
    share.mkdir()
    (share / "badge.jpg").write_bytes(encode(astronaut().resize((320, 320)), "JPEG"))
    (share / "coffee.jpg").write_bytes(encode(no_face(), "JPEG"))
    clean = root / "clean"
    clean.mkdir()
    (clean / "coffee.jpg").write_bytes(encode(no_face(), "JPEG"))
    return root


def test_found_exits_1_with_the_location_and_distance(place: Path) -> None:
    proc = faceaudit("subject", "find", "--probe", "me.jpg", "share", "-j", "0", "-f", "json",
                     cwd=place)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    document = _json(proc)
    assert document["verdict"]["found"] and document["verdict"]["exit_code"] == 1
    (match,) = document["matches"]
    assert match["path"] == "share/badge.jpg" and match["distance"] < 0.2
    assert match["box"] is not None and match["confidence"] > 0.99


def test_found_nowhere_exits_0(place: Path) -> None:
    proc = faceaudit("subject", "find", "--probe", "me.jpg", "clean", "-j", "0", cwd=place)
    assert proc.returncode == 0, proc.stderr
    assert "NOT FOUND" in proc.stdout.decode()


@pytest.mark.parametrize("fmt", ["markdown", "html", "json"])
def test_reports_to_a_file(place: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"answer.{fmt}"
    proc = faceaudit("subject", "find", "--probe", "me.jpg", "--probe", "me.jpg", "share",
                     "-j", "0", "-f", fmt, "-o", str(out), cwd=place)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stdout == b"" and "report written to" in proc.stderr.decode()
    text = out.read_text(encoding="utf-8")
    assert "badge.jpg" in text and "me.jpg" not in text


def test_a_strict_tolerance_and_quick_mode(place: Path) -> None:
    proc = faceaudit("subject", "find", "--probe", "me.jpg", "share", "-j", "0", "--quick",
                     "--tolerance", "0.0001", "-f", "json", cwd=place)  # fmt: skip
    assert proc.returncode == 0 and _json(proc)["search"]["tolerance"] == 0.0001


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--probe", "cat.png", "share"], "no face found"),
        (["--probe", "absent.jpg", "share"], "cannot read"),
        (["--probe", "me.jpg", "missing-dir"], "no such file"),
        (["--probe", "me.jpg", "share", "--tolerance", "0"], "--tolerance"),
        (["--probe", "me.jpg", "share", "--tolerance", "nan"], "--tolerance"),
        (["--probe", "me.jpg", "share", "-f", "sarif"], "unknown --format"),
        (["--probe", "me.jpg", "share", "--sample-rows", "0"], "--sample-rows"),
        (["--probe", "me.jpg", "share", "-o", "no/such/dir/x.md"], "cannot write"),
        (["share"], "--probe"),
    ],
)
def test_usage_errors_exit_2(place: Path, args: list[str], message: str) -> None:
    proc = faceaudit("subject", "find", *args, "-j", "0", cwd=place)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr.decode()


def test_triage_summarises_and_exits_like_a_scan(place: Path) -> None:
    proc = faceaudit("triage", "share", "-j", "0", "-f", "json", cwd=place)
    assert proc.returncode == 1, proc.stderr
    document = _json(proc)
    assert document["summary"]["files_with_faces"] == 1 and document["summary"]["faces"] == 1
    assert document["people"]["estimate"] == 1
    assert faceaudit("triage", "clean", "-j", "0", cwd=place).returncode == 0
    md = faceaudit("triage", "share", "-j", "0", cwd=place).stdout.decode()
    assert "GDPR Art 33" in md and "data subjects" in md


def test_triage_usage_errors(place: Path) -> None:
    assert faceaudit("triage", "nowhere", cwd=place).returncode == 2
    assert faceaudit("triage", "share", "-f", "csv", cwd=place).returncode == 2
