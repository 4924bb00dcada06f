"""Evidence + context + declared stores + registers + a clock -> findings. Pure: no I/O.

One finding per (rule, item) — an item is a file, an archive member or a database column —
except for duties of a store as a whole (`store_field_missing`, `orphaned_pair`): one finding
per store, located at the store's first item. Messages state the facts (dates, ages, counts
of subjects), never subject ids, names, crops or vectors.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from scanner.model import Finding, ItemResult, Location, ScalarValue
from scanner.policy import schema as s
from scanner.policy.bases import CONSENT_BASES
from scanner.policy.durations import Duration
from scanner.policy.loader import LoadedRule, Policy
from scanner.policy.registers import Record, RegisterData
from scanner.policy.stores import expand, jurisdictions, region_matches, store_for


@dataclass(frozen=True)
class Facts:
    """What the evaluator may know beyond the scan: registers and database subjects."""

    registers: Mapping[str, RegisterData] = field(default_factory=dict)
    subjects: Mapping[Location, tuple[str, ...]] = field(default_factory=dict)


def fingerprint(rule_id: str, identity: str, digest: str | None = None) -> str:
    text = "\0".join((rule_id, identity, digest or ""))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass(frozen=True)
class _Item:
    item: ItemResult
    store: s.Store | None
    codes: frozenset[str]
    kinds: frozenset[str]
    created: datetime | None
    created_source: str | None


def evaluate(
    items: Sequence[ItemResult], policy: Policy, facts: Facts, now: datetime
) -> tuple[Finding, ...]:
    now = now.astimezone(timezone.utc)
    ev = _Evaluator(policy, facts, now)
    views = [ev.view(i) for i in items if i.evidence]
    findings: list[Finding] = []
    for rule in policy.enabled_rules:
        for view in views:
            if ev.applies(rule, view):
                findings.extend(ev.check(rule, view))
        findings.extend(ev.store_duties(rule, views))
    return tuple(sorted(findings, key=lambda f: (-f.severity, f.rule_id, f.location)))


class _Evaluator:
    def __init__(self, policy: Policy, facts: Facts, now: datetime) -> None:
        self.policy = policy
        self.facts = facts
        self.now = now

    # -- per item ----------------------------------------------------------------------

    def view(self, item: ItemResult) -> _Item:
        store = store_for(item, self.policy.stores)
        created, source = item.context.created, item.context.created_source
        if created is None and item.mtime_ns is not None:
            created = datetime.fromtimestamp(item.mtime_ns / 1e9, timezone.utc)
            source = "mtime"
        kinds = frozenset(e.kind.value for e in item.evidence)
        return _Item(item, store, jurisdictions(item, store), kinds, created, source)

    def applies(self, rule: LoadedRule, v: _Item) -> bool:
        if not v.kinds & set(rule.rule.kinds):
            return False
        if rule.applies_in and v.codes:
            return region_matches(rule.applies_in, v.codes)
        return True  # no jurisdiction known: the pack the user chose applies

    def check(self, rule: LoadedRule, v: _Item) -> list[Finding]:
        r = rule.rule
        msg: str | None = None
        facts: dict[str, ScalarValue] = {}
        if isinstance(r, s.UndeclaredStore):
            msg = self._undeclared(r, v)
        elif isinstance(r, s.ExecutableCode):
            reasons = [x for e in v.item.evidence if e.kind.value in r.kinds for x in e.reasons]
            msg = "a pickle that imports code: " + ("; ".join(reasons[:3]) or "see the evidence")
        elif v.store is None:
            # the remaining checks judge declared stores; undeclared data has its own rule,
            # except what the law forbids wherever it sits
            if isinstance(r, s.ScrapedProvenance):
                msg = self._scraped(r, v, facts)
            elif isinstance(r, s.RestrictedJurisdiction):
                msg = self._restricted(r, v, facts)
            elif isinstance(r, s.RetentionExceeded) and r.max_period and r.starts == "creation":
                msg = self._retention(r, v, facts)
        elif isinstance(r, s.RetentionExceeded):
            msg = self._retention(r, v, facts)
        elif isinstance(r, s.NoLegalBasis):
            msg = self._basis(r, v.store, facts)
        elif isinstance(r, s.ConsentState):
            msg = self._consent(r, v, facts)
        elif isinstance(r, s.ScrapedProvenance):
            msg = self._scraped(r, v, facts)
        elif isinstance(r, s.RestrictedJurisdiction):
            msg = self._restricted(r, v, facts)
        if msg is None:
            return []
        return [self._finding(rule, v, msg, facts)]

    def _undeclared(self, r: s.UndeclaredStore, v: _Item) -> str | None:
        kinds = sorted(v.kinds & set(r.kinds))
        if v.store is None:
            return f"{', '.join(kinds)} outside every declared store"
        outside = [k for k in kinds if k not in v.store.kinds]
        if outside:
            allowed = ", ".join(v.store.kinds)
            return f"{', '.join(outside)} in store {v.store.id!r}, which is declared for {allowed}"
        return None

    def _retention(
        self, r: s.RetentionExceeded, v: _Item, facts: dict[str, ScalarValue]
    ) -> str | None:
        store = v.store
        if r.max_period:
            limit, starts, whose = Duration.parse(r.max_period), r.starts, "the law allows"
        elif store is not None and store.retention is not None:
            limit, starts = store.retention.duration, store.retention.starts
            whose = f"store {store.id!r} keeps items"
        else:
            return None
        facts["retention"] = limit.iso
        facts["retention_from"] = starts
        self._age_facts(v, facts)
        if starts == "creation":
            return self._expired_from(v.created, v.created_source, limit, whose, "creation", facts)
        register = self._register(
            store, "activity" if starts == "last_interaction" else "end_of_purpose"
        )
        subjects = self._subjects(v, store)
        interaction = starts == "last_interaction"
        if register is None or subjects is None:
            if not interaction:
                return None  # no end-of-purpose register: the purpose is not known to have ended
            facts["note"] = "no activity register: measured from creation"
            return self._expired_from(v.created, v.created_source, limit, whose, "creation", facts)
        expired: list[datetime] = []  # the start of each subject's period that ran out
        for subject in subjects:
            rec = register.records.get(subject)
            start = rec.time if rec is not None else None
            if interaction and start is None:
                start = v.created  # never interacted: the period runs from creation
            if start is not None and limit.after(start) < self.now:
                expired.append(start)
        if not expired:
            return None
        event = "last interaction" if interaction else "purpose ended"
        rule_text = f"{whose} {limit.words} " + (
            "from the last interaction" if interaction else "after the end of purpose"
        )
        if len(subjects) == 1:
            start = expired[0]
            deadline = limit.after(start).date().isoformat()
            facts[event.replace(" ", "_")] = start.date().isoformat()
            facts["deadline"] = deadline
            return (
                f"{event} {start.date().isoformat()} (register {register.register.id!r}); "
                f"{rule_text}: due for deletion since {deadline}"
            )
        return self._count_message(
            len(expired), len(subjects), facts, f"{event} more than {limit.words} ago ({rule_text})"
        )

    def _expired_from(  # noqa: PLR0917
        self,
        start: datetime | None,
        source: str | None,
        limit: Duration,
        whose: str,
        label: str,
        facts: dict[str, ScalarValue],
    ) -> str | None:
        if start is None:
            return None
        deadline = limit.after(start)
        if deadline >= self.now:
            return None
        facts["deadline"] = deadline.date().isoformat()
        age = (self.now - start).days
        return (
            f"created {start.date().isoformat()} ({source}), {age} days ago; {whose} "
            f"{limit.words} from {label}: due for deletion since {deadline.date().isoformat()}"
        )

    def _count_message(
        self, bad: int, total: int, facts: dict[str, ScalarValue], what: str
    ) -> str | None:
        if bad == 0:
            return None
        facts["subjects"] = total
        facts["subjects_affected"] = bad
        if total == 1:
            return what[0].upper() + what[1:]
        return f"{bad} of {total} subjects: {what}"

    def _basis(
        self, r: s.NoLegalBasis, store: s.Store, facts: dict[str, ScalarValue]
    ) -> str | None:
        declared = list(store.legal_basis)
        facts["legal_basis"] = ",".join(declared) or "none"
        if set(declared) & set(r.accepted_bases):
            return None
        if not declared:
            return f"store {store.id!r} declares no legal basis"
        return (
            f"store {store.id!r} relies on {', '.join(declared)}, none of which this law "
            f"accepts ({', '.join(r.accepted_bases)})"
        )

    def _consent(self, r: s.ConsentState, v: _Item, facts: dict[str, ScalarValue]) -> str | None:
        store = v.store
        assert store is not None
        register = self._register(store, "consent")
        facts["legal_basis"] = ",".join(store.legal_basis) or "none"
        if register is None:
            if set(store.legal_basis) & CONSENT_BASES and "missing" in r.states:
                return (
                    f"store {store.id!r} relies on consent but declares no consent register: "
                    "consent cannot be shown"
                )
            return None
        keys = (
            self._subjects(v, store)
            if register.register.key == "subject"
            else (_file_key(v.item, register),)
        )
        if keys is None:
            return None
        states: dict[str, int] = defaultdict(int)
        for key in keys:
            states[_consent_state(register, key, self.now)] += 1
        bad = {k: n for k, n in states.items() if k in r.states}
        if not bad:
            return None
        for k, n in bad.items():
            facts[f"consent_{k}"] = n
        facts["subjects"] = len(keys)
        parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(bad.items()))
        if len(keys) == 1:
            return (
                f"consent {next(iter(bad)).replace('_', ' ')} (register {register.register.id!r})"
            )
        return f"consent of {sum(bad.values())} of {len(keys)} subjects is not valid: {parts}"

    def _scraped(
        self, r: s.ScrapedProvenance, v: _Item, facts: dict[str, ScalarValue]
    ) -> str | None:
        hits = [
            p
            for p in v.item.context.provenance
            if p.platform and (not r.platforms or p.platform in r.platforms)
        ]
        if not hits:
            return None
        facts["platforms"] = ",".join(sorted({p.platform or "" for p in hits}))
        where = "; ".join(f"{p.platform} ({p.source}: {p.value})" for p in hits[:3])
        return f"collected from a social platform: {where}"

    def _restricted(
        self, r: s.RestrictedJurisdiction, v: _Item, facts: dict[str, ScalarValue]
    ) -> str | None:
        banned = {c for w in r.countries for c in expand(w)}
        hits = [
            (f"{p.country} ({p.region})" if p.region else p.country, p.source, p.count)
            for p in v.item.context.places
            if p.country in banned or (p.region in banned)
        ]
        if v.store is not None:
            hits += [
                (code, f"store {v.store.id!r} region", 0)
                for code in v.store.region
                if code in banned or code.split("-")[0] in banned
            ]
        if not hits:
            return None
        facts["countries"] = ",".join(sorted({h[0].split(" ")[0].split("-")[0] for h in hits}))
        parts = "; ".join(
            f"{code} from {src}{f' ({n} rows)' if n > 1 else ''}" for code, src, n in hits[:4]
        )
        return f"data linked to a restricted jurisdiction: {parts}"

    # -- helpers -------------------------------------------------------------------------

    def _age_facts(self, v: _Item, facts: dict[str, ScalarValue]) -> None:
        if v.created is not None:
            facts["created"] = v.created.date().isoformat()
            facts["age_days"] = (self.now - v.created).days
            if v.created_source:
                facts["created_source"] = v.created_source

    def _register(self, store: s.Store | None, kind: str) -> RegisterData | None:
        if store is None:
            return None
        ref = {
            "consent": store.consent_register,
            "activity": store.activity_register,
            "end_of_purpose": store.end_of_purpose_register,
        }[kind]
        return self.facts.registers.get(ref) if ref else None

    def _subjects(self, v: _Item, store: s.Store | None) -> tuple[str, ...] | None:
        if store is None or store.subject is None:
            return None
        if store.subject.column is not None:
            return self.facts.subjects.get(v.item.location)
        m = re.search(store.subject.path_pattern or "", v.item.location.display)
        return (m.group("subject"),) if m else ()

    def _finding(
        self, rule: LoadedRule, v: _Item, message: str, facts: dict[str, ScalarValue]
    ) -> Finding:
        r = rule.rule
        kinds = [e for e in v.item.evidence if e.kind.value in r.kinds]
        primary = max(kinds, key=lambda e: e.severity) if kinds else v.item.evidence[0]
        if v.store is not None:
            facts.setdefault("store", v.store.id)
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
            fingerprint=fingerprint(r.id, v.item.location.display, v.item.sha256),
            store=v.store.id if v.store is not None else None,
            facts=tuple(sorted(facts.items())),
            help_uri=r.help_uri,
        )

    # -- duties of a store as a whole -------------------------------------------------------

    def store_duties(self, rule: LoadedRule, views: Iterable[_Item]) -> list[Finding]:
        r = rule.rule
        if not isinstance(r, (s.StoreFieldMissing, s.OrphanedPair)):
            return []
        by_store: dict[str, list[_Item]] = defaultdict(list)
        for v in views:
            if v.store is not None and self.applies(rule, v):
                by_store[v.store.id].append(v)
        out = []
        for store in self.policy.stores:
            members = sorted(by_store.get(store.id, ()), key=lambda x: x.item.location)
            if not members:
                continue
            msg = None
            if isinstance(r, s.StoreFieldMissing):
                missing = [f for f in r.fields if not getattr(store, f)]
                if missing:
                    msg = (
                        f"store {store.id!r} ({len(members)} items with face data) declares "
                        f"no {', '.join(missing)}"
                    )
            elif store.pairs_with is not None and not by_store.get(store.pairs_with):
                msg = (
                    f"store {store.id!r} holds face data ({len(members)} items) but its paired "
                    f"store {store.pairs_with!r} holds none: one half was deleted without the other"
                )
            if msg is None:
                continue
            first = members[0]
            f = self._finding(rule, first, msg, {"store": store.id, "items": len(members)})
            out.append(_restamp(f, fingerprint(r.id, f"store:{store.id}")))
        return out


def _restamp(f: Finding, fp: str) -> Finding:
    return replace(f, fingerprint=fp)


def _file_key(item: ItemResult, register: RegisterData) -> str:
    display = item.location.display
    for key in register.records:
        if display == key or display.endswith("/" + key) or display.endswith("!/" + key):
            return key
    return display


def _consent_state(register: RegisterData, key: str, now: datetime) -> str:
    rec: Record | None = register.records.get(key)
    reg = register.register
    if rec is None or rec.granted is None or rec.granted > now:
        return "missing"
    if rec.withdrawn is not None and rec.withdrawn <= now:
        return "withdrawn"
    if rec.expires is not None and rec.expires <= now:
        return "expired"
    if reg.scope is not None and (rec.scope or "") != reg.scope:
        return "out_of_scope"
    return "valid"
