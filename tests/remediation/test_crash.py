"""SIGKILL at every journal state, for real: the CLI kills itself (SIGKILL, which nothing
can catch) once the state named by $FACEAUDIT_REMEDIATE_KILL_AFTER is durable. The next run
recovers: every item exists exactly once, in its place or in the vault, byte-identical, and
nothing is left over (no orphan object, key, journal record or temporary file)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from scanner.remediation import Vault, recover
from tests.remediation.conftest import entries, faceaudit, plan_for, vault_plaintext

QUARANTINE = ["intent", "copied", "synced", "verified", "source_removed", "done"]
RESTORE = ["intent", "copied", "synced", "verified", "placed", "done"]
PURGE = ["intent", "key_destroyed", "data_destroyed", "done"]
KILL = "FACEAUDIT_REMEDIATE_KILL_AFTER"


def _no_leftovers(vault: Path) -> None:
    quarantined = entries(vault, "quarantined")
    assert len(list((vault / "objects").iterdir())) == len(quarantined)
    assert len(list((vault / "keys").iterdir())) == len(quarantined)
    assert not list((vault / "journal").iterdir())
    assert not list((vault / "tmp").iterdir())


def _setup(tmp_path: Path) -> tuple[Path, bytes, Path]:
    (tmp_path / "share").mkdir()
    photo = tmp_path / "share" / "face.jpg"
    photo.write_bytes(os.urandom(300_000))
    os.chmod(photo, 0o604)
    os.utime(photo, ns=(1_700_000_000_000_000_001, 1_600_000_000_000_000_002))
    return photo, photo.read_bytes(), plan_for(tmp_path, [photo], "--grace-days", "0")


@pytest.mark.parametrize("state", QUARANTINE)
def test_killed_during_quarantine(tmp_path: Path, shm: Path, state: str) -> None:
    photo, before, plan = _setup(tmp_path)
    vault = shm / "v"
    args = ("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    killed = faceaudit(*args, env={KILL: f"quarantine:{state}"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert list((vault / "journal").iterdir())  # killed with an action under way
    # the next run recovers first: then the item is exactly once, in its place or the vault
    with Vault.open(vault, create=False) as v:
        (outcome,) = recover(v)
    assert outcome.status == "recovered"
    in_vault = entries(vault, "quarantined")
    if state in ("intent", "copied", "synced"):  # rolled back: the source was never touched
        assert photo.read_bytes() == before and not in_vault
    else:  # rolled forward
        assert not photo.exists() and len(in_vault) == 1
        assert vault_plaintext(vault, in_vault[0]["id"]) == before
    _no_leftovers(vault)
    listed = faceaudit("remediate", "restore", "--all", "--vault", str(vault))
    assert listed.returncode == (2 if not in_vault else 0), listed.stdout + listed.stderr
    # whatever the state, the file is now back in its place, byte-identical, with its metadata
    assert photo.read_bytes() == before
    st = photo.stat()
    assert st.st_mode & 0o7777 == 0o604
    if state in ("verified", "source_removed", "done"):  # rolled forward, then restored
        assert st.st_mtime_ns == 1_600_000_000_000_000_002
        assert entries(vault, "restored")
    _no_leftovers(vault)
    assert not [p for p in photo.parent.iterdir() if p.name.startswith(".faceaudit")]


@pytest.mark.parametrize("state", QUARANTINE)
def test_killed_during_quarantine_then_applied_again(tmp_path: Path, shm: Path, state: str) -> None:
    photo, before, plan = _setup(tmp_path)
    vault = shm / "v"
    args = ("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    assert faceaudit(*args, env={KILL: f"quarantine:{state}"}).returncode == -signal.SIGKILL
    again = faceaudit(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    (entry,) = entries(vault, "quarantined")
    assert not photo.exists()
    assert vault_plaintext(vault, entry["id"]) == before
    _no_leftovers(vault)


@pytest.mark.parametrize("state", RESTORE)
def test_killed_during_restore(tmp_path: Path, shm: Path, state: str) -> None:
    photo, before, plan = _setup(tmp_path)
    vault = shm / "v"
    assert (
        faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes").returncode == 0
    )
    args = ("remediate", "restore", "--all", "--vault", str(vault))
    killed = faceaudit(*args, env={KILL: f"restore:{state}"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    again = faceaudit(*args) if entries(vault, "quarantined") else None
    if again is not None:  # recovery may already have put it back: then nothing is left to do
        assert again.returncode in (0, 2), again.stdout + again.stderr
    faceaudit("remediate", "list", "--vault", str(vault))
    recovered = faceaudit("remediate", "purge", "--vault", str(vault), "--yes")  # recovers too
    assert recovered.returncode == 0
    assert photo.read_bytes() == before
    st = photo.stat()
    assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o604, 1_600_000_000_000_000_002)
    assert not entries(vault, "quarantined") and entries(vault, "restored")
    _no_leftovers(vault)
    assert sorted(p.name for p in photo.parent.iterdir()) == ["face.jpg"]


@pytest.mark.parametrize("state", PURGE)
def test_killed_during_purge(tmp_path: Path, shm: Path, state: str) -> None:
    photo, _, plan = _setup(tmp_path)
    vault = shm / "v"
    assert (
        faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes").returncode == 0
    )
    args = ("remediate", "purge", "--vault", str(vault), "--yes")
    assert faceaudit(*args, env={KILL: f"purge:{state}"}).returncode == -signal.SIGKILL
    again = faceaudit(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not photo.exists()
    assert not entries(vault, "quarantined") and len(entries(vault, "purged")) == 1
    assert len(list((vault / "erasures").iterdir())) == 1
    _no_leftovers(vault)
