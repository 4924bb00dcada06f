"""The demo organisation's mail and CCTV (scanner.demo_org): written at build time from the
photos the demo ships — an HR mailbox with a badge photo sent as an attachment, and two
short door-camera recordings (PyAV's encoder) in which a face appears mid-way.

The policy text for them (the CCTV store and its rule) is in scanner.demo_org's POLICY.
"""

from __future__ import annotations

import email.utils
import io
import os
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

from PIL import Image, ImageOps

# (file, creation_time): the first is past the store's 31 days on the demo's date, the
# second is not.
RECORDINGS = [
    ("cctv/entrance/door-0001.mp4", "2026-04-20T07:45:00Z"),
    ("cctv/entrance/door-0002.mp4", "2026-05-31T22:00:00Z"),  # last night
]
MAILBOX = "mail/hr-inbox.mbox"
MAIL_SENT = datetime(2026, 5, 20, 9, 30, tzinfo=timezone.utc)
_SIZE = (480, 360)
_FPS = 5


def build_media(root: Path, face: Image.Image, scenery: Image.Image) -> list[Path]:
    """Write the recordings and the mailbox under `root`; return what was written."""
    written = []
    for name, created in RECORDINGS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # two seconds of the empty entrance, one with a person, one empty again
        frames = [scenery] * (2 * _FPS) + [face] * _FPS + [scenery] * _FPS
        _video(path, frames, created)
        stamp = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
        os.utime(path, (stamp, stamp))
        written.append(path)
    path = root / MAILBOX
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_mbox(face, scenery))
    stamp = MAIL_SENT.timestamp()
    os.utime(path, (stamp, stamp))
    written.append(path)
    return written


def _video(path: Path, frames: list[Image.Image], created: str) -> None:
    import av

    with av.open(str(path), "w") as container:
        container.metadata["creation_time"] = created
        stream = container.add_stream("libx264", rate=_FPS)
        stream.width, stream.height = _SIZE
        stream.pix_fmt = "yuv420p"
        for im in frames:
            fitted = ImageOps.fit(im.convert("RGB"), _SIZE)
            frame = av.VideoFrame.from_image(fitted)  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _mbox(face: Image.Image, scenery: Image.Image) -> bytes:
    badge = EmailMessage()
    badge["From"] = "New Starter <new.starter@example.com>"
    badge["To"] = "hr@acme.example"
    badge["Subject"] = "Photo for my badge"
    badge["Date"] = email.utils.format_datetime(MAIL_SENT)
    badge["Message-ID"] = "<badge-photo-E1005@example.com>"
    badge.set_content("Hello, here is my photo for the building badge.\n")
    badge.add_attachment(
        _jpeg(face.resize((320, 320))), maintype="image", subtype="jpeg", filename="me.jpg"
    )
    menu = EmailMessage()
    menu["From"] = "Canteen <canteen@acme.example>"
    menu["To"] = "all@acme.example"
    menu["Subject"] = "Today's coffee"
    menu["Date"] = email.utils.format_datetime(MAIL_SENT)
    menu["Message-ID"] = "<menu-0520@acme.example>"
    menu.set_content("From tomorrow the canteen opens at 8.\n")
    menu.add_attachment(_jpeg(scenery), maintype="image", subtype="jpeg", filename="coffee.jpg")
    out = b""
    for msg in (badge, menu):
        raw = msg.as_bytes().replace(b"\nFrom ", b"\n>From ")
        out += b"From MAILER-DAEMON Wed May 20 09:30:00 2026\n" + raw + b"\n"
    return out
