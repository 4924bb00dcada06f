"""Recording scans and reading them back: counts by kind, severity and store; new and
resolved findings against the previous scan of the same targets under the same policy.
Without a policy, each item with evidence counts as a finding (its location and kind)."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter

from scanner.model import Disposition, EvidenceKind, ScanResult, TrendPoint
from scanner.sources import scheme_of
from scanner.state.store import StateDB


def pseudo_fingerprint(identity: str, kind: str) -> str:
    """Without a policy, an item with face data stands for a finding: its location (its
    identity, relative to the scan root: the same in scan and watch) and kind."""
    where = identity.encode("utf-8", "surrogateescape")
    return hashlib.sha256(where + b"\0" + kind.encode()).hexdigest()[:32]


def targets_key(targets: list[str]) -> str:
    return json.dumps(sorted(targets))


def _pseudo_findings(result: ScanResult) -> list[tuple[str, str, str, str, str]]:
    out = []
    for item in result.items:
        primary = item.primary
        if primary is None:
            continue
        fp = pseudo_fingerprint(item.location.identity, primary.kind.value)
        out.append(
            (fp, primary.kind.value, primary.severity.label, _text(item.location.display), "")
        )
    return out


def _text(s: str) -> str:
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def record_scan(state: StateDB, result: ScanResult) -> int:
    """The scan in the history, with its open findings; new and resolved ones are counted
    against the previous recorded scan of the same targets under the same policy."""
    if result.policy is not None:
        findings = [
            (f.fingerprint, f.rule_id, f.severity.label, _text(f.location.display), f.store or "")
            for f in result.findings
            if f.disposition is not Disposition.WAIVED
        ]
    else:
        findings = _pseudo_findings(result)
    targets, policy = _keys(result)
    kinds = Counter(e.kind.value for i in result.items for e in i.evidence)
    templates, estimated = templates_of(result)
    record = {
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat(),
        "targets": targets,
        "roots": roots_of(result),
        "policy": policy,
        "exit_code": int(result.exit_code),
        "incomplete": result.incomplete,
        "items_with_evidence": len(result.items),
        "faces": result.faces,
        "embeddings": kinds.get(EvidenceKind.FACE_EMBEDDING.value, 0),
        "templates": templates,
        "templates_estimated": estimated,
        "by_kind": dict(sorted(kinds.items())),
        "by_severity": dict(sorted(Counter(f[2] for f in findings).items())),
        "by_store": dict(sorted(Counter(f[4] or "(undeclared)" for f in findings).items())),
    }
    return state.record_scan(record, findings)


def roots_of(result: ScanResult) -> list[str]:
    """The targets as absolute paths (URIs as reports show them): what `history --target`
    matches, however the target was typed and wherever the scan ran from."""
    return [t if scheme_of(t) else os.path.abspath(t) for t in result.targets]


def templates_of(result: ScanResult) -> tuple[int, bool]:
    """Stored templates (vectors) in the items, and whether any count is an estimate (a
    database column counted from a sample) or unknown."""
    total, estimated = 0, False
    for item in result.items:
        for e in item.evidence:
            if e.kind is not EvidenceKind.FACE_EMBEDDING:
                continue
            count = e.detail("count")
            if isinstance(count, int) and not isinstance(count, bool):
                total += count
            else:
                estimated = True
            estimated = estimated or bool(e.detail("count_estimated"))
    return total, estimated


def _keys(result: ScanResult) -> tuple[str, str]:
    """Scans are compared with earlier scans of the same targets under the same policy."""
    policy = result.policy.name if result.policy is not None else ""
    return targets_key(list(result.targets)), policy


def trend_of(state: StateDB, result: ScanResult, limit: int = 30) -> tuple[TrendPoint, ...]:
    """The recorded scans of this result's targets and policy, oldest first (counts only)."""
    targets, policy = _keys(result)
    return tuple(
        TrendPoint(
            scan_id=r.id,
            started_at=r.started_at,
            findings_open=r.findings_open,
            new_findings=r.new_findings,
            resolved_findings=r.resolved_findings,
            items_with_evidence=r.items_with_evidence,
            faces=r.faces,
            embeddings=r.embeddings,
            incomplete=r.incomplete,
        )
        for r in state.trend(targets, policy, limit)
    )
