"""Frames sampled from a video, decoded through PyAV (FFmpeg inside the `av` wheel).

- The demuxer is the one the magic bytes announced (`DEMUXERS`): FFmpeg never probes for
  another format (a playlist or a concat list that would open other files or URLs), and any
  other file it asks to open is refused (`io_open`).
- The declared resolution is checked against the pixel limit before a frame is decoded.
- Frames are sampled evenly over the declared duration (the key frame at or before each
  point, decoded forward to it when the key frames are sparse), at most `max_frames`, and
  scaled to a working size while they are converted; without a duration (a stream cut short,
  a live capture) the key frames are taken in order.
- A deadline (`Video.deadline`, which the caller moves on for each frame) bounds the decoding
  (an endless or very slow stream stops there), and at most a fixed number of frames is
  decoded to reach each point; one decoding thread, so a worker's CPU share is what it was
  for images.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any

from PIL import Image

from scanner.errors import FaceauditError
from scanner.model import ProblemReason

WORKING_SIDE = 1280  # frames are scaled so their long side is at most this
_MAX_DECODED_PER_POINT = 600  # frames decoded forward from a key frame to reach one point

# The demuxer for each kind of file the sniffer tells apart (scanner.sniff), by head bytes.
DEMUXERS = {"isobmff": "mov", "ebml": "matroska", "avi": "avi", "ts": "mpegts", "ps": "mpeg"}


class VideoProblem(FaceauditError):
    """A video that cannot be examined (or not wholly), with the reason reported for it."""

    def __init__(self, reason: ProblemReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    codec: str
    duration_s: float | None  # as declared by the container or the stream
    frames: int | None  # frames in the stream, as declared (or duration x rate)
    created: datetime | None  # the container's creation_time (UTC)


@dataclass(frozen=True)
class Frame:
    index: int  # the sample's number (0, 1, …)
    time_s: float
    image: Image.Image  # RGB, long side at most WORKING_SIDE


def demuxer(head: bytes) -> str:
    """Which FFmpeg demuxer reads a file with these first bytes."""
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return DEMUXERS["ebml"]
    if head[:4] == b"RIFF":
        return DEMUXERS["avi"]
    if head[:4] == b"\x00\x00\x01\xba":
        return DEMUXERS["ps"]
    if head[:1] == b"\x47":
        return DEMUXERS["ts"]
    return DEMUXERS["isobmff"]


def _refuse(url: str, flags: int, options: dict[str, Any]) -> object:
    raise PermissionError(f"a video may not open another file: {url[:80]!r}")


class Video:
    """An opened video (its first video stream): `info`, then `frames()`; `close()` after."""

    def __init__(self, source: IO[bytes], fmt: str, *, max_pixels: int, deadline: float) -> None:
        try:
            import av
        except ImportError as exc:  # pragma: no cover - a declared dependency
            detail = "PyAV (`av`) is not installed: videos cannot be decoded"
            raise VideoProblem(ProblemReason.DETECTOR_UNAVAILABLE, detail) from exc
        self.deadline = deadline  # the caller may move it on (a new budget for each frame)
        try:
            self._container = av.open(
                source,
                "r",
                format=fmt,
                metadata_errors="ignore",
                io_open=_refuse,
                options={"enable_drefs": "0"} if fmt == "mov" else {},
                timeout=max(0.1, deadline - time.monotonic()),
            )
        except (av.FFmpegError, OSError, ValueError, PermissionError) as exc:
            raise VideoProblem(ProblemReason.DECODE_ERROR, _describe(exc)) from exc
        try:
            streams = self._container.streams.video
            if not streams:
                raise VideoProblem(ProblemReason.DECODE_ERROR, "no video stream")
            self._stream = streams[0]
            ctx = self._stream.codec_context
            ctx.thread_count = 1
            self.info = self._info()
            pixels = self.info.width * self.info.height
            if self.info.width <= 0 or self.info.height <= 0:
                detail = f"invalid dimensions {self.info.width}x{self.info.height}"
                raise VideoProblem(ProblemReason.DECODE_ERROR, detail)
            if pixels > max_pixels:
                detail = (
                    f"{self.info.width}x{self.info.height} = {pixels} pixels a frame exceeds "
                    f"the {max_pixels} pixel limit"
                )
                raise VideoProblem(ProblemReason.PIXEL_LIMIT, detail)
        except BaseException:
            self._container.close()
            raise

    def close(self) -> None:
        self._container.close()

    def _info(self) -> VideoInfo:
        stream, container = self._stream, self._container
        ctx = stream.codec_context
        duration: float | None = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000  # AV_TIME_BASE
        frames: int | None = stream.frames or None
        rate = stream.average_rate or stream.guessed_rate
        if frames is None and duration and rate:
            frames = round(duration * float(rate))
        created = _created(dict(container.metadata)) or _created(dict(stream.metadata))
        name = ctx.codec.name if ctx.codec is not None else "unknown"
        return VideoInfo(ctx.width, ctx.height, name, duration, frames, created)

    def frames(self, max_frames: int) -> Iterator[Frame]:
        """Up to max_frames frames spread over the video; VideoProblem(TIMEOUT) at the
        deadline, DECODE_ERROR where the stream breaks (frames before it were yielded)."""
        import av

        try:
            duration = self.info.duration_s
            if duration and duration > 0 and self._stream.time_base:
                yield from self._spread(duration, max_frames)
            else:
                yield from self._key_frames(max_frames)
        except av.FFmpegError as exc:
            raise VideoProblem(ProblemReason.DECODE_ERROR, _describe(exc)) from exc

    def _spread(self, duration: float, n: int) -> Iterator[Frame]:
        step = duration / n
        stream = self._stream
        assert stream.time_base is not None
        last_pts: int | None = None
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        for i in range(n):
            target = start + (i + 0.5) * step
            self._check()
            self._container.seek(
                int(target / stream.time_base), stream=stream, backward=True, any_frame=False
            )
            found = self._reach(target - step / 2, last_pts)
            if found is None:
                continue
            pts, frame = found
            last_pts = pts
            yield Frame(i, round(float(frame.time or target), 3), _image(frame))

    def _reach(self, at: float, last_pts: int | None) -> tuple[int, Any] | None:
        """The first decoded frame at or after `at` (the key frame when it is there already),
        skipping one already sampled."""
        decoded = 0
        for packet in self._container.demux(self._stream):
            for frame in packet.decode():
                decoded += 1
                self._check()
                pts = frame.pts if frame.pts is not None else -1
                time_s = frame.time if frame.time is not None else at
                if (time_s >= at or decoded >= _MAX_DECODED_PER_POINT) and pts != last_pts:
                    return pts, frame
        return None

    def _key_frames(self, n: int) -> Iterator[Frame]:
        self._stream.codec_context.skip_frame = "NONKEY"
        taken = 0
        for packet in self._container.demux(self._stream):
            for frame in packet.decode():
                self._check()
                yield Frame(taken, round(float(frame.time or 0.0), 3), _image(frame))
                taken += 1
                if taken >= n:
                    return

    def _check(self) -> None:
        if time.monotonic() > self.deadline:
            raise VideoProblem(ProblemReason.TIMEOUT, "the time budget for the video ran out")


def _image(frame: Any) -> Image.Image:
    w, h = frame.width, frame.height
    scale = min(1.0, WORKING_SIDE / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image: Image.Image = frame.to_image(width=size[0], height=size[1])
    return image


def _created(metadata: dict[str, str]) -> datetime | None:
    text = metadata.get("creation_time") or metadata.get("DATE_RECORDED")
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when.year < 1990:  # 1904/1970 epochs written by cameras that never set a clock
        return None
    return when.astimezone(timezone.utc)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
