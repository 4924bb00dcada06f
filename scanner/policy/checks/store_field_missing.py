"""`store_field_missing`: a store holding face data whose declaration lacks what the law asks
of it (a retention, a public schedule, a DPIA, an owner, a purpose, a legal basis)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scanner.policy.checks.base import CheckContext, RuleBase, StoreCheck, StoreView, Verdict


class StoreFieldMissing(RuleBase):
    check: Literal["store_field_missing"]
    fields: list[
        Literal["retention", "retention_schedule_url", "dpia", "owner", "purpose", "legal_basis"]
    ] = Field(min_length=1)


def judge(rule: StoreFieldMissing, s: StoreView, ctx: CheckContext) -> Verdict | None:
    missing = [f for f in rule.fields if not getattr(s.store, f)]
    if not missing:
        return None
    return Verdict(
        f"store {s.store.id!r} ({len(s.members)} items with face data) declares "
        f"no {', '.join(missing)}"
    )


CHECK = StoreCheck(StoreFieldMissing, judge)
