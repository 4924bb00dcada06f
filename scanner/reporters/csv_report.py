"""CSV: one row per finding, for spreadsheets and tickets; then, with a policy, one row per
finding that falls due within --due-within (`record` = due) and one per item with face data
that no finding is about (`record` = no finding). Each row names the store's owner, the legal
basis and the deadline.

Cells are made safe for the programs that open them: a text cell that a spreadsheet would
read as a formula (it starts with `=`, `+`, `-`, `@`, a tab, a carriage return or a line
feed, or their full-width forms) gets a leading apostrophe; controls and bidi characters are
shown as escapes. Numbers are written as numbers. RFC 4180: CRLF line ends, quoted cells.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime

from scanner.model import Finding, ItemResult, ScalarValue, ScanResult
from scanner.reporters.findings import (
    age_days,
    due_of,
    evidence_text,
    fact_text,
    is_failing,
    iso,
    items_by_location,
    legal_basis,
    owner_of,
    reported_findings,
    utc,
    where,
    where_of,
    without_findings,
)
from scanner.reporters.text import terminal_safe

COLUMNS = (
    "rule_id",
    "severity",
    "disposition",
    "kind",
    "location",
    "store",
    "pack",
    "citations",
    "message",
    "fingerprint",
    "age_days",
    "created",
    "countries",
    "platforms",
    "title",
    "remediation",
    "justification",
    "failing",
    "uri",
    "help_uri",
    "facts",
    "owner",
    "legal_basis",
    "deadline",
    "record",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")

Cell = str | int


def cell(value: str | int | None) -> Cell:
    """A value as a safe cell: text never starts a formula and shows no control characters."""
    if value is None:
        return ""
    if isinstance(value, int):
        return value
    if value.startswith(_FORMULA_START):
        value = "'" + value
    return terminal_safe(value)


def render(result: ScanResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    items = items_by_location(result)
    now = result.policy.evaluated_at if result.policy is not None else result.finished_at
    for finding in reported_findings(result):
        item = items.get(finding.location)
        writer.writerow(_row(result, finding, item, where_of(finding, items).uri, now))
    for due in result.due:
        f = due.finding
        row = _row(result, f, items.get(f.location), where_of(f, items).uri, now)
        values = dict(zip(COLUMNS, row, strict=True))
        values.update(disposition="", failing="no", deadline=due.deadline.isoformat(), record="due")
        writer.writerow([values[c] for c in COLUMNS])
    for item in without_findings(result):
        writer.writerow(_item_row(result, item, now))
    return out.getvalue()


def _item_row(result: ScanResult, item: ItemResult, now: datetime) -> Sequence[Cell]:
    """An item with face data and no finding: what it holds, where, whose store."""
    primary = item.primary
    assert primary is not None and result.policy is not None
    store = result.policy.store_of(item.location)
    info = result.policy.store(store)
    context = item.context
    due = due_of(item, result)
    values: dict[str, str | int | None] = {c: None for c in COLUMNS}
    values.update(
        severity=primary.severity.label,
        kind=primary.kind.value,
        location=item.location.display,
        store=store,
        message=evidence_text(item),
        created=iso(context.created) if context.created is not None else None,
        countries=" ".join(context.countries),
        platforms=" ".join(context.platforms),
        failing="no",
        uri=where(item.location, item.content_type).uri,
        owner=info.owner if info is not None else None,
        legal_basis=", ".join(info.legal_basis) if info is not None else None,
        deadline=due.isoformat() if due is not None else None,
        record="no finding",
    )
    if context.created is not None:
        values["age_days"] = max(0, (utc(now) - utc(context.created)).days)
    return [cell(values[c]) for c in COLUMNS]


def _text(value: ScalarValue | None) -> str | None:
    return fact_text(value) if value is not None else None


def _row(
    result: ScanResult, f: Finding, item: ItemResult | None, uri: str, now: datetime
) -> Sequence[Cell]:
    context = item.context if item is not None else None
    created = context.created if context is not None else None
    values: dict[str, str | int | None] = {
        "rule_id": f.rule_id,
        "severity": f.severity.label,
        "disposition": f.disposition.value,
        "kind": f.kind.value,
        "location": f.location.display,
        "store": f.store,
        "pack": f.pack,
        "citations": "; ".join(f.citations),
        "message": f.message,
        "fingerprint": f.fingerprint,
        "age_days": age_days(f, item, now),
        "created": iso(created) if created is not None else None,
        "countries": " ".join(context.countries) if context is not None else None,
        "platforms": " ".join(context.platforms) if context is not None else None,
        "title": f.title,
        "remediation": f.remediation,
        "justification": f.justification,
        "failing": "yes" if is_failing(f, result) else "no",
        "uri": uri,
        "help_uri": f.help_uri,
        "facts": "; ".join(f"{k}={fact_text(v)}" for k, v in f.facts),
        "owner": owner_of(f.store, result),
        "legal_basis": legal_basis(f, result),
        "deadline": _text(f.fact("deadline")),
        "record": "finding",
    }
    return [cell(values[c]) for c in COLUMNS]
