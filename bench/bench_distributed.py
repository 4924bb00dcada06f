"""Benchmark: the same photo tree through the local worker pool and through a Dask cluster.

Builds a tree of real photos from the development set (read in place, copied under a
temporary directory, outside the repository), then scans it:

- with the local pool of 2 worker processes (the reference);
- through a real Dask cluster (`dask scheduler`, `dask worker --nthreads 1` on 127.0.0.1,
  tests/dask_cluster.py) of 2 workers, at several batch sizes: the scheduling overhead per
  batch size, against the local pool (target: within 15 %);
- through 1 and 2 Dask workers at the default batch size: the scaling.

Every scan starts its processes and loads its models, as a user's scan does. Prints a table
of seconds, photos/s and the overhead against the local pool. The variants run interleaved
(a round of each, `--repeat` rounds): a shared machine's load drifts between rounds, not
between the variants compared.

    python bench/bench_distributed.py [--photos 120] [--repeat 3] [--batches 1,8,32]
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
from collections import defaultdict
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


def once(config: ScanConfig) -> tuple[float, int]:
    """The wall time of one scan, and its items with evidence."""
    start = time.perf_counter()
    result = run_scan(config)
    assert not result.interrupted, "a scan was interrupted"
    return time.perf_counter() - start, len(result.items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batches", default="1,8,32")
    args = parser.parse_args()
    sizes = [int(b) for b in args.batches.split(",")]
    default = dask_executor.BATCH_ITEMS
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    found: set[int] = set()
    with tempfile.TemporaryDirectory(prefix="faceaudit-bench-dask-") as tmp:
        tree = Path(tmp) / "tree"
        n = build(tree, args.photos)
        print(f"{n} photos, {os.cpu_count()} cores; median of {args.repeat} runs, interleaved\n")
        local = ScanConfig(targets=(tree,), workers=2)
        cluster: Cluster = start_cluster(Path(tmp) / "cluster", workers=2)
        try:
            dask = ScanConfig(targets=(tree,), executor=cluster.executor)
            for _ in range(args.repeat):  # each round runs every variant: load drifts cancel
                seconds, got = once(local)
                times["local pool, 2 processes", "-"].append(seconds)
                found.add(got)
                for size in sizes:
                    dask_executor.BATCH_ITEMS = size
                    seconds, got = once(dask)
                    times["Dask, 2 workers", str(size)].append(seconds)
                    found.add(got)
            dask_executor.BATCH_ITEMS = default
            victim = cluster.workers.pop()
            victim.terminate()
            victim.wait(30)
            time.sleep(2)  # the scheduler notices the worker is gone
            for _ in range(args.repeat):
                seconds, got = once(dask)
                times["Dask, 1 worker", str(default)].append(seconds)
                found.add(got)
        finally:
            cluster.stop()
    assert len(found) == 1, f"the scans disagree on the items with evidence: {found}"
    medians = {key: statistics.median(runs) for key, runs in times.items()}
    local_s = medians["local pool, 2 processes", "-"]
    print(f"{'executor':26} {'batch':>5} {'seconds':>8} {'photos/s':>9} {'vs local':>9}  runs")
    for (name, batch), seconds in medians.items():
        overhead = (seconds - local_s) / local_s * 100
        runs = ", ".join(f"{t:.1f}" for t in times[name, batch])
        print(f"{name:26} {batch:>5} {seconds:8.1f} {n / seconds:9.2f} {overhead:+8.1f}%  {runs}")
    two = medians.get(("Dask, 2 workers", str(default)))
    one = medians["Dask, 1 worker", str(default)]
    if two is not None:
        print(
            f"\noverhead of Dask at batch {default}: {(two - local_s) / local_s * 100:+.1f} % "
            "(target: within 15 %)"
        )
        print(f"scaling 1 -> 2 workers: {one / two:.2f}x (ideal 2.00x on 2 free cores)")


if __name__ == "__main__":
    main()
