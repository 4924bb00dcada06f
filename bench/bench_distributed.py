"""Benchmark: the same photo tree through the local worker pool and through a Dask cluster.

Builds a tree of real photos from the development set (read in place, copied under a
temporary directory, outside the repository), then scans it:

- with the local pool of 2 worker processes (the reference);
- through a real Dask cluster (`dask scheduler`, `dask worker --nthreads 1` on 127.0.0.1,
  tests/dask_cluster.py) of 2 workers, at several batch sizes: the scheduling overhead per
  batch size, against the local pool (target: within 15 %);
- through 1 and 2 Dask workers at the default batch size: the scaling.

Every scan starts its processes and loads its models, as a user's scan does. Prints a table
of seconds, photos/s and the overhead against the local pool.

    python bench/bench_distributed.py [--photos 120] [--repeat 2] [--batches 1,4,8,16,32]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from dask_cluster import Cluster, start_cluster  # noqa: E402

from scanner.config import ScanConfig  # noqa: E402
from scanner.engine import run_scan  # noqa: E402
from scanner.executors import dask as dask_executor  # noqa: E402

DEVSET = Path(os.environ.get("FACEAUDIT_DEVSET", "/work/shared/data/faces-dev"))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def build(root: Path, photos: int) -> int:
    """`photos` photos of the development set (faces and none), copied under `root`."""
    with open(DEVSET / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    images = [
        r["path"]
        for r in rows
        if r["kind"] in ("face_image", "no_face_image")
        and r["path"].lower().endswith(IMAGE_SUFFIXES)
    ]
    for n in range(photos):
        rel = images[n % len(images)]
        target = root / f"{n // 50:02d}" / f"{n:04d}_{Path(rel).name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEVSET / rel, target)
    return photos


def timed(config: ScanConfig, repeat: int) -> tuple[float, int]:
    """The median wall time of `repeat` scans, and the items with evidence (all equal)."""
    times, found = [], set()
    for _ in range(repeat):
        start = time.perf_counter()
        result = run_scan(config)
        times.append(time.perf_counter() - start)
        found.add(len(result.items))
        assert not result.interrupted and len(found) == 1, "the scans disagree"
    return statistics.median(times), found.pop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batches", default="1,4,8,16,32")
    args = parser.parse_args()
    sizes = [int(b) for b in args.batches.split(",")]
    default = dask_executor.BATCH_ITEMS
    with tempfile.TemporaryDirectory(prefix="faceaudit-bench-dask-") as tmp:
        tree = Path(tmp) / "tree"
        n = build(tree, args.photos)
        print(f"{n} photos, {os.cpu_count()} cores; median of {args.repeat} scans each\n")
        local_s, found = timed(ScanConfig(targets=(tree,), workers=2), args.repeat)
        rows = [("local pool, 2 processes", "-", local_s, found)]
        cluster: Cluster = start_cluster(Path(tmp) / "cluster", workers=2)
        try:
            dask = ScanConfig(targets=(tree,), executor=cluster.executor)
            for size in sizes:
                dask_executor.BATCH_ITEMS = size
                seconds, got = timed(dask, args.repeat)
                rows.append(("Dask, 2 workers", str(size), seconds, got))
            dask_executor.BATCH_ITEMS = default
            two = next(r[2] for r in rows if r[0] == "Dask, 2 workers" and r[1] == str(default))
            victim = cluster.workers.pop()
            victim.terminate()
            victim.wait(30)
            time.sleep(2)  # the scheduler notices the worker is gone
            one, got = timed(dask, args.repeat)
            rows.append(("Dask, 1 worker", str(default), one, got))
        finally:
            cluster.stop()
    print(f"{'executor':26} {'batch':>5} {'seconds':>8} {'photos/s':>9} {'vs local':>9}")
    for name, batch, seconds, _ in rows:
        overhead = (seconds - local_s) / local_s * 100
        print(f"{name:26} {batch:>5} {seconds:8.1f} {n / seconds:9.2f} {overhead:+8.1f}%")
    best = min(r[2] for r in rows if r[0] == "Dask, 2 workers")
    print(
        f"\noverhead of Dask at batch {default}: {(two - local_s) / local_s * 100:+.1f} % "
        f"(best batch: {(best - local_s) / local_s * 100:+.1f} %; target: within 15 %)"
    )
    print(f"scaling 1 -> 2 workers: {one / two:.2f}x (ideal 2.00x on 2 free cores)")


if __name__ == "__main__":
    main()
