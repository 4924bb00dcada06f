"""A pool of worker processes with a time and memory budget per item.

One item is in flight per worker. A worker that exceeds the item's time budget or memory
budget is killed and replaced, and that item (only) is reported as failed; a worker that
crashes (a decoder segfault, the kernel's OOM killer) is handled the same way. Workers start
as fresh interpreters, never forked: libgomp (YuNet) deadlocks in a forked child. Each has
a private directory (its TMPDIR, the only place it may write; removed with the worker).

Workers start when the first item needs one, never before: a scan with nothing to examine
(an empty folder, a rescan whose every item the state database serves) starts no process
and loads no model.

A worker that opens a container (an archive, a SQLite database) reports as it goes: it
offers each member or column back (`Offer`), and the pool takes it (`Spawn`) while its queue
is short, so free workers examine it in parallel, or declines, and the worker examines it
in place (`Partial`). Every message restarts the item's time budget; the members it is at
(`Busy`) is named if it has to be stopped. The queue is bounded in items and bytes, so the
caller's memory stays flat whatever a container holds.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Protocol

from scanner.model import NOT_STARTED, Location, Problem, ProblemReason
from scanner.sources.base import ItemChanged, RangeReadable, ReadBudgetSpent
from scanner.work import (
    Busy,
    Fetch,
    FetchFailed,
    Offer,
    Partial,
    Spawn,
    WorkerSetup,
    WorkItem,
    WorkOutcome,
)

if TYPE_CHECKING:
    from scanner.worker import LocalHost, Processor

# scanner.worker (the detectors, numpy, Pillow) is imported where an item is examined here
# (run_inline) or a started worker is watched: a scan that needs no worker never loads it.

# (parent item, child) -> the child with the seq the caller gives it, or None to drop it
SpawnHandler = Callable[[WorkItem, WorkItem], WorkItem | None]
Event = WorkOutcome | Partial
_POLL_S = 0.05
_QUEUE_BYTES = 256 * 1024 * 1024  # members and columns waiting for a free worker
_BOOT = "from scanner.worker import process_main; process_main()"


def temp_root() -> str | None:
    """Where the private folders go: the folder Python's tempfile would choose (TMPDIR,
    TEMP, TMP, then /tmp, /var/tmp, /usr/tmp), found without tempfile's own check, which
    writes and removes a probe file there. None: let tempfile choose."""
    if tempfile.tempdir is not None:
        return tempfile.tempdir
    named = [os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")]
    candidates = ["/tmp", "/var/tmp", "/usr/tmp"]  # noqa: S108 - tempfile's own, in its order
    for folder in [*(n for n in named if n), *candidates]:
        if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return os.path.abspath(folder)
    return None


def _child_env(private_dir: str) -> dict[str, str]:
    """The caller's environment plus what the detectors' native libraries need."""
    env = dict(os.environ)
    env["TMPDIR"] = env["SQLITE_TMPDIR"] = private_dir  # every temporary file in its folder
    env["OMP_NUM_THREADS"] = "1"  # libgomp (YuNet) must not spin threads per worker
    env["MALLOC_MMAP_THRESHOLD_"] = str(32 * 1024 * 1024)  # keep image buffers in the heap
    env["MALLOC_TRIM_THRESHOLD_"] = str(256 * 1024 * 1024)
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


@dataclass
class _Slot:
    process: subprocess.Popen[bytes]
    send: Connection
    recv: Connection
    private_dir: str
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    baseline_rss: int = 0
    item: WorkItem | None = None
    item_started: float = 0.0  # when the item started, or the worker last reported on it
    member: Location | None = None  # the member or column of `item` it examines in place

    def discard(self) -> None:
        self.send.close()
        self.recv.close()
        shutil.rmtree(self.private_dir, ignore_errors=True)


class WorkerPool:
    """Runs work items in worker processes; yields outcomes as they finish (any order)."""

    def __init__(self, setup: WorkerSetup, workers: int) -> None:
        if workers < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.setup = setup
        self.workers = workers
        self.timeout_s = setup.limits.item_timeout_s
        self.memory_bytes = setup.limits.item_memory_bytes
        self._slots: list[_Slot] = []
        self.restarts = 0
        self._startup_failures = 0
        self._children: collections.deque[WorkItem] = collections.deque()
        self._children_bytes = 0
        self._own_seq = 0
        # One folder (0700) holding each worker's private directory; the caller's walk skips it.
        self.private_root = ""
        # what the workers run under (reported by the first that starts)
        self.protections: tuple[tuple[str, str], ...] = NOT_STARTED
        self.started = 0  # worker processes started (replacements included)

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> WorkerPool:
        """The private folder only: workers start with the first item (`run`)."""
        self.private_root = tempfile.mkdtemp(prefix="faceaudit-", dir=temp_root())
        return self

    def _start(self) -> None:
        try:
            self._slots = [self._spawn() for _ in range(self.workers)]
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Slot:
        """A fresh interpreter (never a fork): items in on fd 0, outcomes back on the
        descriptor named in argv[1]; argv[2] is its private directory (0700)."""
        private_dir = tempfile.mkdtemp(prefix="worker-", dir=self.private_root)
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and a fixed program
                [sys.executable, "-c", _BOOT, str(from_child_w), private_dir],
                stdin=to_child_r,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(from_child_w,),
                env=_child_env(private_dir),
                close_fds=True,
                start_new_session=True,  # Ctrl-C reaches the parent, which stops the workers
            )
        except BaseException:
            os.close(to_child_w)
            os.close(from_child_r)
            shutil.rmtree(private_dir, ignore_errors=True)
            raise
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        send = Connection(to_child_w, readable=False)
        recv = Connection(from_child_r, writable=False)
        send.send(self.setup)
        self.started += 1
        return _Slot(proc, send, recv, private_dir)

    def close(self) -> None:
        """Idle workers are asked to exit, busy ones (an interrupted scan) are killed; a
        second Ctrl-C while they exit kills the rest at once. Their folders go with them."""
        try:
            for slot in self._slots:
                with contextlib.suppress(OSError, ValueError):
                    if slot.item is None and slot.process.poll() is None:
                        slot.send.send(None)
                    elif slot.process.poll() is None:
                        slot.process.kill()
            deadline = time.monotonic() + 2.0
            for slot in self._slots:
                try:
                    slot.process.wait(max(0.01, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    slot.process.kill()
        except KeyboardInterrupt:
            for slot in self._slots:
                with contextlib.suppress(OSError):
                    slot.process.kill()
        finally:
            for slot in self._slots:
                with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL: reaped at once
                    slot.process.wait(2.0)
                slot.discard()
            self._slots = []
            self._children.clear()
            self._children_bytes = 0
            if self.private_root:
                shutil.rmtree(self.private_root, ignore_errors=True)

    def _replace(self, index: int) -> None:
        slot = self._slots[index]
        if slot.process.poll() is None:
            slot.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            slot.process.wait(2.0)
        slot.discard()
        self._slots[index] = self._spawn()
        self.restarts += 1

    # -- running ----------------------------------------------------------------------------

    def worker_pids(self) -> list[int]:
        return [s.process.pid for s in self._slots]

    def in_flight(self) -> list[WorkItem]:
        """Items started and not finished, then members and columns still queued."""
        return [s.item for s in self._slots if s.item is not None] + list(self._children)

    def run(
        self, items: Iterable[WorkItem], on_spawn: SpawnHandler | None = None
    ) -> Iterator[Event]:
        """Outcomes (and members examined in place) as they finish, in any order. Members
        and columns a worker hands back go through `on_spawn` and are scheduled before the
        next item of `items`."""
        admit = on_spawn or self._own_seqs
        pending = iter(items)
        exhausted = False
        first: WorkItem | None = None  # taken to start the workers; sent to the first ready
        if not self._slots:
            first = next(pending, None)
            if first is None:
                return  # nothing to examine: no worker is started
            self._start()
        while True:
            for slot in self._slots:
                if not slot.ready or slot.item is not None:
                    continue
                item, first = first, None
                if item is None:
                    item = self._take_child()
                if item is None and not exhausted:
                    try:
                        item = next(pending)
                    except StopIteration:
                        exhausted = True
                if item is None:
                    break
                with contextlib.suppress(OSError):  # a worker that died idle is replaced below
                    slot.send.send(item)
                slot.item, slot.item_started, slot.member = item, time.monotonic(), None
            if exhausted and not self.in_flight():
                return
            ready = set(wait([s.recv for s in self._slots], timeout=_POLL_S))
            for index, slot in enumerate(list(self._slots)):
                if slot.recv in ready:
                    yield from self._receive(index, slot, admit)
            yield from self._enforce_budgets()

    def _own_seqs(self, parent: WorkItem, child: WorkItem) -> WorkItem:
        self._own_seq -= 1
        return replace(child, seq=self._own_seq)

    def _take_child(self) -> WorkItem | None:
        if not self._children:
            return None
        child = self._children.popleft()
        self._children_bytes -= _weight(child)
        return child

    def _receive(self, index: int, slot: _Slot, admit: SpawnHandler) -> Iterator[Event]:
        try:
            message = slot.recv.recv()
        except (EOFError, OSError):
            yield from self._crashed(index, slot)
            return
        if isinstance(message, tuple) and message and message[0] == "ready":
            slot.ready = True
            slot.baseline_rss = int(message[2])
            self.protections = tuple(message[3])
            return
        if isinstance(message, tuple) and message and message[0] == "fatal":
            raise RuntimeError(f"a worker process could not start: {message[1]}")
        slot.item_started = time.monotonic()  # the worker reported: not hung
        if isinstance(message, WorkOutcome):
            slot.item = slot.member = None
            yield message
        elif isinstance(message, Partial) and slot.item is not None:
            slot.member = None
            yield Partial(replace(message.outcome, seq=slot.item.seq))  # of the item in progress
        elif isinstance(message, Busy):
            slot.member = message.location or slot.member
        elif isinstance(message, Offer):
            take = (
                len(self._children) < self.workers
                and self._children_bytes + message.size <= _QUEUE_BYTES
            )
            with contextlib.suppress(OSError):  # a worker that died is handled as it is read
                slot.send.send(take)
        elif isinstance(message, Fetch):
            answer = _fetch(slot.item, message)
            with contextlib.suppress(OSError):  # a worker that died is handled as it is read
                slot.send.send(answer)
        elif isinstance(message, Spawn) and slot.item is not None:
            child = admit(slot.item, message.item)
            if child is not None:
                self._children.append(child)
                self._children_bytes += _weight(child)

    def _crashed(self, index: int, slot: _Slot) -> Iterator[WorkOutcome]:
        try:
            code: int | None = slot.process.wait(2.0)
        except subprocess.TimeoutExpired:
            code = None
        item, member = slot.item, slot.member
        if not slot.ready:
            self._startup_failures += 1
            if self._startup_failures > 3:
                raise RuntimeError(f"worker processes die at start-up ({_describe_exit(code)})")
        self._replace(index)
        if item is not None:
            yield _failed(item, ProblemReason.WORKER_CRASHED, _describe_exit(code), member)

    def _enforce_budgets(self) -> Iterator[WorkOutcome]:
        now = time.monotonic()
        for index, slot in enumerate(list(self._slots)):
            item, member = slot.item, slot.member
            if item is None:
                continue
            if now - slot.item_started > self.timeout_s:
                self._replace(index)
                yield _failed(
                    item,
                    ProblemReason.TIMEOUT,
                    f"not finished within {self.timeout_s:g} s; the worker was stopped",
                    member,
                )
                continue
            from scanner.worker import HEADROOM, STATM_RSS, statm

            rss = statm(slot.process.pid, STATM_RSS)
            if rss is not None and rss > slot.baseline_rss + HEADROOM + self.memory_bytes:
                self._replace(index)
                yield _failed(
                    item,
                    ProblemReason.MEMORY_LIMIT,
                    f"worker memory reached {rss // (1024 * 1024)} MiB (budget "
                    f"{self.memory_bytes // (1024 * 1024)} MiB per item); the worker was stopped",
                    member,
                )


def _weight(item: WorkItem) -> int:
    return len(item.data) if item.data is not None else item.size


def _failed(
    item: WorkItem, reason: ProblemReason, detail: str, member: Location | None = None
) -> WorkOutcome:
    """The item failed; stopped at a member or column it examined in place, that one is
    named, and the container says that what came after it was not examined."""
    from scanner.worker import failed_result

    if member is None:
        return WorkOutcome(item.seq, failed_result(item, reason, detail), 0)
    rest = "stopped while examining a member; the members after it were not examined"
    result = replace(
        failed_result(item, reason, rest),
        problems=(Problem(member, reason, detail), Problem(item.location, reason, rest)),
    )
    return WorkOutcome(item.seq, result, 0)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the worker process died"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL:
            return f"the worker process was killed ({name}; out of memory?)"
        return f"the worker process died ({name})"
    if code == 0:
        return "the worker process exited unexpectedly"
    return f"the worker process died (exit code {code}; an allocation beyond the memory budget?)"


def _fetch(item: WorkItem | None, request: Fetch) -> bytes | FetchFailed:
    """A range of the worker's item in progress, read here (a worker has no network): only
    an item whose reference reads ranges (an object: scanner.sources.object_read), within
    that object's budget."""
    ref = item.ref if item is not None else None
    if not isinstance(ref, RangeReadable):
        return FetchFailed("the item in progress is not read by ranges")
    try:
        return ref.read_range(request.offset, request.n)
    except ItemChanged as exc:
        return FetchFailed(str(exc), "changed")
    except ReadBudgetSpent as exc:
        return FetchFailed(str(exc), "budget")
    except OSError as exc:
        return FetchFailed(str(exc))


def _local_host() -> LocalHost:
    from scanner.worker import LocalHost

    return LocalHost()


INLINE_PROTECTIONS = (
    ("sandbox.landlock", "none: --workers 0 opens every file in the scanning process"),
    ("sandbox.syscalls", "none: --workers 0 installs no system call filter"),
    ("sandbox.isolation", "none: no time or memory bound per item"),
)


class Executor(Protocol):
    """Runs work items and yields what comes back (scanner.pool's workers, this process)."""

    private_root: str  # the folder of its private directories (the walk skips it)

    @property
    def protections(self) -> tuple[tuple[str, str], ...]:
        """What opened the scanned content ran under."""

    def run(
        self, items: Iterable[WorkItem], on_spawn: SpawnHandler | None = None
    ) -> Iterator[Event]: ...

    def in_flight(self) -> list[WorkItem]: ...


class InlineExecutor:
    """`run_inline` as an Executor (--workers 0), with a private folder of its own."""

    protections: tuple[tuple[str, str], ...] = INLINE_PROTECTIONS

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup
        self.private_root = ""
        self._current: list[WorkItem] = []

    def __enter__(self) -> InlineExecutor:
        self.private_root = tempfile.mkdtemp(prefix="faceaudit-", dir=temp_root())
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.private_root, ignore_errors=True)

    def run(
        self, items: Iterable[WorkItem], on_spawn: SpawnHandler | None = None
    ) -> Iterator[Event]:
        def tracked() -> Iterator[WorkItem]:
            for item in items:
                self._current = [item]
                yield item

        yield from run_inline(self.setup, tracked(), on_spawn, self.private_root)
        self._current = []

    def in_flight(self) -> list[WorkItem]:
        return list(self._current)


def run_inline(
    setup: WorkerSetup,
    items: Iterable[WorkItem],
    on_spawn: SpawnHandler | None = None,
    private_dir: str | None = None,
) -> Iterator[Event]:
    """No processes: detectors run here (debugging, tiny scans). No time/memory isolation,
    no sandbox (INLINE_PROTECTIONS); containers are opened in this process, and private
    copies made in `private_dir` (a new temporary folder when not given)."""
    own = private_dir is None
    private_dir = private_dir or tempfile.mkdtemp(prefix="faceaudit-", dir=temp_root())
    try:
        processor: Processor | None = None  # made (its detectors imported) for a first item
        queue: collections.deque[WorkItem] = collections.deque()
        seq = 0
        for first in items:
            if processor is None:
                from scanner.worker import Processor

                processor = Processor(setup, private_dir)
            queue.append(first)
            while queue:
                item = queue.popleft()
                host = _local_host()
                outcome = processor.process(item, host)
                for part in host.partials:
                    yield Partial(replace(part, seq=item.seq))
                for child in host.spawned:
                    seq -= 1
                    admitted = on_spawn(item, child) if on_spawn else replace(child, seq=seq)
                    if admitted is not None:
                        queue.append(admitted)
                yield outcome
    finally:
        if own:
            shutil.rmtree(private_dir, ignore_errors=True)
