"""`consent`: a store relying on consent whose subjects' consent is missing, withdrawn, expired
or out of scope, by its consent register (keyed by subject or by file).

For a database column keyed by a subject column, the finding names its rows: each row whose
subject's consent is not valid, by its key (primary key or rowid), the subject id and the
state (`Verdict.rows`; the fingerprint covers them, so a new such row is a new finding)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Literal

from pydantic import field_validator

from scanner.model import FindingRows, ItemResult, RowFinding, ScalarValue
from scanner.policy.bases import CONSENT_BASES
from scanner.policy.checks.base import CheckContext, ItemCheck, ItemView, RuleBase, Verdict
from scanner.policy.fields import bases as known_bases
from scanner.policy.registers import Record, RegisterData

State = Literal["missing", "withdrawn", "expired", "out_of_scope"]


class ConsentState(RuleBase):
    check: Literal["consent"]
    states: list[State] = ["missing", "withdrawn", "expired", "out_of_scope"]
    # the consent bases this rule judges (a store relying on none of them is not judged);
    # none given: any store with a consent register, or relying on any consent basis
    bases: list[str] | None = None

    @field_validator("bases")
    @classmethod
    def _bases(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else known_bases(v)


def judge(rule: ConsentState, v: ItemView, ctx: CheckContext) -> Verdict | None:
    store = v.store
    if store is None:
        return None  # undeclared data has its own rule
    if rule.bases is not None and not set(store.legal_basis) & set(rule.bases):
        return None  # the store does not rely on the consent this rule is about
    register = ctx.register(store, "consent")
    facts: dict[str, ScalarValue] = {"legal_basis": ",".join(store.legal_basis) or "none"}
    if register is None:
        wanted = CONSENT_BASES if rule.bases is None else set(rule.bases)
        if set(store.legal_basis) & wanted and "missing" in rule.states:
            return Verdict(
                f"store {store.id!r} relies on consent but declares no consent register: "
                "consent cannot be shown",
                facts,
            )
        return None
    by_subject = register.register.key == "subject"
    rows = ctx.subject_rows(v, store) if by_subject else None
    keys = ctx.subjects(v, store) if by_subject else (_file_key(v.item, register),)
    if keys is None:
        return None
    states: dict[str, int] = defaultdict(int)
    state_of: dict[str, str] = {}
    for key in keys:
        state_of[key] = _consent_state(register, key, ctx.now)
        states[state_of[key]] += 1
    bad = {k: n for k, n in states.items() if k in rule.states}
    if not bad:
        return None
    for k, n in bad.items():
        facts[f"consent_{k}"] = n
    facts["subjects"] = len(keys)
    failing = None
    if rows is not None:
        failing = FindingRows.of(
            RowFinding(r.key, r.subject, state_of[r.subject])
            for r in rows
            if state_of.get(r.subject) in bad
        )
        facts["rows"] = failing.total
    parts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(bad.items()))
    if len(keys) == 1:
        state = next(iter(bad)).replace("_", " ")
        return Verdict(f"consent {state} (register {register.register.id!r})", facts, failing)
    return Verdict(
        f"consent of {sum(bad.values())} of {len(keys)} subjects is not valid: {parts}",
        facts,
        failing,
    )


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


CHECK = ItemCheck(ConsentState, judge)
