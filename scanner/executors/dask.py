"""The Dask executor: one scan spread over the workers of a Dask cluster (docs/scale-out.md).

The driver lists, the workers read: the planner runs here, and what goes to the cluster
are work items — references (a path on a shared filesystem, an object key, a database
server's column: its URI without a password, its table and column, the sampling limits),
never a file's content nor a column's values — in batches, with a bounded number of batches in
flight, so this process's memory stays flat however long the listing.

On a Dask worker, a batch runs through the same worker pool as a local scan
(scanner.pool.WorkerPool, one sandboxed process per Dask worker thread): the same time and
memory bound per item, the same sandbox; a hung decoder or a bomb costs one item. The pool
is kept by the Dask worker for the rest of the scan (a module-level cache), so its process
loads the models once, lazily, on its first item; nothing of the models is ever pickled.

Workers return results and write nothing; this process records each item once. A batch whose
worker dies (SIGKILL, a lost machine) is run again by Dask elsewhere, and only the answer of
the run that finished comes back: at-least-once execution, exactly-once results. Every
worker's faceaudit, Python and model versions are checked before any work (the state key
depends on them), and again by every batch on the worker that runs it (a worker that
joined later).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scanner.config import SampleLimits
from scanner.detectors import distributions
from scanner.errors import ExecutorError, ExecutorLost
from scanner.model import NOT_STARTED, Problem, ProblemReason
from scanner.pool import Event, SpawnHandler, WorkerPool, _failed
from scanner.sources import read_relation
from scanner.sources.base import Reader
from scanner.sources.database import ColumnSample, DatabaseError, redact
from scanner.sources.filesystem import FileRef
from scanner.sources.object_read import ObjectRef
from scanner.sources.object_stores import ObjectTarget
from scanner.version import distribution_version, tool_version
from scanner.work import Partial, WorkerSetup, WorkItem, WorkOutcome

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster

    from scanner.executors import ExecutorSpec

BATCH_ITEMS = 8  # items per Dask task (bench/bench_distributed.py measured the overhead)
BATCHES_PER_THREAD = 2  # batches in flight per worker thread: one running, one waiting
WORKERS_S = 60.0  # for a first worker to join
LOST_S = 10.0  # a scheduler unreachable this long is gone: the scan ends, partial
_POLL_S = 0.5

Versions = tuple[tuple[str, str], ...]
# (database URI, table) -> the relation's samples read on this worker, or why it was not
Relations = dict[tuple[str, str], "list[ColumnSample | Problem] | DatabaseError"]


@dataclass(frozen=True)
class BatchAnswer:
    """What a Dask worker returns for one batch: the pool's events (seqs of members and
    columns are the worker's own, negative), the members and columns its pool took, each
    with its parent's seq (their content left on the worker), and the protections the
    worker's processes run under. `mismatch`: the worker refused the batch (its versions)."""

    events: tuple[Event, ...]
    spawned: tuple[tuple[int, WorkItem], ...]
    protections: tuple[tuple[str, str], ...]
    mismatch: str = ""


def versions(setup: WorkerSetup) -> Versions:
    """What must be the same on the caller and on every worker: faceaudit's version, Python's,
    and the versions of the distributions the detectors and the hook's models declare."""
    hook = setup.hook.models if setup.hook is not None else ()
    names = (*distributions(setup.detector_ids), *(d for m in hook for d in m.distributions))
    return (
        ("faceaudit", tool_version()),
        ("python", "{}.{}".format(*sys.version_info[:2])),
        *((name, distribution_version(name)) for name in dict.fromkeys(names)),
    )


def differences(expected: Versions, found: Versions) -> str:
    mine, theirs = dict(expected), dict(found)
    wrong = [
        f"{name} {theirs.get(name, 'missing')} (here: {mine.get(name, 'missing')})"
        for name in dict.fromkeys([*mine, *theirs])
        if mine.get(name) != theirs.get(name)
    ]
    return ", ".join(wrong)


# -- on a Dask worker ---------------------------------------------------------------------

_POOLS: dict[tuple[str, int], WorkerPool] = {}  # (scan token, worker thread) -> its pool
_LOCK = threading.Lock()


def worker_versions(setup: WorkerSetup) -> Versions:
    """Run on each worker by the caller (Client.run) before any work."""
    return versions(setup)


def run_batch(
    token: str, expected: Versions, setup: WorkerSetup, batch: tuple[WorkItem, ...]
) -> BatchAnswer:
    """One batch, on a Dask worker, through this thread's pool of the scan `token`."""
    found = versions(setup)
    if found != expected:
        return BatchAnswer((), (), (), mismatch=differences(expected, found))
    pool = _pool(token, setup)
    relations: Relations = {}  # each relation sampled once per batch
    here = [_here(item, relations) for item in batch]
    unreachable = tuple(o for o in here if isinstance(o, WorkOutcome))
    batch = tuple(i for i in here if isinstance(i, WorkItem))
    low = min([0, *(item.seq for item in batch), *(o.seq for o in unreachable)])
    spawned: list[tuple[int, WorkItem]] = []

    def keep(parent: WorkItem, child: WorkItem) -> WorkItem:
        nonlocal low
        low -= 1
        numbered = replace(child, seq=low)
        spawned.append((parent.seq, replace(numbered, data=None)))  # its bytes stay here
        return numbered

    events = (*unreachable, *pool.run(batch, keep))
    return BatchAnswer(events, tuple(spawned), pool.protections)


@dataclass(frozen=True)
class RemoteObject:
    """An object-store reference on its way to a Dask worker. A scanner ObjectRef fetches its
    object when it is pickled (for a sandboxed process, which has no network): sent as one,
    the client would read every object. This one pickles as the key alone; the Dask worker
    makes it an ObjectRef again, so the object is fetched there, with the worker's own
    credentials, when its pool hands it to its sandboxed process."""

    target: ObjectTarget
    key: str
    version: str | None
    size: int
    max_bytes: int

    def open(self) -> Reader:  # never called: turned into an ObjectRef on the worker first
        raise OSError("an object reference is read on a Dask worker, not in the client")


@dataclass(frozen=True)
class RemoteColumn:
    """A database server's column on its way to a Dask worker, which samples it itself, with
    its own credentials: the values the client's source sampled never travel. `dsn` is the
    URI the scan was given (a password in it is refused for a scheduler reached without
    TLS: scanner.executors.refuse_secrets), `table` and `column` as ColumnSample names
    them, `sampling` the limits and seed the column is sampled with (the same rows as the
    client's, so the same evidence)."""

    dsn: str = field(repr=False)
    table: str
    column: str
    sampling: SampleLimits

    def open(self) -> Reader:  # never called: sampled on the worker first
        raise OSError("a database column is sampled on a Dask worker, not in the client")


def sent(item: WorkItem, sampling: SampleLimits | None = None) -> WorkItem:
    """The item as it travels to a Dask worker: a reference, never content (nor a sampled
    column's values: a server's column goes as a RemoteColumn)."""
    ref = item.ref
    if isinstance(ref, ObjectRef):
        remote = RemoteObject(ref.target, ref.key, ref.version, ref.size, ref.max_bytes)
        return replace(item, ref=remote)
    col = item.column
    if col is not None and col.dsn:
        column = RemoteColumn(col.dsn, col.table, col.column, sampling or SampleLimits())
        return replace(item, ref=column, column=None)
    return item


def _column_here(item: WorkItem, ref: RemoteColumn, relations: Relations) -> WorkItem | WorkOutcome:
    """A server's column, sampled by this worker (each relation once per batch): the item
    with this worker's sample, or its problem naming this worker."""
    where = f"the Dask worker on {os.uname().nodename}"
    key = (ref.dsn, ref.table)
    if key not in relations:
        try:
            relations[key] = read_relation(ref.dsn, ref.table, ref.sampling)
        except DatabaseError as exc:
            relations[key] = exc
    found = relations[key]
    if isinstance(found, DatabaseError):
        detail = f"{redact(str(found))} (from {where}: can it reach the database server?)"
        return _failed(item, found.reason, detail)
    for entry in found:
        if isinstance(entry, ColumnSample) and entry.column == ref.column:
            return replace(item, ref=None, column=entry)
    for entry in found:  # the relation could not be read here (a timeout, a permission)
        if isinstance(entry, Problem) and entry.reason is not ProblemReason.VALUE_TOO_LARGE:
            return _failed(item, entry.reason, f"{entry.detail} (read from {where})")
    detail = f"the column was not found by {where} (the table changed since it was listed?)"
    return _failed(item, ProblemReason.DATABASE_UNREADABLE, detail)


def _here(item: WorkItem, relations: Relations | None = None) -> WorkItem | WorkOutcome:
    """An item as this worker reads it. An object key becomes an ObjectRef again (fetched
    here); a server's column is sampled here (_column_here). A file the client listed, as
    this worker sees it: not there (a filesystem not mounted here) is the item's problem,
    said so; found under the same inode on another device number (a network filesystem is
    numbered by each machine), the reference is this machine's, so the worker's check that
    it opens the file listed still holds (same inode, size and mtime). Metadata only: the
    file is opened by the sandboxed process."""
    ref = item.ref
    if isinstance(ref, RemoteColumn):
        return _column_here(item, ref, {} if relations is None else relations)
    if isinstance(ref, RemoteObject):
        return replace(
            item, ref=ObjectRef(ref.target, ref.key, ref.version, ref.size, ref.max_bytes)
        )
    if not isinstance(ref, FileRef):
        return item
    where = f"the Dask worker on {os.uname().nodename}"
    try:
        st = os.lstat(ref.fs_path)
    except (FileNotFoundError, NotADirectoryError):
        detail = (
            f"not found from {where}: the path is not there (is the filesystem mounted at "
            "the same place on every worker?)"
        )
        return _failed(item, ProblemReason.UNREADABLE_FILE, detail)
    except OSError as exc:
        detail = f"cannot be reached from {where}: {exc.strerror or exc}"
        return _failed(item, ProblemReason.UNREADABLE_FILE, detail)
    if st.st_dev != ref.dev and st.st_ino == ref.ino:
        return replace(item, ref=replace(ref, dev=st.st_dev))
    return item


def _pool(token: str, setup: WorkerSetup) -> WorkerPool:
    key = (token, threading.get_ident())
    with _LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = WorkerPool(setup, 1).__enter__()  # its process starts with a first item
            _POOLS[key] = pool
        return pool


def close_pools(token: str) -> int:
    """Run on each worker by the caller at the end of its scan: the scan's pools stop."""
    with _LOCK:
        mine = [key for key in _POOLS if key[0] == token]
        pools = [_POOLS.pop(key) for key in mine]
    for pool in pools:
        pool.close()
    return len(pools)


# -- on the caller ------------------------------------------------------------------------


def build(spec: ExecutorSpec, setup: WorkerSetup, workers: int) -> DaskExecutor:
    return DaskExecutor(spec, setup, workers)


class DaskExecutor:
    """A scanner.pool.Executor whose items are examined on a Dask cluster."""

    def __init__(
        self,
        spec: ExecutorSpec,
        setup: WorkerSetup,
        workers: int = 2,
        *,
        batch_items: int | None = None,
        batches_per_thread: int | None = None,
    ) -> None:
        batch_items = batch_items or BATCH_ITEMS
        batches_per_thread = batches_per_thread or BATCHES_PER_THREAD
        if batch_items < 1 or batches_per_thread < 1:
            raise ValueError("batches hold at least one item, and at least one is in flight")
        self.spec = spec
        self.setup = setup
        self.workers = workers
        self.batch_items = batch_items
        self.batches_per_thread = batches_per_thread
        self.private_root = ""  # no private folder here: nothing is opened in this process
        self.protections: tuple[tuple[str, str], ...] = NOT_STARTED
        self.token = uuid.uuid4().hex
        self.expected = versions(setup)
        self.batches = 0  # submitted
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._flight: dict[Future[Any], tuple[WorkItem, ...]] = {}
        self._max_flight = batches_per_thread
        self._done: queue.Queue[Future[Any]] = queue.Queue()  # batches as they finish

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the executor is not open (use it as a context manager)")
        return self._client

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> DaskExecutor:
        try:
            self._connect()
            self._check_workers()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> None:
        import distributed

        if self.spec.address is None:  # dask-local: a cluster of this machine, to try it out
            self._cluster = distributed.LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._cluster, set_as_default=False)
            return
        try:
            self._client = distributed.Client(self.spec.address, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(
                f"cannot reach the Dask scheduler {self.spec.address}: {exc}"
            ) from None

    def _check_workers(self) -> None:
        """A worker, and every worker with the caller's versions, before any work."""
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_S)
        except TimeoutError:
            raise ExecutorError(
                f"no worker joined the Dask scheduler {self.spec.address} within {WORKERS_S:g} s"
            ) from None
        try:
            found: dict[str, Versions] = self.client.run(worker_versions, self.setup)
        except Exception as exc:  # a worker without faceaudit cannot even unpickle the call
            raise ExecutorError(
                f"the Dask workers cannot run faceaudit ({type(exc).__name__}: {exc}); install "
                "the same faceaudit on every worker"
            ) from None
        wrong = {
            worker: differences(self.expected, tuple(map(tuple, got)))  # type: ignore[arg-type]
            for worker, got in found.items()
            if tuple(map(tuple, got)) != self.expected
        }
        if wrong:
            listed = "; ".join(f"{worker}: {what}" for worker, what in sorted(wrong.items()))
            raise ExecutorError(
                f"Dask workers run other versions than this faceaudit, so their results "
                f"could not be recorded: {listed}"
            )
        threads = sum(self.client.nthreads().values()) or 1
        self._max_flight = max(2, self.batches_per_thread * threads)

    def close(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        flight, self._flight = list(self._flight), {}
        if client is not None:
            with contextlib.suppress(Exception):  # a scheduler that is gone: nothing to ask
                if flight:
                    client.cancel(flight)
                if client.status == "running":
                    client.run(close_pools, self.token, wait=True)
            with contextlib.suppress(Exception):
                client.close(timeout=5)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)

    # -- running ----------------------------------------------------------------------------

    def in_flight(self) -> list[WorkItem]:
        return [item for batch in self._flight.values() for item in batch]

    def run(
        self, items: Iterable[WorkItem], on_spawn: SpawnHandler | None = None
    ) -> Iterator[Event]:
        """What comes back, batch by batch as batches finish; at most `_max_flight` batches
        are on the cluster at a time (the next is listed when one comes back)."""
        admit = on_spawn or _own_seqs()
        pending = iter(items)
        exhausted = False
        while True:
            while not exhausted and len(self._flight) < self._max_flight:
                batch = tuple(itertools.islice(pending, self.batch_items))
                if not batch:
                    exhausted = True
                    break
                self._submit(batch)
            if not self._flight:
                return
            future = self._next_done()
            batch = self._flight.pop(future)
            yield from self._events(batch, self._answer(future, batch), admit)

    def _submit(self, batch: tuple[WorkItem, ...]) -> None:
        self.batches += 1
        future = self.client.submit(
            run_batch,
            self.token,
            self.expected,
            self.setup,
            tuple(sent(item, self.setup.sampling) for item in batch),
            key=f"faceaudit-batch-{self.token}-{self.batches}",
        )
        self._flight[future] = batch
        future.add_done_callback(self._done.put)

    def _next_done(self) -> Future[Any]:
        """The first batch that finished (or failed); ExecutorLost when the scheduler is
        gone for LOST_S."""
        unreachable: float | None = None
        while True:
            try:
                future = self._done.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            else:
                if future in self._flight:
                    if future.status in ("cancelled", "lost"):
                        raise ExecutorLost(_lost(self.spec))
                    return future
                continue  # a batch of an earlier run (cancelled)
            if self.client.status == "running":
                unreachable = None
                continue
            if self.client.status in ("closing", "closed", "closed-due-to-error"):
                raise ExecutorLost(_lost(self.spec))
            unreachable = unreachable or time.monotonic()
            if time.monotonic() - unreachable > LOST_S:
                raise ExecutorLost(_lost(self.spec))

    def _answer(self, future: Future[Any], batch: tuple[WorkItem, ...]) -> BatchAnswer:
        from distributed import KilledWorker

        try:
            answer: Any = future.result()
        except KilledWorker as exc:  # the batch took down worker after worker
            detail = f"the Dask workers running its batch died ({exc})"[:400]
            events = tuple(_failed(item, ProblemReason.WORKER_CRASHED, detail) for item in batch)
            return BatchAnswer(events, (), ())
        except (OSError, TimeoutError) as exc:
            raise ExecutorLost(f"{_lost(self.spec)}: {exc}") from None
        except Exception as exc:  # the batch failed on the worker (not an item's problem)
            if future.status == "cancelled":
                raise ExecutorLost(_lost(self.spec)) from None
            detail = f"the Dask worker failed its batch: {type(exc).__name__}: {exc}"[:400]
            events = tuple(_failed(item, ProblemReason.WORKER_CRASHED, detail) for item in batch)
            return BatchAnswer(events, (), ())
        if not isinstance(answer, BatchAnswer):
            raise ExecutorLost(f"a Dask worker answered {type(answer).__name__}, not a batch")
        if answer.mismatch:
            raise ExecutorLost(
                f"a Dask worker that joined during the scan runs other versions: {answer.mismatch}"
            )
        if answer.protections and self.protections == NOT_STARTED:
            self.protections = answer.protections
        return answer

    @staticmethod
    def _events(
        batch: tuple[WorkItem, ...], answer: BatchAnswer, admit: SpawnHandler
    ) -> Iterator[Event]:
        """The batch's events with the caller's seqs: the members and columns the worker's
        pool took are admitted here, in the order they were found (a member's parent first),
        and given the caller's numbers; one dropped by `admit` is dropped with its events."""
        known: dict[int, WorkItem | None] = {item.seq: item for item in batch}
        for parent_seq, child in answer.spawned:
            parent = known.get(parent_seq)
            known[child.seq] = admit(parent, child) if parent is not None else None
        for event in answer.events:
            outcome = event.outcome if isinstance(event, Partial) else event
            item = known.get(outcome.seq)
            if item is None:
                continue
            numbered: WorkOutcome = replace(outcome, seq=item.seq)
            yield Partial(numbered) if isinstance(event, Partial) else numbered


def _own_seqs() -> SpawnHandler:
    counter = itertools.count(1)

    def number(parent: WorkItem, child: WorkItem) -> WorkItem:
        return replace(child, seq=-(10**12) - next(counter))

    return number


def _lost(spec: ExecutorSpec) -> str:
    return f"the Dask scheduler {spec.address or '(dask-local)'} went away"
