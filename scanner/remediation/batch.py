"""Quarantine and restore of many files at once, with group commit: the same journal states
as one item's (moves.py), but one journal record, `journal/<batch>`, for up to `BATCH` items,
so that each state costs one file and one directory fsync for the whole batch, not per item.

    quarantine  intent → copied → synced → verified → source_removed → done
    restore     intent → copied → synced → verified → placed → done

Quarantine: `intent` lists every item (its vault id, path and preconditions) before anything
is touched; each file is then opened, checked and encrypted into tmp/ (`copied`, with the
objects' names); every object and key is fsynced, renamed into objects/, and the three vault
directories fsynced once (`synced`); every object is decrypted again and compared, and the
manifest entries written (each fsynced, the directory once) (`verified`, listing only the
items that verified); then the sources are unlinked (each checked against its plan first)
and each source directory fsynced once (`source_removed`); the audit log gets the batch's
records in one write and one fsync; `done`. The invariant is one item's: a source is unlinked
only once its object, key and manifest entry are durable and verified, and recovery rolls a
batch back before `verified` and forward from it, item by item (`recover_batch`).

Restore: `intent` lists the items and their temporary names; each is decrypted beside its
target with its metadata (`copied`), each fsynced (`synced`, `verified`: the SHA-256 was
compared while decrypting), each linked into place (never over anything) and each target
directory fsynced once (`placed`, listing the items placed); then the keys are destroyed
(each overwritten and fsynced, the directory once), the objects unlinked and the manifest
entries marked restored (the directories once each); the audit log's records; `done`.

An item costs about three fsyncs either way (object, key and manifest entry; restore: the
file, its key's overwrite and its manifest entry) instead of about twenty.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.remediation.events import EventValue, record_many, salted
from scanner.remediation.fsops import (
    Refused,
    lstat_at,
    open_regular,
    parent_dir,
    read_xattrs,
    split,
)
from scanner.remediation.moves import (
    Journal,
    Outcome,
    StateHook,
    _entry,
    _ev,
    _same,
    left_alone,
    no_hook,
    now_iso,
    remove_source,
    why,
)
from scanner.remediation.plan import Plan, PlanItem, Preconditions, acts
from scanner.remediation.restore import restore, set_metadata, undo_restore
from scanner.remediation.vault import Vault, VaultError

BATCH = 256  # items per journal record: a crash rolls back at most this many copies

Event = tuple[str, Mapping[str, EventValue]]


@dataclass
class _Dirs:
    """The directories of a batch, each opened once (O_NOFOLLOW all the way) and kept."""

    stack: contextlib.ExitStack
    create: bool = False
    fds: dict[str, int] = field(default_factory=dict)

    def of(self, path: str) -> int:
        parent = os.path.dirname(path)
        if parent not in self.fds:
            self.fds[parent] = self.stack.enter_context(
                parent_dir(path, create=self.create, mode=0o755)
            )
        return self.fds[parent]

    def sync(self, paths: Sequence[str]) -> None:
        for parent in dict.fromkeys(os.path.dirname(p) for p in paths):
            os.fsync(self.fds[parent])


@dataclass
class _Q:
    index: int
    item: PlanItem
    vid: str
    name: str = ""
    obj: str = ""
    entry: dict[str, Any] = field(default_factory=dict)


# -- quarantine ----------------------------------------------------------------------------


def quarantine_many(
    vault: Vault,
    items: Sequence[PlanItem],
    plan: Plan | None,
    *,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    batch: int = BATCH,
) -> list[Outcome]:
    """`quarantine` for many planned files, `batch` at a time under one journal record
    (see the module's docstring); one outcome per item, in order."""
    out: list[Outcome] = []
    for start in range(0, len(items), max(1, batch)):
        out += _QuarantineBatch(vault, items[start : start + batch], plan, log, on_state).run()
    return out


class _QuarantineBatch:
    """One batch of quarantines under one journal record."""

    def __init__(
        self,
        vault: Vault,
        items: Sequence[PlanItem],
        plan: Plan | None,
        log: Path | None,
        on_state: StateHook,
    ) -> None:
        self.vault, self.items, self.plan, self.log = vault, items, plan, log
        self.results: dict[int, Outcome] = {}
        self.events: list[Event] = []
        self.live: list[_Q] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            if not acts(item) or item.preconditions is None:
                self.results[i] = left_alone(item)
            elif item.path in seen:  # moved once, never twice
                self.results[i] = Outcome("skipped", item.path, "named twice", item.id)
            else:
                seen.add(item.path)
                self.live.append(_Q(i, item, secrets.token_hex(8)))
        self.bid = "batch-" + secrets.token_hex(8)
        self.journal = Journal(vault, self.bid, {"op": "quarantine", "batch": self.bid}, on_state)

    def outcomes(self) -> list[Outcome]:
        record_many(self.log, self.events)
        return [self.results[i] for i in range(len(self.items))]

    def fail(self, q: _Q, exc: BaseException) -> None:
        status = "skipped" if isinstance(exc, Refused) else "failed"
        event = "skip" if status == "skipped" else "fail"
        self.events.append((event, _ev(self.vault, q.item, str(exc))))
        self.results[q.index] = Outcome(status, q.item.path, why(exc), q.item.id)

    def state(self, state: str) -> None:
        items = [
            {"item": q.vid, "source": q.item.path, "pre": _pre(q.item).__dict__, "object": q.obj}
            for q in self.live
        ]
        self.journal.state(state, items=items)

    def run(self) -> list[Outcome]:
        if not self.live:
            return self.outcomes()
        verified = False
        with contextlib.ExitStack() as stack:
            dirs = _Dirs(stack)
            try:
                self.state("intent")
                self.copy(dirs)
                self.state("copied")
                self.vault.seal_many([(q.vid, q.obj) for q in self.live])
                self.state("synced")
                self.verify()
                self.vault.put_many("manifest", {q.vid: q.entry for q in self.live})
                self.state("verified")
                verified = True
                for q in self.live:  # unlinked only if it is still the planned file
                    st = lstat_at(dirs.of(q.item.path), q.name)
                    if st is not None and _same(st, _pre(q.item)):
                        os.unlink(q.name, dir_fd=dirs.of(q.item.path))
                dirs.sync([q.item.path for q in self.live])
                self.state("source_removed")
            except (OSError, Refused, VaultError) as exc:
                self.abandon(exc, verified=verified)
                return self.outcomes()
        for q in self.live:
            fields = {"vault_id": q.vid, "object": q.obj, **_ev(self.vault, q.item, q.item.action)}
            self.events.append(("quarantine", fields))
            detail = f"{q.item.action}: in the vault as {q.vid}"
            self.results[q.index] = Outcome("done", q.item.path, detail, q.item.id, q.vid)
        out = self.outcomes()
        self.journal.state("done")
        self.journal.close()
        return out

    def copy(self, dirs: _Dirs) -> None:
        """Open, check, encrypt each file: a failure rolls back that item alone."""
        keys = self.vault.new_keys([q.vid for q in self.live])
        kept = []
        for q in self.live:
            try:
                _copy(self.vault, q, dirs, self.plan, keys[q.vid])
                kept.append(q)
            except (OSError, Refused, VaultError) as exc:
                _undo(self.vault, q.vid, None)
                self.fail(q, exc)
        self.live = kept

    def verify(self) -> None:
        kept = []
        for q in self.live:
            pre = _pre(q.item)
            if self.vault.decrypt(q.vid, q.obj, None) == (pre.sha256, pre.size):
                kept.append(q)
            else:
                _undo(self.vault, q.vid, q.obj)
                self.fail(q, VaultError("the vault's copy does not verify"))
        self.live = kept

    def abandon(self, exc: BaseException, *, verified: bool) -> None:
        """A failure of the whole batch: before `verified` every item is rolled back; from
        it on, every item is in the vault and the next run's recovery finishes the move."""
        if verified:
            for q in self.live:
                detail = f"{why(exc)}; in the vault as {q.vid}: the next run finishes it"
                self.results[q.index] = Outcome("failed", q.item.path, detail, q.item.id, q.vid)
            return
        undone = True
        for q in self.live:
            try:
                _undo(self.vault, q.vid, q.obj or None)
            except OSError:
                undone = False
            self.fail(q, exc)
        if undone:  # else the journal stays: the next run undoes the rest
            with contextlib.suppress(OSError):
                self.vault.drop("journal", self.bid)


def _pre(item: PlanItem) -> Preconditions:
    assert item.preconditions is not None
    return item.preconditions


def _copy(vault: Vault, q: _Q, dirs: _Dirs, plan: Plan | None, key: bytes) -> None:
    """Open the planned file, check it, encrypt it into tmp/ (not yet synced)."""
    pre = _pre(q.item)
    _, q.name = split(q.item.path)
    fd = open_regular(dirs.of(q.item.path), q.name)
    try:
        st = os.fstat(fd)
        if not _same(st, pre):
            raise Refused("changed since the plan (size, mtime, inode or device)")
        if st.st_nlink > 1:
            raise Refused(f"has {st.st_nlink} hard links: its data would stay reachable")
        xattrs = read_xattrs(fd)
        digest, size, q.obj = vault.encrypt_from(q.vid, fd, key)
    finally:
        os.close(fd)
    if (digest, size) != (pre.sha256, pre.size):
        raise Refused("changed since the plan (SHA-256 differs)")
    q.entry = _entry(q.vid, q.item, plan, st=st, xattrs=xattrs, obj=q.obj, reason=None)


def _undo(vault: Vault, vid: str, obj: str | None) -> None:
    """Undo one item's quarantine before `verified` (its source was never touched)."""
    vault.drop_part(vid)
    vault.destroy_object(obj)
    vault.destroy_key(vid)
    vault.drop("manifest", vid)


# -- restore -------------------------------------------------------------------------------


def restore_many(
    vault: Vault,
    vids: Sequence[str],
    *,
    force: bool = False,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    batch: int = BATCH,
) -> list[Outcome]:
    """`restore` for many vault items, `batch` at a time under one journal record (see the
    module's docstring); with `force` each item goes through `restore` alone (an obstacle
    is quarantined first). One outcome per item, in order."""
    if force:
        return [restore(vault, v, force=True, log=log, on_state=on_state) for v in vids]
    out: list[Outcome] = []
    for start in range(0, len(vids), max(1, batch)):
        out += _RestoreBatch(vault, vids[start : start + batch], log, on_state).run()
    return out


@dataclass
class _R:
    index: int
    vid: str
    path: str
    entry: dict[str, Any]
    tmp: str
    name: str = ""
    problems: list[str] = field(default_factory=list)


class _RestoreBatch:
    """One batch of restores under one journal record."""

    def __init__(
        self, vault: Vault, vids: Sequence[str], log: Path | None, on_state: StateHook
    ) -> None:
        self.vault, self.vids, self.log = vault, vids, log
        self.results: dict[int, Outcome] = {}
        self.events: list[Event] = []
        self.live: list[_R] = []
        seen: set[str] = set()
        for i, vid in enumerate(vids):
            if vid in seen:  # restored once, never twice
                self.results[i] = Outcome("failed", "?", f"item {vid} named twice", vault_id=vid)
                continue
            seen.add(vid)
            entry = vault.get("manifest", vid)
            if entry is None:
                self.results[i] = Outcome(
                    "failed", "?", f"no item {vid} in the vault", vault_id=vid
                )
                continue
            path = str(entry.get("location") or "?")
            if entry.get("state") != "quarantined":
                detail = f"item {vid} is {entry.get('state')}"
                self.results[i] = Outcome("failed", path, detail, vault_id=vid)
                continue
            self.live.append(_R(i, vid, path, entry, f".faceaudit-restore-{vid}"))
        self.bid = "batch-" + secrets.token_hex(8)
        self.journal = Journal(vault, self.bid, {"op": "restore", "batch": self.bid}, on_state)

    def outcomes(self) -> list[Outcome]:
        record_many(self.log, self.events)
        return [self.results[i] for i in range(len(self.vids))]

    def fail(self, r: _R, exc: BaseException) -> None:
        loc = salted(self.vault.salt, r.path)
        self.events.append(("fail", {"vault_id": r.vid, "location": loc, "detail": why(exc)}))
        self.results[r.index] = Outcome("failed", r.path, why(exc), vault_id=r.vid)

    def conflict(self, r: _R, detail: str) -> None:
        self.results[r.index] = Outcome("conflict", r.path, detail, None, r.vid)

    def state(self, state: str) -> None:
        items = [{"item": r.vid, "target": r.path, "tmp": r.tmp} for r in self.live]
        self.journal.state(state, items=items)

    def run(self) -> list[Outcome]:
        placed = False
        with contextlib.ExitStack() as stack:
            dirs = _Dirs(stack, create=True)
            try:
                self.free(dirs)
                if not self.live:
                    return self.outcomes()
                self.state("intent")
                self.decrypt(dirs)
                self.state("copied")
                for r in self.live:
                    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                    fd = os.open(r.tmp, flags, dir_fd=dirs.of(r.path))
                    try:
                        os.fsync(fd)  # the bytes and the metadata, in one
                    finally:
                        os.close(fd)
                self.state("synced")
                self.state("verified")  # the SHA-256 was compared while decrypting
                self.place(dirs)
                self.state("placed")
                placed = True
            except (OSError, Refused, VaultError) as exc:
                self.abandon(exc, placed=placed)
                return self.outcomes()
        finish_restores(self.vault, [(r.vid, r.entry) for r in self.live])
        for r in self.live:
            loc = salted(self.vault.salt, r.path)
            fields = {"vault_id": r.vid, "location": loc, "detail": "restored"}
            self.events.append(("restore", fields))
            detail = "restored" + (f" ({'; '.join(r.problems)})" if r.problems else "")
            self.results[r.index] = Outcome("done", r.path, detail, vault_id=r.vid)
        out = self.outcomes()
        self.journal.state("done")
        self.journal.close()
        return out

    def free(self, dirs: _Dirs) -> None:
        """Keep the items whose place is free (the others are conflicts)."""
        kept = []
        for r in self.live:
            try:
                _, r.name = split(r.path)
                if lstat_at(dirs.of(r.path), r.name) is not None:
                    self.conflict(r, "something stands in its place")
                else:
                    kept.append(r)
            except (OSError, Refused) as exc:
                self.fail(r, exc)
        self.live = kept

    def decrypt(self, dirs: _Dirs) -> None:
        """Decrypt each beside its target, with its metadata."""
        kept = []
        for r in self.live:
            try:
                _decrypt_beside(self.vault, r, dirs.of(r.path))
                kept.append(r)
            except (OSError, Refused, VaultError) as exc:
                unlink_quietly(dirs.of(r.path), r.tmp)
                self.fail(r, exc)
        self.live = kept

    def place(self, dirs: _Dirs) -> None:
        """Link each into place (which fails rather than overwrite anything); fsync each
        directory once."""
        kept = []
        for r in self.live:
            dir_fd = dirs.of(r.path)
            try:
                os.link(r.tmp, r.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                kept.append(r)
            except FileExistsError:
                self.conflict(r, "something took its place meanwhile")
            os.unlink(r.tmp, dir_fd=dir_fd)
        self.live = kept
        dirs.sync([r.path for r in self.live])

    def abandon(self, exc: BaseException, *, placed: bool) -> None:
        """A failure of the whole batch: before `placed` each item's temporary file is
        removed (an item already linked is finished); from it on, the next run finishes."""
        if placed:
            for r in self.live:
                detail = f"{why(exc)}; in its place: the next run finishes the restore"
                self.results[r.index] = Outcome("failed", r.path, detail, vault_id=r.vid)
            return
        for r in self.live:
            undo_restore(self.vault, r.vid, r.path, r.tmp)
            if (self.vault.get("manifest", r.vid) or {}).get("state") == "restored":
                self.results[r.index] = Outcome("done", r.path, "restored", vault_id=r.vid)
            else:
                self.fail(r, exc)
        with contextlib.suppress(OSError):
            self.vault.drop("journal", self.bid)


def _decrypt_beside(vault: Vault, r: _R, dir_fd: int) -> None:
    fd = os.open(
        r.tmp,
        os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
        dir_fd=dir_fd,
    )
    try:
        digest, _size = vault.decrypt(r.vid, str(r.entry["object"]), fd)
        if digest != r.entry["sha256"]:
            raise VaultError(f"item {r.vid} does not decrypt to its SHA-256")
        r.problems = set_metadata(fd, r.entry)
    finally:
        os.close(fd)


def unlink_quietly(dir_fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


def finish_restores(vault: Vault, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """`finish_restore` for many placed items: keys destroyed, objects unlinked, manifest
    entries marked restored, each directory fsynced once."""
    vault.destroy_keys([vid for vid, _ in items])
    vault.destroy_objects([str(e["object"]) for _, e in items if e.get("object")])
    at = now_iso()
    vault.put_many(
        "manifest", {vid: {**e, "state": "restored", "restored_at": at} for vid, e in items}
    )


# -- recovery ------------------------------------------------------------------------------


def recover_batch(vault: Vault, bid: str, doc: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Roll a batch's every item forward or back; (vault id, path, what was done) for each.
    The journal record goes last, so a crash during recovery is recovered again."""
    op, state = doc.get("op"), doc.get("state")
    listed = [i for i in doc.get("items", []) if isinstance(i, dict)]
    out = []
    for it in listed:
        vid = str(it.get("item"))
        if op == "quarantine":
            path = str(it.get("source"))
            if state in ("intent", "copied", "synced", None):
                _undo(vault, vid, it.get("object") or None)
                detail = f"quarantine interrupted at {state}: rolled back, the file is in its place"
            else:
                if state == "verified":  # unlinked only if it is still the planned file
                    _, name = split(path)
                    with (
                        contextlib.suppress(FileNotFoundError, Refused),
                        parent_dir(path) as dir_fd,
                    ):
                        remove_source(dir_fd, name, Preconditions(**it["pre"]))
                detail = (
                    f"quarantine interrupted at {state}: rolled forward, the file is in the vault"
                )
        else:
            path = str(it.get("target"))
            entry = vault.get("manifest", vid) or {}
            if state in ("placed", "done"):
                if entry.get("state") == "quarantined":
                    finish_restores(vault, [(vid, entry)])
                where = "in its place"
            else:
                undo_restore(vault, vid, path, it.get("tmp"))
                entry = vault.get("manifest", vid) or {}
                where = "in its place" if entry.get("state") == "restored" else "in the vault"
            detail = f"restore interrupted at {state}: the file is {where}"
        out.append((vid, path, detail))
    vault.drop("journal", bid)
    return out
