"""Gathering what the evaluator needs beyond the scan, with the scan's read-only recipes.

Registers are read before the scan starts (an unreadable register is a policy error, exit 2);
the subjects of database stores after it, for the columns where face data was found: this
module says what to read (`subject_reads`), the engine reads it the way it reads the
columns (scanner.sources.keys), and judgement gets the answers as facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scanner.model import DatabaseLocation, ItemResult, Location, Problem, ProblemReason
from scanner.policy.checks.base import Facts
from scanner.policy.loader import Policy, PolicyError, PolicyErrors
from scanner.policy.registers import RegisterData, RegisterError, load_register
from scanner.policy.stores import store_for
from scanner.sources.keys import KeyRead, SubjectRow


def load_registers(policy: Policy) -> dict[str, RegisterData]:
    """Every register the policy declares, read; any that cannot be read (a missing file,
    table or column, a bad date) is a PolicyErrors naming where the register is declared."""
    out: dict[str, RegisterData] = {}
    errors = []
    for reg in policy.registers:
        try:
            out[reg.id] = load_register(reg, policy.register_dirs[reg.id])
        except RegisterError as exc:
            where = policy.register_places.get(reg.id, (str(policy.register_dirs[reg.id]), None))
            errors.append(PolicyError(where[0], where[1], None, str(exc)))
    if errors:
        raise PolicyErrors(errors)
    return out


@dataclass(frozen=True)
class SubjectRead:
    """The keys to read for one column with face data, for the store that keys it."""

    location: Location  # the column
    store: str  # the store's id
    read: KeyRead


def subject_reads(
    policy: Policy, items: Sequence[ItemResult], database_uris: Mapping[str, str]
) -> list[SubjectRead]:
    """What must be read to know whose data each column holds: every database column with
    evidence in a store keyed by a column. `database_uris` maps a database's display name
    (as in locations) to the URI to connect with. Nothing is read here: the engine reads
    them as it reads columns (a SQLite file in a worker), then calls `facts_for`."""
    reads: list[SubjectRead] = []
    for item in items:
        store = store_for(item, policy.stores)
        if store is None or store.subject is None or store.subject.column is None:
            continue
        where = item.location
        if not isinstance(where, DatabaseLocation) or where.column is None:
            continue
        database = where.database.display
        uri = database_uris.get(database, database)
        relation = where.relation
        assert relation is not None
        key = KeyRead(uri, relation, where.column, store.subject.column)
        reads.append(SubjectRead(item.location, store.id, key))
    return reads


def unread(subject: SubjectRead, why: str) -> Problem:
    """The problem of a column whose subjects could not be read (its facts are incomplete)."""
    detail = f"subjects of store {subject.store!r} could not be read: {why}"
    return Problem(subject.location, ProblemReason.DATABASE_UNREADABLE, detail)


def facts_for(
    registers: Mapping[str, RegisterData], subjects: Mapping[Location, tuple[SubjectRow, ...]]
) -> Facts:
    return Facts(registers=registers, subjects=subjects)
