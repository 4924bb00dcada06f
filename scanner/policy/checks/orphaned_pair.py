"""`orphaned_pair`: a store holding face data while the store it pairs with (crops and their
vectors) holds none: one half was deleted without the other."""

from __future__ import annotations

from typing import Literal

from scanner.policy.checks.base import CheckContext, RuleBase, StoreCheck, StoreView, Verdict


class OrphanedPair(RuleBase):
    check: Literal["orphaned_pair"]


def judge(rule: OrphanedPair, s: StoreView, ctx: CheckContext) -> Verdict | None:
    other = s.store.pairs_with
    if other is None or other in s.populated:
        return None
    return Verdict(
        f"store {s.store.id!r} holds face data ({len(s.members)} items) but its paired "
        f"store {other!r} holds none: one half was deleted without the other"
    )


CHECK = StoreCheck(OrphanedPair, judge)
