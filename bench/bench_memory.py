"""Benchmark: peak memory of a whole scan (the CLI and its workers) on a large mixed tree.

Generates a tree whose apparent size is --size-gb (default 10 GB) without filling the disk:
most of the size is sparse files (over --max-file-mb, or .npy arrays sampled from their
head), the rest real content repeated -- photos of several sizes up to 24 megapixels, zip
and tar.gz archives of photos, a zip bomb, vector files (npy, pickle, JSON, CSV), a SQLite
database of templates. Then runs `faceaudit scan TREE -j N -f json` as a subprocess and
samples the resident memory of the process tree (the CLI and every worker) every 20 ms.

It prints the tree, the time, and the peak RSS of the main process, of the busiest worker
and of the whole tree, against the bounds documented in docs/safety.md: the main process
stays under MAIN_BOUND, each worker under its idle size + 128 MiB + --memory-mb (enforced:
a worker over it is stopped and its item reported), the tree under the sum.

    .venv/bin/python bench/bench_memory.py [--size-gb 10] [--photos 600] [--workers 2]
                                           [--memory-mb 2048] [--tree DIR] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
MiB, GiB = 1024**2, 1024**3
MAIN_BOUND = 1 * GiB  # the documented bound of the CLI process itself (docs/safety.md)
HEADROOM = 128 * MiB  # scanner.worker.HEADROOM: model weights loaded after start-up


def photo(size: tuple[int, int], seed: int) -> bytes:
    """A real photo (scikit-image's astronaut, which has a face) or a no-face one, resized."""
    from skimage import data

    sources = (data.astronaut(), data.coffee(), data.chelsea(), data.rocket())
    im = Image.fromarray(sources[seed % len(sources)]).resize(size)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def sparse(path: Path, size: int, head: bytes = b"") -> None:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)


def npy_header(rows: int, dims: int) -> bytes:
    text = f"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dims}), }}"
    text += " " * (-(10 + len(text) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()


def build(root: Path, size_gb: float, photos: int) -> dict[str, int]:
    """The tree; returns counts by kind. Real bytes written stay in the low hundreds of MB."""
    counts: dict[str, int] = {}

    def count(kind: str, n: int = 1) -> None:
        counts[kind] = counts.get(kind, 0) + n

    sizes = [(640, 480), (1600, 1200), (4000, 3000), (6000, 4000)]
    encoded = {(s, k): photo(s, k) for s in sizes for k in range(4)}
    for i in range(photos):
        s = sizes[0] if i % 10 else sizes[1 + (i // 10) % 3]  # 10% large, some 24 MP
        folder = root / "photos" / f"{i // 100:03}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"img-{i:05}.jpg").write_bytes(encoded[(s, i % 4)])
        count("photos")
    archives = root / "archives"
    archives.mkdir()
    for a in range(10):
        with zipfile.ZipFile(archives / f"backup-{a}.zip", "w") as zf:
            for m in range(40):
                zf.writestr(f"album/{m:03}.jpg", encoded[(sizes[0], m % 4)])
        count("zip archives")
    with zipfile.ZipFile(archives / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.png", b"\x89PNG" + bytes(512 * MiB))  # ~0.5 MB on disk
    count("zip bombs")
    vectors = root / "vectors"
    vectors.mkdir()
    rng = np.random.default_rng(1)
    v = rng.normal(size=(2000, 128)).astype(np.float32)
    np.save(vectors / "encodings.npy", v)
    (vectors / "encodings.pickle").write_bytes(
        pickle.dumps({"encodings": list(v[:500].astype(np.float64)), "names": ["x"] * 500})
    )
    (vectors / "gallery.json").write_text(json.dumps({"embeddings": v[:300].tolist()}))
    (vectors / "rows.csv").write_text("\n".join(",".join(map(str, r)) for r in v[:300]))
    with sqlite3.connect(vectors / "faces.db") as conn:
        conn.execute("CREATE TABLE faces (id INTEGER PRIMARY KEY, embedding BLOB)")
        conn.executemany("INSERT INTO faces (embedding) VALUES (?)", [(r.tobytes(),) for r in v])
    conn.close()
    count("vector files", 5)
    # The apparent size: sparse giants (not read past their size check) and sparse arrays
    # sampled from their head, until the tree reaches --size-gb.
    big = root / "big"
    big.mkdir()
    target = int(size_gb * GiB)
    used = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    n = 0
    while used < target:
        step = min(1 * GiB, target - used)
        if n % 4 == 3:  # a header that tells the truth: the rows are all there (as holes)
            rows = (step - 128) // (512 * 4)
            head = npy_header(rows, 512)
            sparse(big / f"array-{n}.npy", len(head) + rows * 2048, head + v[:16].tobytes())
            count("sparse npy (sampled)")
        else:
            sparse(big / f"video-{n}.jpg", step, encoded[(sizes[0], 0)][:4096])
            count("sparse giants (oversize)")
        used += step
        n += 1
    return counts


class TreeRss:
    """Peak resident memory of a process and its descendants, sampled every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_total = self.peak_main = self.peak_child = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _rss(self, pid: int) -> int:
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                return int(fh.read().split()[1]) * self._page
        except (OSError, IndexError, ValueError):
            return 0

    def _children(self) -> list[int]:
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as fh:
                        raw = fh.read()
                    if int(raw[raw.rindex(b")") + 2 :].split()[1]) == self.pid:
                        out.append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            main = self._rss(self.pid)
            kids = [self._rss(c) for c in self._children()]
            self.peak_main = max(self.peak_main, main)
            self.peak_child = max([self.peak_child, *kids])
            self.peak_total = max(self.peak_total, main + sum(kids))
            time.sleep(0.02)


def idle_worker_rss(workers: int) -> int:
    """A worker's resident size once its libraries are loaded and before any item."""
    with tempfile.TemporaryDirectory() as empty:
        proc = subprocess.Popen(
            [FACEAUDIT, "scan", empty, "-j", str(workers), "--no-state", "-q", "-f", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with TreeRss(proc.pid) as rss:
            proc.wait()
    return rss.peak_child


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-gb", type=float, default=10.0, help="apparent size of the tree")
    parser.add_argument("--photos", type=int, default=600)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-mb", type=int, default=2048)
    parser.add_argument("--tree", type=Path, help="where to build it (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the tree afterwards")
    args = parser.parse_args()
    base = args.tree or Path(tempfile.mkdtemp(prefix="faceaudit-memory-"))
    free = shutil.disk_usage(base.parent if not base.exists() else base).free
    if free < 2 * GiB:
        print(f"only {free / GiB:.1f} GiB free where the tree would go: not building it")
        return 2
    root = base / "tree"
    root.mkdir(parents=True)
    try:
        started = time.monotonic()
        counts = build(root, args.size_gb, args.photos)
        apparent = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        on_disk = sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())
        print(f"tree: {apparent / GiB:.1f} GiB apparent, {on_disk / MiB:.0f} MiB on disk, "
              f"built in {time.monotonic() - started:.0f} s")  # fmt: skip
        for kind, n in counts.items():
            print(f"  {n:>6} {kind}")
        idle = idle_worker_rss(args.workers)
        report = base / "report.json"
        cmd = [FACEAUDIT, "scan", str(root), "-j", str(args.workers), "--no-state", "-q",
               "--memory-mb", str(args.memory_mb), "-f", "json", "-o", str(report)]  # fmt: skip
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with TreeRss(proc.pid) as rss:
            _, err = proc.communicate()
        seconds = time.monotonic() - started
        doc = json.loads(report.read_text()) if report.exists() else {}
        summary = doc.get("summary", {})
        worker_bound = idle + HEADROOM + args.memory_mb * MiB
        bound = MAIN_BOUND + args.workers * worker_bound
        print(f"scan: exit {proc.returncode} in {seconds:.0f} s; "
              f"{summary.get('items_scanned', '?')} items, "
              f"{summary.get('items_with_evidence', '?')} with face data, "
              f"problems {summary.get('errors', {})} {summary.get('skipped', {})}")  # fmt: skip
        if err.strip():
            print("  stderr:", err.decode(errors="replace").strip()[-300:])
        rows = [
            ("main process (CLI, walk, queue)", rss.peak_main, MAIN_BOUND),
            ("busiest worker", rss.peak_child, worker_bound),
            (f"whole tree (-j {args.workers})", rss.peak_total, bound),
        ]
        print(f"peak RSS (idle worker {idle / MiB:.0f} MiB):")
        for name, peak, limit in rows:
            verdict = "within" if peak <= limit else "OVER"
            print(
                f"  {name:<36} {peak / MiB:>7.0f} MiB  {verdict} the bound of {limit / MiB:.0f} MiB"
            )
        return 0 if all(peak <= limit for _, peak, limit in rows) else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
