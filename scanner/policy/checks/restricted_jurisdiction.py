"""`restricted_jurisdiction`: data linked to a country the law restricts (by the places in its
context, or the regions its store declares), wherever it is stored."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from scanner.policy.checks.base import CheckContext, ItemCheck, ItemView, RuleBase, Verdict
from scanner.policy.fields import regions
from scanner.policy.stores import expand


class RestrictedJurisdiction(RuleBase):
    check: Literal["restricted_jurisdiction"]
    countries: list[str] = Field(min_length=1)

    @field_validator("countries")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        return regions(v)


def judge(rule: RestrictedJurisdiction, v: ItemView, ctx: CheckContext) -> Verdict | None:
    banned = {c for w in rule.countries for c in expand(w)}
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
    countries = ",".join(sorted({h[0].split(" ")[0].split("-")[0] for h in hits}))
    parts = "; ".join(
        f"{code} from {src}{f' ({n} rows)' if n > 1 else ''}" for code, src, n in hits[:4]
    )
    return Verdict(f"data linked to a restricted jurisdiction: {parts}", {"countries": countries})


CHECK = ItemCheck(RestrictedJurisdiction, judge)
