"""`undeclared_store`: face data outside every declared store, or of a kind its store is not
declared for (the record of processing is incomplete)."""

from __future__ import annotations

from typing import Literal

from scanner.policy.checks.base import CheckContext, ItemCheck, ItemView, RuleBase, Verdict
from scanner.policy.fields import VIDEO_KIND


class UndeclaredStore(RuleBase):
    check: Literal["undeclared_store"]


def judge(rule: UndeclaredStore, v: ItemView, ctx: CheckContext) -> Verdict | None:
    kinds = sorted(v.kinds & set(rule.kinds))
    if v.store is None:
        return Verdict(f"{', '.join(kinds)} outside every declared store")
    declared = set(v.store.kinds)
    if VIDEO_KIND in declared and VIDEO_KIND in v.kinds:
        declared.add("face_image")  # a store of face videos holds the images in them
    outside = [k for k in kinds if k not in declared]
    if outside:
        allowed = ", ".join(v.store.kinds)
        return Verdict(
            f"{', '.join(outside)} in store {v.store.id!r}, which is declared for {allowed}"
        )
    return None


CHECK = ItemCheck(UndeclaredStore, judge)
