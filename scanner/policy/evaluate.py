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

from scanner.model import Finding, FindingRows, ItemResult, ScalarValue
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
from scanner.policy.loader import LoadedRule, Policy
from scanner.policy.stores import jurisdictions, region_matches, store_for

__all__ = ["Facts", "evaluate", "fingerprint"]


def fingerprint(rule_id: str, identity: str, digest: str | None = None) -> str:
    text = "\0".join((rule_id, identity, digest or ""))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def evaluate(
    items: Sequence[ItemResult], policy: Policy, facts: Facts, now: datetime
) -> tuple[Finding, ...]:
    ctx = CheckContext(facts, now.astimezone(timezone.utc))
    views = [_view(i, policy.stores) for i in items if i.evidence]
    findings: list[Finding] = []
    for rule in policy.enabled_rules:
        check = CHECKS[rule.rule.check]
        applicable = [v for v in views if _applies(rule, v)]
        if isinstance(check, StoreCheck):
            findings.extend(_store_findings(rule, check, applicable, policy.stores, ctx))
        else:
            findings.extend(_item_findings(rule, check, applicable, ctx))
    return tuple(sorted(findings, key=lambda f: (-f.severity, f.rule_id, f.location)))


def _view(item: ItemResult, stores: Sequence[Store]) -> ItemView:
    store = store_for(item, stores)
    created, source = item.context.created, item.context.created_source
    if created is None and item.mtime_ns is not None:
        created = datetime.fromtimestamp(item.mtime_ns / 1e9, timezone.utc)
        source = "mtime"
    kinds = frozenset(e.kind.value for e in item.evidence)
    return ItemView(item, store, jurisdictions(item, store), kinds, created, source)


def _applies(rule: LoadedRule, v: ItemView) -> bool:
    if not v.kinds & set(rule.rule.kinds):
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
) -> list[Finding]:
    by_store: dict[str, list[ItemView]] = defaultdict(list)
    for v in views:
        if v.store is not None:
            by_store[v.store.id].append(v)
    populated = frozenset(by_store)
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
        out.append(replace(f, fingerprint=fingerprint(rule.id, f"store:{store.id}")))
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
        # a column's finding is about its rows: the digest of the rows it saw
        fingerprint=fingerprint(
            r.id, v.item.location.display, rows.digest if rows is not None else v.item.sha256
        ),
        store=v.store.id if v.store is not None else None,
        facts=tuple(sorted(recorded.items())),
        help_uri=r.help_uri,
        rows=rows,
    )
