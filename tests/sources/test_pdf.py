"""Pictures inside PDFs: real face photos stored as JPEG, raw Flate samples and PNG rows, a
scanned page, XMP, encryption, malformed files and bombs, and hard negatives.

Every PDF is written in the test from scikit-image's astronaut (scanner.demo_documents, a
hand-written PDF writer; pypdf's writer for the encrypted ones), and scanned by the real
detectors.
"""

from __future__ import annotations

import io
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import astronaut, no_face
from PIL import Image, ImageDraw

from scanner import demo_documents as documents
from scanner.config import Limits
from scanner.demo_documents import Page, Picture
from scanner.model import ContentType, EvidenceKind, ProblemReason, ScanResult

Scan = Callable[..., ScanResult]


def face() -> Image.Image:
    return astronaut().crop((100, 0, 400, 300))


def found(result: ScanResult, root: Path) -> dict[str, tuple[str, int]]:
    """Items with evidence, named below `root`: their kind and faces."""
    out = {}
    for item in result.items:
        [evidence] = [e for e in item.evidence if e.kind is item.primary.kind]  # type: ignore[union-attr]
        out[item.location.display.removeprefix(f"{root}/")] = (evidence.kind.value, evidence.faces)
    return out


def problems(result: ScanResult, root: Path) -> list[tuple[str, ProblemReason]]:
    return sorted((p.location.display.removeprefix(f"{root}/"), p.reason) for p in result.problems)


def chart(kind: str = "bars") -> Image.Image:
    """A chart drawn with PIL: bars or a pie, axes and labels (no face)."""
    im = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(im)
    draw.line((40, 360, 620, 360), fill="black", width=2)
    draw.line((40, 20, 40, 360), fill="black", width=2)
    if kind == "bars":
        for n, h in enumerate((120, 250, 180, 300, 90, 220)):
            draw.rectangle((70 + n * 90, 360 - h, 130 + n * 90, 360), fill=(40 + 30 * n, 90, 200))
            draw.text((80 + n * 90, 370), f"Q{n + 1}", fill="black")
    else:
        draw.pieslice((180, 60, 460, 340), 0, 130, fill=(200, 60, 60))
        draw.pieslice((180, 60, 460, 340), 130, 250, fill=(60, 160, 60))
        draw.pieslice((180, 60, 460, 340), 250, 360, fill=(60, 60, 200))
        draw.ellipse((280, 160, 360, 240), fill="white")  # a donut: a round hole, no face
    return im


# -- pictures found, however they are stored ------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "content_type"),
    [("jpeg", "jpeg"), ("flate", "pnm"), ("png", "png")],
)
def test_a_face_photo_in_a_pdf_is_found_as_its_page_and_picture(
    scan: Scan, tmp_path: Path, encoding: str, content_type: str
) -> None:
    doc = documents.pdf(
        [
            Page(text="Onboarding form"),
            Page([Picture(chart(), "flate", y=420), Picture(face(), encoding, width=200)]),  # type: ignore[arg-type]
        ]
    )
    (tmp_path / "onboarding.pdf").write_bytes(doc)
    result = scan(tmp_path)
    assert found(result, tmp_path) == {"onboarding.pdf!/page-2/image-2": ("face_image", 1)}
    assert result.problems == ()
    assert (result.stats.pages_examined, result.stats.pages_total) == (2, 2)
    counts = dict(result.stats.by_content_type)
    assert counts["pdf"] == 1
    assert counts[content_type] >= 1
    assert result.stats.archive_members == 2  # the two pictures


def test_grey_pictures_with_png_rows_and_raw_samples(scan: Scan, tmp_path: Path) -> None:
    grey = face().convert("L")
    doc = documents.pdf([Page([Picture(grey, "png")]), Page([Picture(grey.rotate(0), "flate")])])
    (tmp_path / "grey.pdf").write_bytes(doc)
    result = scan(tmp_path)
    assert found(result, tmp_path) == {
        "grey.pdf!/page-1/image-1": ("face_image", 1),
        "grey.pdf!/page-2/image-1": ("face_image", 1),
    }


def test_a_scanned_page_is_one_big_picture(scan: Scan, tmp_path: Path) -> None:
    """An ID card photocopied onto an A4 page at 100 dpi: the page is one JPEG."""
    page = Image.new("RGB", (827, 1169), (246, 244, 240))
    card = Image.new("RGB", (340, 214), (225, 230, 240))
    card.paste(face().resize((120, 120)), (16, 40))
    ImageDraw.Draw(card).text((150, 50), "IDENTITY CARD\nDOE JANE\n1990-01-01", fill="black")
    page.paste(card.rotate(1.5, expand=True, fillcolor=(246, 244, 240)), (90, 120))
    doc = documents.pdf([Page([Picture(page, "jpeg", x=0, y=0, width=595, quality=75)])])
    (tmp_path / "scan-0001.pdf").write_bytes(doc)
    result = scan(tmp_path)
    assert found(result, tmp_path) == {"scan-0001.pdf!/page-1/image-1": ("face_image", 1)}


def test_a_picture_shown_on_every_page_is_looked_at_once(scan: Scan, tmp_path: Path) -> None:
    portrait = Picture(face(), "jpeg", width=120)
    objects = documents.pdf([Page([portrait]), Page([portrait])])
    (tmp_path / "two.pdf").write_bytes(objects)
    result = scan(tmp_path)
    # the writer stores it twice: two objects, two pictures
    assert set(found(result, tmp_path)) == {"two.pdf!/page-1/image-1", "two.pdf!/page-2/image-1"}
    shared = _shared_picture_pdf(face())
    (tmp_path / "two.pdf").write_bytes(shared)
    result = scan(tmp_path)
    assert set(found(result, tmp_path)) == {"two.pdf!/page-1/image-1"}
    assert (result.stats.pages_examined, result.stats.pages_total) == (3, 3)


def _shared_picture_pdf(photo: Image.Image) -> bytes:
    """Three pages that all draw the same image object (a letterhead photo)."""
    buf = io.BytesIO()
    photo.save(buf, "JPEG")
    image = documents.stream_object(
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode >>" % photo.size,
        buf.getvalue(),
    )
    content = documents.stream_object(b"<< >>", b"q 200 0 0 200 36 36 cm /Im1 Do Q")
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
    page += b"/Resources << /XObject << /Im1 3 0 R >> >> >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [5 0 R 6 0 R 7 0 R] /Count 3 >>",
        image,
        content,
        page,
        page,
        page,
    ]
    return documents.assemble(objects, 1)


def test_xmp_in_a_pdf_goes_to_the_tag_detector(scan: Scan, tmp_path: Path) -> None:
    xmp = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description rdf:about="" '
        b'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        b"<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Jane Doe</rdf:li></rdf:Bag>"
        b"</Iptc4xmpExt:PersonInImage></rdf:Description></rdf:RDF></x:xmpmeta>"
        b'<?xpacket end="w"?>'
    )
    (tmp_path / "badge-request.pdf").write_bytes(
        documents.pdf([Page(text="Badge request")], xmp=xmp)
    )
    result = scan(tmp_path)
    assert found(result, tmp_path) == {"badge-request.pdf!/metadata.xmp": ("face_tagged", 1)}
    assert dict(result.stats.by_content_type)["xmp"] == 1


# -- encrypted, malformed, bombs ----------------------------------------------------------------


def _encrypted(user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(documents.pdf([Page([Picture(face())])]))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_an_encrypted_pdf_is_reported_never_cracked(scan: Scan, tmp_path: Path) -> None:
    (tmp_path / "passport.pdf").write_bytes(_encrypted("1990-01-01"))
    # encrypted only against printing or copying: opens with the empty password, as in viewers
    (tmp_path / "restricted.pdf").write_bytes(_encrypted(""))
    result = scan(tmp_path)
    assert found(result, tmp_path) == {"restricted.pdf!/page-1/image-1": ("face_image", 1)}
    assert problems(result, tmp_path) == [("passport.pdf", ProblemReason.ENCRYPTED_DOCUMENT)]
    assert result.incomplete


def test_malformed_pdfs_are_problems_and_the_scan_goes_on(scan: Scan, tmp_path: Path) -> None:
    good = documents.pdf([Page([Picture(face())])])
    (tmp_path / "a-truncated.pdf").write_bytes(good[: len(good) // 3])
    (tmp_path / "b-garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    (tmp_path / "c-good.pdf").write_bytes(good)
    result = scan(tmp_path)
    assert found(result, tmp_path) == {"c-good.pdf!/page-1/image-1": ("face_image", 1)}
    reasons = dict(problems(result, tmp_path))
    assert set(reasons) <= {"a-truncated.pdf", "b-garbage.pdf"}
    assert "b-garbage.pdf" in reasons
    assert set(reasons.values()) <= {ProblemReason.DECODE_ERROR}


def _with_image(image: bytes) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /XObject << /Im1 4 0 R >> >> >>",
        image,
    ]
    return documents.assemble(objects, 1)


def test_a_huge_declared_picture_is_refused_before_it_is_inflated(
    scan: Scan, tmp_path: Path
) -> None:
    # 200,000 x 200,000 RGB pixels declared (120 GB): refused from the dictionary alone
    bomb = zlib.compress(bytes(64 * 1024 * 1024), 9)  # what it holds: 64 MiB of zeros
    head = b"<< /Subtype /Image /Width 200000 /Height 200000 /ColorSpace /DeviceRGB "
    head += b"/BitsPerComponent 8 /Filter /FlateDecode >>"
    (tmp_path / "bomb.pdf").write_bytes(_with_image(documents.stream_object(head, bomb)))
    # a sane size declared, a stream that inflates far beyond it: read up to the size only
    small = b"<< /Subtype /Image /Width 100 /Height 100 /ColorSpace /DeviceRGB "
    small += b"/BitsPerComponent 8 /Filter /FlateDecode >>"
    (tmp_path / "overflow.pdf").write_bytes(_with_image(documents.stream_object(small, bomb)))
    started = time.monotonic()
    result = scan(tmp_path)
    assert time.monotonic() - started < 20
    assert result.items == ()
    assert problems(result, tmp_path) == [("bomb.pdf!/page-1/image-1", ProblemReason.PIXEL_LIMIT)]


def test_deep_nesting_is_a_problem_not_a_crash(scan: Scan, tmp_path: Path) -> None:
    deep = b"<< /Subtype /Image /Width 64 /Height 64 /Nest " + b"[" * 100_000 + b"]" * 100_000
    deep += b" >>"
    (tmp_path / "nested.pdf").write_bytes(_with_image(deep))
    (tmp_path / "photo.pdf").write_bytes(documents.pdf([Page([Picture(face())])]))
    started = time.monotonic()
    result = scan(tmp_path)
    assert time.monotonic() - started < 30
    assert set(found(result, tmp_path)) == {"photo.pdf!/page-1/image-1"}
    [(where, reason)] = problems(result, tmp_path)
    assert where.startswith("nested.pdf")
    assert reason in (ProblemReason.ARCHIVE_DEPTH, ProblemReason.DECODE_ERROR)


def test_pages_beyond_the_entry_limit_are_reported(scan: Scan, tmp_path: Path) -> None:
    doc = documents.pdf([Page(text=f"page {n}") for n in range(9)] + [Page([Picture(face())])])
    (tmp_path / "long.pdf").write_bytes(doc)
    result = scan(tmp_path, limits=Limits(archive_max_entries=5))
    assert result.items == ()
    assert problems(result, tmp_path) == [("long.pdf", ProblemReason.ARCHIVE_ENTRIES)]
    assert (result.stats.pages_examined, result.stats.pages_total) == (5, 10)


def test_unsupported_picture_encodings_are_reported_as_not_analysed(
    scan: Scan, tmp_path: Path
) -> None:
    head = b"<< /Subtype /Image /Width 800 /Height 1100 /ColorSpace /DeviceGray "
    head += b"/BitsPerComponent 1 /Filter /CCITTFaxDecode /DecodeParms << /K -1 /Columns 800 >> >>"
    (tmp_path / "fax.pdf").write_bytes(_with_image(documents.stream_object(head, b"\x00" * 64)))
    result = scan(tmp_path)
    [problem] = result.problems
    assert problem.reason is ProblemReason.UNSUPPORTED_ENCODING
    assert "CCITTFaxDecode" in problem.detail


# -- hard negatives ------------------------------------------------------------------------------


def test_hard_negatives_text_and_charts(scan: Scan, tmp_path: Path) -> None:
    (tmp_path / "policy.pdf").write_bytes(
        documents.pdf([Page(text=f"Retention policy, section {n}") for n in range(1, 6)])
    )
    (tmp_path / "charts.pdf").write_bytes(
        documents.pdf(
            [
                Page([Picture(chart("bars"), "flate")]),
                Page([Picture(chart("pie"), "png")]),
                Page([Picture(no_face(), "jpeg")]),
            ]
        )
    )
    result = scan(tmp_path)
    assert result.items == ()
    assert result.problems == ()
    assert (result.stats.pages_examined, result.stats.pages_total) == (8, 8)


def test_a_pdf_inside_an_archive_is_opened(scan: Scan, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hr/onboarding.pdf", documents.pdf([Page([Picture(face())])]))
    (tmp_path / "export.zip").write_bytes(buf.getvalue())
    result = scan(tmp_path)
    assert found(result, tmp_path) == {
        "export.zip!/hr/onboarding.pdf!/page-1/image-1": ("face_image", 1)
    }
    assert (result.stats.pages_examined, result.stats.pages_total) == (1, 1)


def test_pdf_pictures_go_through_worker_processes(scan: Scan, tmp_path: Path) -> None:
    pages = [Page([Picture(face(), enc)]) for enc in ("jpeg", "flate", "png")]  # type: ignore[arg-type]
    (tmp_path / "three.pdf").write_bytes(documents.pdf(pages))
    result = scan(tmp_path, workers=2)
    assert set(found(result, tmp_path)) == {f"three.pdf!/page-{n}/image-1" for n in (1, 2, 3)}
    assert ContentType.PDF.value in dict(result.stats.by_content_type)
    assert all(e.kind is EvidenceKind.FACE_IMAGE for i in result.items for e in i.evidence)


def test_an_unchanged_pdf_is_reused_from_the_state(tmp_path: Path) -> None:
    from scanner.config import ScanConfig
    from scanner.engine import run_scan
    from scanner.state.store import StateDB

    root = tmp_path / "t"
    root.mkdir()
    (root / "hr.pdf").write_bytes(documents.pdf([Page(text="Form"), Page([Picture(face())])]))
    (root / "cv.docx").write_bytes(documents.docx(face(), "CV"))
    time.sleep(2.1)  # past the racy window: files modified just before a scan are not trusted

    def again() -> ScanResult:
        with StateDB(tmp_path / "state.db") as db:
            return run_scan(ScanConfig(targets=(root,), workers=0), state=db)

    first, second = again(), again()
    expected = {
        "hr.pdf!/page-2/image-1": ("face_image", 1),
        "cv.docx!/word/media/image1.jpeg": ("face_image", 1),
    }
    assert found(first, root) == found(second, root) == expected
    assert (first.stats.reused, second.stats.reused) == (0, 2)
    assert dict(first.stats.by_content_type) == dict(second.stats.by_content_type)
    assert first.stats.items_scanned == second.stats.items_scanned
    assert (first.stats.pages_examined, first.stats.pages_total) == (2, 2)


def test_a_document_declaring_too_many_objects_is_not_read(scan: Scan, tmp_path: Path) -> None:
    doc = documents.pdf([Page([Picture(face())])])
    (tmp_path / "many.pdf").write_bytes(doc.replace(b"/Size 7 ", b"/Size 900000 "))
    result = scan(tmp_path, limits=Limits(archive_max_entries=10))  # 1,000 objects at most
    assert result.items == ()
    [problem] = result.problems
    assert problem.reason is ProblemReason.ARCHIVE_ENTRIES
    assert "declares 900000 objects" in problem.detail


def test_a_jpeg_2000_picture_is_read_by_pillow(scan: Scan, tmp_path: Path) -> None:
    from PIL import features

    if not features.check("jpg_2000"):
        pytest.fail("this Pillow build has no OpenJPEG: JPXDecode pictures cannot be read")
    buf = io.BytesIO()
    face().save(buf, "JPEG2000", quality_mode="rates", quality_layers=[20])
    head = b"<< /Subtype /Image /Width 300 /Height 300 /Filter /JPXDecode >>"
    (tmp_path / "jpx.pdf").write_bytes(_with_image(documents.stream_object(head, buf.getvalue())))
    result = scan(tmp_path)
    assert found(result, tmp_path) == {"jpx.pdf!/page-1/image-1": ("face_image", 1)}
    assert dict(result.stats.by_content_type)["jpeg2000"] == 1
