"""Benchmark: faceaudit against face_recognition's default pipeline and the decode floor.

Builds a corpus of phone-sized photos (4000x3000 JPEGs): real faces from
../shared/data/faces-dev composited at several sizes onto real no-face photos, plus no-face
photos. Then, in one run and with the same number of processes for each:

- decode floor: Pillow `draft` decode only (no detection), at 1/8 and at 1/4 scale;
- reference:    face_recognition.load_image_file + face_locations (HOG, upsample 1);
- faceaudit:    a real `run_scan` of the corpus directory (worker start-up included).

It prints images/s, image-level recall and false positives of each, peak memory of the
whole process tree, and the ratios the issue asks for. Targets are printed beside the
measured ratios; nothing here is a timed assertion.

    python bench/bench_images.py [--faces 24] [--no-faces 12] [--workers 2] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFilter, ImageOps

HERE = Path(__file__).resolve().parent
DEVSET = HERE.parents[1] / "shared" / "data" / "faces-dev"
CORPUS_VERSION = "v2"
SIZE = (4000, 3000)
# Height of the pasted portrait in the 4000x3000 photo; its face is roughly half of it.
TIERS = (300, 600, 1200, 2400)
BACKGROUNDS = ("beach_sand.jpg", "building_mono.jpg", "palms_beach.jpg", "elephants.jpg",
               "limes.jpg", "ocean_cyan.jpg")  # fmt: skip


# -- corpus -----------------------------------------------------------------------------------


def _face_sources() -> tuple[list[Image.Image], str]:
    if (DEVSET / "manifest.csv").is_file():
        with open(DEVSET / "manifest.csv", newline="") as fh:
            rows = [
                r
                for r in csv.DictReader(fh)
                if r["kind"] == "face_image" and r["faces"] == "1" and r["identity"]
            ]
        images = []
        for row in rows:
            try:
                im = ImageOps.exif_transpose(Image.open(DEVSET / row["path"])).convert("RGB")
            except OSError:
                continue
            if min(im.size) >= 300:
                images.append(im)
        random.Random(7).shuffle(images)
        return images[:16], f"{min(16, len(images))} portraits from faces-dev"
    import skimage

    astro = Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png").convert("RGB")
    return [astro], "faces-dev absent: scikit-image's astronaut only"


def _backgrounds() -> list[Image.Image]:
    names = ("coffee.png", "chelsea.png", "rocket.jpg", "brick.png", "motorcycle_left.png")
    import skimage

    data = Path(skimage.__file__).parent / "data"
    images = [Image.open(data / n).convert("RGB") for n in names]
    if DEVSET.is_dir():
        for name in BACKGROUNDS:
            if (DEVSET / "photoprism_examples" / name).is_file():
                images.append(Image.open(DEVSET / "photoprism_examples" / name).convert("RGB"))
    return images


def _phone_photo(bg: Image.Image, rng: random.Random) -> Image.Image:
    """Upscale to 12 MP and add sensor-like grain so the JPEG has a phone photo's size."""
    big = bg.resize(SIZE, Image.Resampling.BICUBIC)
    grain = Image.effect_noise(SIZE, 18).convert("RGB")
    big = Image.blend(big, grain, 0.12)
    return big.filter(ImageFilter.UnsharpMask(radius=2, percent=60)) if rng.random() < 0.5 else big


def build_corpus(root: Path, n_faces: int, n_empty: int) -> tuple[list[tuple[Path, int]], str]:
    """[(path, tier or 0)], and a note on where the faces came from."""
    stamp = root / f".corpus-{CORPUS_VERSION}-{n_faces}-{n_empty}"
    if stamp.exists():
        entries = [(p, int(p.name.split("-")[1].split(".")[0])) for p in sorted(root.glob("*.jpg"))]
        return entries, stamp.read_text().strip()
    faces, note = _face_sources()
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("*.jpg"):
        old.unlink()
    rng = random.Random(2026)
    backgrounds = _backgrounds()
    entries = []
    for n in range(n_faces + n_empty):
        photo = _phone_photo(backgrounds[n % len(backgrounds)], rng)
        tier = TIERS[n % len(TIERS)] if n < n_faces else 0
        if tier:
            portrait = faces[n % len(faces)]
            scale = tier / portrait.height
            portrait = portrait.resize((round(portrait.width * scale), tier))
            x = rng.randint(0, max(0, SIZE[0] - portrait.width))
            y = rng.randint(0, max(0, SIZE[1] - portrait.height))
            photo.paste(portrait, (x, y))
        path = root / f"{n:03d}-{tier}.jpg"
        photo.save(path, "JPEG", quality=90)
        entries.append((path, tier))
    stamp.write_text(note + "\n")
    return entries, note


# -- measurement helpers ----------------------------------------------------------------------


class PeakRss:
    """Samples the total resident memory of this process and all its descendants."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            total = 0
            for pid in _tree(os.getpid()):
                try:
                    with open(f"/proc/{pid}/statm", "rb") as fh:
                        total += int(fh.read().split()[1]) * page
                except (OSError, ValueError, IndexError):
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.05)


def _tree(root: int) -> list[int]:
    """The process and its descendants, via /proc/<pid>/task/<tid>/children (cheap)."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                    todo.extend(int(c) for c in fh.read().split())
            except (OSError, ValueError):
                continue
    return out


def _decode(args: tuple[str, int]) -> bool:
    path, k = args
    with Image.open(path) as im:
        im.draft("RGB", (im.width // k, im.height // k))
        im.load()
    return False


_REFERENCE_KIND = "face_recognition"


def _reference(path: str) -> bool:
    try:
        import face_recognition as fr

        img = fr.load_image_file(path)
        return bool(fr.face_locations(img))
    except ImportError:
        from scanner.faces import dlib_faces

        models = _compat_models()
        return bool(dlib_faces.face_locations(models, dlib_faces.load_image_file(path)))


_MODELS: list[object] = []


def _compat_models():  # type: ignore[no-untyped-def]
    from scanner.faces import dlib_faces

    if not _MODELS:
        _MODELS.append(dlib_faces.DlibModels())
    return _MODELS[0]


@dataclass
class Run:
    name: str
    seconds: float
    found: dict[Path, bool]
    peak_rss: int


def _pooled(
    name: str, fn: Callable[..., bool], jobs: Iterable[object], paths: list[Path], workers: int
) -> Run:
    ctx = multiprocessing.get_context("spawn")
    with PeakRss() as rss, ctx.Pool(workers) as pool:
        pool.map(_warm, range(workers))  # interpreter start-up is not decoding time
        t0 = time.perf_counter()
        results = pool.map(fn, list(jobs), chunksize=1)
        seconds = time.perf_counter() - t0
    return Run(name, seconds, dict(zip(paths, results, strict=True)), rss.peak)


def _warm(_: int) -> None:
    import numpy  # noqa: F401


def run_faceaudit(root: Path, paths: list[Path], workers: int, min_face: int = 0) -> Run:
    from scanner.config import DetectionSettings, ScanConfig
    from scanner.engine import run_scan

    config = ScanConfig(
        targets=(root,), workers=workers, detection=DetectionSettings(min_face_px=min_face)
    )
    done: list[float] = []
    with PeakRss() as rss:
        t0 = time.perf_counter()
        result = run_scan(config, progress=lambda _: done.append(time.perf_counter()))
        seconds = time.perf_counter() - t0
    if result.stats.items_scanned != len(paths) + 1:  # the photos and the corpus's stamp
        raise SystemExit(
            f"{root} holds {result.stats.items_scanned} items, not the corpus's {len(paths)}: "
            "give the benchmark a folder of its own (--corpus)"
        )
    hits = {Path(i.location.display) for i in result.items}
    name = f"faceaudit min-face {min_face}" if min_face else "faceaudit"
    # Steady state: from the first finished item to the last (worker start-up excluded).
    steady = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 else 0.0
    print(
        f"  {name}: {len(paths) / seconds:.2f} images/s end to end, {steady:.2f} steady "
        f"(worker start-up {done[0] - t0:.1f} s)"
    )
    return Run(name, seconds, {p: p in hits for p in paths}, rss.peak)


# -- report -----------------------------------------------------------------------------------


def _rates(run: Run, tiers: dict[Path, int]) -> tuple[float, float, dict[int, float]]:
    faces = [p for p, t in tiers.items() if t]
    empty = [p for p, t in tiers.items() if not t]
    recall = sum(run.found[p] for p in faces) / len(faces)
    fp = sum(run.found[p] for p in empty) / len(empty)
    by_tier = {
        t: sum(run.found[p] for p in faces if tiers[p] == t)
        / max(1, sum(tiers[p] == t for p in faces))
        for t in TIERS
    }
    return recall, fp, by_tier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=int, default=24)
    parser.add_argument("--no-faces", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus" / "images")
    parser.add_argument("--skip-reference", action="store_true", help="faceaudit and floor only")
    args = parser.parse_args(argv)

    entries, note = build_corpus(args.corpus, args.faces, args.no_faces)
    paths = [p for p, _ in entries]
    tiers = dict(entries)
    size_mb = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
    print(
        f"corpus: {len(paths)} JPEGs of {SIZE[0]}x{SIZE[1]} (mean {size_mb:.1f} MB); "
        f"{args.faces} with a face ({note}), {args.no_faces} without; workers={args.workers}"
    )
    try:
        import face_recognition  # noqa: F401

        ref_name = "face_recognition (load_image_file + face_locations, HOG, upsample 1)"
    except ImportError:
        ref_name = "face_recognition-compatible dlib pipeline (face_recognition not importable)"

    floor = _pooled("decode floor 1/8", _decode, [(str(p), 8) for p in paths], paths, args.workers)
    runs = [
        floor,
        _pooled("decode 1/4", _decode, [(str(p), 4) for p in paths], paths, args.workers),
    ]
    audit = run_faceaudit(args.corpus, paths, args.workers)
    runs += [audit, run_faceaudit(args.corpus, paths, args.workers, min_face=200)]
    ref = None
    if not args.skip_reference:
        ref = _pooled("reference", _reference, [str(p) for p in paths], paths, args.workers)
        runs.append(ref)

    header = f"{'pipeline':<26} {'images/s':>9} {'recall':>7} {'false+':>7} {'peak RSS':>9}"
    print(f"\n{header}  recall by face tier (portrait height px)")
    for run in runs:
        ips = len(paths) / run.seconds
        row = f"{run.name:<26} {ips:>9.2f}"
        if run.name.startswith("decode"):
            print(f"{row} {'-':>7} {'-':>7} {run.peak_rss / 2**20:>7.0f}MB")
            continue
        recall, fp, by_tier = _rates(run, tiers)
        tiers_text = "  ".join(f"{t}:{r:.2f}" for t, r in by_tier.items())
        print(f"{row} {recall:>7.3f} {fp:>7.3f} {run.peak_rss / 2**20:>7.0f}MB  {tiers_text}")
    fa_ips = len(paths) / audit.seconds
    print("\nratios (same run, same number of processes):")
    if ref is not None:
        print(f"  reference = {ref_name}")
        speedup = fa_ips / (len(paths) / ref.seconds)
        r_fa, _, _ = _rates(audit, tiers)
        r_ref, _, _ = _rates(ref, tiers)
        print(
            f"  faceaudit / reference throughput: {speedup:6.1f}x   (target >= 10x; "
            f"recall {r_fa:.3f} vs {r_ref:.3f}: target equal or better)"
        )
    slow = (len(paths) / floor.seconds) / fa_ips
    print(f"  decode floor / faceaudit:         {slow:6.2f}x   (target <= 3x)")
    print(
        f"  faceaudit peak memory:            {audit.peak_rss / 2**20:6.0f} MB "
        f"(target < 1024 MB with {args.workers} workers)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
