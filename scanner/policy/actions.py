"""What to do, by whom and by when: findings and due findings turned into actions. Pure.

One action per item (or store) and per thing asked of it: findings of rules with the same
check and the same parameters — GDPR's and UK GDPR's retention rules, say — are one action
citing both laws. Waived findings ask nothing until their waiver expires, held ones nothing
while their legal hold lasts; baselined ones are
known but still to be acted on (`known`). The deadline of a finding is its `deadline` fact
(the day retention ran out: overdue), else the day the policy was evaluated (act now); a due
finding's is the day its retention runs out. The owner is the store's declared owner.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

from scanner.model import (
    Action,
    ActionStatus,
    Disposition,
    DueFinding,
    Finding,
    Location,
)
from scanner.policy.loader import Policy

_Key = tuple[Location, str, str]
_Entry = tuple[Finding, ActionStatus, date]


def _ask(policy: Policy, rule_id: str) -> str:
    """What a rule asks, without its wording: its check and parameters."""
    loaded = policy.rule(rule_id)
    if loaded is None:
        return rule_id
    # two rules that differ only in wording, severity and scope ask the same thing
    r = loaded.rule
    return json.dumps({"check": r.check, "data": r.data, **r.parameters()}, sort_keys=True)


def _deadline(finding: Finding, today: date) -> tuple[ActionStatus, date]:
    fact = finding.fact("deadline")
    if isinstance(fact, str):
        try:
            return ActionStatus.OVERDUE, date.fromisoformat(fact)
        except ValueError:
            pass
    return ActionStatus.NOW, today


def plan(
    findings: Sequence[Finding], due: Sequence[DueFinding], policy: Policy, now: datetime
) -> tuple[Action, ...]:
    """The actions, soonest deadline first (then most severe, owner, store, location)."""
    today = now.date()
    groups: dict[_Key, list[_Entry]] = {}
    for f in findings:
        if f.disposition in (Disposition.WAIVED, Disposition.HELD):
            continue
        status, deadline = _deadline(f, today)
        key = (f.location, f.store or "", _ask(policy, f.rule_id))
        groups.setdefault(key, []).append((f, status, deadline))
    for d in due:
        if d.finding.disposition is Disposition.HELD:
            continue
        key = (d.finding.location, d.finding.store or "", _ask(policy, d.finding.rule_id))
        groups.setdefault(key, []).append((d.finding, ActionStatus.DUE, d.deadline))
    actions = [_action(entries, policy) for entries in groups.values()]
    return tuple(
        sorted(
            actions,
            key=lambda a: (a.deadline, -a.severity, a.owner or "", a.store or "", a.location),
        )
    )


def _action(entries: list[_Entry], policy: Policy) -> Action:
    # the most urgent first: the earliest deadline, then the most severe rule
    entries = sorted(entries, key=lambda e: (e[2], -e[0].severity, e[0].rule_id))
    lead, status, deadline = entries[0]
    store = policy.store(lead.store) if lead.store is not None else None
    citations: list[str] = []
    for f, _, _ in entries:
        citations += [c for c in f.citations if c not in citations]
    return Action(
        status=status,
        deadline=deadline,
        location=lead.location,
        store=lead.store,
        owner=store.owner if store is not None else None,
        title=lead.title,
        remediation=lead.remediation,
        severity=max(f.severity for f, _, _ in entries),
        rule_ids=tuple(dict.fromkeys(f.rule_id for f, _, _ in entries)),
        packs=tuple(dict.fromkeys(f.pack for f, _, _ in entries)),
        citations=tuple(citations),
        fingerprints=tuple(dict.fromkeys(f.fingerprint for f, _, _ in entries)),
        known=all(f.disposition is Disposition.BASELINE for f, _, _ in entries),
    )
