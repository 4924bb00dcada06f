"""Dispatch by what an item is: a local file (moves.py, restore.py), an object in a store
(objects.py) or rows of a database table (rows.py). The CLI and the library act through
these, so every kind is planned, dry-run, applied, restored and recovered the same way.

Besides moves.Outcome's statuses, objects and rows add `blocked` (an Object Lock retention
or legal hold forbids the erasure: "blocked until DATE", nothing touched) and `partial`
(rows of a table done except those that changed since the plan); neither is `ok` (exit 3).
A `manual` item (members of a container, a person's to remove) is never dispatched: its
outcome is `manual`, and `apply_items` records it in the audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanner.remediation import plan as plans
from scanner.remediation.events import EventValue, record_many, salted
from scanner.remediation.moves import Outcome, StateHook, check, left_alone, no_hook, quarantine
from scanner.remediation.plan import Hold, Plan, PlanItem, acts
from scanner.remediation.vault import Vault

OBJECT_SCHEMES = ("s3", "gs", "gcs", "az", "abfs")
DATABASE_SCHEMES = ("postgresql", "postgres", "mysql", "mariadb", "sqlite")


def plan_from_report(report: Path, **options: Any) -> Plan:
    """scanner.remediation.plan.plan_from_report, with objects in stores and database rows
    planned too (`dsns`, `rows_mode` among the options)."""
    return plans.plan_from_report(report, remote=plan_remote, **options)


def plan_remote(
    uri: str,
    group: Sequence[Mapping[str, Any]],
    common: dict[str, Any],
    *,
    action: str,
    dsns: Sequence[str] = (),
    rows_mode: str = "clear",
    hold: Hold | None = None,
) -> PlanItem:
    """The plan item of findings that are not about a local file."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if hold is not None:
        return PlanItem(
            action="none",
            path=uri,
            reason=f"legal hold {hold.case}: {hold.reason}",
            hold=hold,
            **common,
        )
    if not any(f.get("disposition") == "open" for f in group):
        dispositions = sorted({str(f.get("disposition")) for f in group})
        reason = "every finding is " + " or ".join(
            {"waived": "waived", "baseline": "in the baseline"}.get(w, w) for w in dispositions
        )
        return PlanItem(action="none", path=uri, reason=reason, **common)
    if scheme in OBJECT_SCHEMES and "#" not in uri:
        from scanner.remediation.objects import plan_object

        return plan_object(uri, common, action)
    if scheme in DATABASE_SCHEMES or "#" in uri:
        from scanner.remediation.rows import plan_rows

        return plan_rows(uri, group, common, action=action, dsns=dsns, mode=rows_mode)
    return PlanItem(
        action="none",
        path=uri,
        reason=f"not a local file, an object or database rows ({scheme or 'no'} scheme)",
        **common,
    )


def check_item(item: PlanItem, dsns: Sequence[str] = ()) -> Outcome:
    """The dry run of one item (touches nothing)."""
    if not acts(item):
        return left_alone(item)
    if item.object is not None:
        from scanner.remediation.objects import check_object

        return check_object(item)
    if item.rows is not None:
        from scanner.remediation.rows import check_rows

        return check_rows(item, dsns)
    return check(item)


def apply_item(
    vault: Vault,
    item: PlanItem,
    plan: Plan,
    *,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    dsns: Sequence[str] = (),
) -> Outcome:
    """Act on one item: quarantine a file, erase an object, clear or delete rows; a `manual`
    or `none` item is left as it is."""
    if not acts(item):
        return left_alone(item)
    if item.object is not None:
        from scanner.remediation.objects import erase_object

        return erase_object(vault, item, plan, log=log, on_state=on_state)
    if item.rows is not None:
        from scanner.remediation.rows import erase_rows

        return erase_rows(vault, item, plan, log=log, on_state=on_state, dsns=dsns)
    return quarantine(vault, item, plan, log=log, on_state=on_state)


def _remote(item: PlanItem) -> bool:
    return acts(item) and (item.object is not None or item.rows is not None)


def apply_items(
    vault: Vault,
    items: Sequence[PlanItem],
    plan: Plan,
    *,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    dsns: Sequence[str] = (),
) -> list[Outcome]:
    """Act on many items, in their order: the files together (scanner/remediation/batch.py:
    one journal record and a few fsyncs per batch), objects and rows one by one. `manual`
    items are left as they are, each recorded in the audit log (`manual`)."""
    from scanner.remediation.batch import quarantine_many

    record_many(log, [("manual", manual_event(vault, i)) for i in items if i.action == "manual"])
    files = [i for i in items if acts(i) and not _remote(i)]
    moved = iter(quarantine_many(vault, files, plan, log=log, on_state=on_state))
    return [
        left_alone(i)
        if not acts(i)
        else apply_item(vault, i, plan, log=log, on_state=on_state, dsns=dsns)
        if _remote(i)
        else next(moved)
        for i in items
    ]


def manual_event(vault: Vault, item: PlanItem) -> dict[str, EventValue]:
    """The audit record of a `manual` item: the container only as a salted hash, how many
    members a person is to remove, and why."""
    event: dict[str, EventValue] = {
        "plan_item": item.id,
        "location": salted(vault.salt, item.path),
        "rule_ids": list(item.rule_ids),
        "members": len(item.members),
        "detail": "left for a person: the container is untouched",
    }
    if item.preconditions is not None:
        event["sha256"] = item.preconditions.sha256
    if item.container is not None:
        event["basis"] = item.container.basis
    return event


def restore_items(
    vault: Vault,
    vids: Sequence[str],
    *,
    force: bool = False,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    dsns: Sequence[str] = (),
) -> list[Outcome]:
    """Restore many vault items, in their order: files together (batch.py), the rest one by
    one."""
    from scanner.remediation.batch import restore_many

    def remote(vid: str) -> bool:
        entry = vault.get("manifest", vid) or {}
        return entry.get("state") == "quarantined" and entry.get("kind") in ("object", "rows")

    kinds = {vid: remote(vid) for vid in vids}
    files = [vid for vid in vids if not kinds[vid]]
    put_back = iter(restore_many(vault, files, force=force, log=log, on_state=on_state))
    return [
        restore_item(vault, vid, force=force, log=log, on_state=on_state, dsns=dsns)
        if kinds[vid]
        else next(put_back)
        for vid in vids
    ]


def restore_item(
    vault: Vault,
    vid: str,
    *,
    force: bool = False,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    dsns: Sequence[str] = (),
) -> Outcome:
    """Restore one vault item, whatever it came from."""
    from scanner.remediation.restore import restore

    entry = vault.get("manifest", vid) or {}
    if entry.get("state") == "quarantined" and entry.get("kind") == "object":
        from scanner.remediation.objects import restore_object

        return restore_object(vault, vid, entry, log=log, on_state=on_state)
    if entry.get("state") == "quarantined" and entry.get("kind") == "rows":
        from scanner.remediation.rows import restore_rows

        return restore_rows(vault, vid, entry, log=log, on_state=on_state, dsns=dsns)
    return restore(vault, vid, force=force, log=log, on_state=on_state)


def recover_remote(vault: Vault, vid: str, doc: dict[str, Any], dsns: Sequence[str]) -> str:
    """Roll an interrupted object or rows action forward or back (purge.recover)."""
    op = str(doc.get("op"))
    if op.startswith("object"):
        from scanner.remediation.objects import recover_object

        return recover_object(vault, vid, doc)
    from scanner.remediation.rows import recover_rows

    return recover_rows(vault, vid, doc, dsns)
