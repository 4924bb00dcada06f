"""Remediation of files: plan, quarantine into an encrypted vault, restore, purge, each
action through a crash-safe journal (docs/remediation.md).

    plan.py    the plan file: one action per item, with the rules, laws and preconditions
    vault.py   the vault: encrypted content-addressed objects, wrapped keys, the manifest
    moves.py   quarantine, restore, purge and recovery, state by state
    fsops.py   files reached through directory descriptors, never following a link
    events.py  the one function every event is recorded through

It sits above the policy and the engine and below the CLI and the library's entry points;
reporters never import it. It never prints.
"""

from __future__ import annotations

from scanner.remediation.events import record, salted
from scanner.remediation.moves import Outcome, check, quarantine, recover, restore
from scanner.remediation.plan import (
    DEFAULT_GRACE_DAYS,
    Hold,
    Plan,
    PlanError,
    PlanItem,
    holds_for,
    plan_from_report,
    read_plan,
    write_plan,
)
from scanner.remediation.vault import Vault, VaultError

__all__ = [
    "DEFAULT_GRACE_DAYS",
    "Hold",
    "Outcome",
    "Plan",
    "PlanError",
    "PlanItem",
    "Vault",
    "VaultError",
    "check",
    "holds_for",
    "plan_from_report",
    "quarantine",
    "read_plan",
    "record",
    "recover",
    "restore",
    "salted",
    "write_plan",
]
