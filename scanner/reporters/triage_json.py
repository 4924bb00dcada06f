"""The breach triage as JSON, validated against scanner/schemas/triage.schema.json.

Counts, ranges, countries, dates, applications and the affected items' locations; never a
face, a descriptor or a name.
"""

from __future__ import annotations

import json
from typing import Any

from scanner.model import ItemResult
from scanner.reporters.findings import iso
from scanner.reporters.subject_json import context, location
from scanner.reporters.text import unicode_safe
from scanner.subject_results import Count, TriageItem, TriageResult

SCHEMA_VERSION = "1.1"  # 1.1: exact faces per item, lower bounds, labelled records


def render(result: TriageResult) -> str:
    return json.dumps(to_document(result), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_document(t: TriageResult) -> dict[str, Any]:
    scan = t.scan
    people = t.people
    return {
        "schema_version": SCHEMA_VERSION,
        "report": "triage",
        "tool": {"name": "faceaudit", "version": scan.tool_version},
        "models": dict(scan.models),
        "scan": {
            "started_at": iso(scan.started_at),
            "finished_at": iso(scan.finished_at),
            "duration_s": round((scan.finished_at - scan.started_at).total_seconds(), 3),
            "targets": [unicode_safe(x) for x in scan.targets],
            "interrupted": scan.interrupted,
        },
        "verdict": {
            "face_data": bool(scan.items),
            "complete": not scan.incomplete,
            "exit_code": int(t.exit_code),
        },
        "summary": {
            "items_scanned": scan.stats.items_scanned,
            "files_with_faces": t.files_with_faces,
            "faces": t.faces,
            "faces_lower_bound": t.faces_lower_bound,
            "database_image_rows": t.database_image_rows,
            "template_stores": t.template_stores,
            "templates": t.templates,
            "tagged_items": t.tagged_items,
            "named_people": t.named_people,
            "labelled": t.labelled,
            "labelled_stores": t.labelled_stores,
            "records": t.records,
            "unreadable_items": t.unreadable,
        },
        "people": {
            "estimate": people.estimate,
            "low": people.low,
            "high": people.high,
            "clustered": people.clustered,
            "not_clustered": people.not_clustered,
            "threshold": people.threshold,
            "sweep": list(people.sweep),
            "method": people.method,
        },
        "templates_by_family": _counts(t.families),
        "jurisdictions": _counts(t.countries),
        "applications": _counts(t.applications),
        "date_range": {
            "oldest": iso(t.oldest) if t.oldest else None,
            "newest": iso(t.newest) if t.newest else None,
        },
        "items": [_item(i, f) for i, f in zip(scan.items, t.figures, strict=True)],
        "problems": [
            {
                "path": unicode_safe(p.location.display),
                "reason": p.reason.value,
                "detail": unicode_safe(p.detail),
                "incomplete": p.incomplete,
            }
            for p in scan.problems
        ],
    }


def _counts(counts: tuple[Count, ...]) -> list[dict[str, Any]]:
    return [{"label": unicode_safe(c.label), "count": c.count} for c in counts]


def _item(i: ItemResult, f: TriageItem) -> dict[str, Any]:
    apps = sorted({str(e.detail("app")) for e in i.evidence if e.detail("app")})
    return {
        "path": unicode_safe(i.location.display),
        "location": location(i.location),
        "kinds": sorted({e.kind.value for e in i.evidence}),
        "faces": f.faces,
        "faces_lower_bound": f.faces_lower_bound,
        "image_rows": f.image_rows,
        "templates": f.templates,
        "labelled": f.labelled,
        "apps": apps,
        "context": context(i.context),
    }
