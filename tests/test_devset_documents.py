"""Faces inside documents are found as well as the same photos as plain files (issue 16).

A subset of ../shared/data/faces-dev (every other JPEG/PNG photo with a counted number of
faces: with and without faces) is scanned as it is, then embedded one photo per document in a
PDF (a JPEG's own bytes as DCTDecode; a PNG's pixels as PNG rows), a Word document and an
OpenDocument text (the photo's own file in the media folder). Image-level recall inside each
kind of document must be within 2 points of the plain files' recall, false positives no more
than 2 points above. Skips, saying so, when the development set is absent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from scanner import demo_documents as documents
from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.model import EvidenceKind, ScanResult

pytestmark = pytest.mark.slow

KINDS = ("pdf", "docx", "odt")


def subset(devset: Path) -> list[tuple[str, bool]]:
    with open(devset / "manifest.csv", newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["kind"] in ("face_image", "no_face_image")
            and r["faces"] != ""
            and r["path"].lower().endswith((".jpg", ".jpeg", ".png"))
        ]
    return [(r["path"], r["faces"] != "0") for r in sorted(rows, key=lambda r: r["path"])[::2]]


def build(devset: Path, photos: list[tuple[str, bool]], out: Path) -> None:
    for n, (path, _) in enumerate(photos):
        data = (devset / path).read_bytes()
        with Image.open(devset / path) as im:
            im.load()
            image = im
        is_jpeg = data[:3] == b"\xff\xd8\xff"
        if not is_jpeg and data[:4] != b"\x89PNG":  # named .jpg, but another format (WebP)
            buf = io.BytesIO()
            image.convert("RGB").save(buf, "PNG")
            data = buf.getvalue()
        picture = (
            documents.Picture(image, "jpeg", jpeg=data)
            if is_jpeg
            else documents.Picture(image.convert("RGB"), "png")
        )
        (out / f"{n:03}.pdf").write_bytes(
            documents.pdf([documents.Page(text="Form"), documents.Page([picture])])
        )
        name = "image1.jpeg" if is_jpeg else "image1.png"
        (out / f"{n:03}.docx").write_bytes(documents.docx(image, "CV", data, name))
        (out / f"{n:03}.odt").write_bytes(documents.odt(image, "CV", data, name))


def with_faces(result: ScanResult) -> set[str]:
    return {
        i.location.display
        for i in result.items
        if any(e.kind is EvidenceKind.FACE_IMAGE for e in i.evidence)
    }


def rates(found: Callable[[int, str], bool], photos: list[tuple[str, bool]]) -> tuple[float, int]:
    positives = [n for n, (_, face) in enumerate(photos) if face]
    negatives = [n for n, (_, face) in enumerate(photos) if not face]
    recall = sum(found(n, p) for n, (p, _) in enumerate(photos) if n in positives) / len(positives)
    false = sum(found(n, p) for n, (p, _) in enumerate(photos) if n in negatives)
    return recall, false


def test_recall_inside_documents_matches_plain_files(
    devset: Path, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    photos = subset(devset)
    plain = with_faces(
        run_scan(ScanConfig(targets=tuple(devset / p for p, _ in photos), workers=2))
    )
    build(devset, photos, tmp_path)
    result = run_scan(ScanConfig(targets=(tmp_path,), workers=2))
    inside = {d.split("!/", 1)[0] for d in with_faces(result)}
    assert not result.problems, result.problems
    figures = {"plain": rates(lambda n, p: str(devset / p) in plain, photos)}
    for kind in KINDS:
        figures[kind] = rates(lambda n, p, k=kind: str(tmp_path / f"{n:03}.{k}") in inside, photos)  # type: ignore[misc]
    negatives = sum(not face for _, face in photos)
    lines = [
        f"{kind}: recall {recall:.3f}, false positives {false}/{negatives}"
        for kind, (recall, false) in figures.items()
    ]
    print(f"\n{len(photos)} development-set photos\n" + "\n".join(lines))
    for kind, (recall, false) in figures.items():
        record_property(f"recall_{kind}", round(recall, 4))
        record_property(f"false_positives_{kind}", false)
    base_recall, base_false = figures["plain"]
    for kind in KINDS:
        recall, false = figures[kind]
        assert abs(recall - base_recall) <= 0.02, (kind, recall, base_recall)
        assert false <= base_false + max(1, round(0.02 * negatives)), (kind, false, base_false)
