"""What travels between the engine and a worker: items, outcomes and the messages a worker
sends while it opens a container. Plain frozen values, picklable, no behaviour."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from scanner.config import DetectionSettings, Limits, SampleLimits
from scanner.model import ContentType, Evidence, ItemResult, Location, MailDomain, Problem

if TYPE_CHECKING:  # the caller's side of the pool never needs the detectors (numpy, Pillow)
    from scanner.detectors.base import DetectContext, LoadedItem
    from scanner.detectors.models import ModelSpec
    from scanner.embeddings.vectors import VectorSet
    from scanner.sources.base import Openable
    from scanner.sources.database import ColumnSample
    from scanner.sources.keys import KeyRead, SubjectRow


@dataclass(frozen=True)
class WorkItem:
    """One item for a worker: something to open, sniff and examine (`ref`, `content_type` None),
    bytes already read from an archive (`data`), or a sampled database column (`column`).

    A file may turn out to be a container (an archive, a SQLite database): the worker then
    opens it and hands its members or columns back as new items (`Spawn`) or examines them
    itself (`Partial`), as the caller decides for each (`Offer`)."""

    seq: int
    location: Location
    content_type: ContentType | None  # None: a file the worker sniffs first
    size: int
    mtime_ns: int | None
    ref: Openable | None = None  # what a worker opens to read the item (scanner.sources.base)
    data: bytes | None = field(default=None, repr=False)
    head_only: bool = False  # a large random-access file: read its start, sample the rest
    column: ColumnSample | None = None  # a database column (content_type DB_COLUMN)
    database: bool = False  # `file` was named as a SQLite database (sqlite:// URI)
    keys: KeyRead | None = None  # read the keys of a SQLite column's rows (the policy's facts)
    mail_domains: tuple[MailDomain, ...] = ()  # a mail part: its message's From/To/Cc domains


@dataclass(frozen=True)
class WorkOutcome:
    """The end of one item. `result` is None for a file that holds nothing to examine
    itself (a container, or content no detector reads); what the worker found on the way is
    in `problems` (not examined, with the reason) and the counters."""

    seq: int
    result: ItemResult | None
    bytes_read: int
    atime_preserved: bool = True
    # What the scan's ItemHook returned for the item (a face search's comparisons): in
    # memory, over the pipe; never in the result.
    extra: object | None = field(default=None, repr=False)
    problems: tuple[Problem, ...] = ()
    content_types: tuple[tuple[str, int], ...] = ()  # the file's type, its members', columns
    members: int = 0  # archive members looked at
    columns: int = 0  # database columns found
    pages: int = 0  # document pages looked at (their pictures went to the detectors)
    pages_total: int = 0  # document pages there were
    # Counters of mail and video (scanner.expand_mail, expand_video): messages read, video
    # frames examined and in the streams, … summed into ScanStats.media.
    media: tuple[tuple[str, int], ...] = ()
    # An archive or a mailbox whose members were all counted in `members` (entries, links,
    # encrypted and skipped ones; a message's text parts too): a remediation plan acts on
    # the whole container only when every member examined is a finding (docs/remediation.md)
    container: Location | None = None
    keys: tuple[SubjectRow, ...] = field(default=(), repr=False)  # a KeyRead's answer: memory only


@dataclass(frozen=True)
class Spawn:
    """A member or column for the caller to schedule (its seq is the caller's to give)."""

    item: WorkItem


@dataclass(frozen=True)
class Partial:
    """A member or column of the item in progress, examined in this worker."""

    outcome: WorkOutcome


@dataclass(frozen=True)
class Offer:
    """May a member or column of `size` bytes go back to the caller (answered True/False)?"""

    size: int


@dataclass(frozen=True)
class Busy:
    """The worker is at this member or column of the item in progress (also a heartbeat)."""

    location: Location | None


@dataclass(frozen=True)
class Fetch:
    """Up to `n` bytes from `offset` of the item in progress, read by the caller: a large
    object's ranges (a worker has no network). Answered with the bytes or a FetchFailed."""

    offset: int
    n: int


@dataclass(frozen=True)
class FetchFailed:
    """A Fetch not answered: `why` is "changed" (the object is not the one listed), "budget"
    (its read budget is spent) or "error"."""

    detail: str
    why: str = "error"


class Host(Protocol):
    """Where a worker hands what it finds inside a container: the caller's pool over pipes,
    or this process (scanner.pool.run_inline)."""

    def offer(self, size: int) -> bool: ...

    def spawn(self, item: WorkItem) -> None: ...

    def partial(self, outcome: WorkOutcome) -> None: ...

    def busy(self, location: Location | None) -> None: ...

    def fetch(self, offset: int, n: int) -> bytes:
        """Bytes of the item in progress read by the caller (an object's ranges); raises
        OSError (ItemChanged when it is not the object listed)."""
        ...


class ItemHook(Protocol):
    """A step the workers run after the detectors, on the same bytes, for every item with
    evidence (scanner.subject's face search is one). Picklable: it travels to each worker
    inside WorkerSetup. What `after` returns comes back in memory as WorkOutcome.extra and
    is handed to the scan's caller; it never enters the result, a report or the state."""

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """What the workers preload for it (scanner.detectors.models)."""
        ...

    @property
    def keep_vectors(self) -> bool:
        """Whether detectors must hand over the vectors they decode (memory only)."""
        ...

    def after(
        self,
        item: LoadedItem,
        evidence: Sequence[Evidence],
        vectors: Sequence[VectorSet],
        ctx: DetectContext,
    ) -> object | None:
        """Its answer for one item (None: nothing to say). May raise like a detector."""
        ...

    def needs_look(self, result: ItemResult) -> bool:
        """Whether an unchanged item must still be looked at again (its answer is never
        stored, so it cannot be reused from the state)."""
        ...


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs; picklable, sent once at start."""

    detector_ids: tuple[str, ...]
    settings: DetectionSettings
    limits: Limits
    sampling: SampleLimits = field(default_factory=SampleLimits)
    hook: ItemHook | None = field(default=None, repr=False)  # probes: memory only
