"""Judgement: evidence in, findings out — a pure function of a scan result, the policy
(its legal holds included), waivers, a baseline, the facts gathered beside the scan
(registers, the subjects of database stores) and a clock. Nothing here reads a file, a
database or the time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from scanner.model import Location, PolicyInfo, ScalarValue, ScanResult, StoreInfo
from scanner.policy.actions import plan
from scanner.policy.declarations import Store
from scanner.policy.durations import Duration
from scanner.policy.evaluate import evaluate, upcoming
from scanner.policy.facts import facts_for
from scanner.policy.gate import Baseline, Waiver, apply_baseline, apply_waivers
from scanner.policy.holds import apply_holds
from scanner.policy.loader import Policy
from scanner.policy.registers import RegisterData
from scanner.policy.stores import store_for
from scanner.sources.keys import SubjectRow

_SETTINGS = ("policy", "waivers", "baseline")


@dataclass(frozen=True)
class Judgement:
    """What a scan's evidence is judged against."""

    policy: Policy
    waivers: tuple[Waiver, ...] = ()
    baseline: Baseline | frozenset[str] | None = None  # known findings (a set: fingerprints)
    as_of: datetime | None = None  # evaluate rules at this moment (UTC); None: the scan's end
    due_within: Duration | None = None  # also list what falls due within this window

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
    facts = facts_for(registers, subjects)
    findings = evaluate(result.items, policy, facts, now)
    findings, expired, unused = apply_waivers(findings, judgement.waivers, now)
    if judgement.baseline is not None:
        findings = apply_baseline(findings, judgement.baseline)
    window = judgement.due_within
    due = upcoming(result.items, policy, facts, now, window.after(now)) if window else ()
    findings, due = apply_holds(findings, due, policy, now)  # a legal hold wins over erasure
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
        store_details=tuple(_store_info(s) for s in policy.stores),
        due_within=window.iso if window is not None else None,
        item_stores=tuple(
            (item.location, store.id)
            for item in result.items
            if (store := store_for(item, policy.stores)) is not None
        ),
    )
    given = dict(judgement.as_settings())
    settings = tuple((k, given[k]) if k in given else (k, v) for k, v in result.settings)
    actions = plan(findings, due, policy, now)
    return replace(
        result, findings=findings, policy=info, settings=settings, due=due, actions=actions
    )


def _store_info(store: Store) -> StoreInfo:
    retention = store.retention
    return StoreInfo(
        id=store.id,
        owner=store.owner,
        purpose=store.purpose,
        legal_basis=tuple(store.legal_basis),
        retention=retention.duration.iso if retention is not None else None,
        retention_from=retention.starts if retention is not None else None,
    )
