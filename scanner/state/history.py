"""Recording scans and reading them back: counts by kind, severity and store; new and
resolved findings against the previous scan of the same targets under the same policy.
Without a policy, each item with evidence counts as a finding (its location and kind)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from scanner.model import Disposition, EvidenceKind, ScanResult, TrendPoint
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
    if result.policy is not None:
        findings = [
            (f.fingerprint, f.rule_id, f.severity.label, _text(f.location.display), f.store or "")
            for f in result.findings
            if f.disposition is not Disposition.WAIVED
        ]
    else:
        findings = _pseudo_findings(result)
    targets, policy = _keys(result)
    previous = state.last_fingerprints(targets, policy)
    current = {f[0] for f in findings}
    kinds = Counter(e.kind.value for i in result.items for e in i.evidence)
    record = {
        "started_at": result.started_at.isoformat(),
        "finished_at": result.finished_at.isoformat(),
        "targets": targets,
        "policy": policy,
        "exit_code": int(result.exit_code),
        "incomplete": result.incomplete,
        "items_with_evidence": len(result.items),
        "faces": result.faces,
        "embeddings": kinds.get(EvidenceKind.FACE_EMBEDDING.value, 0),
        "findings_open": len(current),
        "new_findings": len(current - previous) if previous is not None else len(current),
        "resolved_findings": len(previous - current) if previous is not None else 0,
        "by_kind": dict(sorted(kinds.items())),
        "by_severity": dict(sorted(Counter(f[2] for f in findings).items())),
        "by_store": dict(sorted(Counter(f[4] or "(undeclared)" for f in findings).items())),
    }
    return state.record_scan(record, findings)


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
