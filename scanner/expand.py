"""A file, as a worker sees it: sniffed from its first bytes, then examined, or opened as a
container whose members (archives) or columns (SQLite databases) become items of their own.

Everything here runs in a worker process — the only processes that open untrusted content —
under the per-item time and memory bounds. The file is opened once (O_NOFOLLOW|O_NONBLOCK,
checked against the walker's identity) and every later read uses that descriptor, so what
was sniffed is what is examined. A container's items are offered back to the engine, which
takes them while other workers are free (they run in parallel) and otherwise lets this
worker examine them in place; either way each item's result is reported on its own.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Protocol

from scanner.config import Limits, SampleLimits
from scanner.model import ContentType, DatabaseLocation, Location, Problem, ProblemReason
from scanner.sniff import HEAD_BYTES, name_claims_image, sniff
from scanner.sources.archive import ArchiveWalker
from scanner.sources.database import ColumnSample, DatabaseError, redact, sqlite_ref
from scanner.sources.filesystem import FileChangedError, open_regular, read_open
from scanner.work import Host, WorkItem, WorkOutcome

HEAD_ONLY_BYTES = 16 * 1024 * 1024  # read of a large npy/HDF5/Parquet file before sampling
# Large files of these formats are read by their header and sampled, never whole.
_SAMPLED_WHEN_LARGE = {ContentType.NPY, ContentType.HDF5, ContentType.PARQUET, ContentType.ARROW}
_CONTAINERS_NOT_OPENED = {ContentType.SEVEN_ZIP, ContentType.RAR}

Counts = collections.Counter[str]


class Examiner(Protocol):
    """What the worker gives this module: its settings and its detectors."""

    sampling: SampleLimits
    private_dir: str
    examined_types: frozenset[ContentType]  # what the chosen detectors read
    readable_types: frozenset[ContentType]  # what any known detector reads

    @property
    def limits(self) -> Limits: ...

    def examine(self, item: WorkItem, data: bytes, atime: bool) -> WorkOutcome: ...


def examine_file(ex: Examiner, item: WorkItem, host: Host) -> WorkOutcome:
    """Sniff a walked file (or a database named by a sqlite:// URI) and examine or open it."""
    ref = item.file
    assert ref is not None
    try:
        fd, noatime = open_regular(ref)
    except FileChangedError as exc:
        return _problem(item, ProblemReason.CHANGED_DURING_SCAN, str(exc))
    except OSError as exc:
        return _problem(item, ProblemReason.UNREADABLE_FILE, exc.strerror or str(exc))
    try:
        head = os.pread(fd, HEAD_BYTES, 0)
        ct = sniff(head)
        if item.database or ct is ContentType.SQLITE:
            return _database_file(ex, item, fd, noatime, host)
        if ct.is_archive:
            return _archive(ex, item, fd, noatime, host, ct=ct)
        return _plain(ex, item, fd, noatime, ct)
    except FileChangedError as exc:
        return _problem(item, ProblemReason.CHANGED_DURING_SCAN, str(exc))
    except OSError as exc:
        return _problem(item, ProblemReason.UNREADABLE_FILE, exc.strerror or str(exc))
    finally:
        os.close(fd)


def _plain(ex: Examiner, item: WorkItem, fd: int, noatime: bool, ct: ContentType) -> WorkOutcome:
    ref = item.file
    assert ref is not None
    limits = ex.limits
    counts = ((ct.value, 1),)
    head_only = False
    if ref.size > limits.max_file_bytes and ct in _SAMPLED_WHEN_LARGE:
        head_only = True  # header and metadata first, rows sampled: never read whole
    elif ref.size > limits.max_file_bytes:
        sparse = " (sparse: most of it is holes)" if ref.sparse else ""
        detail = (
            f"{ct.value} file of {ref.size} bytes{sparse} exceeds the "
            f"{limits.max_file_bytes} byte limit; not read"
        )
        return _problem(item, ProblemReason.OVERSIZE, detail, noatime, counts)
    if ct in ex.examined_types:  # a chosen detector reads it
        data = read_open(fd, ref, HEAD_ONLY_BYTES if head_only else limits.max_file_bytes)
        work = replace(item, content_type=ct, head_only=head_only)
        return replace(ex.examine(work, data, noatime), content_types=counts)
    if ct in ex.readable_types:  # a format detectors read, but none chosen for this scan
        return WorkOutcome(item.seq, None, 0, noatime, content_types=counts)
    name = ref.location.path.rsplit("/", 1)[-1]
    if ct in _CONTAINERS_NOT_OPENED:
        detail = f"{ct.value} archives are not opened; their members were not scanned"
        return _problem(item, ProblemReason.UNSUPPORTED_CONTAINER, detail, noatime, counts)
    if not name_claims_image(name):
        return WorkOutcome(item.seq, None, 0, noatime, content_types=counts)
    if ref.size == 0:
        return _problem(item, ProblemReason.DECODE_ERROR, "empty file", noatime, counts)
    if ct is ContentType.UNKNOWN:
        detail = "named as an image but the content matches no image format"
        return _problem(item, ProblemReason.DECODE_ERROR, detail, noatime, counts)
    detail = f"named as an image but the content is {ct.value}; not decoded"
    if ct is ContentType.POSTSCRIPT:
        detail += " (PostScript would be executed by a renderer)"
    return _problem(item, ProblemReason.DISGUISED_CONTENT, detail, noatime, counts)


def _archive(
    ex: Examiner, item: WorkItem, fd: int, noatime: bool, host: Host, *, ct: ContentType
) -> WorkOutcome:
    counts: Counts = collections.Counter({ct.value: 1})
    problems: list[Problem] = []

    def other(location: Location, content_type: ContentType) -> None:
        counts[content_type.value] += 1

    walker = ArchiveWalker(ex.limits, on_other=other, wanted=ex.examined_types)
    columns = 0
    with os.fdopen(os.dup(fd), "rb") as stream:
        for entry in walker.expand(item.location, stream, ct):
            if isinstance(entry, Problem):
                problems.append(entry)
                continue
            counts[entry.content_type.value] += 1
            if entry.content_type is ContentType.SQLITE:
                from scanner.sources.sqlite import SqliteSource

                source = SqliteSource.from_bytes(entry.data, entry.location.display, ex.sampling)
                columns += _columns(ex, source.columns, host, counts, problems, send_all=False)
                continue
            child = WorkItem(
                0,
                entry.location,
                entry.content_type,
                len(entry.data),
                entry.mtime_ns,
                data=entry.data,
            )
            _hand_over(ex, child, host, len(entry.data))
    return WorkOutcome(
        item.seq,
        None,
        0,
        noatime,
        problems=tuple(problems),
        content_types=tuple(sorted(counts.items())),
        members=walker.members_seen,
        columns=columns,
    )


def _database_file(ex: Examiner, item: WorkItem, fd: int, noatime: bool, host: Host) -> WorkOutcome:
    """A SQLite database: a walked file, or one named by a URI (its columns then all go
    back to the engine, which reuses those unchanged since the last scan)."""
    from scanner.sources.sqlite import SqliteSource

    ref = item.file
    assert ref is not None
    where = item.location
    database = where.database if isinstance(where, DatabaseLocation) else sqlite_ref(where.path)
    source = SqliteSource.from_fd(
        fd,
        ref.fs_path,
        database,
        ex.sampling,
        private_dir=ex.private_dir,
        max_copy_bytes=ex.limits.max_temp_bytes,
    )
    source.on_statement = lambda: host.busy(None)
    counts: Counts = collections.Counter()
    if not item.database:
        counts[ContentType.SQLITE.value] += 1
    problems: list[Problem] = []
    columns = _columns(ex, source.columns, host, counts, problems, send_all=item.database)
    return WorkOutcome(
        item.seq,
        None,
        0,
        noatime,
        problems=tuple(problems),
        content_types=tuple(sorted(counts.items())),
        columns=columns,
    )


def _columns(
    ex: Examiner,
    columns: Callable[[], Iterator[ColumnSample | Problem]],
    host: Host,
    counts: Counts,
    problems: list[Problem],
    *,
    send_all: bool,
) -> int:
    found = 0
    try:
        for entry in columns():
            if isinstance(entry, Problem):
                problems.append(entry)
                continue
            found += 1
            counts[ContentType.DB_COLUMN.value] += 1
            child = WorkItem(0, entry.location, ContentType.DB_COLUMN, 0, None, column=entry)
            if send_all:
                host.spawn(child)
            else:
                _hand_over(ex, child, host, column_bytes(entry))
    except DatabaseError as exc:
        problems.append(Problem(exc.location, exc.reason, redact(str(exc))))
    return found


def column_bytes(column: ColumnSample) -> int:
    """About how many bytes a column's sample is (what handing it over costs)."""
    return sum(
        len(v) if isinstance(v, (bytes, str)) else 8 * len(v) if isinstance(v, (list, tuple)) else 8
        for v in column.values
    )


def _hand_over(ex: Examiner, child: WorkItem, host: Host, size: int) -> None:
    """To the engine when it takes it (another worker is free); otherwise examined here."""
    if host.offer(size):
        host.spawn(child)
        return
    host.busy(child.location)
    host.partial(ex.examine(child, child.data or b"", True))


def _problem(
    item: WorkItem,
    reason: ProblemReason,
    detail: str,
    atime: bool = True,
    counts: tuple[tuple[str, int], ...] = (),
) -> WorkOutcome:
    problem = Problem(item.location, reason, detail)
    return WorkOutcome(item.seq, None, 0, atime, problems=(problem,), content_types=counts)
