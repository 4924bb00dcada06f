"""What a check is, and what it sees.

A check is one module of this package holding two things: its rule model (a subclass of
`RuleBase` whose `check` is a literal: the rule's discriminator in policy files, with the
check's own parameters) and its judge (a pure function from a rule and what is known to a
`Verdict`, or None when the rule is kept). `ItemCheck` judges item by item (at most one finding
per rule and item); `StoreCheck` judges a duty of a store as a whole (at most one finding per
store, located at its first item). The table in `scanner.policy.checks` maps each check's name
to one of these; the schema builds its union of rules from it and the evaluator looks checks
up in it.

Judges may consult subjects' ids (to look them up in registers). Their messages and facts
state counts, dates and declared facts; a judge of a database column may also name the rows
behind its verdict (`Verdict.rows`: each row's key, the subject id the register is joined
on, and why), which reports list bounded — never names, crops, vectors or other values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import Field, field_validator

from scanner.model import FindingRows, ItemResult, Location, ScalarValue
from scanner.policy.declarations import Store
from scanner.policy.fields import (
    BIOMETRIC,
    RECOGNITION_USES,
    RULE_ID,
    DataClass,
    Kind,
    SeverityName,
    Strict,
    regions,
)
from scanner.policy.registers import RegisterData
from scanner.sources.keys import SubjectRow, subjects_of


class RuleBase(Strict):
    """What every rule has, whatever its check."""

    id: Annotated[str, Field(pattern=RULE_ID)]
    severity: SeverityName
    title: str = Field(min_length=1)
    description: str = ""
    citations: list[str] = Field(min_length=1)
    remediation: str = Field(min_length=1)
    help_uri: str | None = None
    kinds: list[Kind] = list(BIOMETRIC)
    applies_in: list[str] = []  # regions of the store or the subjects; empty: everywhere
    data: list[DataClass] = []  # what the item is (biometric, photo, …); empty: anything
    enabled: bool = True
    check: str  # each check narrows it to a literal, its name: the union's discriminator

    @field_validator("applies_in")
    @classmethod
    def _applies(cls, v: list[str]) -> list[str]:
        return regions(v)

    def parameters(self) -> dict[str, Any]:
        """The check's own settings (JSON types): the rule without what every rule has."""
        common = set(RuleBase.model_fields)
        return self.model_dump(mode="json", exclude=common, by_alias=True)


@dataclass(frozen=True)
class Facts:
    """What the evaluator may know beyond the scan: registers and database subjects."""

    registers: Mapping[str, RegisterData] = field(default_factory=dict)
    subjects: Mapping[Location, tuple[SubjectRow, ...]] = field(default_factory=dict)


def data_class(kinds: frozenset[str], store: Store | None) -> DataClass | None:
    """What an item with these kinds of evidence is, in its store (None: no face data).
    Templates and face tags are biometric wherever they are; a photo is biometric only when
    its store uses it to recognise people (GDPR Art 4(14), Recital 51)."""
    if kinds & {"face_embedding", "face_tagged"}:
        return "biometric"
    if "face_image" not in kinds:
        return None
    if store is None or store.use is None:
        return "photo_use_undeclared"
    return "biometric" if store.use in RECOGNITION_USES else "photo"


@dataclass(frozen=True)
class ItemView:
    """An item with face data as checks see it: its store, the jurisdictions it is linked to,
    the kinds of its evidence, and when it was created (by its context, else its mtime)."""

    item: ItemResult
    store: Store | None
    codes: frozenset[str]
    kinds: frozenset[str]
    created: datetime | None
    created_source: str | None

    @property
    def data(self) -> DataClass | None:
        return data_class(self.kinds, self.store)


@dataclass(frozen=True)
class StoreView:
    """A declared store holding face data the rule applies to."""

    store: Store
    members: tuple[ItemView, ...]  # in location order; never empty
    populated: frozenset[str]  # ids of every store holding such data


@dataclass(frozen=True)
class Verdict:
    """A rule broken: what the finding says, and the facts it records."""

    message: str
    facts: Mapping[str, ScalarValue] = field(default_factory=dict)
    rows: FindingRows | None = None  # a column's rows behind it (their digest: its identity)


@dataclass(frozen=True)
class Due:
    """A rule not broken yet that will be after `deadline` (the last moment the item may be
    kept): what the finding will say, and its facts."""

    message: str
    deadline: datetime
    facts: Mapping[str, ScalarValue] = field(default_factory=dict)


RegisterKind = Literal["consent", "activity", "end_of_purpose"]


@dataclass(frozen=True)
class CheckContext:
    """What judges may consult besides the item: the facts gathered and the clock (UTC)."""

    facts: Facts
    now: datetime

    def register(self, store: Store | None, kind: RegisterKind) -> RegisterData | None:
        """The register of this kind the store declares, as read."""
        if store is None:
            return None
        ref = {
            "consent": store.consent_register,
            "activity": store.activity_register,
            "end_of_purpose": store.end_of_purpose_register,
        }[kind]
        return self.facts.registers.get(ref) if ref else None

    def subject_rows(self, v: ItemView, store: Store | None) -> tuple[SubjectRow, ...] | None:
        """The rows of a column keyed by a subject column (key and subject); None when the
        store is not keyed by a column or they could not be read."""
        if store is None or store.subject is None or store.subject.column is None:
            return None
        return self.facts.subjects.get(v.item.location)

    def subjects(self, v: ItemView, store: Store | None) -> tuple[str, ...] | None:
        """Whose data the item holds, by the store's subject key; None when unknown."""
        if store is None or store.subject is None:
            return None
        if store.subject.column is not None:
            rows = self.subject_rows(v, store)
            return None if rows is None else subjects_of(rows)
        m = re.search(store.subject.path_pattern or "", v.item.location.display)
        return (m.group("subject"),) if m else ()


R = TypeVar("R", bound=RuleBase)


@dataclass(frozen=True)
class ItemCheck(Generic[R]):
    """A check judged item by item."""

    model: type[R]
    judge: Callable[[R, ItemView, CheckContext], Verdict | None]
    # When an item that keeps the rule now will break it, if that falls on or before the
    # given moment (`scan --due-within`); None for checks with no deadline to foresee.
    due: Callable[[R, ItemView, CheckContext, datetime], Due | None] | None = None


@dataclass(frozen=True)
class StoreCheck(Generic[R]):
    """A duty of a store as a whole."""

    model: type[R]
    judge: Callable[[R, StoreView, CheckContext], Verdict | None]


Check = ItemCheck[Any] | StoreCheck[Any]
