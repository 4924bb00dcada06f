"""The JSON report: versioned, validated against scanner/schemas/report.schema.json."""

from __future__ import annotations

import collections
import json
from datetime import datetime, timezone
from typing import Any

from scanner.model import (
    Evidence,
    EvidenceKind,
    FaceBox,
    ItemResult,
    Location,
    Problem,
    ScalarValue,
    ScanResult,
)
from scanner.reporters.text import unicode_safe

SCHEMA_VERSION = "1.1"


def render(result: ScanResult) -> str:
    return json.dumps(to_document(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_document(result: ScanResult) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "faceaudit", "version": result.tool_version},
        "models": dict(result.models),
        "scan": {
            "started_at": _iso(result.started_at),
            "finished_at": _iso(result.finished_at),
            "duration_s": round((result.finished_at - result.started_at).total_seconds(), 3),
            "targets": [unicode_safe(t) for t in result.targets],
            "settings": _scalars(result.settings),
            "interrupted": result.interrupted,
        },
        "summary": _summary(result),
        "items": [_item(i) for i in result.items],
        "problems": [_problem(p) for p in result.problems],
    }


def _iso(moment: datetime) -> str:
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
        "by_kind": {k.value: by_kind.get(k.value, 0) for k in EvidenceKind},
        "by_content_type": dict(stats.by_content_type),
        "bytes_read": stats.bytes_read,
        "directories": stats.directories,
        "excluded": stats.excluded,
        "hardlinks": stats.hardlinks,
        "archive_members": stats.archive_members,
        "skipped": dict(sorted(skipped.items())),
        "errors": dict(sorted(errors.items())),
        "incomplete": result.incomplete,
        "atime_preserved": stats.atime_preserved,
        "fail_on": result.fail_on.label if result.fail_on is not None else "never",
        "exit_code": int(result.exit_code),
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
    return doc


def _item(item: ItemResult) -> dict[str, Any]:
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
    doc["evidence"] = [_evidence(e) for e in item.evidence]
    doc["notes"] = _scalars(item.notes)
    return doc


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
