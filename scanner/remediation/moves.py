"""Quarantine (restore.py and purge.py: restore and purge), each through recorded states in
the vault's journal, so that after a crash, a SIGKILL or a full disk `recover` (purge.py)
rolls every action forward or back and every item exists exactly once, in its place or in
the vault, byte-identical.

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
)
from scanner.remediation.plan import Plan, PlanItem, Preconditions, acts
from scanner.remediation.vault import Vault, VaultError

StateHook = Callable[[str, str], None]  # (operation, state): called once the state is durable


@dataclass(frozen=True)
class Outcome:
    """What became of one item: `done`, `would` (a dry run), `skipped` (a precondition no
    longer holds: nothing was touched), `conflict` (restore: something stands in the way),
    `failed` (an error: rolled back), `kept` (`none`; purge: not due or held), `manual`
    (members of a container that a person removes: the container is never touched) or
    `recovered`."""

    status: str
    path: str
    detail: str = ""
    item: str | None = None  # the plan item
    vault_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("done", "would", "kept", "manual", "recovered")


def left_alone(item: PlanItem) -> Outcome:
    """The outcome of an item `apply` does not act on: `manual` (a person removes the
    members named; the container is not touched) or `kept` (`none`, with its reason)."""
    if item.action == "manual":
        members = ", ".join(item.members) or "its members"
        return Outcome(
            "manual",
            item.path,
            f"left for a person: remove {members}; the container is untouched",
            item.id,
        )
    return Outcome("kept", item.path, item.reason or "no action", item.id)


def no_hook(op: str, state: str) -> None:
    del op, state


class Journal:
    def __init__(self, vault: Vault, vid: str, doc: dict[str, Any], hook: StateHook) -> None:
        self.vault, self.vid, self.doc, self.hook = vault, vid, doc, hook

    def state(self, state: str, **extra: Any) -> None:
        self.doc.update(extra, state=state)
        self.vault.put("journal", self.vid, self.doc)
        self.hook(str(self.doc["op"]), state)

    def close(self) -> None:
        self.vault.drop("journal", self.vid)


def now_iso() -> str:
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
    if not acts(item) or item.preconditions is None:
        return left_alone(item)
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
    on_state: StateHook = no_hook,
    reason: str | None = None,
) -> Outcome:
    """Move one planned file into the vault (see the module's docstring)."""
    pre = item.preconditions
    if not acts(item) or pre is None:
        return left_alone(item)
    vid = secrets.token_hex(8)
    journal = Journal(
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
            remove_source(dir_fd, name, pre)
            journal.state("source_removed")
        journal.state("done")
        journal.close()
    except (OSError, Refused, VaultError) as exc:
        with contextlib.suppress(OSError):
            roll_back_quarantine(vault, vid)
        status = "skipped" if isinstance(exc, Refused) else "failed"
        record(log, "skip" if status == "skipped" else "fail", **_ev(vault, item, str(exc)))
        return Outcome(status, item.path, why(exc), item.id)
    record(log, "quarantine", vault_id=vid, object=obj, **_ev(vault, item, item.action))
    return Outcome("done", item.path, f"{item.action}: in the vault as {vid}", item.id, vid)


def why(exc: BaseException) -> str:
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


def remove_source(dir_fd: int, name: str, pre: Preconditions) -> None:
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


def roll_back_quarantine(vault: Vault, vid: str) -> None:
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
