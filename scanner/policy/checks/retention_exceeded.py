"""`retention_exceeded`: an item kept past a retention period — the law's ceiling
(`max_period`, from creation, the last interaction or the end of purpose), or else its store's
declared retention. Periods from an interaction or an end of purpose are measured per subject,
by the store's activity or end-of-purpose register."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from scanner.model import ScalarValue
from scanner.policy.checks.base import (
    CheckContext,
    Due,
    ItemCheck,
    ItemView,
    RuleBase,
    Verdict,
)
from scanner.policy.durations import Duration
from scanner.policy.fields import Start, duration

# how a message ends with the deadline (a legal hold rewrites it: scanner/policy/holds.py)
DUE_SINCE = ": due for deletion since "
DUE_ON = ": due for deletion on "


class RetentionExceeded(RuleBase):
    check: Literal["retention_exceeded"]
    max_period: str | None = None  # the law's ceiling; none: the store's declared retention
    starts: Start = Field("creation", alias="from")

    @field_validator("max_period")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        return None if v is None else duration(v)

    @model_validator(mode="after")
    def _from_needs_period(self) -> RetentionExceeded:
        if self.max_period is None and "starts" in self.model_fields_set:
            raise ValueError(
                "`from` applies to max_period; without one the store's retention (and its "
                "`from`) is used"
            )
        return self


def judge(rule: RetentionExceeded, v: ItemView, ctx: CheckContext) -> Verdict | None:
    if v.store is None and not (rule.max_period and rule.starts == "creation"):
        # undeclared data has its own rule; only the law's ceiling from creation applies
        return None
    facts: dict[str, ScalarValue] = {}
    message = _retention(rule, v, ctx, facts)
    return None if message is None else Verdict(message, facts)


def _period(r: RetentionExceeded, v: ItemView) -> tuple[Duration, Start, str] | None:
    """The period that applies (the law's ceiling, else the store's), where it runs from, and
    whose it is."""
    store = v.store
    if r.max_period:
        return Duration.parse(r.max_period), r.starts, "the law allows"
    if store is not None and store.retention is not None:
        return store.retention.duration, store.retention.starts, f"store {store.id!r} keeps items"
    return None


def _retention(
    r: RetentionExceeded, v: ItemView, ctx: CheckContext, facts: dict[str, ScalarValue]
) -> str | None:
    store = v.store
    period = _period(r, v)
    if period is None:
        return None
    limit, starts, whose = period
    facts["retention"] = limit.iso
    facts["retention_from"] = starts
    _age_facts(v, ctx.now, facts)
    if starts == "creation":
        return _expired_from(v, ctx.now, limit, whose, facts)
    register = ctx.register(store, "activity" if starts == "last_interaction" else "end_of_purpose")
    subjects = ctx.subjects(v, store)
    interaction = starts == "last_interaction"
    if register is None or subjects is None:
        if not interaction:
            return None  # no end-of-purpose register: the purpose is not known to have ended
        facts["note"] = "no activity register: measured from creation"
        return _expired_from(v, ctx.now, limit, whose, facts)
    expired: list[datetime] = []  # the start of each subject's period that ran out
    for subject in subjects:
        rec = register.records.get(subject)
        start = rec.time if rec is not None else None
        if interaction and start is None:
            start = v.created  # never interacted: the period runs from creation
        if start is not None and limit.after(start) < ctx.now:
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
            f"{rule_text}{DUE_SINCE}{deadline}"
        )
    what = f"{event} more than {limit.words} ago ({rule_text})"
    facts["subjects"] = len(subjects)
    facts["subjects_affected"] = len(expired)
    return f"{len(expired)} of {len(subjects)} subjects: {what}"


def _expired_from(
    v: ItemView, now: datetime, limit: Duration, whose: str, facts: dict[str, ScalarValue]
) -> str | None:
    """Measured from the item's creation."""
    if v.created is None:
        return None
    deadline = limit.after(v.created)
    if deadline >= now:
        return None
    facts["deadline"] = deadline.date().isoformat()
    age = (now - v.created).days
    return (
        f"created {v.created.date().isoformat()} ({v.created_source}), {age} days ago; "
        f"{whose} {limit.words} from creation{DUE_SINCE}{deadline.date().isoformat()}"
    )


def deadlines(r: RetentionExceeded, v: ItemView, ctx: CheckContext) -> list[datetime]:
    """When the item's period runs out: once from its creation, or once per subject whose
    period has a known start (the same starts the judge measures from). Empty: not known."""
    period = _period(r, v)
    if period is None:
        return []
    limit, starts, _ = period
    created = [limit.after(v.created)] if v.created is not None else []
    if starts == "creation":
        return created
    interaction = starts == "last_interaction"
    register = ctx.register(v.store, "activity" if interaction else "end_of_purpose")
    subjects = ctx.subjects(v, v.store)
    if register is None or subjects is None:
        return created if interaction else []
    out = []
    for subject in subjects:
        rec = register.records.get(subject)
        start = rec.time if rec is not None else None
        if interaction and start is None:
            start = v.created
        if start is not None:
            out.append(limit.after(start))
    return out


def due(rule: RetentionExceeded, v: ItemView, ctx: CheckContext, until: datetime) -> Due | None:
    """The item keeps the rule now, and its first deadline falls on or before `until`."""
    if v.store is None and not (rule.max_period and rule.starts == "creation"):
        return None
    period = _period(rule, v)
    ends = deadlines(rule, v, ctx)
    if period is None or not ends or any(end < ctx.now for end in ends):
        return None  # nothing known, or already broken (a finding)
    first = min(ends)
    if first > until:
        return None
    limit, starts, whose = period
    facts: dict[str, ScalarValue] = {"retention": limit.iso, "retention_from": starts}
    _age_facts(v, ctx.now, facts)
    day = first.date().isoformat()
    facts["deadline"] = day
    since = {
        "creation": "from creation",
        "last_interaction": "from the last interaction",
        "end_of_purpose": "after the end of purpose",
    }[starts]
    what = f"{whose} {limit.words} {since}{DUE_ON}{day}"
    if len(ends) > 1:
        soon = sum(end <= until for end in ends)
        facts["subjects"] = len(ends)
        facts["subjects_affected"] = soon
        return Due(f"{soon} of {len(ends)} subjects: {what}", first, facts)
    if starts == "creation" and v.created is not None:
        created = f"created {v.created.date().isoformat()} ({v.created_source})"
        return Due(f"{created}; {what}", first, facts)
    return Due(what, first, facts)


def _age_facts(v: ItemView, now: datetime, facts: dict[str, ScalarValue]) -> None:
    if v.created is not None:
        facts["created"] = v.created.date().isoformat()
        facts["age_days"] = (now - v.created).days
        if v.created_source:
            facts["created_source"] = v.created_source


CHECK = ItemCheck(RetentionExceeded, judge, due)
