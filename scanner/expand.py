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
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from scanner.config import Limits, SampleLimits
from scanner.model import (
    ContentType,
    DatabaseLocation,
    FileLocation,
    Location,
    MemberLocation,
    ObjectLocation,
    Problem,
    ProblemReason,
)
from scanner.sniff import HEAD_BYTES, SAMPLED_TYPES, name_claims_image, sniff
from scanner.sources.base import ItemChanged, Reader, object_reads
from scanner.sources.filesystem import FileRef
from scanner.work import Host, WorkItem, WorkOutcome

if TYPE_CHECKING:
    from scanner.sources.database import ColumnSample
    from scanner.sources.object_read import ObjectReader
    from scanner.sources.pdf import PdfCounts

# A photo needs none of the expanders: each container's module (mail, video, archives,
# PDFs, databases, object stores) is imported by the first item that needs it.

HEAD_ONLY_BYTES = 16 * 1024 * 1024  # read of a large npy/HDF5/Parquet file before sampling
_CONTAINERS_NOT_OPENED = {
    ContentType.SEVEN_ZIP: "7z archives are not opened; their members were not scanned",
    ContentType.RAR: "rar archives are not opened; their members were not scanned",
    ContentType.OLE: (
        "legacy Office documents (OLE compound files: doc, xls, ppt, msg) are not opened; "
        "pictures in them were not scanned"
    ),
    ContentType.OUTLOOK_PST: (
        "Outlook .pst mail stores are not opened; their messages were not scanned"
    ),
}

Counts = collections.Counter[str]


class Examiner(Protocol):
    """What the worker gives this module: its settings and its detectors."""

    sampling: SampleLimits
    private_dir: str
    examined_types: frozenset[ContentType]  # what the chosen detectors read
    readable_types: frozenset[ContentType]  # what any known detector reads

    @property
    def limits(self) -> Limits: ...

    def examine(
        self, item: WorkItem, data: bytes, atime: bool, reader: Reader | None = None
    ) -> WorkOutcome: ...


def examine_file(ex: Examiner, item: WorkItem, host: Host) -> WorkOutcome:
    """Sniff an item a source listed (a walked file, a database named by a URI, an object)
    and examine it, or open it with the expander registered for its content type."""
    assert item.ref is not None
    try:
        reader = item.ref.open()
        objects = _object_reader(reader)
        if objects is not None:
            objects.connect(host.fetch)  # a large object's ranges, read by the caller
    except ItemChanged as exc:
        return _problem(item, ProblemReason.CHANGED_DURING_SCAN, str(exc))
    except OSError as exc:
        return _problem(item, ProblemReason.UNREADABLE_FILE, exc.strerror or str(exc))
    try:
        ct = sniff(reader.head(HEAD_BYTES))
        if item.database:  # named as a SQLite database: opened as one, whatever it holds
            ct = ContentType.SQLITE
        expander = EXPANDERS.get(ct) or (_archive if ct.is_archive else None)
        if expander is not None:
            return expander(ex, item, reader, host, ct)
        return _plain(ex, item, reader, ct)
    except ItemChanged as exc:
        return _problem(item, ProblemReason.CHANGED_DURING_SCAN, str(exc))
    except OSError as exc:
        return _problem(item, ProblemReason.UNREADABLE_FILE, exc.strerror or str(exc))
    finally:
        reader.close()


def _plain(ex: Examiner, item: WorkItem, reader: Reader, ct: ContentType) -> WorkOutcome:
    limits = ex.limits
    atime = reader.atime_preserved
    counts = ((ct.value, 1),)
    head_only = False
    objects = _object_reader(reader)
    ranged = objects is not None and objects.ranged  # a large object, by ranges
    if (item.size > limits.max_file_bytes or ranged) and ct in SAMPLED_TYPES:
        head_only = True  # header and metadata first, rows sampled: never read whole
    elif item.size > limits.max_file_bytes:
        sparse = isinstance(item.ref, FileRef) and item.ref.sparse
        detail = (
            f"{ct.value} file of {item.size} bytes"
            f"{' (sparse: most of it is holes)' if sparse else ''} exceeds the "
            f"{limits.max_file_bytes} byte limit; not read"
        )
        return _problem(item, ProblemReason.OVERSIZE, detail, atime, counts)
    if ct in ex.examined_types:  # a chosen detector reads it
        data = reader.read_all(HEAD_ONLY_BYTES if head_only else limits.max_file_bytes)
        work = replace(item, content_type=ct, head_only=head_only)
        outcome = ex.examine(work, data, atime, reader)
        if ranged and outcome.result is not None:  # what the sample cost (the report's notes)
            assert objects is not None
            fetched = len(data) + objects.fetched
            notes = (*outcome.result.notes, ("object_bytes_read", fetched))
            outcome = replace(outcome, result=replace(outcome.result, notes=notes))
        return replace(outcome, content_types=counts)
    if ct in ex.readable_types:  # a format detectors read, but none chosen for this scan
        return WorkOutcome(item.seq, None, 0, atime, content_types=counts)
    name = item.location.path.rsplit("/", 1)[-1]
    if ct in _CONTAINERS_NOT_OPENED:
        detail = _CONTAINERS_NOT_OPENED[ct]
        return _problem(item, ProblemReason.UNSUPPORTED_CONTAINER, detail, atime, counts)
    if not name_claims_image(name):
        return WorkOutcome(item.seq, None, 0, atime, content_types=counts)
    if item.size == 0:
        return _problem(item, ProblemReason.DECODE_ERROR, "empty file", atime, counts)
    if ct is ContentType.UNKNOWN:
        detail = "named as an image but the content matches no image format"
        return _problem(item, ProblemReason.DECODE_ERROR, detail, atime, counts)
    detail = f"named as an image but the content is {ct.value}; not decoded"
    if ct is ContentType.POSTSCRIPT:
        detail += " (PostScript would be executed by a renderer)"
    return _problem(item, ProblemReason.DISGUISED_CONTENT, detail, atime, counts)


def _archive(
    ex: Examiner, item: WorkItem, reader: Reader, host: Host, ct: ContentType
) -> WorkOutcome:
    """An archive (zip, tar, gzip, bzip2, xz, zlib): its members, read in-stream."""
    from scanner.sources.archive import OFFICE_MEDIA, ArchiveWalker
    from scanner.sources.pdf import PdfCounts

    counts: Counts = collections.Counter({ct.value: 1})
    problems: list[Problem] = []

    def other(location: Location, content_type: ContentType) -> None:
        counts[content_type.value] += 1

    # PDFs among the members are opened in turn (their pictures), whatever the detectors read
    wanted = ex.examined_types | {ContentType.PDF}
    walker = ArchiveWalker(ex.limits, on_other=other, wanted=wanted)
    pages = PdfCounts()
    columns = 0
    container = item.location
    assert isinstance(container, (FileLocation, ObjectLocation, MemberLocation))
    with reader.stream() as stream:
        for entry in walker.expand(container, stream, ct):
            if isinstance(entry, Problem):
                problems.append(entry)
                continue
            counts[entry.content_type.value] += 1
            if entry.content_type is ContentType.SQLITE:
                from scanner.sources.sqlite import SqliteSource

                at = entry.location
                held = (
                    at if isinstance(at, (FileLocation, MemberLocation, ObjectLocation)) else None
                )
                source = SqliteSource.from_bytes(entry.data, at.display, ex.sampling, held)
                columns += _columns(ex, source.columns, host, counts, problems, send_all=False)
                continue
            if entry.content_type is ContentType.PDF:
                found = _pdf_members(
                    ex, entry.location, entry.data, host, counts=counts, problems=problems
                )
                pages.pages += found.pages
                pages.pages_examined += found.pages_examined
                pages.members += found.members
                if ContentType.PDF not in ex.examined_types:
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
        reader.atime_preserved,
        problems=tuple(problems),
        content_types=tuple(sorted(counts.items())),
        members=walker.members_seen + pages.members,
        columns=columns,
        pages=pages.pages_examined,
        pages_total=pages.pages,
        # an office document's members are its pictures only, not its text: never counted
        # as a container whose every member could be a finding
        container=None if ct in OFFICE_MEDIA else item.location,
    )


def _pdf(ex: Examiner, item: WorkItem, reader: Reader, host: Host, ct: ContentType) -> WorkOutcome:
    """A PDF: its pictures and its XMP packet become members (scanner.sources.pdf). A
    detector that reads PDFs themselves (a plug-in) examines the file as well."""
    atime = reader.atime_preserved
    counts: Counts = collections.Counter({ct.value: 1})
    if item.size > ex.limits.max_file_bytes:
        detail = f"pdf file of {item.size} bytes exceeds the {ex.limits.max_file_bytes} byte limit"
        return _problem(item, ProblemReason.OVERSIZE, detail + "; not read", atime, (("pdf", 1),))
    data = reader.read_all(ex.limits.max_file_bytes)
    own = None
    if ct in ex.examined_types:
        own = ex.examine(replace(item, content_type=ct), data, atime, reader)
    problems: list[Problem] = [] if own is None else list(own.problems)
    found = _pdf_members(ex, item.location, data, host, counts=counts, problems=problems)
    return WorkOutcome(
        item.seq,
        None if own is None else own.result,
        0 if own is None else own.bytes_read,
        atime,
        extra=None if own is None else own.extra,
        problems=tuple(problems),
        content_types=tuple(sorted(counts.items())),
        members=found.members,
        pages=found.pages_examined,
        pages_total=found.pages,
    )


def _pdf_members(
    ex: Examiner,
    location: Location,
    data: bytes,
    host: Host,
    *,
    counts: Counts,
    problems: list[Problem],
) -> PdfCounts:
    """A PDF's pictures and metadata, handed over like an archive's members."""
    from scanner.sources.pdf import PdfWalker

    walker = PdfWalker(ex.limits)
    for entry in walker.expand(location, data):
        if isinstance(entry, Problem):
            problems.append(entry)
            continue
        counts[entry.content_type.value] += 1
        child = WorkItem(
            0, entry.location, entry.content_type, len(entry.data), None, data=entry.data
        )
        _hand_over(ex, child, host, len(entry.data))
    return walker.counts


def _database(
    ex: Examiner, item: WorkItem, reader: Reader, host: Host, ct: ContentType
) -> WorkOutcome:
    """A SQLite database: a walked file, one named by a URI (its columns then all go back to
    the engine, which reuses those unchanged since the last scan), or another source's item
    (read into memory, within --max-file-mb)."""
    from scanner.sources.database import sqlite_ref
    from scanner.sources.sqlite import SqliteSource

    where = item.location
    if isinstance(where, DatabaseLocation):
        database = where.database
    else:  # a file's database is named by its path; an object's by its location
        assert isinstance(where, (FileLocation, MemberLocation, ObjectLocation))
        database = sqlite_ref(where.display, uri=isinstance(where, FileLocation), at=where)
    fd = reader.descriptor()
    if fd is not None and isinstance(item.ref, FileRef):
        source = SqliteSource.from_fd(
            fd,
            item.ref.fs_path,
            database,
            ex.sampling,
            private_dir=ex.private_dir,
            max_copy_bytes=ex.limits.max_temp_bytes,
        )
    else:
        data = reader.read_all(ex.limits.max_file_bytes)
        source = SqliteSource.from_bytes(data, database.display, ex.sampling, database.at)
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
        reader.atime_preserved,
        problems=tuple(problems),
        content_types=tuple(sorted(counts.items())),
        columns=columns,
    )


# Containers by content type: what opens them into members or columns (archives of every
# compression are one expander, chosen by ContentType.is_archive).
Expander = Callable[[Examiner, WorkItem, Reader, Host, ContentType], WorkOutcome]


def _mail(ex: Examiner, item: WorkItem, reader: Reader, host: Host, ct: ContentType) -> WorkOutcome:
    """A message or a mailbox (scanner.expand_mail: the email package, for mail only)."""
    from scanner.expand_mail import expand_mail

    return expand_mail(ex, item, reader, host, ct)


def _video(
    ex: Examiner, item: WorkItem, reader: Reader, host: Host, ct: ContentType
) -> WorkOutcome:
    """A video's sampled frames (scanner.expand_video)."""
    from scanner.expand_video import expand_video

    return expand_video(ex, item, reader, host, ct)


EXPANDERS: dict[ContentType, Expander] = {
    ContentType.SQLITE: _database,
    ContentType.PDF: _pdf,
    ContentType.EMAIL: _mail,
    ContentType.MBOX: _mail,
    ContentType.VIDEO: _video,
}


def _columns(
    ex: Examiner,
    columns: Callable[[], Iterator[ColumnSample | Problem]],
    host: Host,
    counts: Counts,
    problems: list[Problem],
    *,
    send_all: bool,
) -> int:
    from scanner.sources.database import DatabaseError, redact

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


def _object_reader(reader: Reader) -> ObjectReader | None:
    """The reader as an object store's, else None (without loading that code: object_reads)."""
    module = object_reads()
    return reader if module is not None and isinstance(reader, module.ObjectReader) else None


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
