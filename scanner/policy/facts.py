"""Gathering what the evaluator needs beyond the scan, with the scan's read-only recipes.

Registers are read before the scan starts (an unreadable register is a policy error, exit 2);
the subjects of database stores after it, for the columns where face data was found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scanner.model import ItemResult, Location, Problem, ProblemReason
from scanner.policy.evaluate import Facts
from scanner.policy.loader import Policy, PolicyError, PolicyErrors
from scanner.policy.registers import RegisterData, RegisterError, load_register, subjects_of
from scanner.policy.stores import store_for


def load_registers(policy: Policy) -> dict[str, RegisterData]:
    out: dict[str, RegisterData] = {}
    errors = []
    for reg in policy.registers:
        try:
            out[reg.id] = load_register(reg, policy.register_dirs[reg.id])
        except RegisterError as exc:
            errors.append(PolicyError(str(policy.register_dirs[reg.id]), None, None, str(exc)))
    if errors:
        raise PolicyErrors(errors)
    return out


def gather_subjects(
    policy: Policy, items: Sequence[ItemResult], database_uris: Mapping[str, str]
) -> tuple[dict[Location, tuple[str, ...]], list[Problem]]:
    """Subject keys of every database column with evidence in a store keyed by a column.

    `database_uris` maps a redacted database URI (as in locations) to the URI to connect with.
    """
    subjects: dict[Location, tuple[str, ...]] = {}
    problems: list[Problem] = []
    for item in items:
        store = store_for(item, policy.stores)
        if store is None or store.subject is None or store.subject.column is None:
            continue
        e = item.primary
        table = e.detail("table") if e is not None else None
        column = e.detail("column") if e is not None else None
        database = item.location.display.split("#", 1)[0]
        uri = database_uris.get(database, database)
        if not isinstance(table, str) or not isinstance(column, str):
            continue
        try:
            subjects[item.location] = subjects_of(uri, table, column, store.subject.column)
        except Exception as exc:  # any driver error: this location's facts are incomplete
            detail = f"subjects of store {store.id!r} could not be read: {type(exc).__name__}"
            problems.append(Problem(item.location, ProblemReason.DATABASE_UNREADABLE, detail))
    return subjects, problems


def facts_for(
    policy: Policy,
    registers: Mapping[str, RegisterData],
    items: Sequence[ItemResult],
    database_uris: Mapping[str, str],
) -> tuple[Facts, list[Problem]]:
    subjects, problems = gather_subjects(policy, items, database_uris)
    return Facts(registers=registers, subjects=subjects), problems
