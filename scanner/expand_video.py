"""A video as an item: frames sampled and examined by the image detectors; a face in any
of them makes it a face video, with the times of the frames that showed faces.

Runs in a worker (sandboxed like every process that opens content) under the per-item
time and memory bounds. Like an archive's members, each sampled frame gets the item's time
limit afresh (the worker tells the pool it is at the next frame): decoding and examining one
frame stops at a budget of its own (VIDEO_BUDGET_SHARE of the limit, so the pool never has to
kill the worker), and there are at most `max_video_frames` frames.
Frames are decoded at a working size (scanner.faces.video) and handed to the detectors as
lossless bitmaps in memory; they are never written anywhere, and the video's result carries
counts, times and geometry only.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from typing import Protocol

from scanner.config import Limits
from scanner.faces.video import Frame, Video, VideoInfo, VideoProblem, demuxer
from scanner.model import (
    ContentType,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemContext,
    ItemResult,
    MemberLocation,
    ObjectLocation,
    Problem,
    ProblemReason,
    ScalarValue,
)
from scanner.sniff import HEAD_BYTES
from scanner.sources.base import Reader
from scanner.work import Host, WorkItem, WorkOutcome

VIDEO_BUDGET_SHARE = 0.6  # of limits.item_timeout_s: decoding and examining one frame
MAX_LISTED_TIMES = 16  # frame times named in the evidence (the count says how many in all)
MEDIA = ("media", "video")  # the evidence detail that marks a face video (policy: face_video)


class VideoExaminer(Protocol):
    """What this module needs of the worker (scanner.expand.Examiner has it)."""

    @property
    def limits(self) -> Limits: ...

    def examine(
        self, item: WorkItem, data: bytes, atime: bool, reader: Reader | None = None
    ) -> WorkOutcome: ...


def expand_video(
    ex: VideoExaminer, item: WorkItem, reader: Reader, host: Host, ct: ContentType
) -> WorkOutcome:
    """Sample the video's frames, examine each, and report the video as one item."""
    limits = ex.limits
    where = item.location
    assert isinstance(where, (FileLocation, ObjectLocation, MemberLocation))
    counts = ((ct.value, 1),)
    budget = VIDEO_BUDGET_SHARE * limits.item_timeout_s
    deadline = time.monotonic() + budget
    problems: list[Problem] = []
    hits: list[tuple[Frame, tuple[Evidence, ...]]] = []
    examined = 0
    info: VideoInfo | None = None
    # What the scan's item hook (a face search) said of the frame with the most faces: an
    # opaque answer for one item, so one frame's stands for the video.
    extra: tuple[tuple[int, float], object] | None = None
    with reader.stream() as stream:
        try:
            video = Video(
                stream,
                demuxer(reader.head(HEAD_BYTES)),
                max_pixels=limits.max_pixels,
                deadline=deadline,
            )
        except VideoProblem as exc:
            problems.append(Problem(where, exc.reason, exc.detail))
            return _outcome(item, reader, problems=problems, counts=counts, result=None)
        try:
            info = video.info
            for frame in video.frames(limits.max_video_frames):
                examined += 1
                host.busy(item.location)  # a new frame: the pool's time limit starts again
                evidence, said = _examine(ex, item, frame)
                if evidence:
                    hits.append((frame, evidence))
                    rank = (max(e.faces for e in evidence), max(e.confidence for e in evidence))
                    if said is not None and (extra is None or rank > extra[0]):
                        extra = (rank, said)
                video.deadline = time.monotonic() + budget  # the next frame's budget
        except VideoProblem as exc:
            detail = f"{exc.detail} after {examined} of {limits.max_video_frames} frames"
            problems.append(Problem(where, exc.reason, detail))
        except MemoryError:
            detail = f"out of memory after {examined} frames"
            problems.append(Problem(where, ProblemReason.MEMORY_LIMIT, detail))
        finally:
            video.close()
    if examined == 0 and not problems:
        problems.append(Problem(where, ProblemReason.DECODE_ERROR, "no frame could be decoded"))
    result = _result(item, info, examined, hits, problems)
    outcome = _outcome(
        item, reader, problems=problems, counts=counts, result=result, examined=examined, info=info
    )
    return replace(outcome, extra=extra[1]) if extra is not None else outcome


def _examine(
    ex: VideoExaminer, item: WorkItem, frame: Frame
) -> tuple[tuple[Evidence, ...], object | None]:
    """The image detectors' evidence on one frame (a bitmap in memory), and what the scan's
    item hook said of it."""
    buf = io.BytesIO()
    frame.image.save(buf, format="BMP")
    data = buf.getvalue()
    at = item.location.child(f"frame@{frame.time_s:.2f}s")
    work = WorkItem(0, at, ContentType.BMP, len(data), item.mtime_ns, data=data)
    outcome = ex.examine(work, data, True)
    if outcome.result is None:
        return (), None
    faces = tuple(e for e in outcome.result.evidence if e.kind is EvidenceKind.FACE_IMAGE)
    return faces, outcome.extra


def _result(
    item: WorkItem,
    info: VideoInfo | None,
    examined: int,
    hits: list[tuple[Frame, tuple[Evidence, ...]]],
    problems: list[Problem],
) -> ItemResult | None:
    if info is None:
        return None
    notes: list[tuple[str, ScalarValue]] = [
        ("video.frames_examined", examined),
        ("video.size", f"{info.width}x{info.height}"),
        ("video.codec", info.codec),
    ]
    if info.frames is not None:
        notes.append(("video.frames", info.frames))
    if info.duration_s is not None:
        notes.append(("video.duration_s", round(info.duration_s, 3)))
    context = ItemContext(mail_domains=item.mail_domains)  # a video attached to a message
    if info.created is not None:
        context = replace(context, created=info.created, created_source="video:creation_time")
    return ItemResult(
        location=item.location,
        content_type=ContentType.VIDEO,
        size=item.size,
        sha256=None,  # never read whole: identified by its location, size and mtime
        mtime_ns=item.mtime_ns,
        evidence=_video_evidence(hits, examined),
        problems=tuple(problems),
        notes=tuple(notes),
        context=context,
    )


def _video_evidence(
    hits: list[tuple[Frame, tuple[Evidence, ...]]], examined: int
) -> tuple[Evidence, ...]:
    """One evidence per detector: its frame with the most faces (boxes marked with the
    frame's sample number), and the times of every frame where it saw a face."""
    by_detector: dict[str, list[tuple[Frame, Evidence]]] = {}
    for frame, evidence in hits:
        for e in evidence:
            by_detector.setdefault(e.detector, []).append((frame, e))
    out = []
    for detector, seen in sorted(by_detector.items()):
        frame, best = max(seen, key=lambda fe: (fe[1].faces, fe[1].confidence))
        times = [f.time_s for f, _ in seen]
        listed = ",".join(f"{t:.2f}" for t in times[:MAX_LISTED_TIMES])
        details: tuple[tuple[str, ScalarValue], ...] = (
            *best.details,
            MEDIA,
            ("face_frames", len(times)),
            ("frames_examined", examined),
            ("face_times_s", listed),
            ("best_frame_s", frame.time_s),
        )
        boxes = tuple(replace(b, frame=frame.index) for b in best.boxes)
        out.append(
            replace(
                best,
                detector=detector,
                confidence=max(e.confidence for _, e in seen),
                boxes=boxes,
                details=details,
            )
        )
    return tuple(out)


def _outcome(
    item: WorkItem,
    reader: Reader,
    *,
    problems: list[Problem],
    counts: tuple[tuple[str, int], ...],
    result: ItemResult | None,
    examined: int = 0,
    info: VideoInfo | None = None,
) -> WorkOutcome:
    media: list[tuple[str, int]] = [("video_files", 1), ("video_frames_examined", examined)]
    if info is not None and info.frames is not None:
        media.append(("video_frames", info.frames))
    if result is not None:  # the result carries the problems itself
        problems = []
    return WorkOutcome(
        item.seq,
        result,
        0,
        reader.atime_preserved,
        problems=tuple(problems),
        content_types=counts,
        media=tuple(media),
    )
