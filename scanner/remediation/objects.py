"""Objects in S3 (and S3-compatible) stores: planned, copied into the vault, then erased,
every version of them; restored as a new version.

A plan item for `s3://bucket/key` holds the latest version as listed when the plan was made
(ETag, version id, size, LastModified). `apply` lists the key's versions again and skips the
item if its latest version is not the planned one (the ETag, version id or size differ). An
Object Lock retention that has not expired, or a legal hold, on any version forbids the
erasure: the item is `blocked` until the retention's date (or until the hold is lifted),
reported, never hidden, nothing touched. Otherwise, through the vault's journal:

    object   intent → copied (every version's bytes encrypted into the vault, each verified)
             → verified (the manifest entry) → source_removed (every version and every
             delete marker deleted by version id) → done

A delete marker alone is not erasure: the older versions stay readable behind it, so each
version is deleted by its id. Before `verified` a crash rolls back (the vault's copies are
destroyed, the store was never touched); from `verified` on it rolls forward (deleting by
version id is idempotent).

Restore puts the latest version's bytes back as a new object (a new version id: S3 cannot
bring an erased version id back; older versions stay in the vault until purged with it), and
never over an object that now stands at the key (a conflict).

The store is reached as the scan reaches it (scanner/sources/object_stores.py: the AWS
credential chain and endpoint, s3fs); the plan holds no credential. GCS and Azure objects are
planned `none` with the reason (not remediated by this version).
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from scanner.errors import FaceauditError
from scanner.remediation.events import record, salted
from scanner.remediation.moves import Journal, Outcome, StateHook, no_hook, now_iso, why
from scanner.remediation.plan import ObjectPre, Plan, PlanItem
from scanner.remediation.stash import drop_parts, stash, unstash
from scanner.remediation.vault import Vault, VaultError


class ObjectChanged(FaceauditError):
    """The object is not as planned (a precondition failed)."""


def _fs(store: str) -> Any:
    from scanner.sources.object_stores import ObjectTarget, filesystem

    return filesystem(ObjectTarget.parse(store))


def _bucket(store: str) -> str:
    return store.split("://", 1)[1]


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def listing(fs: Any, bucket: str, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The key's versions (oldest first) and delete markers, every page of them."""
    versions: list[dict[str, Any]] = []
    markers: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": key}
    while True:
        page = fs.call_s3("list_object_versions", **kwargs)
        versions += [v for v in page.get("Versions", []) if v.get("Key") == key]
        markers += [m for m in page.get("DeleteMarkers", []) if m.get("Key") == key]
        if not page.get("IsTruncated"):
            break
        kwargs["KeyMarker"] = page.get("NextKeyMarker")
        kwargs["VersionIdMarker"] = page.get("NextVersionIdMarker")
    # S3 lists a key's versions newest first: reversed, the oldest first and the latest last
    versions.reverse()
    versions.sort(key=lambda v: bool(v.get("IsLatest")))  # stable: only the latest moves
    return versions, markers


def _version_id(v: dict[str, Any]) -> str | None:
    vid = v.get("VersionId")
    return None if vid in (None, "null") else str(vid)


def plan_object(uri: str, common: dict[str, Any], action: str) -> PlanItem:
    """The plan item of the object `uri`: its latest version's preconditions, or `none`."""
    scheme = uri.split("://", 1)[0].lower()
    if scheme != "s3":
        return PlanItem(
            action="none",
            path=uri,
            reason=f"an object in a {scheme}:// store: only s3:// objects are remediated by "
            "this version",
            **common,
        )
    bucket, _, key = uri[len("s3://") :].partition("/")
    store = f"s3://{bucket}"
    try:
        versions, markers = listing(_fs(store), bucket, key)
    except Exception as exc:  # the store's error is this item's reason
        from scanner.sources.object_stores import describe

        return PlanItem(action="none", path=uri, reason=f"cannot list: {describe(exc)}", **common)
    latest = versions[-1] if versions and versions[-1].get("IsLatest") else None
    if latest is None:
        return PlanItem(action="none", path=uri, reason="gone since the scan", **common)
    pre = ObjectPre(
        store=store,
        key=key,
        etag=str(latest.get("ETag", "")),
        version_id=_version_id(latest),
        size=int(latest.get("Size") or 0),
        last_modified=_iso(latest.get("LastModified")),
        versions=len(versions) + len(markers),
    )
    return PlanItem(action=action, path=uri, reason=None, object=pre, **common)


def _state(fs: Any, pre: ObjectPre) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The key's versions and markers now; ObjectChanged when its latest version is not the
    planned one."""
    bucket = _bucket(pre.store)
    versions, markers = listing(fs, bucket, pre.key)
    latest = versions[-1] if versions and versions[-1].get("IsLatest") else None
    if latest is None:
        raise ObjectChanged("gone since the plan (no current version)")
    if str(latest.get("ETag", "")) != pre.etag or _version_id(latest) != pre.version_id:
        raise ObjectChanged("changed since the plan (ETag or version id differ)")
    if int(latest.get("Size") or 0) != pre.size:
        raise ObjectChanged("changed since the plan (size differs)")
    return versions, markers


def _lock(fs: Any, pre: ObjectPre, versions: list[dict[str, Any]], now: datetime) -> str | None:
    """Why Object Lock forbids deleting a version now ("until DATE"), or None."""
    bucket = _bucket(pre.store)
    until: datetime | None = None
    held = False
    for v in versions:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": pre.key}
        if _version_id(v) is not None:
            kwargs["VersionId"] = _version_id(v)
        head = fs.call_s3("head_object", **kwargs)
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            held = True
        date = head.get("ObjectLockRetainUntilDate")
        if head.get("ObjectLockMode") and isinstance(date, datetime) and date > now:
            until = date if until is None or date > until else until
    if until is None and not held:
        return None
    parts = []
    if until is not None:
        parts.append(f"blocked until {_iso(until)} (Object Lock retention)")
    if held:
        parts.append("blocked until its Object Lock legal hold is lifted")
    return "; ".join(parts)


def check_object(item: PlanItem) -> Outcome:
    """The dry run: what apply would do, reading only (listing and HEADs)."""
    pre = item.object
    assert pre is not None
    try:
        fs = _fs(pre.store)
        versions, _ = _state(fs, pre)
        blocked = _lock(fs, pre, versions, datetime.now(timezone.utc))
    except ObjectChanged as exc:
        return Outcome("skipped", item.path, str(exc), item.id)
    except Exception as exc:
        return Outcome("skipped", item.path, f"cannot be reached: {_describe(exc)}", item.id)
    if blocked:
        return Outcome("blocked", item.path, blocked, item.id)
    return Outcome("would", item.path, f"{item.action} ({len(versions)} version(s))", item.id)


def _describe(exc: BaseException) -> str:
    from scanner.sources.object_stores import describe

    return describe(exc)


def _path(bucket: str, key: str, version: str | None) -> str:
    return f"{bucket}/{key}" + (f"?versionId={version}" if version else "")


def erase_object(  # noqa: PLR0915 (the journal's steps, in order)
    vault: Vault,
    item: PlanItem,
    plan: Plan | None,
    *,
    log: Path | None = None,
    on_state: StateHook = no_hook,
) -> Outcome:
    """Copy every version into the vault, then delete every version and delete marker."""
    pre = item.object
    assert pre is not None
    bucket = _bucket(pre.store)
    ev = _ev(vault, item)
    try:
        fs = _fs(pre.store)
        versions, markers = _state(fs, pre)
        blocked = _lock(fs, pre, versions, datetime.now(timezone.utc))
    except ObjectChanged as exc:
        record(log, "skip", **ev, detail=str(exc))
        return Outcome("skipped", item.path, str(exc), item.id)
    except Exception as exc:
        record(log, "fail", **ev, detail=_describe(exc))
        return Outcome("failed", item.path, f"cannot be reached: {_describe(exc)}", item.id)
    if blocked:
        record(log, "blocked", **ev, detail=blocked)
        return Outcome("blocked", item.path, blocked, item.id)
    vid = secrets.token_hex(8)
    doomed = [_version_id(v) for v in versions] + [_version_id(m) for m in markers]
    journal = Journal(
        vault,
        vid,
        {
            "op": "object",
            "item": vid,
            "source": item.path,
            "store": pre.store,
            "key": pre.key,
            "delete": doomed,
            "parts": [],
        },
        on_state,
    )
    parts: list[dict[str, Any]] = []
    try:
        journal.state("intent")
        for n, v in enumerate(versions):
            version = _version_id(v)
            data = fs.cat_file(_path(bucket, pre.key, version))
            if len(data) != int(v.get("Size") or 0):
                raise ObjectChanged(f"version {version} changed while it was copied")
            part = stash(vault, f"{vid}.{n}", data)
            part.update(
                version_id=version,
                etag=str(v.get("ETag", "")),
                last_modified=_iso(v.get("LastModified")),
            )
            parts.append(part)
            journal.state("intent", parts=parts)
        journal.state("copied")
        vault.put("manifest", vid, _entry(vid, item, plan, parts, len(markers)))
        journal.state("verified")
        _delete(fs, bucket, pre.key, doomed)
        left, marks = listing(fs, bucket, pre.key)
        if left or marks:
            raise VaultError(f"{len(left) + len(marks)} version(s) remain after deleting")
        journal.state("source_removed")
        journal.state("done")
        journal.close()
    except (ObjectChanged, OSError, VaultError, Exception) as exc:
        state = (vault.get("journal", vid) or {}).get("state")
        if state in ("intent", "copied", None):
            with contextlib.suppress(OSError):
                roll_back_object(vault, vid)
            detail = why(exc) if isinstance(exc, OSError) else str(exc) or _describe(exc)
            status = "skipped" if isinstance(exc, ObjectChanged) else "failed"
            record(log, "skip" if status == "skipped" else "fail", **ev, detail=detail)
            return Outcome(status, item.path, detail, item.id)
        detail = f"in the vault as {vid}, but deleting failed: {_describe(exc)}"
        record(log, "fail", **ev, vault_id=vid, detail=detail)
        return Outcome("failed", item.path, detail + " (the next run retries)", item.id, vid)
    record(log, "quarantine", vault_id=vid, versions=len(parts), **ev)
    return Outcome(
        "done",
        item.path,
        f"{item.action}: {len(parts)} version(s) in the vault as {vid}, every version "
        f"and {len(markers)} delete marker(s) deleted",
        item.id,
        vid,
    )


def _delete(fs: Any, bucket: str, key: str, versions: list[str | None]) -> None:
    for version in versions:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version is not None:
            kwargs["VersionId"] = version
        with contextlib.suppress(FileNotFoundError):
            fs.call_s3("delete_object", **kwargs)
    fs.invalidate_cache()


def _ev(vault: Vault, item: PlanItem) -> dict[str, Any]:
    pre = item.object
    return {
        "plan_item": item.id,
        "location": salted(vault.salt, item.path),
        "etag": pre.etag.strip('"') if pre else None,
        "rule_ids": list(item.rule_ids),
    }


def _entry(
    vid: str, item: PlanItem, plan: Plan | None, parts: list[dict[str, Any]], markers: int
) -> dict[str, Any]:
    pre = item.object
    assert pre is not None
    grace = plan.grace_days if plan is not None else None
    at = datetime.now(timezone.utc)
    latest = parts[-1] if parts else {}
    return {
        "id": vid,
        "kind": "object",
        "state": "quarantined",
        "action": item.action,
        "quarantined_at": _iso(at),
        "purge_after": (
            _iso(at + timedelta(days=grace))
            if item.action == "delete" and grace is not None
            else None
        ),
        "location": item.path,
        "store": pre.store,
        "key": pre.key,
        "parts": parts,
        "delete_markers": markers,
        "sha256": latest.get("sha256"),
        "size": latest.get("size"),
        "plan": plan.plan_id if plan is not None else None,
        "plan_item": item.id,
        "rule_ids": list(item.rule_ids),
        "citations": list(item.citations),
        "fingerprints": list(item.fingerprints),
        "members": list(item.members),
        "severity": item.severity,
    }


def roll_back_object(vault: Vault, vid: str) -> None:
    """Before `verified`: destroy the vault's copies (the store was never touched)."""
    doc = vault.get("journal", vid) or {}
    drop_parts(vault, list(doc.get("parts") or []))
    vault.drop("manifest", vid)
    vault.drop("journal", vid)


def recover_object(vault: Vault, vid: str, doc: dict[str, Any]) -> str:
    """Roll an interrupted object action forward or back; what was done."""
    state = doc.get("state")
    if doc.get("op") == "object-restore":
        return _recover_restore(vault, vid, doc)
    if state in ("intent", "copied", None):
        roll_back_object(vault, vid)
        return f"object erasure interrupted at {state}: rolled back, the object is in its place"
    store, key = str(doc["store"]), str(doc["key"])
    _delete(_fs(store), _bucket(store), key, list(doc.get("delete") or []))
    vault.drop("journal", vid)
    return f"object erasure interrupted at {state}: rolled forward, every version deleted"


# -- restore -------------------------------------------------------------------------------


def restore_object(
    vault: Vault,
    vid: str,
    entry: dict[str, Any],
    *,
    log: Path | None = None,
    on_state: StateHook = no_hook,
) -> Outcome:
    """Put the latest version's bytes back at its key (a new version), never over an object
    that stands there now."""
    path = str(entry.get("location"))
    store, key = str(entry["store"]), str(entry["key"])
    bucket = _bucket(store)
    parts = list(entry.get("parts") or [])
    journal = Journal(
        vault,
        vid,
        {"op": "object-restore", "item": vid, "target": path, "store": store, "key": key},
        on_state,
    )
    try:
        fs = _fs(store)
        versions, _ = listing(fs, bucket, key)
        if versions and versions[-1].get("IsLatest"):
            return Outcome("conflict", path, "an object stands at its key", None, vid)
        data = unstash(vault, parts[-1])
        journal.state("intent", md5=parts[-1]["md5"])
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data)
        fs.invalidate_cache()
        journal.state("placed")
        finish_object_restore(vault, vid)
        journal.state("done")
        journal.close()
    except (OSError, VaultError, Exception) as exc:
        detail = str(exc) if isinstance(exc, VaultError) else _describe(exc)
        with contextlib.suppress(OSError):
            vault.drop("journal", vid)
        record(log, "fail", vault_id=vid, location=salted(vault.salt, path), detail=detail)
        return Outcome("failed", path, detail, vault_id=vid)
    record(log, "restore", vault_id=vid, location=salted(vault.salt, path), detail="restored")
    return Outcome(
        "done", path, f"restored as a new version ({len(parts)} version(s) were erased)", None, vid
    )


def finish_object_restore(vault: Vault, vid: str) -> None:
    entry = vault.get("manifest", vid) or {}
    drop_parts(vault, list(entry.get("parts") or []))
    vault.put("manifest", vid, {**entry, "state": "restored", "restored_at": now_iso()})


def _recover_restore(vault: Vault, vid: str, doc: dict[str, Any]) -> str:
    state = doc.get("state")
    if state in ("placed", "done"):
        finish_object_restore(vault, vid)
        vault.drop("journal", vid)
        return f"object restore interrupted at {state}: rolled forward, the object is in place"
    store, key = str(doc["store"]), str(doc["key"])
    fs = _fs(store)
    try:
        head = fs.call_s3("head_object", Bucket=_bucket(store), Key=key)
    except FileNotFoundError:
        head = None
    if head is not None and str(head.get("ETag", "")).strip('"') == doc.get("md5"):
        finish_object_restore(vault, vid)
        vault.drop("journal", vid)
        return f"object restore interrupted at {state}: it was put back: rolled forward"
    vault.drop("journal", vid)
    return f"object restore interrupted at {state}: the object is in the vault"
