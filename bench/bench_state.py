"""Benchmark: a rescan of an unchanged tree against the cold scan of it, in one run.

Builds (once, cached) a tree of N files, mostly images — small photos with and without a
face (scikit-image's bundled photos, resized and re-encoded so every file differs), a few
notes and zips — then scans it cold with a fresh state database, and again unchanged.
Prints both times and the ratio (the quality bar: >= 50x for 20,000 files).

    python bench/bench_state.py [--files 20000] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from PIL import Image  # noqa: E402

from scanner.config import ScanConfig  # noqa: E402
from scanner.engine import run_scan  # noqa: E402
from scanner.state.store import StateDB  # noqa: E402


def build(root: Path, files: int) -> None:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    face = Image.open(data / "astronaut.png").convert("RGB").resize((160, 160))
    plain = Image.open(data / "coffee.png").convert("RGB").resize((160, 120))
    root.mkdir(parents=True)
    for n in range(files):
        folder = root / f"d{n // 500:03d}"
        folder.mkdir(exist_ok=True)
        if n % 50 == 0:
            (folder / f"note{n}.txt").write_text(f"note {n}\n")
            continue
        if n % 199 == 0:
            buf = io.BytesIO()
            plain.save(buf, "JPEG", quality=70 + n % 20)
            with zipfile.ZipFile(folder / f"a{n}.zip", "w") as zf:
                zf.writestr("p.jpg", buf.getvalue())
            continue
        im = face if n % 10 == 0 else plain
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=60 + n % 35)
        (folder / f"img{n}.jpg").write_bytes(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    root = HERE / "corpus" / f"state-{args.files}"
    if not root.exists():
        t = time.monotonic()
        build(root, args.files)
        print(f"tree of {args.files} files built in {time.monotonic() - t:.1f} s")
    time.sleep(2.1)  # past the racy window
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state.db"
        config = ScanConfig(targets=(root,), workers=args.workers)
        times = []
        for label in ("cold", "unchanged"):
            with StateDB(state) as db:
                t = time.monotonic()
                result = run_scan(config, state=db)
                times.append(time.monotonic() - t)
            print(
                f"{label:>10}: {times[-1]:8.2f} s  items with face data {len(result.items)}, "
                f"reused {result.stats.reused}, scanned {result.stats.items_scanned}"
            )
        print(f"     ratio: {times[0] / times[1]:8.1f}x faster when unchanged (target >= 50x)")
    shutil.rmtree(Path(tmp), ignore_errors=True)


if __name__ == "__main__":
    main()
