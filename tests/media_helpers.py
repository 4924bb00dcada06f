"""Mail and videos built by the tests from real photos: messages with the standard library,
videos with PyAV (the encoder in its wheel). Nothing is mocked: the scan decodes what was
written here."""

from __future__ import annotations

import email.utils
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from PIL import Image, ImageOps

SIZE = (640, 480)


def letterbox(im: Image.Image, size: tuple[int, int] = SIZE, upscale: bool = True) -> Image.Image:
    """The photo, scaled to fit `size` and centred on black (faces keep their proportions).
    With `upscale` False a photo that fits already keeps its own pixels (only centred)."""
    rgb = im.convert("RGB")
    fits = rgb.width <= size[0] and rgb.height <= size[1]
    fitted = rgb if fits and not upscale else ImageOps.contain(rgb, size)
    canvas = Image.new("RGB", size)
    canvas.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return canvas


def write_video(
    path: Path,
    frames: Sequence[Image.Image],
    *,
    fps: int = 10,
    codec: str = "libx264",
    size: tuple[int, int] = SIZE,
    created: str | None = None,
    gop: int | None = None,
    upscale: bool = True,
) -> Path:
    """Encode `frames` (each letterboxed to `size`, smaller ones enlarged unless `upscale` is
    False) at `fps`; `created` goes into the container's creation_time."""
    import av

    with av.open(str(path), "w") as container:
        if created is not None:
            container.metadata["creation_time"] = created
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p" if codec != "mjpeg" else "yuvj420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        for im in frames:
            frame = av.VideoFrame.from_image(letterbox(im, size, upscale))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def message(
    *,
    message_id: str | None = "<photo.1@mail.example>",
    date: datetime | None = None,
    attachments: Sequence[tuple[str, bytes, str]] = (),
    inline: Sequence[tuple[str, bytes, str]] = (),
    text: str = "Please find the photo attached.",
) -> EmailMessage:
    """A message with (file name, bytes, subtype) image attachments and inline images (an
    HTML body referring to them by cid:)."""
    msg = EmailMessage()
    msg["From"] = "HR <hr@corp.example>"
    msg["To"] = "badges@corp.example"
    msg["Subject"] = "Badge photo"
    if date is not None:
        msg["Date"] = email.utils.format_datetime(date)
    if message_id is not None:
        msg["Message-ID"] = message_id
    msg.set_content(text)
    if inline:
        cids = [email.utils.make_msgid() for _ in inline]
        html = "".join(f'<img src="cid:{c[1:-1]}">' for c in cids)
        msg.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
        body = msg.get_payload()[1]  # type: ignore[index]
        for (name, data, subtype), cid in zip(inline, cids, strict=True):
            body.add_related(data, "image", subtype, cid=cid, filename=name or None)
    for name, data, subtype in attachments:
        msg.add_attachment(data, maintype="image", subtype=subtype, filename=name)
    return msg


def mbox(messages: Sequence[EmailMessage]) -> bytes:
    """An mbox: each message after a "From " line, "From " lines in bodies escaped."""
    out = []
    for msg in messages:
        raw = msg.as_bytes().replace(b"\nFrom ", b"\n>From ")
        out.append(b"From sender@corp.example Tue Mar  1 10:00:00 2022\n" + raw + b"\n")
    return b"".join(out)
