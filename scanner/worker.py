"""Turning one work item into an ItemResult; also the body of a worker process.

A worker opens a walked file once (checking it is still the one the walker saw), sniffs
it, and either examines it — hashing its bytes and running every applicable detector on
those same bytes — or opens it as a container (scanner.expand). Detector failures become
per-item problems; nothing here prints. The worker process has no write access outside
its private directory where the kernel allows it (scanner.sandbox).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from scanner.config import Limits
from scanner.detectors import registry
from scanner.detectors.base import DetectContext, Detector, LoadedItem
from scanner.detectors.models import PILLOW_PLUGINS, ModelCache, ModelSpec, preload
from scanner.embeddings.vectors import VectorSet
from scanner.faces.imaging import ImageProblem
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
from scanner.sources.base import (
    ItemChanged,
    Openable,
    ReadBudgetSpent,
    Reader,
    object_reads,
)
from scanner.work import (
    Busy,
    Fetch,
    FetchFailed,
    Host,
    ItemHook,
    Offer,
    Partial,
    Spawn,
    WorkerSetup,
    WorkItem,
    WorkOutcome,
)

if TYPE_CHECKING:
    from scanner.context.geo import Geocoder
    from scanner.sources.keys import KeyRead

# What a worker imports only when an item needs it (a plain photo needs none of it): the
# container expanders (mail, video, archives, PDFs, databases), the context enrichers (an
# item with evidence), the object-store and database readers. Each is imported from the
# read-only package after the sandbox is in force, which allows reading everywhere;
# tests/test_startup.py checks a photo's worker leaves them out.

__all__ = ["Processor", "WorkItem", "WorkOutcome", "WorkerSetup", "failed_result", "statm"]

HEADROOM = 128 * 1024 * 1024  # model weights (~35 MB) and buffers loaded after start-up
# What a worker uses whatever its detectors: Pillow's plug-ins (the EXIF and XMP context of
# an item with evidence).
WORKER_MODELS: tuple[ModelSpec, ...] = (PILLOW_PLUGINS,)


def worker_models(setup: WorkerSetup) -> tuple[ModelSpec, ...]:
    """The models a worker preloads: its own, the hook's, its detectors'."""
    hook = setup.hook.models if setup.hook is not None else ()
    return (*WORKER_MODELS, *hook, *registry().models(setup.detector_ids))


class Processor:
    """Detectors plus their per-process model cache."""

    def __init__(self, setup: WorkerSetup, private_dir: str | None = None) -> None:
        known = registry()
        self.detectors: tuple[Detector, ...] = known.build(setup.detector_ids)
        # Examined: what the chosen detectors read; the rest is counted, not read.
        self.examined_types = known.content_types(setup.detector_ids)
        self.readable_types = known.content_types()  # what some known detector reads
        self.hook: ItemHook | None = setup.hook
        self.sampling = setup.sampling
        self.private_dir = private_dir or tempfile.gettempdir()
        models = ModelCache.serving(self.detectors)
        self.ctx = DetectContext(
            setup.settings,
            setup.limits,
            models,
            keep_vectors=self.hook is not None and self.hook.keep_vectors,
        )
        self._geocoder: Geocoder | None = None  # made for the first item with evidence

    @property
    def geocoder(self) -> Geocoder:
        """The reverse geocoder (its data is loaded on the first photo with a GPS position)."""
        if self._geocoder is None:
            from scanner.context.geo import Geocoder

            self._geocoder = Geocoder()
        return self._geocoder

    @property
    def limits(self) -> Limits:
        return self.ctx.limits

    def process(self, item: WorkItem, host: Host | None = None) -> WorkOutcome:
        if item.keys is not None:
            return self._keys(item, item.keys)
        if item.ref is not None:
            if item.content_type is None:  # sniffed, examined or opened as a container
                from scanner import expand

                return expand.examine_file(self, item, host or LocalHost())
            return self._read_and_examine(item, item.ref)
        if item.data is not None:
            return self.examine(item, item.data, atime=True)
        if item.column is not None:
            return self.examine(item, b"", atime=True)
        return self._failed(item, ProblemReason.DETECTOR_ERROR, "work item with nothing to read")

    def _read_and_examine(self, item: WorkItem, ref: Openable) -> WorkOutcome:
        """An item whose type is known already (read, not sniffed)."""
        from scanner.expand import HEAD_ONLY_BYTES

        try:
            reader = ref.open()
            try:
                limit = HEAD_ONLY_BYTES if item.head_only else self.limits.max_file_bytes
                return self.examine(item, reader.read_all(limit), reader.atime_preserved, reader)
            finally:
                reader.close()
        except ItemChanged as exc:
            return self._failed(item, ProblemReason.CHANGED_DURING_SCAN, str(exc))
        except OSError as exc:
            return self._failed(item, ProblemReason.UNREADABLE_FILE, exc.strerror or str(exc))

    def examine(
        self, item: WorkItem, data: bytes, atime: bool, reader: Reader | None = None
    ) -> WorkOutcome:
        """Every applicable detector on the item's bytes (read once)."""
        loc = item.location
        content_type = item.content_type or ContentType.UNKNOWN
        # Content identity: the whole content's digest (not for a column, nor for the first
        # bytes of a file too large to read whole).
        whole = item.column is None and len(data) == item.size
        digest = hashlib.sha256(data).hexdigest() if whole else None
        loaded = LoadedItem(
            loc, content_type, data, size=item.size, reader=reader, column=item.column
        )
        evidence: list[Evidence] = []
        problems: list[Problem] = []
        notes: list[tuple[str, ScalarValue]] = []
        vectors: list[VectorSet] = []
        for detector in self.detectors:
            if content_type not in detector.content_types:
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
            except ItemChanged as exc:  # a large object read by ranges, replaced meanwhile
                problems.append(Problem(loc, ProblemReason.CHANGED_DURING_SCAN, str(exc)))
                break
            except ReadBudgetSpent as exc:  # its sample needs more than the object's bound
                problems.append(Problem(loc, ProblemReason.OVERSIZE, f"{detector.id}: {exc}"))
                continue
            except Exception as exc:  # a detector bug must not end the scan; it is reported
                objects = object_reads()
                if objects is not None and isinstance(exc, objects.ObjectRead):
                    # a range the store would not give
                    detail = f"{detector.id}: {exc}"
                    problems.append(Problem(loc, ProblemReason.UNREADABLE_FILE, detail))
                    continue
                detail = f"{detector.id}: {type(exc).__name__}: {exc}"[:400]
                problems.append(Problem(loc, ProblemReason.DETECTOR_ERROR, detail))
                continue
            evidence.extend(out.evidence)
            notes.extend(out.notes)
            vectors.extend(out.vectors)
            problems.extend(Problem(loc, r, f"{detector.id}: {d}") for r, d in out.problems)
        context = ItemContext()
        if evidence:  # capture date, GPS country, XMP/IPTC source: only the bytes tell
            from scanner.context.exif import embedded_context

            context, context_notes = embedded_context(
                data, content_type, item.mtime_ns, self.geocoder
            )
            notes.extend(context_notes)
        if item.mail_domains:  # the message the part came with: its correspondents' domains
            context = replace(context, mail_domains=item.mail_domains)
        extra = self._after(loaded, evidence, vectors, problems)
        result = ItemResult(
            location=loc,
            content_type=content_type,
            size=item.size if item.column is None else 0,
            sha256=digest,
            mtime_ns=item.mtime_ns,
            evidence=tuple(evidence),
            problems=tuple(problems),
            notes=tuple(notes),
            context=context,
        )
        return WorkOutcome(item.seq, result, len(data), atime, extra)

    def _after(
        self,
        loaded: LoadedItem,
        evidence: list[Evidence],
        vectors: list[VectorSet],
        problems: list[Problem],
    ) -> object | None:
        """The scan's hook on an item with evidence (a face search). A failure is the item's
        problem, described by its type only (a message could quote values)."""
        if self.hook is None or not evidence:
            return None
        try:
            return self.hook.after(loaded, evidence, vectors, self.ctx)
        except ImageProblem as exc:
            problems.append(
                Problem(loaded.location, exc.reason, f"{_name(self.hook)}: {exc.detail}")
            )
        except MemoryError:
            problems.append(
                Problem(
                    loaded.location,
                    ProblemReason.MEMORY_LIMIT,
                    f"{_name(self.hook)}: out of memory",
                )
            )
        except Exception as exc:
            problems.append(
                Problem(
                    loaded.location,
                    ProblemReason.DETECTOR_ERROR,
                    f"{_name(self.hook)} failed ({type(exc).__name__})",
                )
            )
        return None

    def _keys(self, item: WorkItem, read: KeyRead) -> WorkOutcome:
        """The keys of a SQLite column's rows (scanner.sources.keys), for the policy."""
        from scanner.sources import keys

        try:
            found = keys.read_sqlite(read, self.private_dir, self.limits.max_temp_bytes)
        except keys.KeysUnreadable as exc:
            problem = Problem(item.location, ProblemReason.DATABASE_UNREADABLE, str(exc))
            return WorkOutcome(item.seq, None, 0, problems=(problem,))
        return WorkOutcome(item.seq, None, 0, keys=found)

    @staticmethod
    def _failed(item: WorkItem, reason: ProblemReason, detail: str) -> WorkOutcome:
        return WorkOutcome(item.seq, failed_result(item, reason, detail), 0)


def failed_result(item: WorkItem, reason: ProblemReason, detail: str) -> ItemResult:
    return ItemResult(
        location=item.location,
        content_type=item.content_type or ContentType.UNKNOWN,
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


def _prepare_process(setup: WorkerSetup, private_dir: str) -> tuple[tuple[str, str], ...]:
    """Process-wide settings of a worker (its own process: nothing leaks to the caller), and
    the protections in force, for the report.

    The address-space limit is the item budget on top of what the loaded libraries already
    take (measured ~0.45 GB with dlib, YuNet and Pillow: the libraries of the models the
    worker's detectors declare are imported first), so an allocation beyond the budget
    fails inside the worker instead of exhausting the machine. Then the sandbox: no write
    outside the private directory, no network, no core dump, no file over the temporary
    space limit (scanner.sandbox) — before the first item is read.
    """
    from PIL import Image

    preload(worker_models(setup))  # libraries in, so their size is the baseline
    try:
        import resource

        limit = (statm("self", STATM_SIZE) or 0) + HEADROOM + setup.limits.item_memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform without it
        pass

    Image.MAX_IMAGE_PIXELS = setup.limits.max_pixels // 2  # Pillow errors at twice this
    from scanner.sandbox import confine

    return confine(
        private_dir, network=False, max_file_bytes=setup.limits.max_temp_bytes
    ).metadata()


class LocalHost:
    """A container's items examined in this process, in place (no pool to hand them to);
    they come back through `take()`. Spawned items are kept too: the caller schedules them."""

    def __init__(self) -> None:
        self.partials: list[WorkOutcome] = []
        self.spawned: list[WorkItem] = []

    def offer(self, size: int) -> bool:
        return False

    def spawn(self, item: WorkItem) -> None:
        self.spawned.append(item)

    def partial(self, outcome: WorkOutcome) -> None:
        self.partials.append(outcome)

    def busy(self, location: Location | None) -> None:
        pass

    def fetch(self, offset: int, n: int) -> bytes:
        # in this process an object's reader reads its ranges itself (ObjectRef.open)
        from scanner.sources.object_read import ObjectRead

        raise ObjectRead("no caller to read the item's ranges from")


class PipeHost:
    """A worker process's side of the pool's protocol (scanner.pool)."""

    def __init__(self, inbox: Connection, outbox: Connection) -> None:
        self.inbox, self.outbox = inbox, outbox

    def offer(self, size: int) -> bool:
        self.outbox.send(Offer(size))
        return bool(self.inbox.recv())

    def spawn(self, item: WorkItem) -> None:
        self.outbox.send(Spawn(item))

    def partial(self, outcome: WorkOutcome) -> None:
        self.outbox.send(Partial(outcome))

    def busy(self, location: Location | None) -> None:
        self.outbox.send(Busy(location))

    def fetch(self, offset: int, n: int) -> bytes:
        self.outbox.send(Fetch(offset, n))
        answer = self.inbox.recv()
        if isinstance(answer, FetchFailed):
            from scanner.sources.object_read import ObjectRead

            failed = {"changed": ItemChanged, "budget": ReadBudgetSpent}.get(answer.why, ObjectRead)
            raise failed(answer.detail)
        return bytes(answer)


def process_main() -> None:
    """Body of a worker process started by scanner.pool: items arrive on stdin (fd 0),
    outcomes leave on the descriptor named in argv[1]; argv[2] is the private directory,
    the only place this process may write."""
    import traceback

    inbox = Connection(0, writable=False)
    outbox = Connection(int(sys.argv[1]), readable=False)
    private_dir = sys.argv[2]
    try:
        setup = inbox.recv()
        protections = _prepare_process(setup, private_dir)
        processor = Processor(setup, private_dir)
    except Exception:
        outbox.send(("fatal", traceback.format_exc(limit=3)))
        return
    outbox.send(("ready", os.getpid(), statm("self", STATM_RSS) or 0, protections))
    host = PipeHost(inbox, outbox)
    while True:
        try:
            item = inbox.recv()
        except EOFError:
            return
        if item is None:
            return
        outbox.send(processor.process(item, host))


def _name(hook: ItemHook) -> str:
    """How a problem names the hook: its `name`, else its class."""
    return str(getattr(hook, "name", type(hook).__name__))
