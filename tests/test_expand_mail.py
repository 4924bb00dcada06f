"""Mail as a container (scanner.expand_mail), through real scans: .eml, mbox and Maildir
messages built from real photos; inline images and attachments found by their bytes; names
cleaned; the message's Date as the parts' age; every bound reported; Outlook PST by type."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from helpers import astronaut, encode, no_face
from media_helpers import mbox, message
from reporters.sample import schema_errors

from scanner.config import Limits
from scanner.expand_mail import MAX_MAIL_DOMAINS
from scanner.model import (
    ContentType,
    EvidenceKind,
    ExitCode,
    MemberLocation,
    ProblemReason,
    ScanResult,
)
from scanner.reporters import Format
from scanner.reporters import render as render_any

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


# -- correspondents' domains: context, never addresses ---------------------------------------

_LOCALS = ("hr.manager", "alice.secret", "bob.private", "carol.hidden")


def _with_headers(msg: bytes, headers: bytes) -> bytes:
    """The message with its From and To lines replaced by raw `headers` (hostile ones too),
    placed last in the header block (the type is sniffed from the first lines)."""
    head, _, body = msg.partition(b"\n\n")
    lines = [ln for ln in head.split(b"\n") if not ln.startswith((b"From: ", b"To: "))]
    return b"\n".join(lines) + b"\n" + headers + b"\n" + body


def test_senders_and_recipients_domains_are_context_never_addresses(
    scan: Scan, tmp_path: Path
) -> None:
    photo = encode(astronaut(), "JPEG")
    raw = _with_headers(
        message(message_id="<m1@x>", attachments=[("a.jpg", photo, "jpeg")]).as_bytes(),
        b"From: HR Manager <hr.manager@Corp.Example>\n"
        b"To: alice.secret@partner.example, Bob <bob.private@partner.example>\n"
        b"Cc: carol.hidden@xn--bcher-kva.example\n",
    )
    (tmp_path / "box.mbox").write_bytes(mbox_raw([raw]))
    result = scan(tmp_path)
    (item,) = result.items
    assert [(d.header, d.domain) for d in item.context.mail_domains] == [
        ("from", "corp.example"),
        ("to", "partner.example"),
        ("cc", "xn--bcher-kva.example"),
    ]
    text = render_any(result, Format.JSON)
    doc = json.loads(text)
    assert schema_errors(doc) == []
    (entry,) = doc["items"]
    assert entry["context"]["mail_domains"][0] == {"header": "from", "domain": "corp.example"}
    for local in (*_LOCALS, "HR Manager", "Bob"):
        assert local.lower() not in text.lower()
    # Nowhere else: the console, HTML, CSV and SARIF reports print the location only.
    for fmt in (Format.CONSOLE, Format.HTML, Format.CSV, Format.SARIF, Format.MARKDOWN):
        out = render_any(result, fmt).lower()
        assert "partner.example" not in out and "corp.example" not in out, fmt
        assert not any(local in out for local in _LOCALS), fmt


def test_hostile_address_headers_are_bounded_and_never_crash(scan: Scan, tmp_path: Path) -> None:
    photo = encode(astronaut(), "JPEG")
    many = b", ".join(b"user%d@d%d.example" % (i, i) for i in range(5000))
    hostile = (
        b'From: =?utf-8?b?w4lsw6hvbm9yZQ==?= <=?utf-8?q?x?=@enc.example>, "x@quoted.example" '
        b"<real@ok.example>\n"
        b"To: " + many + b"\n"
        b"Cc: <<@@>>, foo@, @bar, a@b@, (comment) <>, \xff\xfe@\xc3\xa9t\xc3\xa9.example, "
        b"x@[10.0.0.1], x@-bad-.example, x@" + b"a" * 300 + b".example\n"
    )
    raw = _with_headers(
        message(message_id="<m2@x>", attachments=[("a.jpg", photo, "jpeg")]).as_bytes(), hostile
    )
    (tmp_path / "box.mbox").write_bytes(mbox_raw([raw]))
    result = scan(tmp_path)
    (item,) = result.items
    assert result.exit_code is ExitCode.FINDINGS  # the photo is found; the headers cost nothing
    domains = [d.domain for d in item.context.mail_domains]
    assert 0 < len(domains) <= MAX_MAIL_DOMAINS
    assert (
        "ok.example" in domains and "quoted.example" not in domains
    )  # a display name is no address
    assert all(re.fullmatch(r"[a-z0-9.-]+", d) and len(d) <= 253 for d in domains)
    doc = json.loads(render_any(result, Format.JSON))
    assert schema_errors(doc) == []
    assert "user1@" not in json.dumps(doc) and "real@" not in json.dumps(doc)


def test_a_message_without_addresses_has_no_mail_domains(scan: Scan, tmp_path: Path) -> None:
    photo = encode(astronaut(), "JPEG")
    raw = _with_headers(message(attachments=[("a.jpg", photo, "jpeg")]).as_bytes(), b"")
    (tmp_path / "a.eml").write_bytes(b"Subject: no one\n" + raw)
    result = scan(tmp_path)
    (item,) = result.items
    assert item.context.mail_domains == ()
    assert "mail_domains" not in json.loads(render_any(result, Format.JSON))["items"][0]["context"]


def mbox_raw(messages: list[bytes]) -> bytes:
    return b"".join(
        b"From sender@corp.example Tue Mar  1 10:00:00 2022\n"
        + m.replace(b"\nFrom ", b"\n>From ")
        + b"\n"
        for m in messages
    )
