"""A plan for a data subject's erasure request, from `faceaudit subject find`'s JSON report.

Each file with matches is an item. A photo (a file that is the match itself) gets the plan's
action (`delete` by default) under the rule `SUBJECT-ERASURE`, citing GDPR Art 17(1). Matches
inside a container (an archive's members, a PDF's pictures, a mailbox's attachments) are one
`manual` item for the container, naming the members: a person erases them, the container is
left alone (it holds other data, often other people's). A match inside a store of many
people's templates (an embeddings file, a database column) is `none`, with the reason:
quarantining the whole store would remove other people's data too, and erasing single rows is
not done by this version. The
plan names the subject report by its SHA-256 (never the probe), so the erasure records, the
plan and the search that follows can be tied together for the reply to the data subject.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.remediation.plan import (
    DEFAULT_GRACE_DAYS,
    Plan,
    PlanError,
    PlanItem,
    _iso,
    _item,
    _new_id,
    _read_json,
)

if TYPE_CHECKING:
    from scanner.policy.declarations import Hold as PolicyHold

RULE = "SUBJECT-ERASURE"
CITATIONS = ("GDPR Art 17(1)", "UK GDPR Art 17(1)")


def plan_from_subject(
    report: Path,
    *,
    base: Path,
    action: str = "delete",
    grace_days: int = DEFAULT_GRACE_DAYS,
    now: datetime | None = None,
    holds: Sequence[PolicyHold] = (),
) -> Plan:
    """The plan that erases every match of a subject report; relative paths resolve
    against `base` (the directory the search ran in). A legal hold (`holds`) wins over the
    erasure request: the item gets `none` with the hold."""
    if action not in ("delete", "quarantine"):
        raise PlanError(f"unknown action {action!r} (delete or quarantine)")
    raw, doc = _read_json(report)
    if doc.get("report") != "subject" or not isinstance(doc.get("matches"), list):
        raise PlanError(f"{report} is not the JSON report of `faceaudit subject find`")
    # one item per file: the matches inside one container are one entry for it
    by_path: dict[str, list[dict[str, Any]]] = {}
    for match in doc["matches"]:
        where = (match.get("location") or {}).get("path") or match.get("path", "")
        by_path.setdefault(str(where), []).append(match)
    items: list[PlanItem] = []
    for n, (artifact, matches) in enumerate(sorted(by_path.items()), 1):
        first = matches[0]
        findings: list[Mapping[str, Any]] = [
            {
                "rule_id": RULE,
                "severity": "high",
                "citations": list(CITATIONS),
                "pack": "subject-erasure",
                "fingerprint": hashlib.sha256(
                    str(m.get("path", "")).encode("utf-8", "surrogateescape")
                ).hexdigest()[:32],
                "disposition": "open",
                "location": m.get("location") or {},
            }
            for m in matches
        ]
        item = _item(
            f"i{n:04d}",
            artifact,
            findings,
            base=base,
            action=action,
            sizes={},
            holds=holds,
            now=now,
        )
        why = None
        if item.hold is not None or item.action == "manual":
            pass  # the hold is the reason; members of a container are a person's to erase
        elif any(m.get("store") for m in matches):
            why = "a store of face templates (many people): its rows are erased by hand for now"
        elif (
            first.get("sha256")
            and item.preconditions is not None
            and (first["sha256"] != item.preconditions.sha256)
        ):
            why = "changed since the search (SHA-256 differs)"
        if why is not None:
            item = PlanItem(
                id=item.id,
                action="none",
                path=item.path,
                reason=why,
                rule_ids=item.rule_ids,
                citations=item.citations,
                packs=item.packs,
                fingerprints=item.fingerprints,
                severity=item.severity,
                members=item.members,
            )
        items.append(item)
    return Plan(
        plan_id=_new_id(now),
        created_at=_iso(now),
        grace_days=grace_days,
        source={
            "subject_report": str(report),
            "subject_report_sha256": hashlib.sha256(raw).hexdigest(),
            "found": bool((doc.get("verdict") or {}).get("found")),
        },
        items=tuple(items),
    )
