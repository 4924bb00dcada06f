"""`no_legal_basis`: a declared store relying on none of the legal bases the law accepts."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from scanner.model import ScalarValue
from scanner.policy.bases import gdpr_article
from scanner.policy.checks.base import CheckContext, ItemCheck, ItemView, RuleBase, Verdict
from scanner.policy.fields import bases


class NoLegalBasis(RuleBase):
    check: Literal["no_legal_basis"]
    accepted_bases: list[str] = Field(min_length=1)

    @field_validator("accepted_bases")
    @classmethod
    def _accepted(cls, v: list[str]) -> list[str]:
        return bases(v)


def judge(rule: NoLegalBasis, v: ItemView, ctx: CheckContext) -> Verdict | None:
    store = v.store
    if store is None:
        return None  # undeclared data has its own rule
    declared = list(store.legal_basis)
    facts: dict[str, ScalarValue] = {"legal_basis": ",".join(declared) or "none"}
    if set(declared) & set(rule.accepted_bases):
        return None
    if not declared:
        return Verdict(f"store {store.id!r} declares no legal basis", facts)
    message = (
        f"store {store.id!r} relies on {', '.join(declared)}, none of which this law "
        f"accepts ({', '.join(rule.accepted_bases)})"
    )
    declared_articles = {gdpr_article(b) for b in declared}
    accepted_articles = {gdpr_article(b) for b in rule.accepted_bases}
    if accepted_articles == {"9"} and "6" in declared_articles:
        message += (
            ": an Art 6(1) basis makes processing lawful but does not lift the Art 9(1) "
            "ban on biometric data, which needs an Art 9(2) condition"
        )
    elif accepted_articles == {"6"} and declared_articles <= {"9"}:
        message += ": an Art 9(2) condition does not replace the Art 6(1) basis every "
        message += "processing of personal data needs"
    return Verdict(message, facts)


CHECK = ItemCheck(NoLegalBasis, judge)
