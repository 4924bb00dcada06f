"""`executable_code`: a pickle that imports code (loading it runs that code), wherever it is."""

from __future__ import annotations

from typing import Literal

from scanner.policy.checks.base import CheckContext, ItemCheck, ItemView, RuleBase, Verdict
from scanner.policy.fields import Kind


class ExecutableCode(RuleBase):
    check: Literal["executable_code"]
    kinds: list[Kind] = ["executable_code"]


def judge(rule: ExecutableCode, v: ItemView, ctx: CheckContext) -> Verdict | None:
    reasons = [x for e in v.item.evidence if e.kind.value in rule.kinds for x in e.reasons]
    return Verdict("a pickle that imports code: " + ("; ".join(reasons[:3]) or "see the evidence"))


CHECK = ItemCheck(ExecutableCode, judge)
