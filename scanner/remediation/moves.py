"""Quarantine, restore and purge, each through recorded states in the vault's journal, so
that after a crash, a SIGKILL or a full disk `recover` rolls every action forward or back and
every item exists exactly once, in its place or in the vault, byte-identical.

    quarantine  intent → copied → synced → verified → source_removed → done
    restore     intent → copied → synced → verified → placed → done
    purge       intent → key_destroyed → data_destroyed → done

Quarantine always copies (the vault encrypts, so a rename could never do): it reads the
source through its directory's descriptor, writes the encrypted object, fsyncs it and the
vault's directories, decrypts it again to verify the SHA-256, writes the manifest entry, and
only then unlinks the source (checking it is still the planned file) and fsyncs its
directory. Before `verified` a crash rolls back (the source was never touched); from
`verified` on it rolls forward. Restore writes a temporary file beside the target, sets its
metadata, and links it into place, which fails rather than overwrite anything.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from scanner.remediation.events import record, salted
from scanner.remediation.fsops import (
    Refused,
    lstat_at,
    open_regular,
    parent_dir,
    read_xattrs,
    split,
    unlink_if,
)
from scanner.remediation.plan import Plan, PlanItem, Preconditions, holds_for
from scanner.remediation.vault import Vault, VaultError

StateHook = Callable[[str, str], None]  # (operation, state): called once the state is durable


@dataclass(frozen=True)
class Outcome:
    """What became of one item: `done`, `would` (a dry run), `skipped` (a precondition no
    longer holds: nothing was touched), `conflict` (restore: something stands in the way),
    `failed` (an error: rolled back), `kept` (purge: not due or held) or `recovered`."""

    status: str
    path: str
    detail: str = ""
    item: str | None = None  # the plan item
    vault_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("done", "would", "kept", "recovered")


def _no_hook(op: str, state: str) -> None:
    del op, state


class _Journal:
    def __init__(self, vault: Vault, vid: str, doc: dict[str, Any], hook: StateHook) -> None:
        self.vault, self.vid, self.doc, self.hook = vault, vid, doc, hook

    def state(self, state: str, **extra: Any) -> None:
        self.doc.update(extra, state=state)
        self.vault.put("journal", self.vid, self.doc)
        self.hook(str(self.doc["op"]), state)

    def close(self) -> None:
        self.vault.drop("journal", self.vid)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _same(st: os.stat_result, pre: Preconditions) -> bool:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev) == (
        pre.size,
        pre.mtime_ns,
        pre.ino,
        pre.dev,
    )


# -- dry run -------------------------------------------------------------------------------


def check(item: PlanItem) -> Outcome:
    """What `apply` would do with the item, without touching it (the hash is not taken
    again: size, mtime, inode and device are compared)."""
    if item.action == "none" or item.preconditions is None:
        return Outcome("kept", item.path, item.reason or "no action", item.id)
    try:
        _, name = split(item.path)
        with parent_dir(item.path) as dir_fd:
            st = lstat_at(dir_fd, name)
    except (OSError, Refused) as exc:
        return Outcome("skipped", item.path, f"cannot be reached: {exc}", item.id)
    if st is None:
        return Outcome("skipped", item.path, "gone since the plan", item.id)
    if not _same(st, item.preconditions):
        return Outcome("skipped", item.path, "changed since the plan", item.id)
    return Outcome("would", item.path, item.action, item.id)


# -- quarantine ----------------------------------------------------------------------------


def quarantine(
    vault: Vault,
    item: PlanItem,
    plan: Plan | None,
    *,
    log: Path | None = None,
    on_state: StateHook = _no_hook,
    reason: str | None = None,
) -> Outcome:
    """Move one planned file into the vault (see the module's docstring)."""
    pre = item.preconditions
    if item.action == "none" or pre is None:
        return Outcome("kept", item.path, item.reason or "no action", item.id)
    vid = secrets.token_hex(8)
    journal = _Journal(
        vault,
        vid,
        {"op": "quarantine", "item": vid, "source": item.path, "pre": pre.__dict__},
        on_state,
    )
    try:
        _, name = split(item.path)
        with parent_dir(item.path) as dir_fd:
            fd = open_regular(dir_fd, name)
            try:
                st = os.fstat(fd)
                if not _same(st, pre):
                    raise Refused("changed since the plan (size, mtime, inode or device)")
                if st.st_nlink > 1:
                    raise Refused(f"has {st.st_nlink} hard links: its data would stay reachable")
                journal.state("intent")
                xattrs = read_xattrs(fd)
                digest, size, obj = vault.encrypt_from(vid, fd)
            finally:
                os.close(fd)
            if (digest, size) != (pre.sha256, pre.size):
                raise Refused("changed since the plan (SHA-256 differs)")
            journal.state("copied", object=obj)
            vault.seal(vid, obj)
            journal.state("synced")
            if vault.decrypt(vid, obj, None) != (digest, size):
                raise VaultError("the vault's copy does not verify")
            entry = _entry(vid, item, plan, st=st, xattrs=xattrs, obj=obj, reason=reason)
            vault.put("manifest", vid, entry)
            journal.state("verified")
            _remove_source(dir_fd, name, pre)
            journal.state("source_removed")
        journal.state("done")
        journal.close()
    except (OSError, Refused, VaultError) as exc:
        with contextlib.suppress(OSError):
            _roll_back_quarantine(vault, vid)
        status = "skipped" if isinstance(exc, Refused) else "failed"
        record(log, "skip" if status == "skipped" else "fail", **_ev(vault, item, str(exc)))
        return Outcome(status, item.path, _why(exc), item.id)
    record(log, "quarantine", vault_id=vid, object=obj, **_ev(vault, item, item.action))
    return Outcome("done", item.path, f"{item.action}: in the vault as {vid}", item.id, vid)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "no space left in the vault: nothing was moved"
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return "the vault is on a read-only file system: nothing was moved"
    return str(exc)


def _ev(vault: Vault, item: PlanItem, detail: str) -> dict[str, Any]:
    """An event's fields about an item: its path only as a salted hash."""
    return {
        "plan_item": item.id,
        "location": salted(vault.salt, item.path),
        "sha256": item.preconditions.sha256 if item.preconditions else None,
        "rule_ids": list(item.rule_ids),
        "detail": detail,
    }


def _remove_source(dir_fd: int, name: str, pre: Preconditions) -> None:
    st = lstat_at(dir_fd, name)
    if st is not None and _same(st, pre):
        os.unlink(name, dir_fd=dir_fd)
    os.fsync(dir_fd)


def _entry(
    vid: str,
    item: PlanItem,
    plan: Plan | None,
    *,
    st: os.stat_result,
    xattrs: dict[str, bytes],
    obj: str,
    reason: str | None,
) -> dict[str, Any]:
    grace = plan.grace_days if plan is not None else None
    at = datetime.now(timezone.utc)
    return {
        "id": vid,
        "state": "quarantined",
        "action": item.action,
        "quarantined_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "purge_after": (
            (at + timedelta(days=grace)).isoformat(timespec="seconds").replace("+00:00", "Z")
            if item.action == "delete" and grace is not None
            else None
        ),
        "object": obj,
        "sha256": item.preconditions.sha256 if item.preconditions else None,
        "size": st.st_size,
        "location": item.path,
        "owner": st.st_uid,
        "group": st.st_gid,
        "mode": st.st_mode & 0o7777,
        "atime_ns": st.st_atime_ns,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "xattrs": {k: v.hex() for k, v in sorted(xattrs.items())},
        "plan": plan.plan_id if plan is not None else None,
        "plan_item": item.id,
        "rule_ids": list(item.rule_ids),
        "citations": list(item.citations),
        "fingerprints": list(item.fingerprints),
        "members": list(item.members),
        "severity": item.severity,
        "reason": reason,
    }


def _roll_back_quarantine(vault: Vault, vid: str) -> None:
    """Undo a quarantine that had not reached `verified`: its source was never touched.
    Each step is tried even if one fails (a read-only vault holds nothing to undo); the
    journal goes last, so whatever could not be undone is undone by the next run."""
    doc = vault.get("journal", vid) or {}
    steps: list[Callable[[], None]] = [
        lambda: vault.drop_part(vid),
        lambda: vault.destroy_object(doc.get("object")),
        lambda: vault.destroy_key(vid),
        lambda: vault.drop("manifest", vid),
    ]
    failed = False
    for step in steps:
        try:
            step()
        except OSError:
            failed = True
    if not failed:
        vault.drop("journal", vid)


# -- restore -------------------------------------------------------------------------------


def restore(
    vault: Vault,
    vid: str,
    *,
    force: bool = False,
    log: Path | None = None,
    on_state: StateHook = _no_hook,
) -> Outcome:
    """Put a quarantined item back, byte-identical with its owner, group, mode, timestamps
    and extended attributes; never over anything (a conflict), unless `force` quarantines
    the obstacle first."""
    entry = vault.get("manifest", vid)
    if entry is None:
        return Outcome("failed", "?", f"no item {vid} in the vault", vault_id=vid)
    path = str(entry.get("location") or "?")
    if entry.get("state") != "quarantined":
        return Outcome("failed", path, f"item {vid} is {entry.get('state')}", vault_id=vid)
    tmp = f".faceaudit-restore-{vid}"
    journal = _Journal(vault, vid, {"op": "restore", "item": vid, "target": path}, on_state)
    try:
        _, name = split(path)
        with parent_dir(path, create=True, mode=0o755) as dir_fd:
            if lstat_at(dir_fd, name) is not None:
                if not force:
                    return Outcome("conflict", path, "something stands in its place", None, vid)
                obstacle = _obstacle(
                    vault, dir_fd, name, path=path, vid=vid, log=log, on_state=on_state
                )
                if not obstacle.ok:
                    return obstacle
            journal.state("intent", tmp=tmp)
            fd = os.open(
                tmp,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dir_fd,
            )
            try:
                digest, _size = vault.decrypt(vid, str(entry["object"]), fd)
                if digest != entry["sha256"]:
                    raise VaultError(f"item {vid} does not decrypt to its SHA-256")
                journal.state("copied")
                problems = _set_metadata(fd, entry)
                os.fsync(fd)  # the bytes and the metadata, in one
                journal.state("synced")
                journal.state("verified")  # the SHA-256 was compared while decrypting
            finally:
                os.close(fd)
            try:
                os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                unlink_if(dir_fd, tmp)
                journal.close()
                return Outcome("conflict", path, "something took its place meanwhile", None, vid)
            os.unlink(tmp, dir_fd=dir_fd)
            os.fsync(dir_fd)
            journal.state("placed")
        _finish_restore(vault, vid)
        journal.state("done")
        journal.close()
    except (OSError, Refused, VaultError) as exc:
        with contextlib.suppress(OSError):
            _roll_back_restore(vault, vid)
        record(log, "fail", vault_id=vid, location=salted(vault.salt, path), detail=_why(exc))
        return Outcome("failed", path, _why(exc), vault_id=vid)
    record(log, "restore", vault_id=vid, location=salted(vault.salt, path), detail="restored")
    detail = "restored" + (f" ({'; '.join(problems)})" if problems else "")
    return Outcome("done", path, detail, vault_id=vid)


def _obstacle(
    vault: Vault,
    dir_fd: int,
    name: str,
    *,
    path: str,
    vid: str,
    log: Path | None,
    on_state: StateHook,
) -> Outcome:
    """Quarantine what stands where an item is restored (restore --force)."""
    try:
        fd = open_regular(dir_fd, name)
    except (OSError, Refused) as exc:
        return Outcome("conflict", path, f"the obstacle cannot be quarantined: {exc}", None, vid)
    try:
        from scanner.remediation.fsops import hash_fd

        st = os.fstat(fd)
        pre = Preconditions(st.st_size, hash_fd(fd), st.st_mtime_ns, st.st_ino, st.st_dev)
    finally:
        os.close(fd)
    item = PlanItem(
        id="obstacle",
        action="quarantine",
        path=path,
        reason=None,
        rule_ids=(),
        citations=(),
        packs=(),
        fingerprints=(),
        severity="info",
        preconditions=pre,
    )
    out = quarantine(
        vault, item, None, log=log, on_state=on_state, reason=f"stood where {vid} was restored"
    )
    return out if not out.ok else Outcome("done", path, f"obstacle is {out.vault_id}")


def _set_metadata(fd: int, entry: dict[str, Any]) -> list[str]:
    problems = []
    try:
        os.fchown(fd, int(entry["owner"]), int(entry["group"]))
    except PermissionError:
        problems.append("owner and group not restored: not permitted")
    os.fchmod(fd, int(entry["mode"]))
    for key, value in dict(entry.get("xattrs") or {}).items():
        try:
            os.setxattr(fd, key, bytes.fromhex(value))
        except OSError as exc:
            problems.append(f"xattr {key} not restored: {exc.strerror}")
    os.utime(fd, ns=(int(entry["atime_ns"]), int(entry["mtime_ns"])))
    return problems


def _finish_restore(vault: Vault, vid: str) -> None:
    entry = vault.get("manifest", vid) or {}
    vault.destroy_key(vid)
    vault.destroy_object(entry.get("object"))
    vault.put("manifest", vid, {**entry, "state": "restored", "restored_at": _now()})


def _roll_back_restore(vault: Vault, vid: str) -> None:
    """Before `placed`: remove the temporary file (the item stays in the vault); if the
    crash came between linking and unlinking it, the item is in place: roll forward."""
    doc = vault.get("journal", vid) or {}
    target, tmp = doc.get("target"), doc.get("tmp")
    if target and tmp:
        with contextlib.suppress(OSError, Refused), parent_dir(str(target)) as dir_fd:
            _, name = split(str(target))
            t, f = lstat_at(dir_fd, tmp), lstat_at(dir_fd, name)
            unlink_if(dir_fd, tmp)
            os.fsync(dir_fd)
            if t is not None and f is not None and (t.st_ino, t.st_dev) == (f.st_ino, f.st_dev):
                _finish_restore(vault, vid)
    vault.drop("journal", vid)


# -- purge ---------------------------------------------------------------------------------


def due(entry: dict[str, Any], now: datetime) -> bool:
    after = entry.get("purge_after")
    return (
        entry.get("state") == "quarantined"
        and after is not None
        and datetime.fromisoformat(str(after).replace("Z", "+00:00")) <= now
    )


def purge(
    vault: Vault,
    vid: str,
    *,
    now: datetime,
    log: Path | None = None,
    on_state: StateHook = _no_hook,
) -> Outcome:
    """Destroy an item whose grace period has passed: its key, then its data; an erasure
    record (the location kept only as a salted hash)."""
    entry = vault.get("manifest", vid)
    if entry is None:
        return Outcome("failed", "?", f"no item {vid} in the vault", vault_id=vid)
    path = str(entry.get("location") or "?")
    if not due(entry, now):
        return Outcome("kept", path, f"not due (purge after {entry.get('purge_after')})", None, vid)
    hold = holds_for(path)
    if hold is not None:
        return Outcome("kept", path, f"legal hold {hold.case}: {hold.reason}", None, vid)
    journal = _Journal(vault, vid, {"op": "purge", "item": vid}, on_state)
    journal.state("intent")
    _finish_purge(vault, vid, journal, log)
    return Outcome("done", path, "key and data destroyed", None, vid)


def _finish_purge(vault: Vault, vid: str, journal: _Journal, log: Path | None) -> None:
    entry = vault.get("manifest", vid) or {}
    vault.destroy_key(vid)
    journal.state("key_destroyed")
    vault.destroy_object(entry.get("object"))
    journal.state("data_destroyed")
    if entry.get("state") == "quarantined":
        erasure = {
            "id": vid,
            "erased_at": _now(),
            "location": salted(vault.salt, str(entry.get("location", ""))),
            "sha256": entry.get("sha256"),
            "size": entry.get("size"),
            "plan": entry.get("plan"),
            "rule_ids": entry.get("rule_ids", []),
            "citations": entry.get("citations", []),
            "quarantined_at": entry.get("quarantined_at"),
            "method": "AES-256-GCM key destroyed, then the encrypted object unlinked",
        }
        vault.put("erasures", vid, erasure)
        kept = {k: entry.get(k) for k in ("id", "action", "plan", "plan_item", "rule_ids")}
        vault.put("manifest", vid, {**kept, "state": "purged", "purged_at": erasure["erased_at"]})
        record(log, "erasure", **{k: v for k, v in erasure.items() if k != "id"}, vault_id=vid)
    journal.state("done")
    journal.close()


# -- recovery ------------------------------------------------------------------------------


def recover(vault: Vault, *, log: Path | None = None) -> list[Outcome]:
    """Roll every action the journal holds forward or back (run before any other)."""
    out = []
    for vid in vault.names("journal"):
        doc = vault.get("journal", vid) or {}
        op, state = doc.get("op"), doc.get("state")
        path = str(doc.get("source") or doc.get("target") or "?")
        if op == "quarantine" and state in ("intent", "copied", "synced", None):
            _roll_back_quarantine(vault, vid)
            detail = f"quarantine interrupted at {state}: rolled back, the file is in its place"
        elif op == "quarantine":
            if state == "verified":  # unlinked only if it is still the planned file
                pre = Preconditions(**doc["pre"])
                _, name = split(path)
                with contextlib.suppress(FileNotFoundError, Refused), parent_dir(path) as dir_fd:
                    _remove_source(dir_fd, name, pre)
            vault.drop("journal", vid)
            detail = f"quarantine interrupted at {state}: rolled forward, the file is in the vault"
        elif op == "restore" and state in ("placed", "done"):
            _finish_restore(vault, vid)
            vault.drop("journal", vid)
            detail = f"restore interrupted at {state}: rolled forward, the file is in its place"
        elif op == "restore":
            _roll_back_restore(vault, vid)
            entry = vault.get("manifest", vid) or {}
            where = "in its place" if entry.get("state") == "restored" else "in the vault"
            detail = f"restore interrupted at {state}: the file is {where}"
        elif op == "purge":
            _finish_purge(vault, vid, _Journal(vault, vid, doc, _no_hook), log)
            detail = f"purge interrupted at {state}: rolled forward, key and data destroyed"
        else:
            detail = f"unknown journal record {op}/{state}: left for a person to look at"
            out.append(Outcome("failed", path, detail, vault_id=vid))
            continue
        record(log, "recover", vault_id=vid, operation=str(op), state=str(state), detail=detail)
        out.append(Outcome("recovered", path, detail, vault_id=vid))
    return out
