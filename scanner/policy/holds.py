"""Legal holds: which hold keeps an item, and what that does to its findings. Pure: no I/O.

A hold (declared in a policy's `holds`, scanner/policy/declarations.py) covers an item when
one of its `paths` globs matches the item's path or one of its `databases` globs its database
location (both matched exactly as a store's are, scanner/policy/stores.py), or when the item
belongs to one of its `stores`. It is active on the days from `start` to `end`, both included
(UTC; no end: until lifted). The first active hold in declaration order is the one named.

A hold wins over every duty to erase: retention that ran out, a consent withdrawn or missing,
no legal basis, a scraped origin, an orphaned half of a pair (GDPR Art 17(3)(e): erasure does
not apply while the data is needed for legal claims). Their findings under an active hold are
still reported, with the disposition `held` and the hold (`held_by`), a retention message
says "held by legal hold CASE" where it said "due for deletion", and they ask no deletion;
they do not fail the gate. Findings about other duties (executable code in a pickle, an
undeclared store, a missing record field, a transfer to a restricted country) stay as they
are: a hold keeps data, it does not excuse how it is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone

from scanner.model import Disposition, DueFinding, Finding, HeldBy, Location
from scanner.policy.checks.retention_exceeded import DUE_ON, DUE_SINCE
from scanner.policy.declarations import Hold
from scanner.policy.loader import Policy
from scanner.policy.stores import _db_regex, _path_regex, is_database_location

# the checks whose remedy is erasure: a legal hold suspends them
ERASURE_CHECKS = frozenset(
    {"retention_exceeded", "consent", "no_legal_basis", "scraped_provenance", "orphaned_pair"}
)


def is_active(hold: Hold, now: datetime) -> bool:
    return active_on(hold, now.astimezone(timezone.utc).date())


def active_on(hold: Hold, day: date) -> bool:
    return hold.start <= day and (hold.end is None or day <= hold.end)


def covers(hold: Hold, location: Location, store: str | None) -> bool:
    """Whether the hold's scope takes in the item at `location` (of the store `store`)."""
    scope = hold.scope
    if store is not None and store in scope.stores:
        return True
    display = location.display
    if is_database_location(location):
        return any(_db_regex(p).search(display) for p in scope.databases)
    return any(_path_regex(p).search(display) for p in scope.paths)


def holds_on(
    holds: Iterable[Hold], location: Location, store: str | None, now: datetime
) -> tuple[Hold, ...]:
    """Every hold active at `now` that covers the item, in declaration order."""
    return tuple(h for h in holds if is_active(h, now) and covers(h, location, store))


def hold_for(
    holds: Iterable[Hold], location: Location, store: str | None, now: datetime
) -> Hold | None:
    """The hold that keeps the item at `now` (the first declared), or None: what a
    remediation plan asks before it quarantines, deletes or purges anything."""
    return next(iter(holds_on(holds, location, store, now)), None)


def held_by(hold: Hold) -> HeldBy:
    return HeldBy(hold.case, hold.reason, hold.owner, hold.start, hold.end)


def justification(hold: Hold) -> str:
    until = f" until {hold.end.isoformat()}" if hold.end is not None else " until lifted"
    return (
        f"legal hold {hold.case}: {hold.reason} (owner {hold.owner}, "
        f"from {hold.start.isoformat()}{until})"
    )


def held_message(message: str, hold: Hold) -> str:
    """A retention message that ends `due for deletion since/on DAY`, said of a held item:
    the retention ran out (or runs out) that day, and the hold keeps it."""
    for marker, verb in ((DUE_SINCE, "ran out on"), (DUE_ON, "runs out on")):
        head, found, day = message.rpartition(marker)
        if found:
            return f"{head}: retention {verb} {day}; held by legal hold {hold.case}"
    return message


def _held(f: Finding, hold: Hold) -> Finding:
    return replace(
        f,
        message=held_message(f.message, hold),
        disposition=Disposition.HELD,
        justification=justification(hold),
        held_by=held_by(hold),
    )


def _suspended(policy: Policy, finding: Finding) -> bool:
    rule = policy.rule(finding.rule_id)
    return rule is not None and rule.rule.check in ERASURE_CHECKS


def apply_holds(
    findings: Sequence[Finding], due: Sequence[DueFinding], policy: Policy, now: datetime
) -> tuple[tuple[Finding, ...], tuple[DueFinding, ...]]:
    """Findings whose erasure a hold suspends become HELD (whatever a waiver or the
    baseline made of them), with the hold named; due findings kept by a hold that lasts
    until their deadline carry it too."""
    if not policy.holds:
        return tuple(findings), tuple(due)
    out = []
    for f in findings:
        hold = hold_for(policy.holds, f.location, f.store, now) if _suspended(policy, f) else None
        out.append(f if hold is None else _held(f, hold))
    later = []
    for d in due:
        f = d.finding
        hold = hold_for(policy.holds, f.location, f.store, now) if _suspended(policy, f) else None
        if hold is not None and (hold.end is None or hold.end >= d.deadline):
            later.append(replace(d, finding=_held(f, hold)))
        else:
            later.append(d)
    return tuple(out), tuple(later)
