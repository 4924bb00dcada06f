"""Incremental scanning: which files and database columns need no new look, and what their
last look found. Used by the engine's planner; the pool never sees a reused item.

A file is reused when its identity (device, inode, size, mtime_ns, ctime_ns) and the
configuration key match its entry and the entry is not racy (a file modified within two
seconds of the scan that saw it may change again within the same timestamp: it is looked at
again next time, as git treats "racily clean" files). An archive or SQLite file is one entry
with every member's or column's result. A column of a database given by URI is reused when
its watermark — row count and the newest value of the table's timestamp column — matches;
a table without a timestamp column has no watermark and is examined again, and its result
says so (`state.watermark: none`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from scanner.model import (
    DatabaseLocation,
    FileLocation,
    ItemResult,
    Location,
    MemberLocation,
    ObjectLocation,
    Problem,
)
from scanner.sources.base import ListingMark, SourceItem
from scanner.state import codec
from scanner.state.store import FileEntry, FileIdentity, StateDB

if TYPE_CHECKING:  # a column comes from a database's source: a scan of files never loads it
    from scanner.sources.database import ColumnSample

RACY_NS = 2_000_000_000


def _incomplete(walk: _Walk) -> bool:
    return any(p.incomplete for p in walk.problems) or any(
        p.incomplete for r in walk.results for p in r.problems
    )


def config_key(parts: Iterable[object]) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:24]


def identity(item: SourceItem) -> FileIdentity:
    """The identity the state compares (a source item with one: device, inode, size, mtime,
    ctime for a file)."""
    assert item.identity is not None
    dev, ino, size, mtime_ns, ctime_ns = item.identity
    return FileIdentity(dev, ino, size, mtime_ns, ctime_ns)


def anchored(loc: Location, file: Location) -> Location:
    """A location read back from the state, with the anchor (scanner.model.Anchor) of the
    file this scan found: the state keeps no anchor, since the same file is named from
    another root when the scan's target or --root differs."""
    if not isinstance(file, FileLocation):
        return loc
    if isinstance(loc, FileLocation):
        return file if loc.file == file.file else loc
    if isinstance(loc, MemberLocation):
        container = anchored(loc.container, file)
        if isinstance(container, (FileLocation, ObjectLocation)):
            return MemberLocation(container, loc.names)
        return loc
    if isinstance(loc, DatabaseLocation) and loc.database.at is not None:
        at = anchored(loc.database.at, file)
        if isinstance(at, (FileLocation, MemberLocation, ObjectLocation)):
            return replace(loc, database=replace(loc.database, at=at))
    return loc


def watermark(col: ColumnSample) -> str | None:
    newest = [(c, hi) for c, _lo, hi in col.timestamps if hi is not None]
    if not newest or col.rows is None:
        return None
    return json.dumps([col.rows, col.rows_estimated, col.declared_type, newest, col.oversized])


@dataclass
class _Walk:
    """A file being looked at: its own item, then its members and columns, until every one
    of them has come back."""

    item: SourceItem
    content_types: dict[str, int] = field(default_factory=dict)
    pending: int = 1  # the file's own item
    results: list[ItemResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    members: int = 0


class Found(Protocol):
    """What a worker reports about a file besides results (scanner.work.WorkOutcome)."""

    @property
    def problems(self) -> tuple[Problem, ...]: ...

    @property
    def content_types(self) -> tuple[tuple[str, int], ...]: ...

    @property
    def members(self) -> int: ...


@dataclass
class Reused:
    content_types: dict[str, int]  # what the file and its members are (summary counts)
    members: int
    items: int = 1  # the files (a resumed listing: every item it had looked at)


RESUME_MAX_AGE = timedelta(days=7)  # an older checkpoint is dropped: the listing starts over


class Incremental:
    def __init__(
        self,
        state: StateDB,
        key: str,
        started_ns: int,
        needs_look: Callable[[ItemResult], bool] | None = None,
    ) -> None:
        self.state = state
        # An unchanged item whose last result this says yes to is looked at again anyway
        # (a face search needs the faces themselves; the state never holds a descriptor).
        self.needs_look = needs_look
        self.key = key
        self.started_ns = started_ns
        self.files = state.load_files()
        self.columns = state.load_columns()
        self.reused_results: list[ItemResult] = []
        self.reused_problems: list[Problem] = []
        self.reused_files = 0
        self.reused_columns = 0
        self._walks: dict[int, _Walk] = {}  # by the seq of the file's own item
        self._origin: dict[int, int] = {}  # item seq -> the seq of the file it belongs to
        self._column_marks: dict[int, tuple[str, str | None]] = {}
        self._open: set[int] = set()  # files with something still to come back
        self._saved: set[int] = set()  # files already saved at a listing checkpoint
        # listing marks waiting for their pages' items: (mark, last seq, the pages' entries)
        self._marks: list[tuple[ListingMark, int, list[tuple[int | None, str] | Problem]]] = []

    # -- files ---------------------------------------------------------------------------

    def reuse(self, item: SourceItem) -> Reused | None:
        entry = self.files.get(item.location.display)
        if entry is None or entry.racy or entry.config != self.key:
            return None
        if entry.identity != identity(item):
            return None
        try:
            results = [codec.decode_result(r) for r in codec.loads(entry.results)]
            problems = [codec.decode_problem(p) for p in codec.loads(entry.problems)]
        except codec.Stale:  # written by an earlier version: looked at again
            return None
        if self.needs_look is not None and any(self.needs_look(r) for r in results):
            return None
        results = [replace(r, location=anchored(r.location, item.location)) for r in results]
        problems = [replace(p, location=anchored(p.location, item.location)) for p in problems]
        self.reused_files += 1
        self.reused_results.extend(results)
        self.reused_problems.extend(problems)
        return Reused(codec.loads(entry.content_type), entry.members)

    def begin(self, item: SourceItem, seq: int) -> None:
        """The item was queued as work item `seq`."""
        self._walks[seq] = _Walk(item)
        self._origin[seq] = seq
        self._open.add(seq)

    def spawned(self, parent: int, seq: int) -> None:
        """Item `seq` is a member or column of item `parent` (a file being looked at)."""
        root = self._origin.get(parent)
        if root is not None:
            self._origin[seq] = root
            self._walks[root].pending += 1

    # -- database columns (given by URI) -------------------------------------------------

    def reuse_column(self, col: ColumnSample) -> bool:
        """For a database named by URI (a walked SQLite file is cached as a whole file)."""
        mark = watermark(col)
        cached = self.columns.get(col.location.display)
        if mark is None or cached is None or cached[0] != mark or cached[1] != self.key:
            return False
        try:
            result = codec.decode_result(codec.loads(cached[2]))
        except codec.Stale:  # written by an earlier version: examined again
            return False
        if self.needs_look is not None and self.needs_look(result):
            return False
        result = replace(result, location=col.location)  # named as this scan names it
        self.reused_columns += 1
        self.reused_results.append(result)
        return True

    def queued_column(self, seq: int, col: ColumnSample) -> None:
        self._column_marks[seq] = (col.location.display, watermark(col))

    def has_no_watermark(self, seq: int) -> bool:
        mark = self._column_marks.get(seq)
        return mark is not None and mark[1] is None

    # -- outcomes and saving ---------------------------------------------------------------

    def partial(self, seq: int, result: ItemResult | None) -> None:
        """A member or column of item `seq`, examined in the worker that opened it."""
        root = self._origin.get(seq)
        if root is not None and result is not None:
            self._walks[root].results.append(result)

    def outcome(self, seq: int, result: ItemResult | None, found: Found) -> None:
        root = self._origin.pop(seq, None)
        if root is not None:
            walk = self._walks[root]
            walk.pending -= 1
            if result is not None:
                walk.results.append(result)
            walk.problems.extend(found.problems)
            for kind, n in found.content_types:
                walk.content_types[kind] = walk.content_types.get(kind, 0) + n
            walk.members += found.members
            if walk.pending <= 0:
                self._open.discard(root)
                self._advance()
            return
        mark = self._column_marks.pop(seq, None)
        if (
            mark is not None
            and result is not None
            and mark[1] is not None
            and not any(p.incomplete for p in result.problems)
        ):
            payload = codec.dumps(codec.encode_result(result))
            self.state.save_columns([(mark[0], mark[1], self.key, payload)])

    def save(self) -> int:
        """Entries for every file looked at completely (nothing pending, nothing incomplete)."""
        entries = []
        for seq, walk in self._walks.items():
            if walk.pending or seq in self._saved or _incomplete(walk):
                continue
            entries.append((walk.item.location.display, self._entry(walk)))
        self.state.save_files(entries)
        return len(entries)

    def _entry(self, walk: _Walk) -> FileEntry:
        ident = identity(walk.item)
        racy = max(ident.mtime_ns, ident.ctime_ns) >= self.started_ns - RACY_NS
        return FileEntry(
            ident,
            self.key,
            # an incomplete look is saved only for a listing's checkpoint: never reused by a
            # later scan (racy), but reported again by the run that resumes the listing
            racy or _incomplete(walk),
            codec.dumps(walk.content_types),
            codec.dumps([codec.encode_result(r) for r in walk.results]),
            codec.dumps([codec.encode_problem(p) for p in walk.problems]),
            walk.members,
        )

    # -- listing checkpoints (object stores: scanner.sources.base.ListingMark) ---------------

    def listing_mark(
        self, mark: ListingMark, last_seq: int, page: list[tuple[int | None, str] | Problem]
    ) -> None:
        """A listing's page ended (its items are work items up to `last_seq`, or reused);
        the mark is saved once every one of them has come back."""
        self._marks.append((mark, last_seq, page))
        self._advance()

    def _advance(self) -> None:
        """Save each waiting mark whose pages' items have all come back, with their entries:
        a scan stopped at any moment resumes after the last mark saved."""
        while self._marks and min(self._open, default=1 << 62) > self._marks[0][1]:
            mark, _, page = self._marks.pop(0)
            entries: list[tuple[str, FileEntry]] = []
            listed: list[tuple[str, str | None]] = []
            for part in page:
                if isinstance(part, Problem):
                    listed.append((part.location.display, codec.dumps(codec.encode_problem(part))))
                    continue
                seq, display = part
                if seq is not None and seq not in self._saved:
                    entries.append((display, self._entry(self._walks[seq])))
                    self._saved.add(seq)
                listed.append((display, None))
            if mark.done:
                self.state.end_listing(mark.listing, entries)
            else:
                self.state.checkpoint_listing(mark.listing, mark.key, mark.token, listed, entries)

    def resume(self, listing: str) -> tuple[ListingMark, Reused] | None:
        """An interrupted listing's mark, and what it had looked at up to it (its results
        and problems join this scan's, as reused ones); None: list from the start (no
        checkpoint, an old one, or one whose entries are gone)."""
        try:
            mark, token, saved_at, listed = self.state.listing(listing)
        except KeyError:
            return None
        age = datetime.now(timezone.utc) - datetime.fromisoformat(saved_at)
        if age > RESUME_MAX_AGE:
            self.state.end_listing(listing)
            return None
        results: list[ItemResult] = []
        problems: list[Problem] = []
        reused = Reused({}, 0, 0)
        try:
            for key, problem in listed:
                if problem:
                    problems.append(codec.decode_problem(codec.loads(problem)))
                    continue
                entry = self.files.get(key)
                if entry is None or entry.config != self.key:
                    return None  # not all there: the listing starts over
                results += [codec.decode_result(r) for r in codec.loads(entry.results)]
                problems += [codec.decode_problem(p) for p in codec.loads(entry.problems)]
                for kind, n in codec.loads(entry.content_type).items():
                    reused.content_types[kind] = reused.content_types.get(kind, 0) + n
                reused.members += entry.members
                reused.items += 1
        except codec.Stale:
            return None
        self.reused_files += reused.items
        self.reused_results.extend(results)
        self.reused_problems.extend(problems)
        return ListingMark(listing, mark, token), reused
