"""Benchmark: a subject search (`faceaudit subject find`) across a generated tree, next to a
plain scan of the same tree, with and without the incremental state.

The tree holds N small photos (default 10,000; 640x480 JPEGs of real no-face photos, cropped,
mirrored and re-toned so that no two are alike), 2% of them with a real portrait pasted in
(portraits of the development set's identity groups, among them the probe's person). In
one run and with the same number of worker processes:

1. a plain scan of the cold tree that fills a fresh state database (the scheduled scan);
2. the plain scan again with that state (nothing changed: nothing decoded);
3. a subject search with that state: unchanged items without face data are not decoded
   again; images with faces are (a descriptor is never stored anywhere);
4. the same subject search again;
5. with --cold-search, a subject search without any state (every image decoded).

It prints the times, the items decoded and reused, the matches, and the ratios.

    python bench/bench_subject.py [--images 10000] [--workers 2] [--corpus DIR] [--cold-search]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DEVSET = HERE.parents[1] / "shared" / "data" / "faces-dev"
CORPUS_VERSION = "s1"
SIZE = (640, 480)
FACE_SHARE = 0.02
PROBE_IDENTITY = "John_Salley"  # aligned chips of one person in the development set


@dataclass(frozen=True)
class Corpus:
    root: Path
    images: int
    with_faces: int
    probe: Path | None  # a photo of the person (outside the tree)
    person_in_tree: int  # photos of the probe's person in the tree
    note: str


def _portraits() -> tuple[list[tuple[str, Image.Image]], str]:
    if not (DEVSET / "manifest.csv").is_file():
        import skimage

        astro = Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png")
        return [("astronaut", astro.convert("RGB"))], "faces-dev absent: scikit-image's astronaut"
    with open(DEVSET / "manifest.csv", newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["kind"] == "face_image" and r["faces"] == "1" and r["identity"]
        ]
    out = []
    for row in rows:
        try:
            im = ImageOps.exif_transpose(Image.open(DEVSET / row["path"])).convert("RGB")
        except OSError:
            continue
        out.append((row["identity"], im))
    return out, f"{len(out)} portraits of {len({i for i, _ in out})} people from faces-dev"


def _backgrounds() -> list[Image.Image]:
    import skimage

    data = Path(skimage.__file__).parent / "data"
    names = ("coffee.png", "chelsea.png", "rocket.jpg", "brick.png", "motorcycle_left.png",
             "page.png", "text.png", "grass.png", "gravel.png", "rough-wall.png")  # fmt: skip
    return [Image.open(data / n).convert("RGB") for n in names if (data / n).is_file()]


def _photo(bg: Image.Image, rng: random.Random) -> Image.Image:
    """A different crop, mirror, tone and sharpness of a real no-face photo."""
    w, h = bg.size
    cw, ch = rng.randint(w // 3, w), rng.randint(h // 3, h)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    im = bg.crop((x, y, x + cw, y + ch)).resize(SIZE, Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.7, 1.3))
    return ImageEnhance.Contrast(im).enhance(rng.uniform(0.7, 1.3))


def build_corpus(root: Path, images: int) -> Corpus:
    stamp = root.parent / f".{root.name}-{CORPUS_VERSION}"  # beside the tree, not in it
    portraits, note = _portraits()
    person = [im for ident, im in portraits if ident == PROBE_IDENTITY]
    probe_im = person[0] if person else portraits[0][1]
    in_tree = person[1:] if person else [portraits[0][1]]
    others = [im for ident, im in portraits if ident != PROBE_IDENTITY] or [portraits[0][1]]
    n_faces = max(len(in_tree), round(images * FACE_SHARE))
    probe = root.parent / f"probe-{CORPUS_VERSION}.jpg"
    if not stamp.exists():
        root.mkdir(parents=True, exist_ok=True)
        for old in root.rglob("*.jpg"):
            old.unlink()
        rng = random.Random(2026)
        backgrounds = _backgrounds()
        for n in range(images):
            photo = _photo(backgrounds[n % len(backgrounds)], rng)
            if n < n_faces:
                face = in_tree[n] if n < len(in_tree) else others[n % len(others)]
                scale = rng.uniform(0.45, 0.9) * min(SIZE[1] / face.height, SIZE[0] / face.width)
                face = face.resize((round(face.width * scale), round(face.height * scale)))
                x = rng.randint(0, SIZE[0] - face.width)
                photo.paste(face, (x, rng.randint(0, SIZE[1] - face.height)))
            folder = root / f"{n // 500:03d}"
            folder.mkdir(exist_ok=True)
            photo.save(folder / f"{n:05d}.jpg", "JPEG", quality=85)
        probe_im.save(probe, "JPEG", quality=95)
        stamp.write_text(note + "\n")
    return Corpus(root, images, n_faces, probe, len(in_tree), note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus" / "subject")
    parser.add_argument(
        "--cold-search", action="store_true", help="also time a subject find without any state"
    )
    args = parser.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the CLI runs YuNet
    from scanner.config import ScanConfig
    from scanner.engine import run_scan
    from scanner.model import ScanResult
    from scanner.state.store import StateDB
    from scanner.subject.probe import load_probes
    from scanner.subject.search import find_subject
    from scanner.subject_results import SubjectResult

    t0 = time.perf_counter()
    corpus = build_corpus(args.corpus / f"tree-{args.images}", args.images)
    print(f"corpus: {corpus.images} images ({corpus.with_faces} with a face, "
          f"{corpus.person_in_tree} of the probe's person); {corpus.note}; "
          f"ready in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    assert corpus.probe is not None
    time.sleep(2.1)  # a file changed within 2 s of a scan is never trusted by the state (racy)
    probes = load_probes([corpus.probe])
    config = ScanConfig(targets=(corpus.root,), workers=args.workers)
    rows: list[tuple[str, float, int, int, str]] = []

    def timed(label: str, run: object) -> ScanResult | SubjectResult:
        start = time.perf_counter()
        out = run()  # type: ignore[operator]
        seconds = time.perf_counter() - start
        scan = out.scan if isinstance(out, SubjectResult) else out
        extra = f"{len(out.matches)} matches" if isinstance(out, SubjectResult) else (
            f"{len(scan.items)} items with faces")  # fmt: skip
        decoded = scan.stats.items_scanned - scan.stats.reused
        rows.append((label, seconds, decoded, scan.stats.reused, extra))
        print(f"  {label:<42} {seconds:8.1f} s  looked at {decoded:>6}  reused "
              f"{scan.stats.reused:>6}  {extra}", flush=True)  # fmt: skip
        return out

    with tempfile.TemporaryDirectory(prefix="faceaudit-bench-state-") as tmp:
        state_path = Path(tmp) / "state.db"
        with StateDB(state_path) as db:
            plain = timed(
                "1. plain scan (cold), filling a state", lambda: run_scan(config, state=db)
            )
        with StateDB(state_path) as db:
            timed("2. plain scan again, with the state", lambda: run_scan(config, state=db))
        with StateDB(state_path) as db:
            warm = timed(
                "3. subject find, with the state", lambda: find_subject(config, probes, state=db)
            )
        with StateDB(state_path) as db:
            timed("4. subject find again", lambda: find_subject(config, probes, state=db))
        cold = None
        if args.cold_search:
            cold = timed("5. subject find, no state", lambda: find_subject(config, probes))
    assert isinstance(warm, SubjectResult) and isinstance(plain, ScanResult)
    t = {r[0][:2]: r[1] for r in rows}
    found = {m.location for m in warm.matches}
    print()
    print(f"person found in {len(found)} of {corpus.person_in_tree} photos of them; "
          f"exit code {int(warm.exit_code)}")  # fmt: skip
    print(f"subject find with the state / plain cold scan: {t['3.'] / t['1.']:.3f}x the time "
          f"({t['1.'] / t['3.']:.1f}x faster)")  # fmt: skip
    print(f"plain rescan with the state / plain cold scan:  {t['2.'] / t['1.']:.3f}x the time")
    if cold is not None:
        print(
            f"subject find without the state / plain cold scan: {t['5.'] / t['1.']:.2f}x the time"
        )


if __name__ == "__main__":
    main()
