"""Videos (scanner.expand_video, scanner.faces.video) written by the test with PyAV from real
photos: a face appearing mid-way is found with its frame times, landscapes are clean, the
recording date comes from creation_time, and broken, oversized or slow videos are per-item
problems — never a hang. Also through the sandboxed worker pool, and judged by a policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import astronaut, no_face
from media_helpers import write_video

import scanner
from scanner.config import Limits
from scanner.model import ContentType, EvidenceKind, ExitCode, ProblemReason, ScanResult
from scanner.reporters.console import render

Scan = Callable[..., ScanResult]
FPS = 10


def _landscape() -> list:
    return [no_face("coffee.png")] * 20 + [no_face("chelsea.png")] * 20 + [no_face()] * 20


def cctv(path: Path, **kwargs: object) -> Path:
    """Six seconds: three of coffee, one of a face (3.0–4.0 s), two of coffee."""
    frames = [no_face()] * 30 + [astronaut()] * 10 + [no_face()] * 20
    return write_video(path, frames, fps=FPS, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "codec"),
    [("door.mp4", "libx264"), ("door.mkv", "libx264"), ("door.avi", "mjpeg")],
)
def test_a_face_appearing_mid_way_is_found_with_its_frame_times(
    scan: Scan, tmp_path: Path, name: str, codec: str
) -> None:
    cctv(tmp_path / name, codec=codec)
    result = scan(tmp_path)
    (item,) = result.items
    assert item.content_type is ContentType.VIDEO
    assert item.location.display == f"{tmp_path}/{name}"
    (evidence, *_) = item.evidence
    assert evidence.kind is EvidenceKind.FACE_IMAGE and evidence.faces == 1
    assert evidence.detail("media") == "video"
    assert evidence.detail("frames_examined") == 16
    times = [float(t) for t in str(evidence.detail("face_times_s")).split(",")]
    assert times and all(2.9 <= t <= 4.05 for t in times), times
    assert evidence.detail("face_frames") == len(times)
    assert all(0 <= b.frame < 16 for b in evidence.boxes)
    notes = dict(item.notes)
    assert notes["video.frames_examined"] == 16 and notes["video.frames"] == 60
    assert dict(result.stats.media) == {
        "video_files": 1,
        "video_frames": 60,
        "video_frames_examined": 16,
    }
    assert not result.problems


def test_a_landscape_video_has_no_face(scan: Scan, tmp_path: Path) -> None:
    write_video(tmp_path / "park.webm", _landscape(), fps=FPS, codec="libvpx-vp9")
    result = scan(tmp_path)
    assert result.items == () and not result.problems
    assert dict(result.stats.media)["video_frames_examined"] == 16
    assert result.exit_code is ExitCode.CLEAN


def test_sparse_key_frames_still_give_evenly_spread_frames(scan: Scan, tmp_path: Path) -> None:
    """One key frame for the whole video (a CCTV encoder's long GOP): the sampler decodes
    forward from it, so the face in the middle is still seen."""
    cctv(tmp_path / "gop.mp4", gop=600)
    (item,) = scan(tmp_path).items
    assert item.evidence[0].detail("face_frames") >= 1


def test_the_recording_date_is_the_creation_time(scan: Scan, tmp_path: Path) -> None:
    cctv(tmp_path / "rec.mp4", created="2021-05-04T03:02:01.000000Z")
    (item,) = scan(tmp_path).items
    assert item.context.created == datetime(2021, 5, 4, 3, 2, 1, tzinfo=timezone.utc)
    assert item.context.created_source == "video:creation_time"


def test_without_creation_time_the_mtime_dates_the_video(scan: Scan, tmp_path: Path) -> None:
    cctv(tmp_path / "rec.mkv")
    (item,) = scan(tmp_path).items
    assert item.context.created_source == "mtime"


def test_a_truncated_video_is_a_problem_not_a_hang(scan: Scan, tmp_path: Path) -> None:
    whole = cctv(tmp_path / "whole.mp4").read_bytes()
    (tmp_path / "whole.mp4").unlink()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 3])  # the moov box is at the end
    (tmp_path / "noise.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 64)
    result = scan(tmp_path)
    assert {(p.location.display.rsplit("/", 1)[1], p.reason) for p in result.problems} == {
        ("cut.mp4", ProblemReason.DECODE_ERROR),
        ("noise.mkv", ProblemReason.DECODE_ERROR),
    }
    assert result.exit_code is ExitCode.INCOMPLETE


def test_a_cut_matroska_stream_keeps_the_frames_before_the_cut(scan: Scan, tmp_path: Path) -> None:
    """Matroska is written as it goes: cut after the face, the frames before the cut are
    decoded and the face is reported."""
    frames = [astronaut()] * 20 + [no_face()] * 40
    whole = write_video(tmp_path / "w.mkv", frames, fps=FPS).read_bytes()
    (tmp_path / "w.mkv").unlink()
    (tmp_path / "cut.mkv").write_bytes(whole[: int(len(whole) * 0.6)])
    result = scan(tmp_path)
    assert [i.location.display for i in result.items] == [f"{tmp_path}/cut.mkv"]


def test_a_resolution_over_the_pixel_limit_is_refused_before_decoding(
    scan: Scan, tmp_path: Path
) -> None:
    cctv(tmp_path / "big.mp4")
    result = scan(tmp_path, limits=Limits(max_pixels=640 * 480 - 1))
    (problem,) = result.problems
    assert problem.reason is ProblemReason.PIXEL_LIMIT
    assert "640x480" in problem.detail
    assert dict(result.stats.media)["video_frames_examined"] == 0


def test_the_time_budget_stops_a_slow_video(scan: Scan, tmp_path: Path) -> None:
    """A frame's share of --timeout ends the sampling: a problem naming the frames examined.
    One key frame for 18 s of 720p: reaching each point decodes forward from the start."""
    write_video(tmp_path / "long.mp4", _landscape() * 3, fps=FPS, size=(1280, 720), gop=600)
    result = scan(tmp_path, limits=Limits(item_timeout_s=0.05, max_video_frames=64))
    (problem,) = result.problems
    assert problem.reason is ProblemReason.TIMEOUT
    assert "of 64 frames" in problem.detail


def test_max_video_frames_bounds_the_sample(scan: Scan, tmp_path: Path) -> None:
    cctv(tmp_path / "door.mp4")
    result = scan(tmp_path, limits=Limits(max_video_frames=4))
    assert dict(result.stats.media)["video_frames_examined"] == 4
    assert "video: 1 files, 4 of 60 frames examined" in render(result)


def test_an_audio_only_mp4_is_not_a_video(scan: Scan, tmp_path: Path) -> None:
    import av

    with av.open(str(tmp_path / "voice.mp4"), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    result = scan(tmp_path)
    assert [(p.reason, p.detail) for p in result.problems] == [
        (ProblemReason.DECODE_ERROR, "no video stream")
    ]


def test_videos_are_decoded_in_the_sandboxed_workers(scan: Scan, tmp_path: Path) -> None:
    cctv(tmp_path / "a.mp4")
    write_video(tmp_path / "b.mkv", _landscape(), fps=FPS)
    result = scan(tmp_path, workers=2)
    assert [i.location.display for i in result.items] == [f"{tmp_path}/a.mp4"]
    assert not result.problems
    assert dict(result.protections)  # the workers ran under the sandbox


CCTV_POLICY = """\
schema_version: 1
name: cctv-test
extends: [faceaudit-base]
stores:
  - id: cctv
    paths: ["cctv/**"]
    kinds: [face_video]
    purpose: Security of the premises
    use: surveillance
    legal_basis: [gdpr-6-1-f]
    retention: {period: P31D, from: creation}
    owner: facilities@example.org
rules:
  - id: ORG-CCTV-31D
    check: retention_exceeded
    severity: high
    kinds: [face_video]
    title: CCTV kept past its stated period
    citations: ["GDPR Art 5(1)(e)"]
    remediation: Delete recordings older than the store's retention.
"""


def test_a_cctv_store_has_its_own_short_retention(tmp_path: Path) -> None:
    (tmp_path / "cctv").mkdir()
    cctv(tmp_path / "cctv" / "cam1.mp4", created="2026-01-01T08:00:00Z")
    (tmp_path / "policy.yaml").write_text(CCTV_POLICY)
    policy = scanner.load_policy(tmp_path / "policy.yaml")
    config = scanner.ScanConfig(targets=(tmp_path / "cctv",), workers=0)
    as_of = datetime(2026, 1, 20, tzinfo=timezone.utc)
    early = scanner.scan(config, judgement=scanner.Judgement(policy, as_of=as_of))
    assert [f.rule_id for f in early.findings] == []  # 19 days: within 31
    late = scanner.judge(
        early, scanner.Judgement(policy, as_of=datetime(2026, 3, 1, tzinfo=timezone.utc))
    )
    assert [f.rule_id for f in late.findings] == ["ORG-CCTV-31D"]
    assert late.findings[0].store == "cctv"


# The development set's hard negative for videos: three puppies, 256x160. Enlarged 2.5 times
# (as bench_video once letterboxed every photo to 640x480) YuNet takes a puppy for a face —
# in a lossless PNG of the enlarged photo exactly as in a video of it. At its own pixels it
# is clean in both. The frames go through the image detectors' own path: same verdicts.
HARD_NEGATIVE = "pillow_test_images/app13-multiple.jpg"


def test_a_video_frame_is_judged_as_the_same_picture_as_a_plain_file(
    devset: Path, scan: Scan, tmp_path: Path
) -> None:
    import av
    from media_helpers import letterbox
    from PIL import Image

    photo = Image.open(devset / HARD_NEGATIVE).convert("RGB")
    assert photo.size == (256, 160)
    verdicts = {}
    for name, upscale in (("own", False), ("enlarged", True)):
        folder = tmp_path / name
        folder.mkdir()
        video = write_video(folder / "v.mp4", [photo] * 20, fps=FPS, upscale=upscale)
        with av.open(str(video)) as container:  # the frame as decoded, as a plain file
            frame = next(iter(container.decode(video=0))).to_image()
        frame.save(folder / "frame.png")
        letterbox(photo, upscale=upscale).save(folder / "still.png")  # before compression
        found = {
            i.location.display.rsplit("/", 1)[-1]: max(e.faces for e in i.evidence)
            for i in scan(folder).items
            if any(e.kind is EvidenceKind.FACE_IMAGE for e in i.evidence)
        }
        # The video's verdict is its decoded frame's as a plain image, and the lossless still's.
        assert ("v.mp4" in found) == ("frame.png" in found) == ("still.png" in found), found
        verdicts[name] = found
    assert verdicts["own"] == {}  # the hard negative: no face in the puppies' own pixels
    assert not any(i.has_evidence for i in scan(devset / HARD_NEGATIVE).items)  # nor the file
