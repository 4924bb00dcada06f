"""The subject search as JSON, validated against scanner/schemas/subject.schema.json.

For an access or erasure request: where the person's face was found (location, distance,
confidence, the face's box, the stored set and how many of its vectors matched — each by its
row's key and own date, or by the label stored beside it —, the item's date, countries and
application), what could not be compared and why, and the coverage.
Never the probe, its file name or any descriptor.
"""

from __future__ import annotations

import json
from typing import Any

from scanner.model import FaceBox, ItemContext, Location, Problem
from scanner.reporters.findings import iso
from scanner.reporters.text import unicode_safe
from scanner.subject_results import NotCompared, StoredHit, SubjectMatch, SubjectResult

SCHEMA_VERSION = "1.1"
SPACE = "dlib_face_recognition_resnet_model_v1 (128-d, face_recognition's space)"


def render(result: SubjectResult) -> str:
    return json.dumps(to_document(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_document(result: SubjectResult) -> dict[str, Any]:
    scan = result.scan
    return {
        "schema_version": SCHEMA_VERSION,
        "report": "subject",
        "tool": {"name": "faceaudit", "version": scan.tool_version},
        "models": dict(scan.models),
        "search": {
            "started_at": iso(scan.started_at),
            "finished_at": iso(scan.finished_at),
            "duration_s": round((scan.finished_at - scan.started_at).total_seconds(), 3),
            "targets": [unicode_safe(t) for t in scan.targets],
            "probe_photos": result.probe_photos,
            "space": SPACE,
            "tolerance": result.tolerance,
            "interrupted": scan.interrupted,
        },
        "verdict": {
            "found": result.found,
            "complete": not result.incomplete,
            "locations": len({m.location for m in result.matches}),
            "matches": len(result.matches),
            "exit_code": int(result.exit_code),
        },
        "coverage": {
            "items_scanned": scan.stats.items_scanned,
            "items_reused": scan.stats.reused,
            "items_with_face_data": len(scan.items),
            "faces_compared": result.faces_compared,
            "stores_compared": result.stores_compared,
            "vectors_compared": result.vectors_compared,
            "not_compared": len(result.not_compared),
            "nearest_distance": result.nearest,
        },
        "matches": [_match(m) for m in result.matches],
        "not_compared": [_missing(n) for n in result.not_compared],
        "problems": [_problem(p) for p in scan.problems],
    }


def location(loc: Location) -> dict[str, Any]:
    return {"path": unicode_safe(loc.path), "members": [unicode_safe(m) for m in loc.members]}


def _match(m: SubjectMatch) -> dict[str, Any]:
    return {
        "path": unicode_safe(m.location.display),
        "identity": unicode_safe(m.location.identity),
        "location": location(m.location),
        "kind": m.kind.value,
        "distance": m.distance,
        "confidence": m.confidence,
        "detector": m.detector,
        "box": _box(m.box) if m.box is not None else None,
        "store": (
            {
                "where": unicode_safe(m.where or ""),
                "vectors_within": m.within,
                "compared": m.compared,
                "count": m.count,
            }
            if m.where is not None
            else None
        ),
        "hits": [hit(h) for h in m.hits],
        "app": m.app,
        "sha256": m.sha256,
        "context": context(m.context),
    }


def hit(h: StoredHit) -> dict[str, Any]:
    """One stored vector within the tolerance: which one, and its distance."""
    r = h.ref
    key = {unicode_safe(c): unicode_safe(v) for c, v in r.row.parts} if r.row else None
    return {
        "key": key or None,
        "label": unicode_safe(r.label) if r.label is not None else None,
        "path": unicode_safe(r.path) if r.path is not None else None,
        "date": unicode_safe(r.date) if r.date is not None else None,
        "date_column": unicode_safe(r.date_column) if r.date_column is not None else None,
        "distance": h.distance,
    }


def _box(b: FaceBox) -> dict[str, Any]:
    return {"x": b.x, "y": b.y, "w": b.w, "h": b.h, "frame": b.frame, "rotation": b.rotation}


def context(c: ItemContext) -> dict[str, Any]:
    return {
        "created": iso(c.created) if c.created else None,
        "created_source": c.created_source,
        "newest": iso(c.newest) if c.newest else None,
        "countries": list(c.countries),
        "regions": sorted({p.region for p in c.places if p.region}),
        "platforms": list(c.platforms),
    }


def _missing(n: NotCompared) -> dict[str, Any]:
    return {
        "path": unicode_safe(n.location.display),
        "kind": n.kind.value,
        "where": unicode_safe(n.where) if n.where is not None else None,
        "count": n.count,
        "reason": unicode_safe(n.reason),
        "blocking": n.blocking,
    }


def _problem(p: Problem) -> dict[str, Any]:
    return {
        "path": unicode_safe(p.location.display),
        "reason": p.reason.value,
        "detail": unicode_safe(p.detail),
        "incomplete": p.incomplete,
    }
