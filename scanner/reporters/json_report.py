"""The JSON report: versioned, validated against scanner/schemas/report.schema.json.

It is also the baseline format: a finding carries only what is stable between runs of the
same data (rule, location, fingerprint, facts), never the time of the scan.
"""

from __future__ import annotations

import collections
import json
from datetime import datetime, timezone
from typing import Any

from scanner.model import (
    Action,
    Evidence,
    EvidenceKind,
    FaceBox,
    Finding,
    FindingRows,
    HeldBy,
    ItemContext,
    ItemResult,
    Location,
    ObjectLocation,
    PolicyInfo,
    Problem,
    ScalarValue,
    ScanResult,
    StoreInfo,
)
from scanner.reporters.findings import (
    count_by,
    faces_are_lower_bound,
    is_failing,
    items_by_location,
    ordered,
    where,
)
from scanner.reporters.text import unicode_safe

SCHEMA_VERSION = "1.6"  # 1.6: containers; 1.5: disposition `held`, `held_by`; pages; version_id


def render(result: ScanResult) -> str:
    return json.dumps(to_document(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_document(result: ScanResult) -> dict[str, Any]:
    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "faceaudit", "version": result.tool_version},
        "models": dict(result.models),
        "scan": {
            "started_at": _iso(result.started_at),
            "finished_at": _iso(result.finished_at),
            "duration_s": round((result.finished_at - result.started_at).total_seconds(), 3),
            "targets": [unicode_safe(t) for t in result.targets],
            "settings": _scalars(result.settings),
            "protections": dict(result.protections),
            "interrupted": result.interrupted,
        },
        "policy": _policy(result.policy) if result.policy is not None else None,
        "summary": _summary(result),
        "items": [_item(i, result.policy) for i in result.items],
        "findings": _findings(result),
        "problems": [_problem(p) for p in result.problems],
        "due": _due(result),
        "actions": [_action(a) for a in result.actions],
    }
    containers = _containers(result)
    if containers:
        doc["containers"] = containers
    return doc


def _containers(result: ScanResult) -> list[dict[str, Any]]:
    """The files holding findings inside them (archives, mailboxes), each with the members
    the scan counted in it, nested containers included: a remediation plan acts on such a
    file as a whole only when every member examined is a finding (docs/remediation.md). A
    file is left out when the count could be short: the scan was interrupted, or a problem
    was reported anywhere inside it (a limit, a corrupt or unreadable member)."""
    if result.interrupted or not result.containers:
        return []
    holding = {f.location.artifact for f in result.findings if f.location.members}
    troubled = {p.location.artifact for p in result.problems}
    counts: collections.Counter[Location] = collections.Counter()
    for location, members in result.containers:
        artifact = location.artifact
        if artifact is not None and artifact in holding and artifact not in troubled:
            counts[artifact] += members
    return [
        {**_location(artifact), "members_examined": n}
        for artifact, n in sorted(counts.items(), key=lambda c: c[0])
    ]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # the model keeps UTC: a naive time is UTC, not local time
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _summary(result: ScanResult) -> dict[str, Any]:
    stats = result.stats
    by_kind: collections.Counter[str] = collections.Counter()
    for item in result.items:
        for kind in {e.kind for e in item.evidence}:
            by_kind[kind.value] += 1
    skipped: collections.Counter[str] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    for problem in result.problems:
        (errors if problem.incomplete else skipped)[problem.reason.value] += 1
    return {
        "items_scanned": stats.items_scanned,
        "items_with_evidence": len(result.items),
        "faces": result.faces,
        "faces_lower_bound": faces_are_lower_bound(result),
        "by_kind": {k.value: by_kind.get(k.value, 0) for k in EvidenceKind},
        "by_content_type": dict(stats.by_content_type),
        "bytes_read": stats.bytes_read,
        "directories": stats.directories,
        "excluded": stats.excluded,
        "hardlinks": stats.hardlinks,
        "archive_members": stats.archive_members,
        "pages": {"examined": stats.pages_examined, "total": stats.pages_total},
        "media": dict(stats.media),
        "skipped": dict(sorted(skipped.items())),
        "errors": dict(sorted(errors.items())),
        "incomplete": result.incomplete,
        "atime_preserved": stats.atime_preserved,
        "reused_from_state": stats.reused,
        "fail_on": result.fail_on.label if result.fail_on is not None else "never",
        "exit_code": int(result.exit_code),
        "findings": {
            "total": len(result.findings),
            "failing": sum(is_failing(f, result) for f in result.findings),
            "by_severity": count_by(result.findings, "severity"),
            "by_disposition": count_by(result.findings, "disposition"),
            "by_rule": count_by(result.findings, "rule_id"),
        },
        "due": len(result.due),
        "actions": len(result.actions),
    }


def _scalars(pairs: tuple[tuple[str, ScalarValue], ...]) -> dict[str, ScalarValue]:
    """Settings echo argv and details/notes come from scanned data: strings made valid UTF-8."""
    return {k: unicode_safe(v) if isinstance(v, str) else v for k, v in pairs}


def _location(loc: Location) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "path": unicode_safe(loc.path),
        "members": [unicode_safe(m) for m in loc.members],
    }
    raw = loc.path.encode("utf-8", "surrogateescape")
    if unicode_safe(loc.path) != loc.path:
        # A name that is not UTF-8: its exact bytes, so it can be found unambiguously
        # (`\xff` in `path` could also be four literal characters).
        doc["path_hex"] = raw.hex()
    held_in = loc.artifact
    if isinstance(held_in, ObjectLocation) and held_in.version is not None:
        # the object version that was read (a versioned bucket): the path names the object
        doc["version_id"] = held_in.version
    return doc


def _item(item: ItemResult, policy: PolicyInfo | None = None) -> dict[str, Any]:
    primary = item.primary
    assert primary is not None  # items in a report hold evidence
    mtime = (
        _iso(datetime.fromtimestamp(item.mtime_ns / 1e9, timezone.utc))
        if item.mtime_ns is not None
        else None
    )
    doc: dict[str, Any] = {
        "path": unicode_safe(item.location.display),
        "location": _location(item.location),
        "kind": primary.kind.value,
        "faces": primary.faces,
        "detector": primary.detector,
        "confidence": primary.confidence,
        "severity": primary.severity.label,
        "content_type": item.content_type.value,
        "size": item.size,
        "sha256": item.sha256,
        "mtime": mtime,
    }
    # Stored templates (and database columns) say how many, of what shape, from which
    # application, and why they were judged so.
    for key in _PROMOTED:
        value = primary.detail(key)
        if value is not None and value != "":
            doc[key] = unicode_safe(value) if isinstance(value, str) else value
    if primary.reasons:
        doc["reasons"] = [unicode_safe(r) for r in primary.reasons]
    if policy is not None:  # the declared store the item belongs to, if any
        doc["store"] = _optional(policy.store_of(item.location))
    doc["evidence"] = [_evidence(e) for e in item.evidence]
    doc["notes"] = _scalars(item.notes)
    doc["context"] = _context(item.context)
    return doc


def _context(context: ItemContext) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "created": _iso(context.created) if context.created is not None else None,
        "created_source": _optional(context.created_source),
        "newest": _iso(context.newest) if context.newest is not None else None,
        "provenance": [
            {
                "source": unicode_safe(p.source),
                "value": unicode_safe(p.value),
                "platform": p.platform,
            }
            for p in context.provenance
        ],
        "places": [
            {
                "country": p.country,
                "region": p.region,
                "source": unicode_safe(p.source),
                "count": p.count,
            }
            for p in context.places
        ],
    }
    if context.mail_domains:  # a mail part: its message's From/To/Cc domains, never addresses
        doc["mail_domains"] = [
            {"header": d.header, "domain": unicode_safe(d.domain)} for d in context.mail_domains
        ]
    return doc


def _optional(text: str | None) -> str | None:
    return unicode_safe(text) if text is not None else None


def _policy(policy: PolicyInfo) -> dict[str, Any]:
    return {
        "name": unicode_safe(policy.name),
        "files": [unicode_safe(f) for f in policy.files],
        "digest": policy.digest,
        "packs": list(policy.packs),
        "stores": [unicode_safe(s) for s in policy.stores],
        "rules": list(policy.rules),
        "evaluated_at": _iso(policy.evaluated_at),
        "expired_waivers": [unicode_safe(w) for w in policy.expired_waivers],
        "unused_waivers": [unicode_safe(w) for w in policy.unused_waivers],
        "store_details": [_store(s) for s in policy.store_details],
        "due_within": _optional(policy.due_within),
    }


def _store(store: StoreInfo) -> dict[str, Any]:
    return {
        "id": unicode_safe(store.id),
        "owner": _optional(store.owner),
        "purpose": _optional(store.purpose),
        "legal_basis": [unicode_safe(b) for b in store.legal_basis],
        "retention": _optional(store.retention),
        "retention_from": _optional(store.retention_from),
    }


def _due(result: ScanResult) -> list[dict[str, Any]]:
    """Findings that fall due: what each will say, and the last day the item may be kept."""
    items = items_by_location(result)
    out = []
    for due in result.due:
        item = items.get(due.finding.location)
        uri = where(due.finding.location, item.content_type if item is not None else None).uri
        doc = _finding(due.finding, uri)
        del doc["disposition"], doc["justification"]
        out.append({**doc, "deadline": due.deadline.isoformat()})
    return out


def _action(a: Action) -> dict[str, Any]:
    return {
        "status": a.status.value,
        "deadline": a.deadline.isoformat(),
        "path": unicode_safe(a.location.display),
        "location": _location(a.location),
        "store": _optional(a.store),
        "owner": _optional(a.owner),
        "title": unicode_safe(a.title),
        "remediation": unicode_safe(a.remediation),
        "severity": a.severity.label,
        "rule_ids": [unicode_safe(r) for r in a.rule_ids],
        "packs": [unicode_safe(p) for p in a.packs],
        "citations": [unicode_safe(c) for c in a.citations],
        "fingerprints": [unicode_safe(f) for f in a.fingerprints],
        "known": a.known,
    }


def _findings(result: ScanResult) -> list[dict[str, Any]]:
    items = items_by_location(result)
    out = []
    for finding in ordered(result.findings):
        item = items.get(finding.location)
        uri = where(finding.location, item.content_type if item is not None else None).uri
        out.append(_finding(finding, uri))
    return out


def _finding(f: Finding, uri: str) -> dict[str, Any]:
    """Stable data only: no scan time, no payload (the baseline compares fingerprints)."""
    return {
        "rule_id": f.rule_id,
        "severity": f.severity.label,
        "title": unicode_safe(f.title),
        "message": unicode_safe(f.message),
        "path": unicode_safe(f.location.display),
        "location": {**_location(f.location), "uri": uri},
        "kind": f.kind.value,
        "citations": [unicode_safe(c) for c in f.citations],
        "remediation": unicode_safe(f.remediation),
        "pack": unicode_safe(f.pack),
        "fingerprint": f.fingerprint,
        "identity": unicode_safe(f.location.identity),
        "store": _optional(f.store),
        "facts": _scalars(f.facts),
        "disposition": f.disposition.value,
        "justification": _optional(f.justification),
        "help_uri": _optional(f.help_uri),
        **({"rows": _rows(f.rows)} if f.rows is not None else {}),
        **({"held_by": _held_by(f.held_by)} if f.held_by is not None else {}),
    }


def _held_by(hold: HeldBy) -> dict[str, Any]:
    return {
        "case": unicode_safe(hold.case),
        "reason": unicode_safe(hold.reason),
        "owner": unicode_safe(hold.owner),
        "start": hold.start.isoformat(),
        "end": hold.end.isoformat() if hold.end is not None else None,
    }


def _rows(rows: FindingRows) -> dict[str, Any]:
    """Every row the finding lists (up to the model's bound), the total and the digest."""
    return {
        "total": rows.total,
        "listed": len(rows.rows),
        "digest": rows.digest,
        "rows": [
            {
                "key": {unicode_safe(c): unicode_safe(v) for c, v in r.key.parts},
                "subject": unicode_safe(r.subject),
                "reason": r.reason,
            }
            for r in rows.rows
        ],
    }


_PROMOTED = ("count", "dims", "dtype", "family", "app", "linked_store")


def _evidence(e: Evidence) -> dict[str, Any]:
    return {
        "kind": e.kind.value,
        "detector": e.detector,
        "faces": e.faces,
        "confidence": e.confidence,
        "severity": e.severity.label,
        "boxes": [_box(b) for b in e.boxes],
        "details": _scalars(e.details),
        "reasons": [unicode_safe(r) for r in e.reasons],
    }


def _box(b: FaceBox) -> dict[str, Any]:
    out: dict[str, Any] = {
        "x": b.x,
        "y": b.y,
        "w": b.w,
        "h": b.h,
        "confidence": b.confidence,
        "method": b.method,
        "rotation": b.rotation,
        "frame": b.frame,
    }
    if b.verified_by:
        out["verified_by"] = b.verified_by
    return out


def _problem(p: Problem) -> dict[str, Any]:
    return {
        "path": unicode_safe(p.location.display),
        "location": _location(p.location),
        "reason": p.reason.value,
        "incomplete": p.incomplete,
        "detail": unicode_safe(p.detail),
    }
