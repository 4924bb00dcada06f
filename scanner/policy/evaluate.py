"""Evidence + context + declared stores + registers + a clock -> findings. Pure: no I/O.

One finding per (rule, item) — an item is a file, an archive member or a database column —
except for duties of a store as a whole (`store_field_missing`, `orphaned_pair`): one finding
per store, located at the store's first item. Each rule's check is looked up by name in the
table of `scanner.policy.checks`, which judges; this module decides what a rule applies to
and turns verdicts into findings. Messages state the facts (dates, ages, counts of
subjects), never subject ids, names, crops or vectors; a column's finding may carry the rows
behind it (`Finding.rows`: row key, subject id, why), and its fingerprint then covers them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone

from scanner.model import ContentType, DueFinding, Finding, FindingRows, ItemResult, ScalarValue
from scanner.policy.checks import CHECKS
from scanner.policy.checks.base import (
    CheckContext,
    Facts,
    ItemCheck,
    ItemView,
    RuleBase,
    StoreCheck,
    StoreView,
)
from scanner.policy.declarations import Store
from scanner.policy.fields import VIDEO_KIND
from scanner.policy.loader import LoadedRule, Policy
from scanner.policy.stores import jurisdictions, region_matches, store_for

__all__ = ["Facts", "evaluate", "fingerprint", "upcoming"]


def fingerprint(rule_id: str, identity: str, digest: str | None = None) -> str:
    """32 hex naming one finding: the rule, where (a location's `identity`: relative to the
    scan root, so the same however the target was spelled; a store's `store:<id>`) and what
    (a content digest). Baselines of format 1 hold it over the location's display instead
    (`legacy_fingerprint`)."""
    text = "\0".join((rule_id, identity, digest or ""))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def evaluate(
    items: Sequence[ItemResult], policy: Policy, facts: Facts, now: datetime
) -> tuple[Finding, ...]:
    ctx = CheckContext(facts, now.astimezone(timezone.utc))
    views = [_view(i, policy.stores) for i in items if i.evidence]
    findings: list[Finding] = []
    for rule in policy.rules:
        # a store may change the rule for its own items (Store.overrides): group by the
        # rule as it applies there
        groups: dict[str | None, tuple[LoadedRule, list[ItemView]]] = {}
        populated: set[str] = set()  # stores holding data the rule is about, switched off or not
        for v in views:
            own = policy.rule_for(rule, v.store)
            if not _applies(own, v):
                continue
            if v.store is not None:
                populated.add(v.store.id)
            if own.enabled:
                key = v.store.id if own is not rule and v.store is not None else None
                groups.setdefault(key, (own, []))[1].append(v)
        check = CHECKS[rule.rule.check]
        for own, applicable in groups.values():
            if isinstance(check, StoreCheck):
                findings.extend(
                    _store_findings(
                        own, check, applicable, policy.stores, ctx, populated=frozenset(populated)
                    )
                )
            else:
                findings.extend(_item_findings(own, check, applicable, ctx))
    return tuple(sorted(findings, key=lambda f: (-f.severity, f.rule_id, f.location)))


def upcoming(
    items: Sequence[ItemResult], policy: Policy, facts: Facts, now: datetime, until: datetime
) -> tuple[DueFinding, ...]:
    """Findings that rules able to foresee a deadline (retention) will raise after `now` and
    on or before `until`: items that keep every such rule now. Soonest first."""
    ctx = CheckContext(facts, now.astimezone(timezone.utc))
    horizon = until.astimezone(timezone.utc)
    views = [_view(i, policy.stores) for i in items if i.evidence]
    out: list[DueFinding] = []
    for rule in policy.enabled_rules:
        check = CHECKS[rule.rule.check]
        if not isinstance(check, ItemCheck) or check.due is None:
            continue
        for v in views:
            if not _applies(rule, v):
                continue
            due = check.due(rule.rule, v, ctx, horizon)
            if due is not None:
                finding = _finding(rule, v, due.message, due.facts)
                out.append(DueFinding(finding, due.deadline.date()))
    return tuple(
        sorted(
            out,
            key=lambda d: (d.deadline, -d.finding.severity, d.finding.rule_id, d.finding.location),
        )
    )


def _view(item: ItemResult, stores: Sequence[Store]) -> ItemView:
    store = store_for(item, stores)
    created, source = item.context.created, item.context.created_source
    if created is None and item.mtime_ns is not None:
        created = datetime.fromtimestamp(item.mtime_ns / 1e9, timezone.utc)
        source = "mtime"
    kinds = frozenset(e.kind.value for e in item.evidence)
    if item.content_type is ContentType.VIDEO and "face_image" in kinds:
        kinds |= {VIDEO_KIND}  # faces seen in a video's frames
    return ItemView(item, store, jurisdictions(item, store), kinds, created, source)


def _applies(rule: LoadedRule, v: ItemView) -> bool:
    if not v.kinds & set(rule.rule.kinds):
        return False
    if rule.rule.data and v.data not in rule.rule.data:
        return False
    if rule.applies_in and v.codes:
        return region_matches(rule.applies_in, v.codes)
    return True  # no jurisdiction known: the pack the user chose applies


def _item_findings(
    rule: LoadedRule, check: ItemCheck[RuleBase], views: Sequence[ItemView], ctx: CheckContext
) -> list[Finding]:
    out = []
    for v in views:
        verdict = check.judge(rule.rule, v, ctx)
        if verdict is not None:
            out.append(_finding(rule, v, verdict.message, verdict.facts, verdict.rows))
    return out


def _store_findings(
    rule: LoadedRule,
    check: StoreCheck[RuleBase],
    views: Sequence[ItemView],
    stores: Sequence[Store],
    ctx: CheckContext,
    *,
    populated: frozenset[str],
) -> list[Finding]:
    by_store: dict[str, list[ItemView]] = defaultdict(list)
    for v in views:
        if v.store is not None:
            by_store[v.store.id].append(v)
    out = []
    for store in stores:
        members = sorted(by_store.get(store.id, ()), key=lambda x: x.item.location)
        if not members:
            continue
        verdict = check.judge(rule.rule, StoreView(store, tuple(members), populated), ctx)
        if verdict is None:
            continue
        facts = {"store": store.id, "items": len(members), **verdict.facts}
        f = _finding(rule, members[0], verdict.message, facts)
        store_print = fingerprint(rule.id, f"store:{store.id}")
        out.append(replace(f, fingerprint=store_print, legacy_fingerprint=store_print))
    return out


def _finding(
    rule: LoadedRule,
    v: ItemView,
    message: str,
    facts: Mapping[str, ScalarValue],
    rows: FindingRows | None = None,
) -> Finding:
    r = rule.rule
    kinds = [e for e in v.item.evidence if e.kind.value in r.kinds]
    primary = max(kinds, key=lambda e: e.severity) if kinds else v.item.evidence[0]
    recorded = dict(facts)
    if v.store is not None:
        recorded.setdefault("store", v.store.id)
    if rule.store_override is not None:
        recorded["store_override"] = rule.store_override
    return Finding(
        rule_id=r.id,
        severity=rule.severity,
        title=r.title,
        message=message,
        location=v.item.location,
        kind=primary.kind,
        citations=tuple(r.citations),
        remediation=r.remediation,
        pack=rule.pack,
        # a column's finding is about its rows: the digest of the rows it saw (format-1
        # baselines recorded no rows: their legacy print is over the item, as then)
        fingerprint=fingerprint(
            r.id, v.item.location.identity, rows.digest if rows is not None else v.item.sha256
        ),
        legacy_fingerprint=fingerprint(r.id, v.item.location.display, v.item.sha256),
        store=v.store.id if v.store is not None else None,
        facts=tuple(sorted(recorded.items())),
        help_uri=r.help_uri,
        rows=rows,
    )
