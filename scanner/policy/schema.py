"""The policy language: strict, versioned pydantic models (unknown keys are errors).

A policy file (a law pack in `policies/` or an organisation's own) has a `schema_version`,
may `extends` other packs, and holds `rules` (each a `check` with parameters, a stable id,
a severity, citations and a remediation), `overrides` of inherited rules, declared `stores`
(the record of processing), `registers` (consent, activity, end-of-purpose lookups) and
`holds` (legal holds).
policies/README.md documents every key with examples. The models live where they are used:
stores and registers in `declarations`, each check's rule with its judge in `checks/`; this
module assembles them into the file format, and the union of rules from the checks table.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import Field, field_validator

from scanner.policy.checks import CHECKS
from scanner.policy.checks.base import RuleBase
from scanner.policy.declarations import (
    Hold,
    HoldScope,
    Register,
    Retention,
    Store,
    StoreOverride,
    SubjectKey,
)
from scanner.policy.fields import RULE_ID, SLUG, ContainerAction, SeverityName, Strict

__all__ = [
    "CHECKS",
    "SCHEMA_VERSION",
    "Hold",
    "HoldScope",
    "Override",
    "PolicyFile",
    "Register",
    "Remediation",
    "Retention",
    "Rule",
    "Store",
    "StoreOverride",
    "SubjectKey",
]

SCHEMA_VERSION = 1

if TYPE_CHECKING:
    Rule = RuleBase  # to the type checker: whatever the check, a rule has the common fields
else:
    # one variant per check of the table, told apart by `check`
    Rule = Annotated[
        Union[tuple(c.model for c in CHECKS.values())],  # noqa: UP007
        Field(discriminator="check"),
    ]


class Override(Strict):
    """Change an inherited rule: its severity, where it applies, or switch it off."""

    rule: Annotated[str, Field(pattern=RULE_ID)]
    severity: SeverityName | None = None
    enabled: bool | None = None
    applies_in: list[str] | None = None
    reason: str | None = None  # why the organisation changed it (shown by `policy explain`)


class Remediation(Strict):
    """How `faceaudit remediate` treats this organisation's items (docs/remediation.md)."""

    # days a deleted item stays in the quarantine vault, restorable, before `purge`
    grace_days: Annotated[int, Field(ge=0, le=3650)] = 30
    # findings inside a container (an archive's members, a PDF's pictures, a mailbox's
    # attachments…): `manual`, a person removes them; `whole`, the plan acts on the container
    container_action: ContainerAction = "manual"


class PolicyFile(Strict):
    schema_version: Literal[1]
    min_tool_version: str | None = None
    name: Annotated[str, Field(pattern=SLUG)]
    title: str = ""
    description: str = ""
    extends: list[str] = []
    rules: list[Rule] = []
    overrides: list[Override] = []
    stores: list[Store] = []
    registers: list[Register] = []
    holds: list[Hold] = []  # legal holds: what they cover is kept (docs/policies.md)
    remediation: Remediation | None = None

    @field_validator("min_tool_version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"\A\d+(\.\d+){0,2}\Z", v):
            raise ValueError(f"{v!r} is not a version like 0.2 or 0.2.1")
        return v
