"""Judgement: evidence in, findings out — a pure function of a scan result, the policy,
waivers, a baseline, the facts gathered beside the scan (registers, the subjects of database
stores) and a clock. Nothing here reads a file, a database or the time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from scanner.model import Location, PolicyInfo, ScalarValue, ScanResult
from scanner.policy.evaluate import evaluate
from scanner.policy.facts import facts_for
from scanner.policy.gate import Waiver, apply_baseline, apply_waivers
from scanner.policy.loader import Policy
from scanner.policy.registers import RegisterData
from scanner.sources.keys import SubjectRow

_SETTINGS = ("policy", "waivers", "baseline")


@dataclass(frozen=True)
class Judgement:
    """What a scan's evidence is judged against."""

    policy: Policy
    waivers: tuple[Waiver, ...] = ()
    baseline: frozenset[str] | None = None  # fingerprints of known findings
    as_of: datetime | None = None  # evaluate rules at this moment (UTC); None: the scan's end

    def as_settings(self) -> tuple[tuple[str, ScalarValue], ...]:
        return (
            ("policy", self.policy.name),
            ("waivers", len(self.waivers)),
            ("baseline", len(self.baseline) if self.baseline is not None else -1),
        )


def judge(
    result: ScanResult,
    judgement: Judgement,
    registers: Mapping[str, RegisterData],
    subjects: Mapping[Location, tuple[SubjectRow, ...]],
) -> ScanResult:
    """The result with its findings under the policy, waivers applied and the baseline's
    known findings marked; evaluated at `judgement.as_of`, else at the scan's end."""
    policy = judgement.policy
    now = judgement.as_of or result.finished_at
    findings = evaluate(result.items, policy, facts_for(registers, subjects), now)
    findings, expired, unused = apply_waivers(findings, judgement.waivers, now)
    if judgement.baseline is not None:
        findings = apply_baseline(findings, judgement.baseline)
    info = PolicyInfo(
        name=policy.name,
        files=policy.files,
        digest=policy.digest,
        packs=policy.packs,
        stores=tuple(s.id for s in policy.stores),
        rules=tuple(r.id for r in policy.enabled_rules),
        evaluated_at=now,
        expired_waivers=expired,
        unused_waivers=unused,
    )
    given = dict(judgement.as_settings())
    settings = tuple((k, given[k]) if k in given else (k, v) for k, v in result.settings)
    return replace(result, findings=findings, policy=info, settings=settings)
