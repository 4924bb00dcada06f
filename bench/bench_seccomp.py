"""Benchmark: what the worker's seccomp filter (scanner.syscall_filter) costs.

- install: the time `install_filter()` takes, in fresh processes, the module imported
  (assembling the program, one seccomp(2) call with TSYNC);
- loops of system calls, each timed in one process before and after it installs the
  filter (after a warm-up round; best of --rounds fresh processes): calls decided on their
  number alone (stat, fstat, pread, getppid: the kernel caches "allow" for those from 5.11
  on and does not run the filter), calls whose command the filter reads (fcntl F_GETFL, ioctl
  FIONREAD: the program runs each time), and two workloads: a SQLite query loop on a WAL
  database (locks: many fcntl calls) and Pillow decoding a JPEG.

It prints ns per call (or per iteration) for both and the difference. Context, not assertions.

    python bench/bench_seccomp.py [--rounds 5] [--calls 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import fcntl, io, json, os, sqlite3, sys, time
from PIL import Image
from scanner.syscall_filter import install_filter

workdir, calls = sys.argv[1], int(sys.argv[2])
path = os.path.join(workdir, "file")
fd = os.open(path, os.O_RDONLY)
r, w = os.pipe()
conn = sqlite3.connect(os.path.join(workdir, "wal.db"), isolation_level=None)
jpeg = open(os.path.join(workdir, "image.jpg"), "rb").read()
LOOPS = {
    "stat": (lambda: os.stat(path), calls),
    "fstat": (lambda: os.fstat(fd), calls),
    "pread 4 KiB": (lambda: os.pread(fd, 4096, 0), calls),
    "getppid": (os.getppid, calls),
    "fcntl F_GETFL": (lambda: fcntl.fcntl(fd, fcntl.F_GETFL), calls),
    "ioctl FIONREAD": (lambda: fcntl.ioctl(r, 0x541B, b"\0\0\0\0"), calls),
    "sqlite query (WAL)": (
        lambda: conn.execute("SELECT count(*), sum(x) FROM t").fetchone(), calls // 100
    ),
    "jpeg decode 512x512": (lambda: Image.open(io.BytesIO(jpeg)).load(), max(calls // 2000, 20)),
}

def per_call(action, n):
    start = time.perf_counter_ns()
    for _ in range(n):
        action()
    return (time.perf_counter_ns() - start) / n

def measure():
    return {key: per_call(action, n) for key, (action, n) in LOOPS.items()}

measure()  # warm up
plain = measure()
started = time.perf_counter()
assert install_filter().state.value == "active"
install_us = (time.perf_counter() - started) * 1e6
print(json.dumps({"install_us": install_us, "plain": plain, "filter": measure()}))
"""


def prepare(folder: str) -> None:
    import sqlite3

    from PIL import Image

    with open(os.path.join(folder, "file"), "wb") as fh:
        fh.write(os.urandom(1 << 16))
    conn = sqlite3.connect(os.path.join(folder, "wal.db"))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    conn.commit()
    conn.close()
    Image.effect_mandelbrot((512, 512), (-2, -1.5, 1, 1.5), 100).convert("RGB").save(
        os.path.join(folder, "image.jpg"), quality=90
    )


def run_child(folder: str, calls: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, folder, str(calls)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        prepare(folder)
        runs = [run_child(folder, args.calls) for _ in range(args.rounds)]
    installs = [r["install_us"] for r in runs]
    print(f"install_filter(): median {statistics.median(installs):.0f} µs, ", end="")
    print(f"min {min(installs):.0f} µs over {len(installs)} fresh processes")
    print(f"{'loop':24} {'plain ns':>10} {'filter ns':>10} {'diff ns':>9} {'diff':>7}")
    for key in runs[0]["plain"]:
        plain = min(r["plain"][key] for r in runs)
        filtered = min(r["filter"][key] for r in runs)
        diff = filtered - plain
        print(f"{key:24} {plain:10.0f} {filtered:10.0f} {diff:+9.0f} {diff / plain:+7.1%}")


if __name__ == "__main__":
    main()
