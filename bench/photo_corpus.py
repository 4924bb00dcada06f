"""The benchmark's photo sets, built once under a cache directory outside the repository.

The one definition of the corpus and of the small-face tier: bench/bench_images.py (the peer
table and the targets) and bench/bench_detect.py (where the time goes) both read it.

- main: `../shared/bench/make_photos.py DEVSET OUT --seed N` (issue 14's corpus): 48 JPEGs of
  4000x3000, 32 with 1-3 whole portraits pasted at 300-1000 px long side, 16 without a face;
  the truth (file name, faces) is the builder's truth.csv.
- small: the small-face tier, 4000x3000 JPEGs with one portrait pasted so that its *face* is
  40, 60 or 80 px high. The face height of each development-set portrait is estimated once with
  dlib's HOG detector (face_recognition's own, upsample 1, on the portrait reduced to at most
  800 px long side; its box runs from the eyebrows to the chin), and the portrait is scaled by
  tier / that height. Portraits where HOG finds no single face are not used, so this tier
  measures size, not pose. The estimates are cached beside the photos.
- noface: hard links to the main set's no-face photos (target 2's per-core cost).

Everything is keyed by the seed: ~/.cache/faceaudit-bench/seed7/{photos,small,noface,...}.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
DEVSET = SHARED / "data" / "faces-dev"
MAKE_PHOTOS = SHARED / "bench" / "make_photos.py"
CACHE = Path(os.environ.get("FACEAUDIT_BENCH_CACHE", Path.home() / ".cache" / "faceaudit-bench"))
SMALL_TIERS = (40, 60, 80)  # face height in the 4000x3000 photo, px
SMALL_VERSION = "v1"
SIZE = (4000, 3000)


@dataclass(frozen=True)
class Photo:
    path: Path
    faces: int  # pasted faces (0: a no-face photo)
    tier: int  # small-face tier (face height px), 0 in the main set


@dataclass(frozen=True)
class Corpus:
    main: tuple[Photo, ...]
    small: tuple[Photo, ...]
    main_dir: Path
    small_dir: Path
    noface_dir: Path
    note: str


def _rows() -> list[dict[str, str]]:
    with open(DEVSET / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _images(kind: str, faces: str) -> list[str]:
    return [
        r["path"]
        for r in _rows()
        if r["kind"] == kind
        and r["faces"] == faces
        and r["path"].lower().endswith((".jpg", ".jpeg", ".png"))
    ]


def _main(root: Path, seed: int) -> list[Photo]:
    out = root / "photos"
    truth = root / "truth.csv"
    if not truth.is_file():
        subprocess.run(
            [sys.executable, str(MAKE_PHOTOS), str(DEVSET), str(out), "--seed", str(seed)],
            check=True,
        )
    with open(truth, newline="") as fh:
        return [Photo(out / name, int(n), 0) for name, n in csv.reader(fh)]


def _face_heights(root: Path, wanted: int, rng: random.Random) -> list[tuple[str, float]]:
    """(portrait path, face height in the portrait's own pixels), estimated once and cached."""
    cache = root / f"face-heights-{SMALL_VERSION}.json"
    known: dict[str, float | None] = json.loads(cache.read_text()) if cache.is_file() else {}
    candidates = _images("face_image", "1")
    rng.shuffle(candidates)
    detector = None
    found: list[tuple[str, float]] = []
    for rel in candidates:
        if len(found) >= wanted:
            break
        if rel not in known:
            if detector is None:
                import dlib

                detector = dlib.get_frontal_face_detector()
            import numpy as np

            im = ImageOps.exif_transpose(Image.open(DEVSET / rel)).convert("RGB")
            k = min(1.0, 800 / max(im.size))
            small = im.resize((round(im.width * k), round(im.height * k))) if k < 1 else im
            boxes = detector(np.asarray(small), 1)
            known[rel] = (boxes[0].height() / k) if len(boxes) == 1 else None
        height = known[rel]
        if height is not None and height >= 60:
            found.append((rel, height))
    cache.write_text(json.dumps(known, indent=0, sort_keys=True))
    return found


def _small(root: Path, per_tier: int, seed: int) -> list[Photo]:
    out = root / f"small-{SMALL_VERSION}-{per_tier}"
    stamp = out / ".done"
    photos = [
        Photo(out / f"t{tier:03d}_{i:02d}.jpg", 1, tier)
        for tier in SMALL_TIERS
        for i in range(per_tier)
    ]
    if stamp.exists():
        return photos
    rng = random.Random(seed * 1000 + 14)
    portraits = _face_heights(root, per_tier * len(SMALL_TIERS), rng)
    if len(portraits) < len(photos):
        raise SystemExit(f"only {len(portraits)} usable portraits for {len(photos)} photos")
    backgrounds = _images("no_face_image", "0")
    out.mkdir(parents=True, exist_ok=True)
    for photo, (rel, height) in zip(photos, portraits, strict=False):
        canvas = Image.open(DEVSET / rng.choice(backgrounds)).convert("RGB").resize(SIZE)
        face = ImageOps.exif_transpose(Image.open(DEVSET / rel)).convert("RGB")
        k = photo.tier / height
        face = face.resize((max(1, round(face.width * k)), max(1, round(face.height * k))))
        x = rng.randint(0, SIZE[0] - face.width)
        y = rng.randint(0, SIZE[1] - face.height)
        canvas.paste(face, (x, y))
        canvas.save(photo.path, "JPEG", quality=90)
    stamp.write_text("")
    return photos


def _linked(folder: Path, photos: list[Photo]) -> Path:
    """A folder of hard links to `photos` (a subset that tools given a folder can scan)."""
    folder.mkdir(parents=True, exist_ok=True)
    names = {p.path.name for p in photos}
    for old in folder.iterdir():
        if old.name not in names:
            old.unlink()
    for p in photos:
        link = folder / p.path.name
        if not link.exists():
            os.link(p.path, link)
    return folder


def build(seed: int = 7, per_tier: int = 8, quick: bool = False) -> Corpus:
    root = CACHE / f"seed{seed}"
    root.mkdir(parents=True, exist_ok=True)
    main = _main(root, seed)
    small = _small(root, per_tier, seed)
    if quick:  # six photos with faces, four without, one per small tier
        faces = [p for p in main if p.faces][:6]
        empty = [p for p in main if not p.faces][:4]
        main = faces + empty
        small = [next(p for p in small if p.tier == t) for t in SMALL_TIERS]
    noface = [p for p in main if not p.faces]
    tag = "quick-" if quick else ""
    main_dir = _linked(root / f"{tag}main", main)
    small_dir = _linked(root / f"{tag}small", small)
    noface_dir = _linked(root / f"{tag}noface", noface)
    main = [Photo(main_dir / p.path.name, p.faces, p.tier) for p in main]
    small = [Photo(small_dir / p.path.name, p.faces, p.tier) for p in small]
    note = (
        f"make_photos.py --seed {seed}: {sum(1 for p in main if p.faces)} photos with faces, "
        f"{sum(1 for p in main if not p.faces)} without; small-face tier "
        f"{'/'.join(map(str, SMALL_TIERS))} px, {len(small) // len(SMALL_TIERS)} per tier"
    )
    return Corpus(tuple(main), tuple(small), main_dir, small_dir, noface_dir, note)
