"""Remediation: plan, quarantine into an encrypted vault, restore, purge, each action
through a crash-safe journal (docs/remediation.md), and the tamper-evident audit log that
proves it (docs/audit.md).

    plan.py    the plan file: one action per item, with the rules, laws and preconditions
    vault.py   the vault: encrypted content-addressed objects, wrapped keys, the manifest
    moves.py   the journal's states, the dry run and quarantine
    batch.py   quarantine and restore of many files, one journal record (group commit)
    targets.py dispatch by kind: a file, an object in a store (objects.py), rows (rows.py)
    objects.py S3 objects: every version into the vault, then every version deleted
    rows.py    database rows by primary key: values into the vault, cleared in a transaction
    stash.py   bytes that are not a file into the vault and back (parts)
    restore.py restore (never over anything)
    purge.py   purge (key, then data, then an erasure record) and recovery after a crash
    subject_plan.py  a data subject's erasure plan (from `subject find`'s report)
    fsops.py   files reached through directory descriptors, never following a link
    events.py  the one function every event is recorded through (into the audit log)
    audit.py   the audit log: hash-chained records, signed checkpoints (audit_*.py, canonical.py)

It sits above the policy and the engine and below the CLI and the library's entry points;
reporters never import it. It never prints.
"""

from __future__ import annotations

from scanner.remediation.batch import quarantine_many, restore_many
from scanner.remediation.events import record, salted
from scanner.remediation.moves import Outcome, check, quarantine
from scanner.remediation.plan import (
    DEFAULT_GRACE_DAYS,
    Hold,
    Plan,
    PlanError,
    PlanItem,
    holds_for,
    read_plan,
    write_plan,
)
from scanner.remediation.purge import due, purge, recover
from scanner.remediation.restore import restore
from scanner.remediation.targets import apply_item, check_item, plan_from_report, restore_item
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
    "apply_item",
    "check",
    "check_item",
    "due",
    "holds_for",
    "plan_from_report",
    "purge",
    "quarantine",
    "quarantine_many",
    "read_plan",
    "record",
    "recover",
    "restore",
    "restore_item",
    "restore_many",
    "salted",
    "write_plan",
]
