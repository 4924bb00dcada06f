"""The worker pool: a hung, crashed or bloated item fails alone and the scan goes on."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from helpers import astronaut, encode, no_face

from scanner.config import DetectionSettings, Limits, MiB
from scanner.model import ContentType, FileLocation, ProblemReason
from scanner.pool import WorkerPool
from scanner.sniff import sniff
from scanner.worker import WorkerSetup, WorkItem

DETECTORS = ("face.tags", "face.yunet")


def item(seq: int, data: bytes, name: str) -> WorkItem:
    return WorkItem(seq, FileLocation(name), sniff(data[:4096]), len(data), None, data=data)


def setup(**limits: object) -> WorkerSetup:
    return WorkerSetup(DETECTORS, DetectionSettings(), Limits(**limits))  # type: ignore[arg-type]


def face_png() -> bytes:
    return encode(astronaut(), "PNG")


def big_png(side: int) -> bytes:
    """A large, slow to decode no-face PNG (no DCT shortcut for PNG)."""
    return encode(no_face("coffee.png").resize((side, side)), "PNG", compress_level=1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_results_come_back_for_every_item() -> None:
    items = [item(i, face_png() if i % 2 else encode(no_face(), "JPEG"), f"{i}") for i in range(6)]
    with WorkerPool(setup(), 2) as pool:
        outcomes = {o.seq: o for o in pool.run(items)}
        pids = pool.worker_pids()
    assert sorted(outcomes) == list(range(6))
    assert [bool(outcomes[i].result.evidence) for i in range(6)] == [i % 2 == 1 for i in range(6)]
    time.sleep(0.2)
    assert not any(alive(p) for p in pids), "workers left running after close()"


def test_an_item_over_its_time_budget_fails_alone() -> None:
    slow = item(1, big_png(5000), "slow.png")
    fine = item(2, face_png(), "fine.png")
    with WorkerPool(setup(item_timeout_s=0.5), 1) as pool:
        outcomes = {o.seq: o for o in pool.run([slow, fine])}
        assert pool.restarts == 1
    assert [p.reason for p in outcomes[1].result.problems] == [ProblemReason.TIMEOUT]
    assert outcomes[2].result.evidence, "the pool did not recover after the timeout"


def test_an_item_over_its_memory_budget_fails_alone() -> None:
    hog = item(1, big_png(9000), "huge.png")  # ~240 MB of pixels once decoded
    fine = item(2, face_png(), "fine.png")
    with WorkerPool(setup(item_memory_bytes=64 * MiB, item_timeout_s=60), 1) as pool:
        outcomes = {o.seq: o for o in pool.run([hog, fine])}
    reasons = [p.reason for p in outcomes[1].result.problems]
    assert reasons and reasons[0] in (ProblemReason.MEMORY_LIMIT, ProblemReason.WORKER_CRASHED)
    assert outcomes[2].result.evidence


def test_a_worker_killed_mid_item_is_reported_and_replaced() -> None:
    slow = item(1, big_png(5000), "victim.png")
    fine = item(2, face_png(), "after.png")
    with WorkerPool(setup(item_timeout_s=120), 1) as pool:
        killed: list[int] = []

        def killer() -> None:
            deadline = time.monotonic() + 30
            while not pool.in_flight() and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)
            pid = pool.worker_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        thread = threading.Thread(target=killer)
        thread.start()
        outcomes = {o.seq: o for o in pool.run([slow, fine])}
        thread.join()
    problems = outcomes[1].result.problems
    assert [p.reason for p in problems] == [ProblemReason.WORKER_CRASHED]
    assert "SIGKILL" in problems[0].detail
    assert outcomes[2].result.evidence
    assert killed and not alive(killed[0])


def test_file_items_are_read_in_the_worker(tmp_path: Path) -> None:
    from scanner.sources.filesystem import FileRef

    path = tmp_path / "face.png"
    path.write_bytes(face_png())
    st = path.stat()
    ref = FileRef(
        FileLocation(str(path)), str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, 0
    )
    work = WorkItem(1, ref.location, ContentType.PNG, st.st_size, st.st_mtime_ns, ref=ref)
    with WorkerPool(setup(), 1) as pool:
        (outcome,) = list(pool.run([work]))
    assert outcome.result.sha256 is not None and outcome.bytes_read == st.st_size
    assert outcome.result.evidence


def test_a_pool_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        WorkerPool(setup(), 0)


def test_a_worker_gets_ranges_only_of_an_object_in_progress_within_its_budget() -> None:
    """What a worker's Fetch is answered with (scanner.pool): only an item read by ranges,
    and never beyond that object's budget."""
    from scanner.pool import _fetch
    from scanner.sources.base import BytesReader
    from scanner.work import Fetch, FetchFailed

    class Ranged:
        def __init__(self, data: bytes, budget: int) -> None:
            self.data, self.budget, self.spent = data, budget, 0

        def open(self) -> BytesReader:
            return BytesReader(self.data)

        def read_range(self, offset: int, n: int) -> bytes:
            from scanner.sources.base import ReadBudgetSpent

            if self.spent + n > self.budget:
                raise ReadBudgetSpent("spent")
            self.spent += n
            return self.data[offset : offset + n]

    here = FileLocation("/x/a.npy")
    plain = WorkItem(1, here, None, 4, None, data=b"abcd")
    assert _fetch(plain, Fetch(0, 2)) == FetchFailed("the item in progress is not read by ranges")
    assert isinstance(_fetch(None, Fetch(0, 2)), FetchFailed)
    ranged = WorkItem(2, here, None, 4, None, ref=Ranged(b"abcd", budget=3))
    assert _fetch(ranged, Fetch(1, 2)) == b"bc"
    assert _fetch(ranged, Fetch(0, 2)) == FetchFailed("spent", "budget")
