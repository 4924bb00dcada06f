"""Quarantine, restore and purge through the CLI, across two real file systems (the disk
and the tmpfs at /dev/shm: every move is an EXDEV copy), with the faults the issue names:
a symlink swapped in, a file changed between plan and apply, a full vault, a read-only one.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.remediation.conftest import entries, faceaudit, plan_for, vault_plaintext


def _photo(where: Path, name: str = "badge.jpg", size: int = 5000) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    path = where / name
    path.write_bytes(os.urandom(size))
    return path


@pytest.mark.parametrize("direction", ["disk-to-tmpfs", "tmpfs-to-disk"])
def test_round_trip_keeps_bytes_and_metadata(tmp_path: Path, shm: Path, direction: str) -> None:
    files_fs, vault_fs = (tmp_path, shm) if direction == "disk-to-tmpfs" else (shm, tmp_path)
    assert os.stat(files_fs).st_dev != os.stat(vault_fs).st_dev  # EXDEV: a copy, never a rename
    photo = _photo(files_fs / "hr" / "badges")
    os.chown(photo, 1234, 5678)
    os.chmod(photo, 0o640)
    before = photo.read_bytes()
    os.utime(photo, ns=(1_600_000_000_123_456_789, 1_500_000_000_987_654_321))
    xattrs = direction == "disk-to-tmpfs"  # user.* xattrs on the disk's file system
    if xattrs:
        os.setxattr(photo, "user.origin", b"badge-printer")
    plan = plan_for(tmp_path, [photo])
    vault = vault_fs / "vault"
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not photo.exists()
    (entry,) = entries(vault, "quarantined")
    assert (vault.stat().st_mode & 0o777) == 0o700
    assert entry["owner"] == 1234 and entry["group"] == 5678 and entry["mode"] == 0o640
    # never in the clear: the object is not the photo, and names are the encrypted bytes' hash
    obj = vault / "objects" / entry["object"]
    assert before not in obj.read_bytes() and before[:64] not in obj.read_bytes()
    assert vault_plaintext(vault, entry["id"]) == before
    back = faceaudit("remediate", "restore", entry["id"], "--vault", str(vault))
    assert back.returncode == 0, back.stdout + back.stderr
    st = photo.stat()  # before reading it: planning, moving and restoring kept the atime
    assert photo.read_bytes() == before
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (1234, 5678, 0o640)
    assert (st.st_atime_ns, st.st_mtime_ns) == (
        1_600_000_000_123_456_789,
        1_500_000_000_987_654_321,
    )
    if xattrs:
        assert os.getxattr(photo, "user.origin") == b"badge-printer"
    assert not list((vault / "objects").iterdir()) and not list((vault / "keys").iterdir())
    assert entries(vault, "restored")


def test_same_name_never_collides(tmp_path: Path, shm: Path) -> None:
    a, b = _photo(tmp_path / "a", "x.jpg"), _photo(tmp_path / "b", "x.jpg")
    b.write_bytes(a.read_bytes())  # same name, same bytes
    plan = plan_for(tmp_path, [a, b])
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(shm / "v"), "--yes")
    assert done.returncode == 0, done.stdout
    assert len(entries(shm / "v", "quarantined")) == 2
    assert len(list((shm / "v" / "objects").iterdir())) == 2


def test_dry_run_touches_nothing(tmp_path: Path, shm: Path) -> None:
    photo = _photo(tmp_path)
    plan = plan_for(tmp_path, [photo])
    dry = faceaudit("remediate", "apply", str(plan), "--vault", str(shm / "v"))
    assert dry.returncode == 0 and "would" in dry.stdout
    assert photo.exists() and not (shm / "v").exists()


def test_symlink_swapped_in_between_plan_and_apply(tmp_path: Path, shm: Path) -> None:
    photo = _photo(tmp_path / "share" / "hr")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plan = plan_for(tmp_path, [photo])
    # the directory on the way becomes a link to another with a file of the same name
    (tmp_path / "share" / "hr").rename(tmp_path / "share" / "hr-moved")
    os.symlink(elsewhere, tmp_path / "share" / "hr")
    decoy = _photo(elsewhere)
    decoy_bytes = decoy.read_bytes()
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(shm / "v"), "--yes")
    assert done.returncode == 3 and "skipped" in done.stdout
    assert decoy.read_bytes() == decoy_bytes
    assert not entries(shm / "v")
    # the file itself replaced by a link to a file: refused too
    os.unlink(tmp_path / "share" / "hr")
    (tmp_path / "share" / "hr-moved").rename(tmp_path / "share" / "hr")
    plan = plan_for(tmp_path, [photo])
    photo.rename(tmp_path / "aside.jpg")
    os.symlink(decoy, photo)
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(shm / "v"), "--yes")
    assert done.returncode == 3 and "skipped" in done.stdout
    assert decoy.read_bytes() == decoy_bytes and photo.is_symlink()
    assert not entries(shm / "v")


def test_file_changed_between_plan_and_apply(tmp_path: Path, shm: Path) -> None:
    grown, same_stat = _photo(tmp_path, "grown.jpg"), _photo(tmp_path, "rewritten.jpg")
    plan = plan_for(tmp_path, [grown, same_stat])
    with grown.open("ab") as f:
        f.write(b"more")
    # same size and mtime, other bytes: only the SHA-256 taken while copying sees it
    st = same_stat.stat()
    same_stat.write_bytes(os.urandom(st.st_size))
    os.utime(same_stat, ns=(st.st_atime_ns, st.st_mtime_ns))
    rewritten = same_stat.read_bytes()
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(shm / "v"), "--yes")
    assert done.returncode == 3, done.stdout
    assert done.stdout.count("skipped") == 2 and "SHA-256" in done.stdout
    assert grown.exists() and same_stat.read_bytes() == rewritten
    assert not entries(shm / "v")
    assert not list((shm / "v" / "objects").iterdir()) and not list((shm / "v" / "tmp").iterdir())


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (mounting needs root)."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_full_vault_during_the_copy(tmp_path: Path, small_tmpfs: Path) -> None:
    small, big = _photo(tmp_path, "small.jpg", 2000), _photo(tmp_path, "big.jpg", 200_000)
    big_bytes = big.read_bytes()
    plan = plan_for(tmp_path, [big, small])
    vault = small_tmpfs / "v"
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "no space left" in done.stdout
    assert big.read_bytes() == big_bytes  # untouched, and nothing of it left in the vault
    assert not small.exists()
    assert [e["location"] for e in entries(vault, "quarantined")] == [str(small)]
    assert len(list((vault / "objects").iterdir())) == 1 and not list((vault / "tmp").iterdir())
    assert len(list((vault / "keys").iterdir())) == 1


def test_vault_on_a_read_only_mount(tmp_path: Path, small_tmpfs: Path) -> None:
    photo = _photo(tmp_path)
    before = photo.read_bytes()
    vault = small_tmpfs / "v"
    plan = plan_for(tmp_path, [photo])
    first = faceaudit("remediate", "apply", str(plan), "--vault", str(vault))  # a dry run
    assert first.returncode == 0
    made = faceaudit("remediate", "list", "--vault", str(vault))
    assert made.returncode == 2  # not a vault yet: list never makes one
    ro = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=False)
    assert ro.returncode == 0
    # a vault cannot be made there: a usage error naming the vault
    done = faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    assert done.returncode == 2 and "vault" in done.stderr
    subprocess.run(["mount", "-o", "remount,rw", str(small_tmpfs)], check=True)
    made = faceaudit("remediate", "list", "--vault", str(vault))
    assert made.returncode == 2
    # an existing vault made read-only: every item fails, nothing is touched
    vault.mkdir()
    assert (
        faceaudit(
            "remediate",
            "apply",
            str(plan),
            "--vault",
            str(vault),
            "--yes",
            "--log",
            str(tmp_path / "l"),
        ).returncode
        == 0
    )
    restored = faceaudit("remediate", "restore", "--all", "--vault", str(vault))
    assert restored.returncode == 0 and photo.read_bytes() == before
    plan = plan_for(tmp_path, [photo])
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    done = faceaudit(
        "remediate",
        "apply",
        str(plan),
        "--vault",
        str(vault),
        "--yes",
        "--log",
        str(tmp_path / "l"),
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "read-only" in done.stdout
    assert photo.read_bytes() == before


def test_restore_never_overwrites_unless_forced(tmp_path: Path, shm: Path) -> None:
    photo = _photo(tmp_path)
    before = photo.read_bytes()
    plan = plan_for(tmp_path, [photo])
    vault = shm / "v"
    assert (
        faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes").returncode == 0
    )
    photo.write_bytes(b"a new file in its place")
    conflict = faceaudit("remediate", "restore", "--plan", str(plan), "--vault", str(vault))
    assert conflict.returncode == 3 and "conflict" in conflict.stdout
    assert photo.read_bytes() == b"a new file in its place"
    forced = faceaudit("remediate", "restore", "--all", "--force", "--vault", str(vault))
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert photo.read_bytes() == before
    (obstacle,) = entries(vault, "quarantined")
    assert vault_plaintext(vault, obstacle["id"]) == b"a new file in its place"


def test_purge_destroys_key_then_data_after_the_grace_period(tmp_path: Path, shm: Path) -> None:
    doomed, kept = _photo(tmp_path, "doomed.jpg"), _photo(tmp_path, "evidence.jpg")
    vault = shm / "v"
    delete = plan_for(tmp_path, [doomed], "--grace-days", "30")
    assert (
        faceaudit("remediate", "apply", str(delete), "--vault", str(vault), "--yes").returncode == 0
    )
    quarantine = plan_for(tmp_path, [kept], "--action", "quarantine")
    assert (
        faceaudit("remediate", "apply", str(quarantine), "--vault", str(vault), "--yes").returncode
        == 0
    )
    early = faceaudit("remediate", "purge", "--vault", str(vault), "--yes")
    assert early.returncode == 0 and len(entries(vault, "quarantined")) == 2
    later = "2099-01-01"
    dry = faceaudit("remediate", "purge", "--vault", str(vault), "--as-of", later)
    assert dry.returncode == 0 and str(doomed) in dry.stdout and str(kept) not in dry.stdout
    done = faceaudit("remediate", "purge", "--vault", str(vault), "--as-of", later, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    (purged,) = entries(vault, "purged")
    assert "location" not in purged
    (record,) = [p.read_text() for p in (vault / "erasures").iterdir()]
    assert str(doomed) not in record and "doomed" not in record
    assert (
        len(list((vault / "objects").iterdir())) == 1 and len(list((vault / "keys").iterdir())) == 1
    )
    log = (vault / "audit.jsonl").read_text()
    assert '"event":"erasure"' in log
    assert "doomed" not in log and "evidence" not in log  # file names only as salted hashes


def test_runs_on_one_vault_wait_for_each_other(tmp_path: Path, shm: Path) -> None:
    """A run's recovery must never roll back another run's action under way."""
    import sys
    import time

    from scanner.remediation import Vault

    photo = _photo(tmp_path)
    plan = plan_for(tmp_path, [photo])
    vault = shm / "v"
    with Vault.open(vault):
        args = ["remediate", "apply", str(plan), "--vault", str(vault), "--yes"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanner", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(3)
        assert proc.poll() is None and photo.exists()  # waiting for the vault
    assert proc.wait(timeout=60) == 0
    assert not photo.exists() and len(entries(vault, "quarantined")) == 1


def test_hard_linked_files_are_skipped_and_dry_runs_logged(tmp_path: Path, shm: Path) -> None:
    photo = _photo(tmp_path)
    os.link(photo, tmp_path / "other-name.jpg")
    plan = plan_for(tmp_path, [photo])
    log = tmp_path / "audit.jsonl"
    dry = faceaudit("remediate", "apply", str(plan), "--vault", str(shm / "v"), "--log", str(log))
    assert dry.returncode == 0
    done = faceaudit(
        "remediate", "apply", str(plan), "--vault", str(shm / "v"), "--yes", "--log", str(log)
    )
    assert done.returncode == 3 and "hard links" in done.stdout
    assert photo.exists() and not entries(shm / "v")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    events = [e for e in records if not e["event"].startswith("audit.")]
    assert [e["event"] for e in events] == ["dry-run", "apply", "skip"]
    assert all(list(e) == sorted(e) for e in records)  # canonical: sorted keys
    assert records[-1]["event"] == "audit.checkpoint"  # each command seals what it logged
    # the events are in the tamper-evident audit log, its key beside it
    verified = faceaudit("audit", "verify", str(log), "--key", str(tmp_path / "audit-keys"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert str(photo) not in log.read_text() and "badge" not in log.read_text()
