"""The source interface: where items come from, and how a worker reads one.

A **Source** is claimed by a target (a path, or a URI by its scheme: scanner.sources) and
yields **SourceItem**s and problems, in the main process. It lists — and a database server's
source samples its columns there — but never reads a scanned file's content: each item with
content carries an **Openable**, a small picklable reference that a worker opens into a
**Reader** (`head`, `read_at`, `read_all`, `stream`, a descriptor when there is one), under
the worker's time and memory budget and sandbox. Containers found among the items (archives,
SQLite files) are opened in the worker by the expander registered for their content type
(scanner.expand).

The filesystem, the SQLite, PostgreSQL, MariaDB and object-store sources implement this; a
new kind of place is one module implementing `Source` (and an `Openable` if its items have
content) and one line in the registry (docs/extending.md).
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import IO, TYPE_CHECKING, Protocol, runtime_checkable

from scanner.errors import FaceauditError
from scanner.model import Location

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scanner.config import SampleLimits
    from scanner.model import Problem
    from scanner.sources.database import ColumnSample
    from scanner.sources.globs import PathFilter


class ItemChanged(FaceauditError, OSError):
    """The item is not the one its source listed (replaced, truncated, gone)."""


class ReadBudgetSpent(FaceauditError, OSError):
    """An item read by ranges asked for more than its bound (an object's size limit)."""


class Reader(Protocol):
    """An item opened in a worker. Every read is of the item its source listed; a change is
    ItemChanged (an OSError)."""

    @property
    def size(self) -> int: ...

    @property
    def atime_preserved(self) -> bool: ...

    def head(self, n: int) -> bytes:
        """The first `n` bytes (fewer for a short item)."""
        ...

    def read_at(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset` (random access, bounded by the caller)."""
        ...

    def read_all(self, limit: int) -> bytes:
        """The whole item, at most `limit` bytes, checked to be unchanged afterwards."""
        ...

    def stream(self) -> IO[bytes]:
        """The item from its start, as a file object the caller closes (seekable when the
        item allows random access)."""
        ...

    def descriptor(self) -> int | None:
        """An OS descriptor of the item for libraries that need one (SQLite), else None."""
        ...

    def close(self) -> None: ...


class Openable(Protocol):
    """A picklable reference to an item's content, opened by a worker."""

    def open(self) -> Reader: ...


@runtime_checkable
class RangeReadable(Protocol):
    """An Openable whose further bytes the process that lists reads on a worker's request
    (an object read by ranges: a worker has no network)."""

    def read_range(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset`, within the item's own bound; OSError otherwise."""
        ...


@dataclass(frozen=True)
class SourceItem:
    """One thing a source found: something to read (`ref`), or a database column it sampled
    (`column`)."""

    location: Location
    size: int
    mtime_ns: int | None
    ref: Openable | None = None
    column: ColumnSample | None = field(default=None, repr=False)
    # What the state database compares to reuse the last results (None: looked at every
    # time); a file: device, inode, size, mtime, ctime.
    identity: tuple[int, ...] | None = None
    ctime_ns: int | None = None  # when its metadata last changed (--since, racy entries)
    alias_key: tuple[int, ...] | None = None  # the same content reached twice (hard links)
    database: bool = False  # a database named by its URI: its columns come back one by one


@dataclass(frozen=True)
class ListingMark:
    """A listing's low-water mark, yielded by a source that lists in pages (an object store)
    after each page's items: every item listed up to and including `key` was yielded before
    it; `token` is the store's own way to go on after it (None where a key suffices); `done`:
    the listing is complete. The engine keeps the mark of the last page whose every item was
    looked at (scanner.state.incremental), so an interrupted scan resumes after it."""

    listing: str  # what was listed (the target with its options), as the source names it
    key: str | None
    token: str | None = None
    done: bool = False


class Checkpoints(Protocol):
    """Where a listing resumes (the engine's, from the state database)."""

    def resume(self, listing: str) -> ListingMark | None:
        """The mark after which the listing `listing` goes on (the items up to it were looked
        at by the interrupted scan, and are reported from the state), or None: from the
        start."""
        ...


@dataclass
class SourceStats:
    """What a source did besides yielding items (the report's summary)."""

    directories: int = 0
    excluded: int = 0
    atime_preserved: bool = True


@dataclass(frozen=True)
class SourceContext:
    """What the engine gives a source: how to filter, sample, and what not to walk."""

    filter: PathFilter
    sampling: SampleLimits
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)  # walked once per scan
    own_dirs: set[tuple[int, int]] = field(default_factory=set)  # the scan's own folders
    # the directories identities are named from, resolved (scanner.sources.roots); empty:
    # each target is its own root
    roots: tuple[str, ...] = ()
    # the largest item read whole (limits.max_file_bytes): a source that can tell an item's
    # size before reading it (an object store's listing) reports larger ones unread
    max_file_bytes: int = 100 * 1024 * 1024
    checkpoints: Checkpoints | None = None  # a listing in pages resumes from its mark
    # False: a database server's columns are measured, their values not fetched (a cluster
    # executor's workers sample the columns themselves: scanner.executors.dask)
    sample_values: bool = True


class Source(Protocol):
    """A place items come from (scanner.sources registers one per scheme)."""

    stats: SourceStats

    def items(self) -> Iterator[SourceItem | Problem | ListingMark]:
        """What the source found, in order; a source that lists in pages yields a
        ListingMark after each page's items."""
        ...


class BytesReader:
    """A Reader over bytes already in memory (a test source, an object fetched whole)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    @property
    def atime_preserved(self) -> bool:
        return True

    def head(self, n: int) -> bytes:
        return self._data[:n]

    def read_at(self, offset: int, n: int) -> bytes:
        return self._data[offset : offset + max(0, n)]

    def read_all(self, limit: int) -> bytes:
        return self._data[:limit]

    def stream(self) -> IO[bytes]:
        return io.BytesIO(self._data)

    def descriptor(self) -> int | None:
        return None

    def close(self) -> None:
        pass


def object_reads() -> ModuleType | None:
    """scanner.sources.object_read if it is loaded, else None. Only an object's reference
    opens an object reader or has a range refused, and it imports that module first: code
    that tells such a reader or error apart asks here, so a worker that sees only files
    never imports the object-store code to find that nothing is one."""
    return sys.modules.get("scanner.sources.object_read")
