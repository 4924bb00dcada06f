"""The policy language: strict, versioned pydantic models (unknown keys are errors).

A policy file (a law pack in `policies/` or an organisation's own) has a `schema_version`,
may `extends` other packs, and holds `rules` (each a `check` with parameters, a stable id,
a severity, citations and a remediation), `overrides` of inherited rules, declared `stores`
(the record of processing) and `registers` (consent, activity, end-of-purpose lookups).
policies/README.md documents every key with examples; this module is the single source.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scanner.policy.bases import BASES, is_known
from scanner.policy.durations import Duration
from scanner.reference.countries import ALPHA2
from scanner.reference.platforms import HOSTS, NAME_PATTERNS

SCHEMA_VERSION = 1

Kind = Literal["face_image", "face_tagged", "face_embedding", "executable_code"]
SeverityName = Literal["info", "low", "medium", "high", "critical"]
Start = Literal["creation", "last_interaction", "end_of_purpose"]
BIOMETRIC: tuple[Kind, ...] = ("face_image", "face_tagged", "face_embedding")

_SLUG = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_RULE_ID = r"^[A-Z0-9][A-Z0-9_.-]{1,79}$"
# "GB", "FR", "US-IL" (ISO 3166-1 alpha-2, optionally a 3166-2 subdivision), or "EU"/"EEA".
_REGION = re.compile(r"\A(?:[A-Z]{2}(?:-[A-Z0-9]{1,3})?|EU|EEA)\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _duration(text: str) -> str:
    Duration.parse(text)  # raises ValueError with the accepted forms
    return text.strip().upper()


PLATFORMS = frozenset({p for _, p in HOSTS} | {n.platform for n in NAME_PATTERNS})
_REGION_HINTS = {"UK": "GB", "EL": "GR"}


def _regions(values: list[str]) -> list[str]:
    out = []
    for v in values:
        code = v.strip().upper()
        country = code.split("-")[0]
        if code in _REGION_HINTS:
            raise ValueError(f"{v!r} is not an ISO 3166-1 code: use {_REGION_HINTS[code]}")
        if not _REGION.match(code) or (code not in ("EU", "EEA") and country not in ALPHA2):
            raise ValueError(
                f"{v!r} is not a region: use ISO 3166-1 alpha-2 (GB, FR), a 3166-2 "
                "subdivision (US-IL, US-TX) or EU/EEA"
            )
        out.append(code)
    return out


def _bases(values: list[str]) -> list[str]:
    for basis in values:
        if not is_known(basis):
            known = ", ".join(sorted(BASES))
            raise ValueError(f"unknown legal basis {basis!r} (known: {known}; or x-…)")
    return values


class Retention(_Strict):
    """How long a store keeps an item, and from which moment the period runs."""

    period: str
    starts: Start = Field("creation", alias="from")

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        return _duration(v)

    @property
    def duration(self) -> Duration:
        return Duration.parse(self.period)


class SubjectKey(_Strict):
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


class Store(_Strict):
    """A declared biometric store: an entry of the record of processing (GDPR Art 30)."""

    id: Annotated[str, Field(pattern=_SLUG)]
    description: str = ""
    paths: list[str] = []  # globs over item paths (`**` spans folders; see README)
    databases: list[str] = []  # globs over database locations (`*kyc.db#customers.*`)
    kinds: list[Kind] = list(BIOMETRIC)
    purpose: str | None = None
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

    @field_validator("region")
    @classmethod
    def _region(cls, v: list[str]) -> list[str]:
        return _regions(v)

    @field_validator("legal_basis")
    @classmethod
    def _bases(cls, v: list[str]) -> list[str]:
        return _bases(v)

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


class Register(_Strict):
    """A lookup kept by the organisation: consents, last interactions, ends of purpose.

    `source` is `csv:PATH` (relative to the policy file), `sqlite:///PATH` or
    `postgresql://…`; tables need `table`. Registers are read read-only, like any source.
    """

    id: Annotated[str, Field(pattern=_SLUG)]
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
        if not self.source.startswith(("csv:", "sqlite://", "postgresql://", "postgres://")):
            raise ValueError("source must be csv:PATH, sqlite:///PATH or postgresql://…")
        if not self.source.startswith("csv:") and not self.table:
            raise ValueError("a database register needs `table`")
        if self.kind == "consent" and not self.granted_column:
            raise ValueError("a consent register needs granted_column")
        if self.kind != "consent" and not self.time_column:
            raise ValueError(f"a {self.kind} register needs time_column")
        if self.scope is not None and self.scope_column is None:
            raise ValueError("scope needs scope_column")
        return self


class _Rule(_Strict):
    id: Annotated[str, Field(pattern=_RULE_ID)]
    severity: SeverityName
    title: str = Field(min_length=1)
    description: str = ""
    citations: list[str] = Field(min_length=1)
    remediation: str = Field(min_length=1)
    help_uri: str | None = None
    kinds: list[Kind] = list(BIOMETRIC)
    applies_in: list[str] = []  # regions of the store or the subjects; empty: everywhere
    enabled: bool = True

    @field_validator("applies_in")
    @classmethod
    def _applies(cls, v: list[str]) -> list[str]:
        return _regions(v)


class UndeclaredStore(_Rule):
    check: Literal["undeclared_store"]


class RetentionExceeded(_Rule):
    check: Literal["retention_exceeded"]
    max_period: str | None = None  # the law's ceiling; none: the store's declared retention
    starts: Start = Field("creation", alias="from")

    @field_validator("max_period")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        return None if v is None else _duration(v)

    @model_validator(mode="after")
    def _from_needs_period(self) -> RetentionExceeded:
        if self.max_period is None and "starts" in self.model_fields_set:
            raise ValueError(
                "`from` applies to max_period; without one the store's retention (and its "
                "`from`) is used"
            )
        return self


class NoLegalBasis(_Rule):
    check: Literal["no_legal_basis"]
    accepted_bases: list[str] = Field(min_length=1)

    @field_validator("accepted_bases")
    @classmethod
    def _accepted(cls, v: list[str]) -> list[str]:
        return _bases(v)


class ConsentState(_Rule):
    check: Literal["consent"]
    states: list[Literal["missing", "withdrawn", "expired", "out_of_scope"]] = [
        "missing",
        "withdrawn",
        "expired",
        "out_of_scope",
    ]


class ScrapedProvenance(_Rule):
    check: Literal["scraped_provenance"]
    platforms: list[str] = []  # empty: any recognised social platform

    @field_validator("platforms")
    @classmethod
    def _platforms(cls, v: list[str]) -> list[str]:
        for p in v:
            if p not in PLATFORMS:
                raise ValueError(f"unknown platform {p!r} (known: {', '.join(sorted(PLATFORMS))})")
        return v


class RestrictedJurisdiction(_Rule):
    check: Literal["restricted_jurisdiction"]
    countries: list[str] = Field(min_length=1)

    @field_validator("countries")
    @classmethod
    def _countries(cls, v: list[str]) -> list[str]:
        return _regions(v)


class StoreFieldMissing(_Rule):
    check: Literal["store_field_missing"]
    fields: list[
        Literal["retention", "retention_schedule_url", "dpia", "owner", "purpose", "legal_basis"]
    ] = Field(min_length=1)


class OrphanedPair(_Rule):
    check: Literal["orphaned_pair"]


class ExecutableCode(_Rule):
    check: Literal["executable_code"]
    kinds: list[Kind] = ["executable_code"]


Rule = Annotated[
    UndeclaredStore
    | RetentionExceeded
    | NoLegalBasis
    | ConsentState
    | ScrapedProvenance
    | RestrictedJurisdiction
    | StoreFieldMissing
    | OrphanedPair
    | ExecutableCode,
    Field(discriminator="check"),
]
CHECKS = (
    "undeclared_store",
    "retention_exceeded",
    "no_legal_basis",
    "consent",
    "scraped_provenance",
    "restricted_jurisdiction",
    "store_field_missing",
    "orphaned_pair",
    "executable_code",
)


class Override(_Strict):
    """Change an inherited rule: its severity, where it applies, or switch it off."""

    rule: Annotated[str, Field(pattern=_RULE_ID)]
    severity: SeverityName | None = None
    enabled: bool | None = None
    applies_in: list[str] | None = None
    reason: str | None = None  # why the organisation changed it (shown by `policy explain`)


class PolicyFile(_Strict):
    schema_version: Literal[1]
    min_tool_version: str | None = None
    name: Annotated[str, Field(pattern=_SLUG)]
    title: str = ""
    description: str = ""
    extends: list[str] = []
    rules: list[Rule] = []
    overrides: list[Override] = []
    stores: list[Store] = []
    registers: list[Register] = []

    @field_validator("min_tool_version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"\A\d+(\.\d+){0,2}\Z", v):
            raise ValueError(f"{v!r} is not a version like 0.2 or 0.2.1")
        return v
