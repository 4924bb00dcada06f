"""Restore: a quarantined item back in its place, byte-identical with its owner, group,
mode, timestamps and extended attributes, through the journal (intent → copied → synced →
verified → placed → done). It writes a temporary file beside the target and links it into
place, which fails rather than overwrite anything; `--force` quarantines the obstacle first.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from scanner.remediation.events import record, salted
from scanner.remediation.fsops import (
    Refused,
    hash_fd,
    lstat_at,
    open_regular,
    parent_dir,
    split,
    unlink_if,
)
from scanner.remediation.moves import (
    Journal,
    Outcome,
    StateHook,
    no_hook,
    now_iso,
    quarantine,
    why,
)
from scanner.remediation.plan import PlanItem, Preconditions
from scanner.remediation.vault import Vault, VaultError

# -- restore -------------------------------------------------------------------------------


def restore(
    vault: Vault,
    vid: str,
    *,
    force: bool = False,
    log: Path | None = None,
    on_state: StateHook = no_hook,
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
    journal = Journal(vault, vid, {"op": "restore", "item": vid, "target": path}, on_state)
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
                problems = set_metadata(fd, entry)
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
        finish_restore(vault, vid)
        journal.state("done")
        journal.close()
    except (OSError, Refused, VaultError) as exc:
        with contextlib.suppress(OSError):
            roll_back_restore(vault, vid)
        record(log, "fail", vault_id=vid, location=salted(vault.salt, path), detail=why(exc))
        return Outcome("failed", path, why(exc), vault_id=vid)
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


def set_metadata(fd: int, entry: dict[str, Any]) -> list[str]:
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


def finish_restore(vault: Vault, vid: str) -> None:
    entry = vault.get("manifest", vid) or {}
    vault.destroy_key(vid)
    vault.destroy_object(entry.get("object"))
    vault.put("manifest", vid, {**entry, "state": "restored", "restored_at": now_iso()})


def roll_back_restore(vault: Vault, vid: str) -> None:
    """Before `placed`: remove the temporary file (the item stays in the vault); if the
    crash came between linking and unlinking it, the item is in place: roll forward."""
    doc = vault.get("journal", vid) or {}
    undo_restore(vault, vid, doc.get("target"), doc.get("tmp"))
    vault.drop("journal", vid)


def undo_restore(vault: Vault, vid: str, target: str | None, tmp: str | None) -> None:
    """One item's restore interrupted before `placed`: its temporary file removed, and the
    item finished if the temporary was already linked into place."""
    if target and tmp:
        with contextlib.suppress(OSError, Refused), parent_dir(str(target)) as dir_fd:
            _, name = split(str(target))
            t, f = lstat_at(dir_fd, tmp), lstat_at(dir_fd, name)
            unlink_if(dir_fd, tmp)
            os.fsync(dir_fd)
            if t is not None and f is not None and (t.st_ino, t.st_dev) == (f.st_ino, f.st_dev):
                finish_restore(vault, vid)
