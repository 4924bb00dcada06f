"""The quality bar, measured on ../shared/data/faces-dev (real photos from public projects).

Image-level recall >= 0.97 on images with at least one face, false-positive images <= 3% of
images without a face (rows with a blank `faces` are ambiguous and skipped), and every listed
format read. These tests skip, saying so, when the development set is absent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from scanner.config import Limits
from scanner.faces import imaging
from scanner.model import EvidenceKind, ProblemReason, ScanResult

pytestmark = pytest.mark.slow


def manifest(devset: Path) -> list[dict[str, str]]:
    with open(devset / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def devscan(devset: Path) -> ScanResult:
    from scanner.config import ScanConfig
    from scanner.engine import run_scan

    return run_scan(ScanConfig(targets=(devset,), workers=2))


def _relative(devset: Path, display: str) -> str:
    return str(Path(display).relative_to(devset))


def test_recall_and_false_positives(
    devset: Path, devscan: ScanResult, record_property: Callable[[str, object], None]
) -> None:
    found = {
        _relative(devset, i.location.display)
        for i in devscan.items
        if any(e.kind is EvidenceKind.FACE_IMAGE for e in i.evidence)
    }
    rows = [r for r in manifest(devset) if r["kind"] in ("face_image", "no_face_image")]
    positives = [r["path"] for r in rows if r["faces"] not in ("", "0")]
    negatives = [r["path"] for r in rows if r["faces"] == "0"]
    missed = sorted(p for p in positives if p not in found)
    false = sorted(p for p in negatives if p in found)
    recall = 1 - len(missed) / len(positives)
    fp_rate = len(false) / len(negatives)
    record_property("recall", round(recall, 4))
    record_property("false_positive_rate", round(fp_rate, 4))
    print(
        f"\ndev set: recall {recall:.3f} ({len(positives) - len(missed)}/{len(positives)}), "
        f"false positives {fp_rate:.3f} ({len(false)}/{len(negatives)})"
    )
    assert recall >= 0.97, f"missed: {missed}"
    assert fp_rate <= 0.03, f"false faces in: {false}"


def test_no_embedding_or_schema_file_is_called_a_face(devset: Path, devscan: ScanResult) -> None:
    kinds = {r["path"]: r["kind"] for r in manifest(devset)}
    flagged = [
        _relative(devset, i.location.display)
        for i in devscan.items
        if any(e.kind is EvidenceKind.FACE_IMAGE for e in i.evidence)
    ]
    assert all(kinds.get(p) in ("face_image", "no_face_image") for p in flagged), flagged


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("photoprism_examples/iphone_7.heic", "heif"),
        ("pillow_test_images/avif/hopper.avif", "avif"),
        ("pillow_test_images/avif/hopper.heif", "heif"),
        ("deepface_dataset/img47.jpg", "webp"),  # WebP named .jpg
        ("photoprism_examples/airport_grey", "jpeg"),  # JPEG without extension
        ("photoprism_examples/this-is-a-jpeg.png", "jpeg"),
        ("inspireface_test_res/RD/d1.jpeg", "webp"),
        ("pillow_test_images/hopper.psd", "psd"),
        ("pillow_test_images/hopper.ppm", "pnm"),
        ("dlib_test_images/elon-musk-smoke.gif", "gif"),
    ],
)
def test_every_listed_format_is_read(
    devset: Path, devscan: ScanResult, path: str, content_type: str
) -> None:
    full = devset / path
    if not full.exists():
        pytest.skip(f"{path} is not in this copy of the development set")
    failed = [p for p in devscan.problems if p.location.display == str(full)]
    assert not failed, failed
    data = full.read_bytes()
    from scanner.sniff import sniff

    assert sniff(data[:4096]).value == content_type
    imaging.register_plugins()
    im = imaging.open_image(data, sniff(data[:4096]), Limits().max_pixels)
    work = imaging.decode_working(im, sniff(data[:4096]), 0, 1024)
    assert min(work.image.size) > 0


def test_only_the_corrupt_file_fails(devset: Path, devscan: ScanResult) -> None:
    incomplete = [p for p in devscan.problems if p.incomplete]
    assert [(_relative(devset, p.location.display), p.reason) for p in incomplete] == [
        ("skimage_data/truncated.jpg", ProblemReason.DECODE_ERROR)
    ]


def test_pixel_rotated_copies(
    devset: Path, scan: Callable[..., ScanResult], tmp_path: Path
) -> None:
    """Photos stored sideways with no EXIF tag: every face image of the set, turned 90
    degrees, must still be found (the rotation retry)."""
    rows = [
        r for r in manifest(devset) if r["kind"] == "face_image" and r["faces"] not in ("", "0")
    ]
    written = 0
    for n, row in enumerate(rows):
        try:
            im = ImageOps.exif_transpose(Image.open(devset / row["path"])).convert("RGB")
        except OSError:
            continue
        buf = io.BytesIO()
        im.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=90)
        (tmp_path / f"{n:03d}.jpg").write_bytes(buf.getvalue())
        written += 1
    result = scan(tmp_path, workers=2)
    recall = len(result.items) / written
    print(f"\npixel-rotated dev faces: recall {recall:.3f} ({len(result.items)}/{written})")
    assert recall >= 0.97
