"""A pool of worker processes with a time and memory budget per item.

One item is in flight per worker. A worker that exceeds the item's time budget or memory
budget is killed and replaced, and that item (only) is reported as failed; a worker that
crashes (a decoder segfault, the kernel's OOM killer) is handled the same way. Workers start
with forkserver/spawn, never fork: libgomp (YuNet) deadlocks in a forked child.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from scanner.model import ProblemReason
from scanner.worker import (
    HEADROOM,
    STATM_RSS,
    Processor,
    WorkerSetup,
    WorkItem,
    WorkOutcome,
    failed_result,
    statm,
)

_POLL_S = 0.05
_BOOT = "from scanner.worker import process_main; process_main()"


def _child_env() -> dict[str, str]:
    """The caller's environment plus what the detectors' native libraries need."""
    env = dict(os.environ)
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
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    baseline_rss: int = 0
    item: WorkItem | None = None
    item_started: float = 0.0


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

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> WorkerPool:
        self._slots = [self._spawn() for _ in range(self.workers)]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _spawn(self) -> _Slot:
        """A fresh interpreter (never a fork): items in on fd 0, outcomes back on fd 3."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and a fixed program
                [sys.executable, "-c", _BOOT, str(from_child_w)],
                stdin=to_child_r,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(from_child_w,),
                env=_child_env(),
                close_fds=True,
                start_new_session=True,  # Ctrl-C reaches the parent, which stops the workers
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        send = Connection(to_child_w, readable=False)
        recv = Connection(from_child_r, writable=False)
        send.send(self.setup)
        return _Slot(proc, send, recv)

    def close(self) -> None:
        for slot in self._slots:
            try:
                if slot.item is None and slot.process.poll() is None:
                    slot.send.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 2.0
        for slot in self._slots:
            try:
                slot.process.wait(max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                slot.process.kill()
                slot.process.wait(2.0)
            slot.send.close()
            slot.recv.close()
        self._slots = []

    def _replace(self, index: int) -> None:
        slot = self._slots[index]
        if slot.process.poll() is None:
            slot.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
            slot.process.wait(2.0)
        slot.send.close()
        slot.recv.close()
        self._slots[index] = self._spawn()
        self.restarts += 1

    # -- running ----------------------------------------------------------------------------

    def worker_pids(self) -> list[int]:
        return [s.process.pid for s in self._slots]

    def in_flight(self) -> list[WorkItem]:
        return [s.item for s in self._slots if s.item is not None]

    def run(self, items: Iterable[WorkItem]) -> Iterator[WorkOutcome]:
        pending = iter(items)
        exhausted = False
        while True:
            for slot in self._slots:
                if exhausted or not slot.ready or slot.item is not None:
                    continue
                try:
                    item = next(pending)
                except StopIteration:
                    exhausted = True
                    break
                with contextlib.suppress(OSError):  # a worker that died idle is replaced below
                    slot.send.send(item)
                slot.item, slot.item_started = item, time.monotonic()
            if exhausted and not self.in_flight():
                return
            ready = set(wait([s.recv for s in self._slots], timeout=_POLL_S))
            for index, slot in enumerate(list(self._slots)):
                if slot.recv in ready:
                    yield from self._receive(index, slot)
            yield from self._enforce_budgets()

    def _receive(self, index: int, slot: _Slot) -> Iterator[WorkOutcome]:
        try:
            message = slot.recv.recv()
        except (EOFError, OSError):
            yield from self._crashed(index, slot)
            return
        if isinstance(message, tuple) and message and message[0] == "ready":
            slot.ready = True
            slot.baseline_rss = int(message[2])
            return
        if isinstance(message, tuple) and message and message[0] == "fatal":
            raise RuntimeError(f"a worker process could not start: {message[1]}")
        if isinstance(message, WorkOutcome):
            slot.item = None
            yield message

    def _crashed(self, index: int, slot: _Slot) -> Iterator[WorkOutcome]:
        try:
            code: int | None = slot.process.wait(2.0)
        except subprocess.TimeoutExpired:
            code = None
        item = slot.item
        if not slot.ready:
            self._startup_failures += 1
            if self._startup_failures > 3:
                raise RuntimeError(f"worker processes die at start-up ({_describe_exit(code)})")
        self._replace(index)
        if item is not None:
            yield _failed(item, ProblemReason.WORKER_CRASHED, _describe_exit(code))

    def _enforce_budgets(self) -> Iterator[WorkOutcome]:
        now = time.monotonic()
        for index, slot in enumerate(list(self._slots)):
            item = slot.item
            if item is None:
                continue
            if now - slot.item_started > self.timeout_s:
                self._replace(index)
                yield _failed(
                    item,
                    ProblemReason.TIMEOUT,
                    f"not finished within {self.timeout_s:g} s; the worker was stopped",
                )
                continue
            rss = statm(slot.process.pid, STATM_RSS)
            if rss is not None and rss > slot.baseline_rss + HEADROOM + self.memory_bytes:
                self._replace(index)
                yield _failed(
                    item,
                    ProblemReason.MEMORY_LIMIT,
                    f"worker memory reached {rss // (1024 * 1024)} MiB (budget "
                    f"{self.memory_bytes // (1024 * 1024)} MiB per item); the worker was stopped",
                )


def _failed(item: WorkItem, reason: ProblemReason, detail: str) -> WorkOutcome:
    return WorkOutcome(item.seq, failed_result(item, reason, detail), 0)


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


def run_inline(setup: WorkerSetup, items: Iterable[WorkItem]) -> Iterator[WorkOutcome]:
    """No processes: detectors run here (debugging, tiny scans). No time/memory isolation."""
    processor = Processor(setup)
    for item in items:
        yield processor.process(item)
