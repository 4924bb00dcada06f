"""Benchmark: faces inside documents (issue 16) — pages per second, and the share of the time
spent outside the detectors.

The pages are 16 of the benchmark's main photos (bench/photo_corpus.py: 4000x3000 JPEGs; two
thirds with faces, as in the set; `--photos 48` for all), in PDFs of 8 pages written by
scanner.demo_documents:
- scanned: each photo a page as its own JPEG (DCTDecode, handed to the detectors as it is),
  as a scanner or a phone app stores a page;
- flate: each photo reduced to an A4 page at 150 dpi (1240x930) and stored as raw samples,
  Flate-compressed (inflated and rebuilt as a PNM before the detectors see it).

Three scans with the same workers (`--workers`, 2 by default), each a real run_scan:
the PDFs, the same JPEGs as plain files, and the flate PDFs beside the flate pictures as plain
PNGs. The time outside the detectors is (documents - plain) / documents: what opening the
PDFs, reading their page trees and handing their pictures over costs on top of decoding and
detecting the same pictures. Extraction alone (PdfWalker, one process, no detector) is timed
too. Nothing is asserted; the machine is shared, so compare the ratios of one run.

    python bench/bench_documents.py [--photos 16] [--seed 7] [--workers 2]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import photo_corpus
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scanner import demo_documents as documents  # noqa: E402
from scanner.config import Limits, ScanConfig  # noqa: E402
from scanner.engine import run_scan  # noqa: E402
from scanner.model import FileLocation, ScanResult  # noqa: E402
from scanner.sources.pdf import PdfWalker  # noqa: E402

PAGES_PER_PDF = 8
FLATE_SIZE = (1240, 930)  # a 4:3 photo across an A4 page at 150 dpi


def chosen(corpus: photo_corpus.Corpus, n: int) -> list[Path]:
    """n photos of the main set, two thirds with faces (as the set itself)."""
    faces = [p.path for p in corpus.main if p.faces]
    empty = [p.path for p in corpus.main if not p.faces]
    with_faces = min(len(faces), round(n * 2 / 3))
    return faces[:with_faces] + empty[: n - with_faces]


def build(photos: list[Path], out: Path) -> tuple[Path, Path, Path, Path]:
    """(scanned PDFs, plain JPEGs, flate PDFs, plain PNGs) folders, built once per choice."""
    scanned, plain, flate, pngs = (out / n for n in ("scanned", "plain", "flate", "pngs"))
    if (out / "done").is_file():
        return scanned, plain, flate, pngs
    for folder in (scanned, plain, flate, pngs):
        folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(photos), PAGES_PER_PDF):
        chunk = photos[start : start + PAGES_PER_PDF]
        pages, small_pages = [], []
        for path in chunk:
            data = path.read_bytes()
            with Image.open(path) as im:
                size = im.size
                small = im.convert("RGB").resize(FLATE_SIZE)
            placeholder = Image.new("RGB", size)  # the size is all the writer reads
            page = documents.Picture(placeholder, "jpeg", x=0, y=0, width=595, jpeg=data)
            pages.append(documents.Page([page]))
            small_pages.append(
                documents.Page([documents.Picture(small, "flate", x=0, y=0, width=595)])
            )
            (plain / path.name).write_bytes(data)
            buf = io.BytesIO()
            small.save(buf, "PNG", compress_level=1)
            (pngs / f"{path.stem}.png").write_bytes(buf.getvalue())
        name = f"pages-{start // PAGES_PER_PDF + 1:02}.pdf"
        (scanned / name).write_bytes(documents.pdf(pages))
        (flate / name).write_bytes(documents.pdf(small_pages))
    (out / "done").write_text("built\n")
    return scanned, plain, flate, pngs


def timed_scan(folder: Path, workers: int) -> tuple[float, ScanResult]:
    started = time.perf_counter()
    result = run_scan(ScanConfig(targets=(folder,), workers=workers))
    return time.perf_counter() - started, result


def extraction(folder: Path) -> tuple[float, int]:
    """Seconds to open every PDF and take its pictures out, no detector; pictures found."""
    started = time.perf_counter()
    found = 0
    for path in sorted(folder.glob("*.pdf")):
        walker = PdfWalker(Limits())
        found += sum(1 for _ in walker.expand(FileLocation(str(path)), path.read_bytes()))
    return time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=16, help="pages in all (48: every photo)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    corpus = photo_corpus.build(args.seed)
    photos = chosen(corpus, args.photos)
    out = photo_corpus.CACHE / f"seed{args.seed}" / f"documents-{len(photos)}"
    scanned, plain, flate, pngs = build(photos, out)
    started = time.perf_counter()
    print(
        f"corpus: {corpus.note}; {len(photos)} of its photos as pages, in PDFs of {PAGES_PER_PDF}"
    )
    for label, docs, same in (
        ("scanned (JPEG pages)", scanned, plain),
        ("flate (raw samples)", flate, pngs),
    ):
        t_docs, r_docs = timed_scan(docs, args.workers)
        t_plain, r_plain = timed_scan(same, args.workers)
        t_extract, pictures = extraction(docs)
        pages = r_docs.stats.pages_examined
        outside = max(0.0, (t_docs - t_plain) / t_docs)
        print(
            f"{label}: {pages}/{r_docs.stats.pages_total} pages in {t_docs:.1f} s = "
            f"{pages / t_docs:.2f} pages/s; the same pictures as files {t_plain:.1f} s "
            f"({len(r_plain.items)} with faces vs {len(r_docs.items)} in the PDFs); "
            f"outside the detectors {outside:.0%}; extraction alone {t_extract:.2f} s "
            f"for {pictures} pictures ({t_extract / t_docs:.0%} of the scan, one process)"
        )
    print(f"measured in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
