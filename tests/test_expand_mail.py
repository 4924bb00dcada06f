"""Mail as a container (scanner.expand_mail), through real scans: .eml, mbox and Maildir
messages built from real photos; inline images and attachments found by their bytes; names
cleaned; the message's Date as the parts' age; every bound reported; Outlook PST by type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from helpers import astronaut, encode, no_face
from media_helpers import mbox, message

from scanner.config import Limits
from scanner.model import (
    ContentType,
    EvidenceKind,
    ExitCode,
    MemberLocation,
    ProblemReason,
    ScanResult,
)

SENT = datetime(2022, 3, 1, 10, 0, tzinfo=timezone.utc)
Scan = Callable[..., ScanResult]


def _faces(result: ScanResult) -> dict[str, int]:
    return {
        i.location.display: max(e.faces for e in i.evidence)
        for i in result.items
        if any(e.kind is EvidenceKind.FACE_IMAGE for e in i.evidence)
    }


def test_an_eml_attachment_is_an_item_named_by_the_message_id(scan: Scan, tmp_path: Path) -> None:
    photo = encode(astronaut(), "JPEG")
    msg = message(date=SENT, attachments=[("astronaut.jpg", photo, "jpeg")])
    (tmp_path / "badge.eml").write_bytes(msg.as_bytes())
    result = scan(tmp_path)
    (item,) = result.items
    assert item.location.display == f"{tmp_path}/badge.eml!/msg-photo.1@mail.example/astronaut.jpg"
    assert isinstance(item.location, MemberLocation)
    assert item.content_type is ContentType.JPEG
    assert item.context.created == SENT  # the message's Date: the photo's age
    assert dict(result.stats.by_content_type)["email"] == 1
    assert dict(result.stats.media) == {"mail_messages": 1, "mail_parts": 2}
    assert result.exit_code is ExitCode.FINDINGS


def test_an_mbox_yields_inline_images_and_attachments_of_every_message(
    scan: Scan, tmp_path: Path
) -> None:
    face = encode(astronaut(), "PNG")
    coffee = encode(no_face(), "JPEG")
    first = message(inline=[("", face, "png")], attachments=[("coffee.jpg", coffee, "jpeg")])
    # No Message-ID: the message's number names it; a body line starting "From " is escaped.
    second = message(
        message_id=None,
        text="From the badge office:\nsee the photo.",
        attachments=[("id photo.jpg", encode(astronaut(), "JPEG"), "jpeg")],
    )
    (tmp_path / "hr.mbox").write_bytes(mbox([first, second]))
    result = scan(tmp_path)
    box = f"{tmp_path}/hr.mbox!/"
    assert _faces(result) == {
        box + "msg-photo.1@mail.example/part-3.png": 1,  # the inline image (no file name)
        box + "msg-2/id_photo.jpg": 1,
    }
    media = dict(result.stats.media)
    assert media["mail_messages"] == 2
    assert result.stats.archive_members == media["mail_parts"]
    assert not result.problems


def test_a_maildir_is_a_folder_of_messages(scan: Scan, tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    photo = encode(astronaut(), "JPEG")
    (maildir / "cur" / "1712000000.M1P2.host:2,S").write_bytes(
        message(date=SENT, attachments=[("a.jpg", photo, "jpeg")]).as_bytes()
    )
    (maildir / "new" / "1712000001.M3P4.host").write_bytes(
        message(message_id="<b@x>", attachments=[("b.jpg", photo, "jpeg")]).as_bytes()
    )
    result = scan(maildir)
    assert sorted(_faces(result)) == [
        f"{maildir}/cur/1712000000.M1P2.host:2,S!/msg-photo.1@mail.example/a.jpg",
        f"{maildir}/new/1712000001.M3P4.host!/msg-b@x/b.jpg",
    ]
    assert dict(result.stats.by_content_type)["email"] == 2


def test_hostile_names_are_cleaned_and_types_come_from_the_bytes(
    scan: Scan, tmp_path: Path
) -> None:
    photo = encode(astronaut(), "JPEG")
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    msg = message(
        message_id="<../../etc/passwd\x1b[31m@evil>",
        attachments=[
            ("../../etc/cron.d/x.jpg", photo, "jpeg"),
            ("../../etc/cron.d/x.jpg", photo, "jpeg"),  # the same name twice
            ("photo.jpg", pdf, "jpeg"),  # says JPEG, is a PDF: never decoded as an image
            ("notes.txt.png", photo, "png"),  # says PNG, is a JPEG: examined as one
        ],
    )
    (tmp_path / "evil.eml").write_bytes(msg.as_bytes())
    result = scan(tmp_path)
    folder = f"{tmp_path}/evil.eml!/msg-etc_passwd/"  # no dots, slashes or escapes
    assert _faces(result) == {
        folder + "x.jpg": 1,
        folder + "x-2.jpg": 1,
        folder + "notes.txt.png": 1,
    }
    assert dict(result.stats.by_content_type)["pdf"] == 1
    assert not result.problems


def test_part_and_message_limits_are_problems_of_the_mail_file(scan: Scan, tmp_path: Path) -> None:
    photo = encode(astronaut(), "JPEG")
    many = message(attachments=[(f"p{i}.jpg", photo, "jpeg") for i in range(6)])
    (tmp_path / "many.eml").write_bytes(many.as_bytes())
    result = scan(tmp_path, limits=Limits(archive_max_entries=4))
    (problem,) = result.problems
    assert problem.reason is ProblemReason.ARCHIVE_ENTRIES
    assert problem.location.display == f"{tmp_path}/many.eml"
    assert len(result.items) == 2  # message + text + two parts: then the limit
    assert result.exit_code is ExitCode.INCOMPLETE


def test_attached_messages_nested_too_deep_are_reported(scan: Scan, tmp_path: Path) -> None:
    inner = message(
        message_id="<inner@x>", attachments=[("a.jpg", encode(astronaut(), "JPEG"), "jpeg")]
    )
    middle = message(message_id="<middle@x>")
    middle.add_attachment(inner)
    outer = message(message_id="<outer@x>")
    outer.add_attachment(middle)
    (tmp_path / "nested.eml").write_bytes(outer.as_bytes())
    deep = scan(tmp_path, limits=Limits(archive_max_depth=1))
    assert [p.reason for p in deep.problems] == [ProblemReason.ARCHIVE_DEPTH]
    assert not deep.items
    shallow = scan(tmp_path)
    assert list(_faces(shallow)) == [f"{tmp_path}/nested.eml!/msg-outer@x/a.jpg"]


def test_a_message_over_the_file_limit_is_oversize(scan: Scan, tmp_path: Path) -> None:
    photo = encode(astronaut(), "BMP")  # 768 KiB
    (tmp_path / "big.eml").write_bytes(message(attachments=[("a.bmp", photo, "bmp")]).as_bytes())
    result = scan(tmp_path, limits=Limits(max_file_bytes=512 * 1024))
    assert [p.reason for p in result.problems] == [ProblemReason.OVERSIZE]
    assert result.exit_code is ExitCode.INCOMPLETE


def test_an_outlook_pst_is_reported_by_type(scan: Scan, tmp_path: Path) -> None:
    (tmp_path / "archive.pst").write_bytes(b"!BDN\x8f\x01\x00\x00SM" + bytes(4000))
    result = scan(tmp_path)
    (problem,) = result.problems
    assert problem.reason is ProblemReason.UNSUPPORTED_CONTAINER
    assert dict(result.stats.by_content_type) == {"outlook_pst": 1}


def test_mail_is_opened_in_the_sandboxed_workers(scan: Scan, tmp_path: Path) -> None:
    photo = encode(astronaut(), "JPEG")
    msgs = [
        message(message_id=f"<m{i}@x>", attachments=[("a.jpg", photo, "jpeg")]) for i in range(3)
    ]
    (tmp_path / "box.mbox").write_bytes(mbox(msgs))
    result = scan(tmp_path, workers=2)
    assert len(_faces(result)) == 3
    assert dict(result.stats.media)["mail_messages"] == 3
    assert not result.problems


def test_a_text_file_with_mail_like_lines_is_not_mail(scan: Scan, tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").write_bytes(b"From: 2020\nTo: 2021\nrate: 0.5\n")
    result = scan(tmp_path)
    assert dict(result.stats.by_content_type) == {"text": 1}
    assert not result.stats.media


def test_photos_in_mail_are_found_as_the_same_photos_as_plain_files(
    devset: Path, scan: Scan, tmp_path: Path
) -> None:
    """Image-level recall inside mail equals recall on the plain files: the parts are the
    same bytes, examined by the same detectors (a subset of the development set)."""
    import csv

    with open(devset / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["path"].lower().endswith((".jpg", ".png"))]
    faces = [r["path"] for r in rows if r["kind"] == "face_image" and r["faces"] not in ("", "0")]
    empty = [r["path"] for r in rows if r["kind"] == "no_face_image"]
    photos = faces[::10][:12] + empty[:6]
    plain = tmp_path / "plain"
    plain.mkdir()
    msgs = []
    for i, rel in enumerate(photos):
        data = (devset / rel).read_bytes()
        (plain / f"{i:02d}.img").write_bytes(data)
        msgs.append(message(message_id=f"<p{i}@x>", attachments=[(f"{i:02d}.img", data, "jpeg")]))
    (tmp_path / "box.mbox").write_bytes(mbox(msgs))
    as_files = {d.rsplit("/", 1)[1] for d in _faces(scan(plain))}
    in_mail = {d.rsplit("/", 1)[1] for d in _faces(scan(tmp_path / "box.mbox"))}
    assert in_mail == as_files
    assert len(as_files & {f"{i:02d}.img" for i in range(12)}) >= 10  # the detectors' recall
