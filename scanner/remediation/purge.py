"""Purge (key destroyed, then data, then an erasure record) and the recovery of every
action a crash, a SIGKILL or a full disk interrupted (scanner/remediation/moves.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.remediation.batch import recover_batch
from scanner.remediation.events import record, salted
from scanner.remediation.fsops import Refused, parent_dir, split
from scanner.remediation.moves import (
    Journal,
    Outcome,
    StateHook,
    no_hook,
    now_iso,
    remove_source,
    roll_back_quarantine,
)
from scanner.remediation.plan import Preconditions, holds_for
from scanner.remediation.restore import finish_restore, roll_back_restore
from scanner.remediation.stash import parts_of
from scanner.remediation.vault import Vault

if TYPE_CHECKING:
    from scanner.policy.declarations import Hold as PolicyHold

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
    on_state: StateHook = no_hook,
    holds: Sequence[PolicyHold] = (),
) -> Outcome:
    """Destroy an item whose grace period has passed: its key, then its data; an erasure
    record (the location kept only as a salted hash). An item one of `holds` (the policy's
    legal holds) covers at `now` is kept, whatever its grace period says."""
    entry = vault.get("manifest", vid)
    if entry is None:
        return Outcome("failed", "?", f"no item {vid} in the vault", vault_id=vid)
    path = str(entry.get("location") or "?")
    if not due(entry, now):
        return Outcome("kept", path, f"not due (purge after {entry.get('purge_after')})", None, vid)
    hold = holds_for(path, holds, None, now)
    if hold is not None:
        record(log, "hold", vault_id=vid, case=hold.case, detail="kept from purge")
        return Outcome("kept", path, f"legal hold {hold.case}: {hold.reason}", None, vid)
    journal = Journal(vault, vid, {"op": "purge", "item": vid}, on_state)
    journal.state("intent")
    _finish_purge(vault, vid, journal, log)
    return Outcome("done", path, "key and data destroyed", None, vid)


def _finish_purge(vault: Vault, vid: str, journal: Journal, log: Path | None) -> None:
    entry = vault.get("manifest", vid) or {}
    parts = parts_of(vid, entry)  # a file's one; an object's versions, a table's rows
    for part in parts:
        vault.destroy_key(str(part["part"]))
    journal.state("key_destroyed")
    for part in parts:
        vault.destroy_object(part.get("object"))
    journal.state("data_destroyed")
    if entry.get("state") == "quarantined":
        erasure = {
            "id": vid,
            "erased_at": now_iso(),
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


def recover(vault: Vault, *, log: Path | None = None, dsns: Sequence[str] = ()) -> list[Outcome]:
    """Roll every action the journal holds forward or back (run before any other); `dsns`:
    the database URIs an interrupted rows action needs (without, it is left for later)."""
    out = []
    for vid in vault.names("journal"):
        doc = vault.get("journal", vid) or {}
        op, state = doc.get("op"), doc.get("state")
        if doc.get("batch") and op in ("quarantine", "restore"):  # many items: batch.py
            for item, where, detail in recover_batch(vault, vid, doc):
                record(
                    log,
                    "recover",
                    vault_id=item,
                    operation=str(op),
                    state=str(state),
                    detail=detail,
                )
                out.append(Outcome("recovered", where, detail, vault_id=item))
            continue
        path = str(doc.get("source") or doc.get("target") or "?")
        if str(op).startswith(("object", "rows")):
            from scanner.remediation.targets import recover_remote

            try:
                detail = recover_remote(vault, vid, doc, dsns)
            except Exception as exc:  # the store or database cannot be reached now
                detail = f"{op} interrupted at {state}: left for the next run ({exc})"
                out.append(Outcome("failed", path, detail, vault_id=vid))
                continue
        elif op == "quarantine" and state in ("intent", "copied", "synced", None):
            roll_back_quarantine(vault, vid)
            detail = f"quarantine interrupted at {state}: rolled back, the file is in its place"
        elif op == "quarantine":
            if state == "verified":  # unlinked only if it is still the planned file
                pre = Preconditions(**doc["pre"])
                _, name = split(path)
                with contextlib.suppress(FileNotFoundError, Refused), parent_dir(path) as dir_fd:
                    remove_source(dir_fd, name, pre)
            vault.drop("journal", vid)
            detail = f"quarantine interrupted at {state}: rolled forward, the file is in the vault"
        elif op == "restore" and state in ("placed", "done"):
            finish_restore(vault, vid)
            vault.drop("journal", vid)
            detail = f"restore interrupted at {state}: rolled forward, the file is in its place"
        elif op == "restore":
            roll_back_restore(vault, vid)
            entry = vault.get("manifest", vid) or {}
            where = "in its place" if entry.get("state") == "restored" else "in the vault"
            detail = f"restore interrupted at {state}: the file is {where}"
        elif op == "purge":
            _finish_purge(vault, vid, Journal(vault, vid, doc, no_hook), log)
            detail = f"purge interrupted at {state}: rolled forward, key and data destroyed"
        else:
            detail = f"unknown journal record {op}/{state}: left for a person to look at"
            out.append(Outcome("failed", path, detail, vault_id=vid))
            continue
        record(log, "recover", vault_id=vid, operation=str(op), state=str(state), detail=detail)
        out.append(Outcome("recovered", path, detail, vault_id=vid))
    return out
