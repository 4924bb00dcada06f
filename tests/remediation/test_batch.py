"""Many files under one journal record (scanner/remediation/batch.py): SIGKILL at every state
of a batch of files in two directories, one of which changed after the plan; after the next
run every file exists exactly once, in its place or in the vault, byte-identical. And the
point of the batch: a few fsyncs per file, not twenty (os.fsync counted, still called)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scanner.remediation import (
    Vault,
    purge,
    quarantine,
    quarantine_many,
    read_plan,
    recover,
    restore,
    restore_many,
)
from tests.remediation.conftest import entries, faceaudit, plan_for, vault_plaintext

QUARANTINE = ["intent", "copied", "synced", "verified", "source_removed", "done"]
RESTORE = ["intent", "copied", "synced", "verified", "placed", "done"]
KILL = "FACEAUDIT_REMEDIATE_KILL_AFTER"


def _files(tmp_path: Path, n: int = 6) -> dict[Path, bytes]:
    out = {}
    for i in range(n):
        d = tmp_path / "share" / f"d{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / f"face-{i}.jpg"
        p.write_bytes(os.urandom(5000 + i))
        os.chmod(p, 0o640)
        os.utime(p, ns=(1_700_000_000_000_000_000 + i, 1_600_000_000_000_000_000 + i))
        out[p] = p.read_bytes()
    return out


def _no_leftovers(vault: Path, share: Path) -> None:
    quarantined = entries(vault, "quarantined")
    assert len(list((vault / "objects").iterdir())) == len(quarantined)
    assert len(list((vault / "keys").iterdir())) == len(quarantined)
    assert not list((vault / "journal").iterdir())
    assert not list((vault / "tmp").iterdir())
    assert not [p for p in share.rglob(".faceaudit*")]


def _exactly_once(vault: Path, files: dict[Path, bytes]) -> set[Path]:
    """Every file in its place or in the vault, never both, never neither; those in it."""
    by_location = {e["location"]: e for e in entries(vault, "quarantined")}
    assert len(by_location) == len(entries(vault, "quarantined"))
    inside = set()
    for path, before in files.items():
        entry = by_location.get(str(path))
        if entry is None:
            assert path.read_bytes() == before, path
        else:
            assert not path.exists(), path
            assert vault_plaintext(vault, entry["id"]) == before
            inside.add(path)
    return inside


@pytest.mark.parametrize("state", QUARANTINE)
def test_killed_during_a_batch_quarantine(tmp_path: Path, shm: Path, state: str) -> None:
    files = _files(tmp_path)
    changed = tmp_path / "share" / "d1" / "changed.jpg"
    changed.write_bytes(b"before the plan")
    plan = plan_for(tmp_path, [*files, changed], "--grace-days", "0")
    changed.write_bytes(b"changed after the plan: never acted on")
    vault = shm / "v"
    args = ("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    killed = faceaudit(*args, env={KILL: f"quarantine:{state}"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert len(list((vault / "journal").iterdir())) == 1  # one record for the whole batch
    with Vault.open(vault, create=False) as v:
        outcomes = recover(v)
    assert outcomes and all(o.status == "recovered" for o in outcomes)
    inside = _exactly_once(vault, files)
    assert inside == (set() if state in ("intent", "copied", "synced") else set(files))
    assert changed.read_bytes() == b"changed after the plan: never acted on"
    _no_leftovers(vault, tmp_path / "share")
    # the next apply finishes the plan: every planned file in the vault, the changed one kept
    again = faceaudit(*args)
    assert "changed since the plan" in again.stdout + again.stderr
    assert _exactly_once(vault, files) == set(files)
    assert changed.read_bytes() == b"changed after the plan: never acted on"
    _no_leftovers(vault, tmp_path / "share")


@pytest.mark.parametrize("state", RESTORE)
def test_killed_during_a_batch_restore(tmp_path: Path, shm: Path, state: str) -> None:
    files = _files(tmp_path)
    plan = plan_for(tmp_path, list(files), "--grace-days", "0")
    vault = shm / "v"
    applied = faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _exactly_once(vault, files) == set(files)
    args = ("remediate", "restore", "--all", "--vault", str(vault))
    killed = faceaudit(*args, env={KILL: f"restore:{state}"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    with Vault.open(vault, create=False) as v:
        assert all(o.status == "recovered" for o in recover(v))
    inside = _exactly_once(vault, files)
    assert inside == (set() if state in ("placed", "done") else set(files))
    _no_leftovers(vault, tmp_path / "share")
    if inside:
        again = faceaudit(*args)
        assert again.returncode == 0, again.stdout + again.stderr
    assert _exactly_once(vault, files) == set()
    for path in files:  # back with their metadata
        st = path.stat()
        i = int(path.stem.split("-")[1])
        assert (st.st_mode & 0o7777, st.st_mtime_ns) == (0o640, 1_600_000_000_000_000_000 + i)
    assert len(entries(vault, "restored")) == len(files)
    _no_leftovers(vault, tmp_path / "share")


def test_a_restore_batch_never_overwrites(tmp_path: Path, shm: Path) -> None:
    files = _files(tmp_path, 4)
    plan = read_plan(plan_for(tmp_path, list(files)))
    with Vault.open(shm / "v") as v:
        out = quarantine_many(v, plan.items, plan, batch=3)
        assert [o.status for o in out] == ["done"] * 4
        blocker = next(iter(files))
        blocker.write_bytes(b"a new file in the way")
        back = restore_many(v, [str(o.vault_id) for o in out], batch=3)
    assert sorted(o.status for o in back) == ["conflict", "done", "done", "done"]
    assert blocker.read_bytes() == b"a new file in the way"
    for path, before in list(files.items())[1:]:
        assert path.read_bytes() == before
    assert len(entries(shm / "v", "quarantined")) == 1
    _no_leftovers(shm / "v", tmp_path / "share")


def _fsyncs(monkeypatch: pytest.MonkeyPatch, act: Callable[[], object]) -> int:
    real, calls = os.fsync, [0]

    def counted(fd: int) -> None:
        calls[0] += 1
        real(fd)

    monkeypatch.setattr(os, "fsync", counted)
    act()
    monkeypatch.setattr(os, "fsync", real)
    return calls[0]


def test_a_batch_costs_a_few_fsyncs_per_file(
    tmp_path: Path, shm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _files(tmp_path / "a", 40)
    plan = read_plan(plan_for(tmp_path / "a", list(files)))
    (tmp_path / "b").mkdir()
    one_by_one = _files(tmp_path / "b", 10)
    single_plan = read_plan(plan_for(tmp_path / "b", list(one_by_one)))
    with Vault.open(shm / "v") as v:
        out: list[object] = []
        many = _fsyncs(monkeypatch, lambda: out.extend(quarantine_many(v, plan.items, plan)))
        ids = [str(o.vault_id) for o in out]  # type: ignore[attr-defined]
        back = _fsyncs(monkeypatch, lambda: restore_many(v, ids))
        singles: list[object] = []
        single = _fsyncs(
            monkeypatch,
            lambda: singles.extend(quarantine(v, i, single_plan) for i in single_plan.items),
        )
        single_ids = [str(o.vault_id) for o in singles]  # type: ignore[attr-defined]
        single_back = _fsyncs(monkeypatch, lambda: [restore(v, i) for i in single_ids])
    assert many / 40 < 3 and back / 40 < 3
    assert single / 10 > 15 and single_back / 10 > 15  # what one journal record per file costs
    for path, before in {**files, **one_by_one}.items():
        assert path.read_bytes() == before


def test_purging_one_item_of_a_batch_erases_only_its_key(tmp_path: Path, shm: Path) -> None:
    files = _files(tmp_path, 3)
    plan = read_plan(plan_for(tmp_path, list(files), "--grace-days", "0"))
    with Vault.open(shm / "v") as v:
        out = quarantine_many(v, plan.items, plan)
        first, *rest = [str(o.vault_id) for o in out]
        shared = {(shm / "v" / "keys" / vid).stat().st_ino for vid in (first, *rest)}
        assert len(shared) == 1  # one key file for the batch, one name per item
        assert purge(v, first, now=datetime.now(timezone.utc)).status == "done"
        raw = (shm / "v" / "keys" / rest[0]).read_bytes()
        assert first.encode() not in raw  # its slot zeroed in place
        assert not (shm / "v" / "keys" / first).exists()
        back = restore_many(v, rest)
    assert [o.status for o in back] == ["done", "done"]
    for path, before in list(files.items())[1:]:
        assert path.read_bytes() == before
    assert not list((shm / "v" / "keys").iterdir())  # the file went with its last name
    _no_leftovers(shm / "v", tmp_path / "share")


def test_an_item_named_twice_is_moved_once(tmp_path: Path, shm: Path) -> None:
    files = _files(tmp_path, 2)
    plan = read_plan(plan_for(tmp_path, list(files)))
    with Vault.open(shm / "v") as v:
        out = quarantine_many(v, [*plan.items, plan.items[0]], plan)
        assert [o.status for o in out] == ["done", "done", "skipped"]
        vid = str(out[0].vault_id)
        back = restore_many(v, [vid, vid])
    assert [o.status for o in back] == ["done", "failed"]
    assert len(entries(shm / "v", "quarantined")) == 1
    assert _exactly_once(shm / "v", files) == {list(files)[1]}
    _no_leftovers(shm / "v", tmp_path / "share")
