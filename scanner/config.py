"""Scan configuration: built by the CLI (or a library caller), never read from the environment.

A leaf: it imports only the model and the errors. Every object checks itself when it is
made (a limit that is not positive, a threshold out of range: ConfigError naming the
setting), so whoever builds one — the CLI, the subject commands, a library caller — gets the
same checks. What needs the registries (detector ids, include/exclude patterns, targets'
schemes) is checked by `scanner.scan` before any work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from scanner.errors import ConfigError
from scanner.model import ScalarValue, Severity

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
    max_video_frames: int = 16  # frames sampled per video (evenly over its duration)
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

    def __post_init__(self) -> None:
        for f in fields(self):
            _positive(f"limits.{f.name}", getattr(self, f.name), zero=f.name == "archive_max_depth")

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

    def __post_init__(self) -> None:
        _positive("detection.min_face_px", self.min_face_px, zero=True)
        for name in ("accept_score", "verify_score", "embedding_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also false for NaN
                raise ConfigError(f"detection.{name} must be between 0 and 1 (got {value!r})")

    def as_settings(self) -> tuple[tuple[str, ScalarValue], ...]:
        return tuple((f"detection.{k}", v) for k, v in self.__dict__.items())


@dataclass(frozen=True)
class SampleLimits:
    """How much of a column is read. Deterministic: the same database gives the same sample."""

    rows: int = 200  # sampled non-null values per column
    value_bytes: int = 16 * 1024 * 1024  # larger values are counted, not fetched
    column_bytes: int = 64 * 1024 * 1024  # total fetched per column
    statement_timeout_s: float = 30.0
    lock_timeout_s: float = 2.0
    seed: int = 20261126  # TABLESAMPLE REPEATABLE / rowid choice
    # Views are not read unless asked: reading one runs the code it calls (functions, with
    # their definer's rights), and their base tables are scanned anyway.
    read_views: bool = False

    def __post_init__(self) -> None:
        for name in (
            "rows",
            "value_bytes",
            "column_bytes",
            "statement_timeout_s",
            "lock_timeout_s",
        ):
            _positive(f"sampling.{name}", getattr(self, name))


@dataclass(frozen=True)
class ScanConfig:
    """Everything one scan needs.

    `targets` are paths (files, directories) and source URIs (`sqlite:///…`,
    `postgresql://…`, `mysql://…`): each is claimed by the source registered for its scheme
    (scanner.sources), a path by the filesystem. Judgement (a policy, waivers, a baseline)
    is given to `scanner.scan` beside the configuration, not in it.
    """

    targets: tuple[Path | str, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    workers: int = 2  # 0 = run detectors in this process (no per-item isolation; debugging)
    detectors: tuple[str, ...] = ()  # empty: the default set (scanner.detectors)
    limits: Limits = field(default_factory=Limits)
    detection: DetectionSettings = field(default_factory=DetectionSettings)
    sampling: SampleLimits = field(default_factory=SampleLimits)
    fail_on: Severity | None = Severity.LOW  # None: evidence never fails the scan
    allow_incomplete: bool = False
    since: datetime | None = None  # only files changed (mtime/ctime) since then are looked at
    # Directories findings are named from (`--root`; watch: the watched directories): a file's
    # identity is its path relative to the deepest one that holds its target, every path
    # target must be inside one. Empty: each target is its own root (a file's: its folder).
    roots: tuple[Path, ...] = ()
    # Where items are examined (scanner.executors): "local" (the pool of `workers` processes),
    # "dask-local" (a Dask LocalCluster of `workers` workers), "dask://HOST:PORT" or
    # "tls://HOST:PORT" (a Dask scheduler; docs/scale-out.md).
    executor: str = "local"

    def __post_init__(self) -> None:
        if isinstance(self.targets, (str, Path)):
            raise ConfigError("targets must be a sequence of paths and URIs, not one string")
        object.__setattr__(self, "targets", tuple(self.targets))
        if isinstance(self.roots, (str, Path)):
            raise ConfigError("roots must be a sequence of directories, not one path")
        object.__setattr__(self, "roots", tuple(Path(r) for r in self.roots))
        if self.workers < 0:
            raise ConfigError(
                f"workers must be 0 (no worker processes) or more (got {self.workers})"
            )
        if self.fail_on is not None and not isinstance(self.fail_on, Severity):
            raise ConfigError(f"fail_on must be a Severity or None (got {self.fail_on!r})")
        if self.since is not None and self.since.tzinfo is None:
            raise ConfigError("since must be a time zone aware datetime (UTC)")

    @property
    def paths(self) -> tuple[Path, ...]:
        """The targets that are paths (no URI scheme)."""
        return tuple(Path(t) for t in self.targets if not _has_scheme(t))

    @property
    def uris(self) -> tuple[str, ...]:
        """The targets that are URIs, each once."""
        return tuple(dict.fromkeys(str(t) for t in self.targets if _has_scheme(t)))

    def as_settings(
        self,
        judgement: tuple[tuple[str, ScalarValue], ...] = (
            ("policy", ""),
            ("waivers", 0),
            ("baseline", -1),
        ),
    ) -> tuple[tuple[str, ScalarValue], ...]:
        """The settings a report echoes; `judgement`'s (policy, waivers, baseline) in place."""
        return (
            ("workers", self.workers),
            ("detectors", ",".join(self.detectors)),
            ("include", ",".join(self.include)),
            ("exclude", ",".join(self.exclude)),
            ("fail_on", self.fail_on.label if self.fail_on is not None else "never"),
            ("allow_incomplete", self.allow_incomplete),
            *judgement,
            *self.detection.as_settings(),
            *((f"sampling.{k}", v) for k, v in self.sampling.__dict__.items()),
            *self.limits.as_settings(),
        )


def _has_scheme(target: Path | str) -> bool:
    """A URI (`scheme://…`), not a path: a path object never is one."""
    if isinstance(target, Path):
        return False
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme[:1].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)


def _positive(name: str, value: float, *, zero: bool = False) -> None:
    ok = value >= 0 if zero else value > 0
    if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise ConfigError(
            f"{name} must be {'0 or more' if zero else 'positive'} and finite (got {value!r})"
        )
