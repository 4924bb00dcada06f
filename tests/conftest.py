"""Fixtures shared by every test. Real files, real images, real detectors; no mocks."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import DEVSET

os.environ.setdefault("OMP_NUM_THREADS", "1")  # as the CLI and the workers run YuNet
# The CLI keeps a state database in the user's state directory: each test process (xdist
# worker) gets its own, so tests never share, lock each other out, or touch ~/.local/state.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="faceaudit-test-state-")

from scanner.config import DetectionSettings, Limits, ScanConfig
from scanner.engine import run_scan
from scanner.model import ScanResult


@pytest.fixture(scope="session")
def devset() -> Path:
    """../shared/data/faces-dev, or a skip that says clearly it is absent."""
    if not (DEVSET / "manifest.csv").is_file():
        pytest.skip(
            f"development set not found at {DEVSET} (../shared/data/faces-dev beside the "
            "checkout); tests that need real labelled data were skipped"
        )
    return DEVSET


@pytest.fixture
def scan() -> Callable[..., ScanResult]:
    """Run a real scan. Defaults: in-process detectors (workers=0) for speed; pass
    workers=N to go through the process pool."""

    def run(
        *targets: Path,
        workers: int = 0,
        limits: Limits | None = None,
        detection: DetectionSettings | None = None,
        **kwargs: object,
    ) -> ScanResult:
        config = ScanConfig(
            targets=tuple(targets),
            workers=workers,
            limits=limits or Limits(),
            detection=detection or DetectionSettings(),
            **kwargs,  # type: ignore[arg-type]
        )
        return run_scan(config)

    return run
