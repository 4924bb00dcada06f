"""Office documents: Word, PowerPoint and OpenDocument files with a real face photo, walked
through their media folders by the archive walker (its bounds included); a deck of charts as
a hard negative; legacy OLE files reported by type.

Word and OpenDocument files are written by scanner.demo_documents (the Word one is checked
with python-docx, so the builder stays a valid writer); slide decks by python-pptx.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import astronaut
from PIL import Image, ImageDraw

from scanner import demo_documents as documents
from scanner.config import Limits
from scanner.model import ProblemReason, ScanResult

Scan = Callable[..., ScanResult]


def face() -> Image.Image:
    return astronaut().crop((100, 0, 400, 300))


def faces(result: ScanResult, root: Path) -> dict[str, int]:
    return {
        i.location.display.removeprefix(f"{root}/"): max(e.faces for e in i.evidence)
        for i in result.items
    }


def deck(*pictures: Image.Image) -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    presentation = Presentation()
    for picture in pictures:
        slide = presentation.slides.add_slide(presentation.slide_layouts[5])
        slide.shapes.title.text = "Our team"  # type: ignore[union-attr]
        buf = io.BytesIO()
        picture.save(buf, "PNG")
        slide.shapes.add_picture(buf, Inches(1), Inches(1.5), width=Inches(4))
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def bars(seed: int) -> Image.Image:
    im = Image.new("RGB", (800, 500), "white")
    draw = ImageDraw.Draw(im)
    draw.line((50, 450, 780, 450), fill="black", width=3)
    for n in range(7):
        h = 60 + (seed * 37 + n * 53) % 330
        draw.rectangle((80 + n * 100, 450 - h, 150 + n * 100, 450), fill=(30, 80 + n * 20, 160))
        draw.text((90 + n * 100, 460), f"{2019 + n}", fill="black")
    draw.ellipse((600, 40, 700, 140), outline="black", width=3)  # a legend ring
    return im


def test_a_cv_photo_in_word_and_opendocument_is_found(scan: Scan, tmp_path: Path) -> None:
    import docx

    (tmp_path / "cv-jane.docx").write_bytes(documents.docx(face(), "Jane Doe, curriculum vitae"))
    (tmp_path / "cv-john.odt").write_bytes(documents.odt(face(), "John Roe, curriculum vitae"))
    assert len(docx.Document(str(tmp_path / "cv-jane.docx")).inline_shapes) == 1  # a real .docx
    result = scan(tmp_path)
    assert faces(result, tmp_path) == {
        "cv-jane.docx!/word/media/image1.jpeg": 1,
        "cv-john.odt!/Pictures/photo.jpg": 1,
    }
    assert result.problems == ()
    counts = dict(result.stats.by_content_type)
    assert (counts["ooxml"], counts["opendocument"], counts["jpeg"]) == (1, 1, 2)
    assert result.stats.archive_members == 2  # the XML parts are never read


def test_staff_photos_in_a_slide_deck(scan: Scan, tmp_path: Path) -> None:
    (tmp_path / "all-hands.pptx").write_bytes(deck(bars(1), face(), bars(2)))
    result = scan(tmp_path, workers=2)
    assert faces(result, tmp_path) == {"all-hands.pptx!/ppt/media/image2.png": 1}
    assert result.problems == ()


def test_a_deck_of_charts_has_no_face(scan: Scan, tmp_path: Path) -> None:
    (tmp_path / "quarterly.pptx").write_bytes(deck(*(bars(n) for n in range(6))))
    result = scan(tmp_path)
    assert result.items == ()
    assert result.problems == ()
    assert result.stats.archive_members == 6


def test_office_documents_share_the_archive_bounds(scan: Scan, tmp_path: Path) -> None:
    (tmp_path / "cv.docx").write_bytes(documents.docx(face(), "CV"))
    result = scan(tmp_path, limits=Limits(archive_max_entries=3))  # the photo is the 5th part
    assert result.items == ()
    [problem] = result.problems
    assert problem.reason is ProblemReason.ARCHIVE_ENTRIES


def test_an_office_document_inside_a_zip(scan: Scan, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("applicants/cv.docx", documents.docx(face(), "CV"))
    (tmp_path / "recruiting.zip").write_bytes(buf.getvalue())
    result = scan(tmp_path)
    assert faces(result, tmp_path) == {
        "recruiting.zip!/applicants/cv.docx!/word/media/image1.jpeg": 1
    }


def test_a_zip_that_only_looks_like_an_office_document_is_walked_whole(
    scan: Scan, tmp_path: Path
) -> None:
    # [Content_Types].xml not first: a zip like any other, every member looked at
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("photos/badge.jpg", _jpeg(face()))
        zf.writestr("[Content_Types].xml", "<Types/>")
    (tmp_path / "export.zip").write_bytes(buf.getvalue())
    result = scan(tmp_path)
    assert faces(result, tmp_path) == {"export.zip!/photos/badge.jpg": 1}


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("name", ["minutes.doc", "budget.xls", "mail.msg"])
def test_legacy_ole_documents_are_reported_by_type(scan: Scan, tmp_path: Path, name: str) -> None:
    # the header sector of a compound file (what every .doc/.xls/.ppt/.msg starts with)
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16) + b"\x3e\x00\x03\x00\xfe\xff\x09\x00"
    (tmp_path / name).write_bytes(header.ljust(1536, b"\x00"))
    result = scan(tmp_path)
    [problem] = result.problems
    assert problem.reason is ProblemReason.UNSUPPORTED_CONTAINER
    assert "legacy Office documents" in problem.detail
    assert dict(result.stats.by_content_type)["ole"] == 1
