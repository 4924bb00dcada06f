"""Benchmark: how soon `watch` reports a face photo while a burst of other files arrives.

In one run, on real directories with a real inotify observer and a real state database:

1. idle: one face photo is written into a quiet watched tree; the time from its close to its
   finding event is the baseline;
2. burst: OTHERS other files (no-face photos and documents, in the proportion --photos) arrive
   over --seconds; halfway through, a face photo is written; the time from its close to its
   finding event is measured, and how long the watcher takes to examine the whole burst;
3. overflow (as root): the kernel's event queue is shrunk so that the burst overflows it; after
   the rescan, the findings of the watcher are compared with those of a one-shot scan.

Prints the latencies, their ratio to the idle baseline and the 2 s bar, and the comparison.

    python bench/bench_watch.py [--others 1000] [--seconds 10] [--photos 0.5] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from PIL import Image  # noqa: E402

from scanner.config import ScanConfig  # noqa: E402
from scanner.engine import run_scan  # noqa: E402
from scanner.state.store import StateDB  # noqa: E402
from scanner.watch import Watcher, marks  # noqa: E402

QUEUE = Path("/proc/sys/fs/inotify/max_queued_events")
BAR_S = 2.0


class Events:
    """Every event the watcher emits, with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.items.append((time.monotonic(), event))

    def first(self, kind: str, timeout: float, where: str | None = None) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                for t, e in self.items:
                    if e["event"] == kind and (where is None or e.get("location") == where):
                        return t
            time.sleep(0.005)
        raise SystemExit(f"no {kind} event for {where} within {timeout} s")

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(e["event"] == kind for _, e in self.items)


def photos() -> tuple[bytes, list[bytes]]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    face = Image.open(data / "astronaut.png").convert("RGB")
    buf = io.BytesIO()
    face.save(buf, "JPEG", quality=90)
    plain = []
    for name in ("coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png"):
        im = Image.open(data / name).convert("RGB").resize((640, 480))
        for q in (70, 80, 90):
            b = io.BytesIO()
            im.save(b, "JPEG", quality=q)
            plain.append(b.getvalue())
    return buf.getvalue(), plain


def write(path: Path, data: bytes) -> float:
    """Write and close; returns the monotonic time of the close."""
    with open(path, "wb") as f:
        f.write(data)
    return time.monotonic()


def burst(
    root: Path, n: int, seconds: float, share: float, face: bytes, plain: list[bytes]
) -> float:
    """Writes n other files over `seconds`, and the face photo halfway; returns its close time."""
    rng = random.Random(7)
    gap = seconds / n
    closed = 0.0
    start = time.monotonic()
    for i in range(n):
        if i == n // 2:
            closed = write(root / "arrived-face.jpg", face)
        if rng.random() < share:
            write(root / f"photo{i:05d}.jpg", rng.choice(plain) + i.to_bytes(4, "big"))
        else:
            write(root / f"minutes{i:05d}.txt", f"minutes of meeting {i}\n".encode() * 20)
        delay = start + (i + 1) * gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return closed


def watch(
    root: Path, state: Path, workers: int
) -> tuple[Watcher, Events, threading.Event, threading.Thread, StateDB]:
    events = Events()
    db = StateDB(state)
    watcher = Watcher(ScanConfig(targets=(root,), workers=workers), db, events)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    events.first("ready", 300)
    return watcher, events, stop, thread, db


def settle(watcher: Watcher, events: Events, expected: int, timeout: float) -> float:
    """Waits until the watcher has nothing pending; returns when that happened."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if watcher.idle() and events.count("finding") >= expected:
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"the watcher was still busy after {timeout} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--others", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--photos", type=float, default=0.5, help="share of no-face photos")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    face, plain = photos()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "inbox"
        root.mkdir()
        watcher, events, stop, thread, db = watch(root, Path(tmp) / "s.db", args.workers)
        try:
            closed = write(root / "idle-face.jpg", face)
            idle = events.first("finding", 60, str(root / "idle-face.jpg")) - closed
            settle(watcher, events, 1, 60)
            start = time.monotonic()
            closed = burst(root, args.others, args.seconds, args.photos, face, plain)
            arrived = time.monotonic()
            latency = events.first("finding", 600, str(root / "arrived-face.jpg")) - closed
            drained = settle(watcher, events, 2, 3600) - start
        finally:
            stop.set()
            thread.join(60)
            db.close()
        print(
            f"{args.others} other files over {args.seconds:.0f} s ({args.photos:.0%} photos), "
            f"{args.workers} workers; the burst took {arrived - start:.1f} s to write"
        )
        print(f"  idle latency  {idle:6.2f} s (baseline)")
        print(
            f"  burst latency {latency:6.2f} s = {latency / idle:.1f}x idle, "
            f"{latency / BAR_S:.2f}x the {BAR_S:.0f} s bar"
        )
        print(
            f"  whole burst examined {drained:6.1f} s after it began "
            f"({args.others / drained:.0f} files/s)"
        )
    overflow(args, face, plain)


def overflow(args: argparse.Namespace, face: bytes, plain: list[bytes]) -> None:
    if not os.access(QUEUE, os.W_OK):
        print("  overflow: skipped (shrinking the inotify queue needs root)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "burst"
        root.mkdir()
        old = QUEUE.read_text()
        QUEUE.write_text("64")  # read when an inotify instance is created: this watcher only
        try:
            watcher, events, stop, thread, db = watch(root, Path(tmp) / "s.db", args.workers)
        finally:
            QUEUE.write_text(old)
        try:
            start = time.monotonic()
            burst(root, args.others, 0.0, args.photos, face, plain)
            events.first("rescan", 120)
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                if watcher.idle() and not watcher.overflow.is_set() and events.count("rescanned"):
                    break
                time.sleep(0.1)
            took = time.monotonic() - start
        finally:
            stop.set()
            thread.join(60)
            db.close()
        watched = {k for k, v in watcher.known.items() if v}
        one_shot = set(marks(run_scan(ScanConfig(targets=(root,), workers=args.workers))))
        same = "equal" if watched == one_shot else f"DIFFERENT ({len(watched)} vs {len(one_shot)})"
        print(
            f"  overflow: {events.count('rescan')} rescan(s), settled in {took:.1f} s; "
            f"findings {same} to a one-shot scan ({len(one_shot)} files with face data)"
        )


if __name__ == "__main__":
    main()
