"""What `faceaudit scan` tells a person at a terminal, through the installed command on real
files: a warning before a scan of `/` or of a whole filesystem, face counts that say when they
are a lower bound, a passing gate over baselined findings that is not called clean, and no
claim that a JSON report lists what no JSON report was asked for."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import astronaut
from helpers import run_faceaudit as run

from scanner.cli.scan import whole_filesystem_warnings


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("console")
    (base / "share").mkdir()
    astronaut().save(base / "share" / "astronaut.jpg")
    return base


# -- a scan of everything warns before it starts ------------------------------------------------


def test_a_scan_of_the_root_directory_warns_on_stderr(tmp_path: Path) -> None:
    # every top-level directory excluded: the walk ends at once, the warning is still given
    proc = run("scan", "/", "--exclude", "*", "--no-state", "-j", "0", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith("faceaudit: warning: '/' is the root directory")
    assert "every file of every mounted filesystem" in proc.stderr
    assert "warning" not in proc.stdout


def test_a_scan_of_a_mount_point_warns(tmp_path: Path) -> None:
    mount = next((m for m in ("/dev/shm", "/proc", "/sys", "/dev") if os.path.ismount(m)), None)
    if mount is None:
        pytest.skip("no mount point other than / here")
    proc = run("scan", mount, "--exclude", "*", "--no-state", "-j", "0", "-q", cwd=tmp_path)
    assert f"warning: '{mount}' is the root of a whole filesystem (mount point {mount})" in (
        proc.stderr
    )


def test_the_root_spelled_otherwise_and_ordinary_folders(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    assert len(whole_filesystem_warnings(["/.", "//", "/tmp/../"])) == 3
    assert whole_filesystem_warnings([str(tmp_path), str(tmp_path / "sub")]) == []
    assert whole_filesystem_warnings(["sqlite:///", "postgresql://db/x"]) == []
    (tmp_path / "root").symlink_to("/")
    (warning,) = whole_filesystem_warnings([str(tmp_path / "root")])
    assert "is the root directory" in warning


def test_an_ordinary_folder_gets_no_warning(share: Path) -> None:
    proc = run("scan", "share", "--no-state", "-j", "0", "-q", cwd=share)
    assert "warning" not in proc.stderr


# -- counts and sentences that do not mislead ----------------------------------------------------


def test_a_face_count_from_the_coarse_pass_says_at_least(share: Path) -> None:
    coarse = run("scan", "share", "--no-state", "-j", "0", "-q", cwd=share)
    assert coarse.returncode == 1, coarse.stderr
    assert "at least 1 face seen" in coarse.stdout
    assert " >=1 " in coarse.stdout
    exact = run("scan", "share", "--no-state", "-j", "0", "-q", "--count-faces", cwd=share)
    assert "at least" not in exact.stdout and ">=" not in exact.stdout
    assert "; 1 face seen" in exact.stdout


def test_every_finding_in_the_baseline_is_not_clean(share: Path) -> None:
    args = ("scan", "share", "--no-state", "-j", "0", "-q", "--policy", "faceaudit-base")
    first = run(*args, "--write-baseline", "baseline.json", cwd=share)
    assert first.returncode == 1, first.stderr
    known = run(*args, "--baseline", "baseline.json", cwd=share)
    assert known.returncode == 0, known.stderr
    last = known.stdout.splitlines()[-1]
    assert (
        last
        == "Exit code 0: no new finding fails the gate, but 1 finding remains (1 in the baseline)"
    )
    assert "clean" not in known.stdout and "no face data" not in known.stdout.lower()


def test_no_json_report_is_claimed_when_none_was_asked_for(share: Path) -> None:
    (share / "many").mkdir(exist_ok=True)
    (share / "many" / "fifo").unlink(missing_ok=True)
    os.mkfifo(share / "many" / "fifo")
    proc = run("scan", "many", "--no-state", "-j", "0", "-q", cwd=share)
    assert "Skipped by design: 1 special file (--format json lists all)" in proc.stdout
    assert "JSON report" not in proc.stdout
