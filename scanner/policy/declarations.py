"""What an organisation declares in a policy: its biometric stores (the record of
processing, GDPR Art 30) and the registers kept about its subjects (consent, activity, end
of purpose). Checks judge items against these; policies/README.md documents every key.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from scanner.policy.durations import Duration
from scanner.policy.fields import (
    BIOMETRIC,
    RULE_ID,
    SLUG,
    ContainerAction,
    Kind,
    SeverityName,
    Start,
    Strict,
    Use,
    bases,
    duration,
    regions,
)
from scanner.sources import holds_registers


class Retention(Strict):
    """How long a store keeps an item, and from which moment the period runs."""

    period: str
    starts: Start = Field("creation", alias="from")

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        return duration(v)

    @property
    def duration(self) -> Duration:
        return Duration.parse(self.period)


class SubjectKey(Strict):
    """How an item is tied to a person: a pattern over its path, or a column of its table."""

    path_pattern: str | None = None  # a regex with a named group `subject`
    column: str | None = None  # a column of the same table (database stores)

    @field_validator("path_pattern")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if "subject" not in compiled.groupindex:
            raise ValueError("the pattern needs a named group (?P<subject>…)")
        return v

    @model_validator(mode="after")
    def _one(self) -> SubjectKey:
        if (self.path_pattern is None) == (self.column is None):
            raise ValueError("give exactly one of path_pattern or column")
        return self


class StoreOverride(Strict):
    """Change a rule for this store's items only: its severity, switch it off (or on), or
    replace a retention ceiling (`max_period` of a `retention_exceeded` rule)."""

    rule: Annotated[str, Field(pattern=RULE_ID)]
    severity: SeverityName | None = None
    enabled: bool | None = None
    max_period: str | None = None
    reason: str | None = None  # why (shown by `policy explain` and in the finding's facts)

    @field_validator("max_period")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        return None if v is None else duration(v)

    @model_validator(mode="after")
    def _changes(self) -> StoreOverride:
        if self.severity is None and self.enabled is None and self.max_period is None:
            raise ValueError("an override changes at least one of severity, enabled, max_period")
        return self

    def changes(self) -> str:
        """What it changes, as `severity=low, enabled=false`."""
        parts = []
        if self.severity is not None:
            parts.append(f"severity={self.severity}")
        if self.enabled is not None:
            parts.append(f"enabled={str(self.enabled).lower()}")
        if self.max_period is not None:
            parts.append(f"max_period={self.max_period}")
        return ", ".join(parts)


class Store(Strict):
    """A declared biometric store: an entry of the record of processing (GDPR Art 30)."""

    id: Annotated[str, Field(pattern=SLUG)]
    description: str = ""
    paths: list[str] = []  # globs over item paths (`**` spans folders; see docs/policies.md)
    databases: list[str] = []  # globs over database locations (`*kyc.db#customers.*`)
    kinds: list[Kind] = list(BIOMETRIC)
    purpose: str | None = None  # the purposes, in words (Art 30(1)(b))
    use: Use | None = None  # what the faces are used for: decides Art 6 or Art 9 (fields.py)
    legal_basis: list[str] = []  # ids from scanner/policy/bases.py, or `x-…`
    retention: Retention | None = None
    region: list[str] = []
    owner: str | None = None
    dpia: str | None = None  # a reference to the DPIA (GDPR Art 35)
    retention_schedule_url: str | None = None  # public schedule (BIPA 14/15(a))
    subject: SubjectKey | None = None
    consent_register: str | None = None
    activity_register: str | None = None
    end_of_purpose_register: str | None = None
    pairs_with: str | None = None  # the store holding the other half (crops <-> vectors)
    overrides: list[StoreOverride] = []  # rule changes for this store's items only
    # what a remediation plan does with a container some of whose members are this store's
    # findings: `manual` (a person removes the members) or `whole` (act on the container);
    # unset: the policy's `remediation: {container_action}`
    container_action: ContainerAction | None = None

    @field_validator("paths")
    @classmethod
    def _relative(cls, v: list[str]) -> list[str]:
        return relative_paths(v, "store paths are matched", "so write")
        return v

    @field_validator("overrides")
    @classmethod
    def _once(cls, v: list[StoreOverride]) -> list[StoreOverride]:
        seen: set[str] = set()
        for ov in v:
            if ov.rule in seen:
                raise ValueError(f"rule {ov.rule} is overridden twice")
            seen.add(ov.rule)
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: list[str]) -> list[str]:
        return regions(v)

    @field_validator("legal_basis")
    @classmethod
    def _bases(cls, v: list[str]) -> list[str]:
        return bases(v)

    @field_validator("retention_schedule_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"\Ahttps?://[^\s/]+\.[^\s]+\Z", v):
            raise ValueError(f"{v!r} is not an http(s) URL")
        return v

    @model_validator(mode="after")
    def _places(self) -> Store:
        if not self.paths and not self.databases:
            raise ValueError("a store needs at least one of paths or databases")
        return self


class Register(Strict):
    """A lookup kept by the organisation: consents, last interactions, ends of purpose.

    `source` is `csv:PATH` (relative to the policy file), `sqlite:///PATH` or
    `postgresql://…`; tables need `table`. Registers are read read-only, like any source.
    """

    id: Annotated[str, Field(pattern=SLUG)]
    kind: Literal["consent", "activity", "end_of_purpose"]
    source: str
    table: str | None = None
    key: Literal["subject", "file"] = "subject"
    key_column: str
    granted_column: str | None = None
    withdrawn_column: str | None = None
    expires_column: str | None = None
    scope_column: str | None = None
    scope: str | None = None  # a consent counts only for this scope (purpose)
    time_column: str | None = None

    @model_validator(mode="after")
    def _columns(self) -> Register:
        if not self.source.startswith("csv:") and not holds_registers(self.source):
            raise ValueError(
                "source must be csv:PATH or a database that can hold a register "
                "(sqlite:///PATH, postgresql://…)"
            )
        if not self.source.startswith("csv:") and not self.table:
            raise ValueError("a database register needs `table`")
        if self.kind == "consent" and not self.granted_column:
            raise ValueError("a consent register needs granted_column")
        if self.kind != "consent" and not self.time_column:
            raise ValueError(f"a {self.kind} register needs time_column")
        if self.scope is not None and self.scope_column is None:
            raise ValueError("scope needs scope_column")
        return self


class HoldScope(Strict):
    """What a legal hold covers: item paths and database locations (globs, matched as a
    store's `paths` and `databases` are) and whole declared stores, by id."""

    paths: list[str] = []
    databases: list[str] = []
    stores: list[Annotated[str, Field(pattern=SLUG)]] = []

    @field_validator("paths")
    @classmethod
    def _relative(cls, v: list[str]) -> list[str]:
        return relative_paths(v, "hold paths are matched", "as store paths are; write")
        return v

    @model_validator(mode="after")
    def _something(self) -> HoldScope:
        if not self.paths and not self.databases and not self.stores:
            raise ValueError("a hold's scope needs at least one of paths, databases or stores")
        return self


class Hold(Strict):
    """A legal hold (litigation, an investigation, a regulator's order): what it covers is
    kept, whatever retention or an erasure request asks, from `start` to `end` (both days
    included; no end: until the hold is lifted). docs/policies.md#legal-holds"""

    case: Annotated[str, Field(min_length=1, max_length=200)]
    scope: HoldScope
    reason: Annotated[str, Field(min_length=10)]
    owner: Annotated[str, Field(min_length=1)]
    start: date
    end: date | None = None

    @model_validator(mode="after")
    def _dates(self) -> Hold:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


def relative_paths(patterns: list[str], what: str, advice: str) -> list[str]:
    """`patterns` unchanged, or a ValueError for one that starts with '/': paths of stores and
    holds are matched at any depth of the item's path as reported."""
    for pattern in patterns:
        if pattern.strip().startswith("/"):
            raise ValueError(
                f"{pattern!r} starts with '/': {what} at any depth of the item's path as "
                f"reported, {advice} it without the leading '/' ({pattern.strip().lstrip('/')!r})"
            )
    return patterns
