"""Where the face-image detector spends its time, and what it finds (issue 14, targets 1-3).

    python bench/bench_detect.py [--seed 7] [--per-tier 8] [--repeat 2] [--skip ...]

The photos are bench_images.py's, built once by bench/photo_corpus.py (the one definition of
the corpus and of the small-face tier, shared by both benchmarks): make_photos' 48 JPEGs of
4000x3000 (32 with faces, 16 without) and the small-face tier (faces 40, 60, 80 px high, the
height measured by dlib's HOG on the portrait, eyebrows to chin). The script prints, from one
run:

1. per photo, in one process (one core): CPU time (time.process_time) of the decode and of the
   detector, split into the YuNet passes by working size and dlib CNN verifications, for photos
   with and without faces (CPU time, not wall time: the machine is shared);
2. end to end, start-up included: `faceaudit scan -j 2` against face_recognition's command
   `face_detection --cpus 2` on the same photos (time, photos/s, image-level recall, false
   positives);
3. the small-face tier: recall of both tools per tier.

With --floor, only this, as one JSON line (bench_images.py prints it beside target 2): per
photo without a face, the decode and the fine pass alone, which no change around them removes.

No timed assertion anywhere: the machine is shared, compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import photo_corpus

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
TIERS = photo_corpus.SMALL_TIERS


# -- corpora ----------------------------------------------------------------------------------


def truth(photos: tuple[photo_corpus.Photo, ...]) -> dict[Path, int]:
    return {p.path: p.faces for p in photos}


# -- one process: where the time goes ---------------------------------------------------------


@contextmanager
def _timed_calls(log: dict[str, float]) -> Iterator[None]:
    """Wrap YuNet and dlib's CNN so each call's time is added under its working size."""
    from scanner.detectors import face_yunet
    from scanner.faces import yunet

    real_detect, real_cnn = yunet.detect, face_yunet._cnn_confirms

    def detect(model, arr, pad=0):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        try:
            return real_detect(model, arr, pad)
        finally:
            side = max(arr.shape[:2])
            bucket = f"yunet<={side // 128 * 128 + 127}px"
            log[bucket] = log.get(bucket, 0.0) + time.process_time() - t0
            log["yunet calls"] = log.get("yunet calls", 0.0) + 1
            # The machine-independent cost: YuNet's time is about proportional to pixels.
            log["yunet Mpx"] = log.get("yunet Mpx", 0.0) + arr.shape[0] * arr.shape[1] / 1e6

    def cnn(*args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        try:
            return real_cnn(*args, **kwargs)
        finally:
            log["dlib cnn"] = log.get("dlib cnn", 0.0) + time.process_time() - t0
            log["cnn calls"] = log.get("cnn calls", 0.0) + 1

    yunet.detect, face_yunet._cnn_confirms = detect, cnn  # type: ignore[assignment]
    try:
        yield
    finally:
        yunet.detect, face_yunet._cnn_confirms = real_detect, real_cnn


def per_photo(paths: dict[Path, int], repeat: int, ablate: str | None = None) -> None:
    """Target 2: a photo without a face costs <= 100 ms per core at 12 MP, decode included.

    `ablate` (a face_yunet constant such as MAX_PROPOSALS) is also set to 0 for a second run
    of every photo, side by side with the default in the same process: old against new."""
    from scanner.config import DetectionSettings, Limits
    from scanner.detectors import face_yunet
    from scanner.detectors.base import DetectContext, LoadedItem, ModelCache
    from scanner.detectors.face_yunet import FINE_TARGET, YuNetFaceDetector
    from scanner.faces import imaging
    from scanner.model import FileLocation
    from scanner.sniff import sniff

    models = ModelCache()
    ctx = DetectContext(DetectionSettings(), Limits(), models)
    detector = YuNetFaceDetector()
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    found: dict[tuple[Path, str], bool] = {}
    variants = ["", f"{ablate}=0"] if ablate else [""]
    default = getattr(face_yunet, ablate) if ablate else None
    for (path, n), variant in ((p, v) for p in paths.items() for v in variants):
        if ablate:
            setattr(face_yunet, ablate, 0 if variant else default)
        data = path.read_bytes()
        best: dict[str, float] | None = None
        for _ in range(repeat):
            item = LoadedItem(FileLocation(str(path)), sniff(data[:4096]), data)
            t0 = time.process_time()
            im = imaging.open_image(data, item.content_type, 10**9)
            imaging.decode_working(im, item.content_type, 0, FINE_TARGET, detail=True)
            decode = time.process_time() - t0
            log: dict[str, float] = {}
            with _timed_calls(log):
                t0 = time.process_time()
                out = detector.detect(item, ctx)
                log["detector total"] = time.process_time() - t0
            log["decode alone"] = decode
            if best is None or log["detector total"] < best["detector total"]:
                best = log
            found[path, variant] = bool(out.evidence)
        assert best is not None
        groups[("face" if n else "no face") + (f", {variant}" if variant else "")].append(best)
    if ablate:
        setattr(face_yunet, ablate, default)
    for name, logs in groups.items():
        keys = sorted({k for log in logs for k in log})
        variant = name.partition(", ")[2]
        hit = sum(found[p, variant] for p, n in paths.items() if bool(n) == name.startswith("face"))
        print(f"  {name} photos ({len(logs)}, detected {hit}): mean CPU per photo, one core")
        for key in keys:
            values = [log.get(key, 0.0) for log in logs]
            plain = "calls" in key or "Mpx" in key
            unit = "" if plain else " ms"
            scale = 1 if plain else 1000
            print(f"    {key:>18}: {scale * float(np.mean(values)):7.2f}{unit}")
        total = 1000 * float(np.mean([log["detector total"] for log in logs]))
        if name.startswith("no face"):
            print(f"    target 2: <= 100 ms per photo per core, measured {total:.0f} ms")


def floor(paths: list[Path], repeat: int) -> dict[str, float]:
    """What no change to the search around it can take away (target 2): per photo without a
    face, the decode to the fine working image and the fine pass alone, the YuNet pass that
    gives the 60-300 px faces of a 4000 px photo (~15-75 px at 1024) their candidates (target
    3 needs it). Best of `repeat` per photo, CPU time, one core, the product's own calls."""
    from scanner.config import DetectionSettings
    from scanner.detectors import face_yunet
    from scanner.detectors.base import ModelCache
    from scanner.faces import imaging
    from scanner.sniff import sniff

    models, settings = ModelCache(), DetectionSettings()
    decode, fine, mpx = [], [], []
    for path in paths:
        data = path.read_bytes()
        kind = sniff(data[:4096])
        best_decode = best_fine = float("inf")
        for _ in range(repeat):
            t0 = time.process_time()
            im = imaging.open_image(data, kind, 10**9)
            work = imaging.decode_working(im, kind, 0, face_yunet.FINE_TARGET, None)
            t1 = time.process_time()
            face_yunet._run(models, work.image, 0, settings, pad=False)
            t2 = time.process_time()
            best_decode, best_fine = min(best_decode, t1 - t0), min(best_fine, t2 - t1)
        decode.append(best_decode)
        fine.append(best_fine)
        mpx.append(work.image.width * work.image.height / 1e6)
    ms = 1000 * float(np.mean(fine))
    return {
        "decode_ms": 1000 * float(np.mean(decode)),
        "fine_ms": ms,
        "fine_mpx": float(np.mean(mpx)),
        "yunet_ms_per_mpx": ms / float(np.mean(mpx)),
        "photos": len(paths),
    }


# -- end to end, start-up included ------------------------------------------------------------


def run_command(folder: Path) -> tuple[float, set[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(VENV_BIN / "face_detection"), "--cpus", "2", str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - t0
    return seconds, {Path(line.split(",")[0]).name for line in proc.stdout.splitlines() if line}


def run_faceaudit(folder: Path, workers: int = 2) -> tuple[float, set[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        t0 = time.perf_counter()
        subprocess.run(
            [
                *(sys.executable, "-m", "scanner", "scan", str(folder), "-j", str(workers)),
                *("-f", "json", "-o", str(report), "--fail-on", "never", "--allow-incomplete"),
                "--no-state",  # a rescan would answer from the state database
            ],
            env=env,
            capture_output=True,
            check=True,
        )
        seconds = time.perf_counter() - t0
        doc = json.loads(report.read_text())
    names = set()
    for item in doc["items"]:
        if item["kind"] == "face_image":
            names.add(Path(item["path"]).name)
    return seconds, names


def score(paths: dict[Path, int], hits: set[str]) -> tuple[int, int, int]:
    faces = [p for p, n in paths.items() if n]
    found = sum(p.name in hits for p in faces)
    false = sum(p.name in hits for p, n in paths.items() if not n)
    return found, len(faces), false


def compare(name: str, paths: dict[Path, int], folder: Path) -> None:
    runs = {"face_detection --cpus 2": run_command(folder), "faceaudit -j 2": run_faceaudit(folder)}
    ref = runs["face_detection --cpus 2"][0]
    print(f"  {name}: {len(paths)} photos")
    ours = runs["faceaudit -j 2"]
    print(
        f"    target 1: >= 10x face_detection at >= its recall, <= 1 more false positive; "
        f"measured x{ref / ours[0]:.1f}"
    )
    for tool, (seconds, hits) in runs.items():
        found, total, false = score(paths, hits)
        print(
            f"    {tool:>24}: {seconds:6.2f} s  {len(paths) / seconds:6.2f} photos/s  "
            f"x{ref / seconds:5.1f}  recall {found}/{total}  false positives {false}"
        )
        missed = sorted(p.name for p, n in paths.items() if n and p.name not in hits)
        if missed:
            print(f"      missed: {' '.join(missed)}")


def tier_recall(paths: dict[Path, int], folder: Path) -> None:
    """Target 3: faceaudit's recall >= the command's in every tier."""
    print("    target 3: faceaudit's recall >= face_detection's in every tier")
    runs = {"face_detection --cpus 2": run_command(folder), "faceaudit -j 2": run_faceaudit(folder)}
    for tool, (seconds, hits) in runs.items():
        cells = []
        for px in TIERS:
            tier = {p: n for p, n in paths.items() if p.name.startswith(f"t{px:03d}_")}
            found, total, _ = score(tier, hits)
            cells.append(f"{px} px {found}/{total}")
        print(f"    {tool:>24}: {'  '.join(cells)}  ({seconds:.1f} s)")
        missed = sorted(p.name for p in paths if p.name not in hits)
        print(f"      missed: {' '.join(missed)}")


def _worker_env() -> None:
    """Measure in the environment the scanner's workers get (scanner/pool.py)."""
    want = {
        "OMP_NUM_THREADS": "1",
        "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
        "MALLOC_TRIM_THRESHOLD_": str(256 * 1024 * 1024),
    }
    if any(os.environ.get(k) != v for k, v in want.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **want})


def main(argv: list[str] | None = None) -> int:
    _worker_env()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--per-tier", type=int, default=8, help="photos per small-face tier")
    ap.add_argument("--repeat", type=int, default=2, help="per-photo runs (the fastest counts)")
    ap.add_argument("--skip", nargs="*", default=[], choices=["per-photo", "compare", "tiers"])
    ap.add_argument(
        "--ablate",
        metavar="CONSTANT",
        help="also run every photo with this face_yunet constant at 0 (e.g. MAX_PROPOSALS)",
    )
    ap.add_argument("--small", action="store_true", help="per photo: the small-face tier too")
    ap.add_argument(
        "--floor", action="store_true", help="only the no-face photos' floor, as one JSON line"
    )
    a = ap.parse_args(argv)
    corpus = photo_corpus.build(a.seed, a.per_tier)
    if a.floor:
        empty = [p.path for p in corpus.main if not p.faces]
        print(json.dumps(floor(empty, max(2, a.repeat))))
        return 0
    print(corpus.note)
    paths = truth(corpus.main)
    if "per-photo" not in a.skip:
        print("1. per photo, one process")
        per_photo({**paths, **truth(corpus.small)} if a.small else paths, a.repeat, a.ablate)
    if "compare" not in a.skip:
        print("2. end to end, start-up included")
        compare("make_photos corpus", paths, corpus.main_dir)
    if "tiers" not in a.skip:
        print("3. small-face tier (face height in a 4000x3000 photo, dlib HOG's box)")
        tier_recall(truth(corpus.small), corpus.small_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
