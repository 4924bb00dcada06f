"""How old an item is: `created` (and, for a database column, `newest`) in its context.

In order of preference:
1. a capture date read from the item's bytes by the worker (EXIF DateTimeOriginal, XMP;
   scanner.context.exif), already in the context;
2. a database column's dated rows: the detectors' `timestamp_column`/`oldest`/`newest`
   details give created = the oldest row, newest = the newest row;
3. the file's mtime; an archive member's own mtime when the archive records one (tar),
   else the archive file's mtime.

A stored date that cannot be read (or is before 1990) is ignored, with a note.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timezone

from scanner.context.dates import BadDate, parse_stored, shown
from scanner.model import ContentType, ItemResult, ScalarValue


def with_age(result: ItemResult) -> ItemResult:
    if not result.evidence:
        return result
    ctx = result.context
    created, source, newest = ctx.created, ctx.created_source, ctx.newest
    notes: list[tuple[str, ScalarValue]] = []
    column = _column_range(result, notes)
    if column is not None:
        name, oldest, latest = column
        if created is None and oldest is not None:
            created, source = oldest, f"column:{name} (oldest row)"
        if newest is None:
            newest = latest
    if created is None and result.content_type is not ContentType.DB_COLUMN:
        found = _mtime(result)
        if found is not None:
            created, source = found
    if (created, source, newest) == (ctx.created, ctx.created_source, ctx.newest) and not notes:
        return result
    context = replace(ctx, created=created, created_source=source, newest=newest)
    return replace(result, context=context, notes=(*result.notes, *notes))


def _column_range(
    result: ItemResult, notes: list[tuple[str, ScalarValue]]
) -> tuple[str, datetime | None, datetime | None] | None:
    """(column, oldest, newest) from the first evidence that dates its rows."""
    for evidence in result.evidence:
        name = evidence.detail("timestamp_column")
        if not isinstance(name, str) or not name:
            continue
        oldest = _stored(name, "oldest", evidence.detail("oldest"), notes)
        newest = _stored(name, "newest", evidence.detail("newest"), notes)
        return name, oldest, newest
    return None


def _stored(
    column: str, which: str, value: ScalarValue | None, notes: list[tuple[str, ScalarValue]]
) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        when, had_offset = parse_stored(str(value))
    except BadDate as exc:
        notes.append((f"context.column:{column}", f"{which} row ignored: {shown(value)} ({exc})"))
        return None
    if not had_offset and which == "oldest":
        notes.append((f"context.column:{column}", "no time zone in the column: read as UTC"))
    return when


def _mtime(result: ItemResult) -> tuple[datetime, str] | None:
    members = result.location.members
    if result.mtime_ns is not None:
        return _utc(result.mtime_ns), "mtime (archive member)" if members else "mtime"
    if not members:
        return None
    try:  # the member records no time (zip as read here): the archive file's own mtime
        st = os.stat(result.location.path, follow_symlinks=False)
    except (OSError, ValueError):
        return None
    return _utc(st.st_mtime_ns), "mtime (the archive's; the member records none)"


def _utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)
