"""`scraped_provenance`: face data collected from a social platform (untargeted scraping),
wherever it is stored."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from scanner.policy.checks.base import CheckContext, ItemCheck, ItemView, RuleBase, Verdict
from scanner.policy.fields import PLATFORMS


class ScrapedProvenance(RuleBase):
    check: Literal["scraped_provenance"]
    platforms: list[str] = []  # empty: any recognised social platform

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, v: list[str]) -> list[str]:
        for p in v:
            if p not in PLATFORMS:
                raise ValueError(f"unknown platform {p!r} (known: {', '.join(sorted(PLATFORMS))})")
        return v


def judge(rule: ScrapedProvenance, v: ItemView, ctx: CheckContext) -> Verdict | None:
    hits = [
        p
        for p in v.item.context.provenance
        if p.platform and (not rule.platforms or p.platform in rule.platforms)
    ]
    if not hits:
        return None
    where = "; ".join(f"{p.platform} ({p.source}: {p.value})" for p in hits[:3])
    return Verdict(
        f"collected from a social platform: {where}",
        {"platforms": ",".join(sorted({p.platform or "" for p in hits}))},
    )


CHECK = ItemCheck(ScrapedProvenance, judge)
