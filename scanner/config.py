"""Scan configuration: built by the CLI (or a library caller), never read from the environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from scanner.model import ScalarValue, Severity
from scanner.policy.gate import Waiver
from scanner.policy.loader import Policy
from scanner.sources.database import SampleLimits
from scanner.subject.spec import FaceSearch

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile item from stalling or exhausting the scan.

    Hitting any of them is reported per item and makes the scan incomplete (exit 3): a limit
    is never a silent "clean".
    """

    max_file_bytes: int = 100 * MiB
    max_pixels: int = 178_956_970  # Pillow's own error threshold (2 x its warning level)
    max_frames: int = 8  # animation frames sampled per GIF/WebP/APNG
    max_pages: int = 16  # TIFF pages examined
    archive_max_depth: int = 5
    archive_max_entries: int = 10_000
    archive_max_total_bytes: int = 1 * GiB
    archive_max_ratio: float = 100.0
    item_timeout_s: float = 30.0
    item_memory_bytes: int = 2 * GiB
    xmp_max_bytes: int = 4 * MiB
    # What a worker may write: the private copy a SQLite database with a -wal or a hot
    # -journal needs (its own temporary folder, removed afterwards), per worker.
    max_temp_bytes: int = 1 * GiB

    def as_settings(self) -> tuple[tuple[str, ScalarValue], ...]:
        return tuple((f"limits.{k}", v) for k, v in self.__dict__.items())


@dataclass(frozen=True)
class DetectionSettings:
    """How hard the face detectors look.

    The defaults are the measured staged pipeline (docs/scanning.md, "How faces are found"): a
    coarse pass with early exit, a finer pass, upsampling of small images and rotations.
    """

    thorough: bool = False
    count_faces: bool = False  # run every pass even after a face was found (exact counts)
    min_face_px: int = 0  # drop faces smaller than this (original pixels); coarser = faster
    accept_score: float = 0.90  # YuNet score accepted without a second opinion
    verify_score: float = 0.40  # YuNet candidates from here up are checked by dlib's CNN
    cnn_threshold: float = 0.0  # dlib MMOD confidence that confirms a borderline candidate
    rotations: bool = True  # try 90/180/270 when no upright face is found
    embedding_threshold: float = 0.6  # confidence from which stored vectors are face templates

    def as_settings(self) -> tuple[tuple[str, ScalarValue], ...]:
        return tuple((f"detection.{k}", v) for k, v in self.__dict__.items())


@dataclass(frozen=True)
class ScanConfig:
    """Everything one scan needs. Targets are paths (more target kinds arrive with sources)."""

    targets: tuple[Path, ...]
    databases: tuple[str, ...] = ()  # sqlite:///… postgresql://… mysql://… (docs/databases.md)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    workers: int = 2  # 0 = run detectors in this process (no per-item isolation; debugging)
    detectors: tuple[str, ...] = ()  # empty: the default set (scanner.detectors.DEFAULT_DETECTORS)
    limits: Limits = field(default_factory=Limits)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    sampling: SampleLimits = field(default_factory=SampleLimits)
    fail_on: Severity | None = Severity.LOW  # None: evidence never fails the scan
    allow_incomplete: bool = False
    policy: Policy | None = None  # judge evidence against it (findings); None: evidence only
    waivers: tuple[Waiver, ...] = ()
    baseline: frozenset[str] | None = None  # fingerprints of known findings
    as_of: datetime | None = None  # evaluate rules at this moment (UTC); None: scan end
    since: datetime | None = None  # only files changed (mtime/ctime) since then are looked at
    # Subject search / triage (scanner.subject): faces compared in the workers, in memory.
    # Never part of as_settings(), a report or the state database.
    face_search: FaceSearch | None = field(default=None, repr=False)

    def as_settings(self) -> tuple[tuple[str, ScalarValue], ...]:
        return (
            ("workers", self.workers),
            ("detectors", ",".join(self.detectors)),
            ("include", ",".join(self.include)),
            ("exclude", ",".join(self.exclude)),
            ("fail_on", self.fail_on.label if self.fail_on is not None else "never"),
            ("allow_incomplete", self.allow_incomplete),
            ("policy", self.policy.name if self.policy is not None else ""),
            ("waivers", len(self.waivers)),
            ("baseline", len(self.baseline) if self.baseline is not None else -1),
            *self.detection.as_settings(),
            *((f"sampling.{k}", v) for k, v in self.sampling.__dict__.items()),
            *self.limits.as_settings(),
        )
