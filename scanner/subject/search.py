"""`find_subject`: one scan of the targets with the probes' descriptors in the workers.

The engine runs as for `faceaudit scan` (same detectors, settings and state key, so the
state of earlier scans is reused for unchanged items without face data); the workers compare
every face and every stored dlib template with the probes, and the comparisons come back
in memory through `on_faces`. History is not recorded: a search is not an inventory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from scanner.config import ScanConfig
from scanner.engine import ProgressCallback, run_scan
from scanner.model import ItemResult, Location
from scanner.state.store import StateDB
from scanner.subject.compare import FaceSearch
from scanner.subject.match import subject_result
from scanner.subject.probe import Probes
from scanner.subject.spec import DEFAULT_TOLERANCE, ItemFaces
from scanner.subject_results import SubjectResult


def find_subject(
    config: ScanConfig,
    probes: Probes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    every_face: bool = True,
    state: StateDB | None = None,
    progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> SubjectResult:
    """Where the person of `probes` is, across every target of `config`."""
    if not 0.0 < tolerance < 2.0:
        raise ValueError(f"tolerance {tolerance} is outside (0, 2)")
    search = FaceSearch(probes.descriptors, tolerance, every_face=every_face)
    compared: dict[Location, ItemFaces] = {}

    def keep(result: ItemResult, faces: object) -> None:
        if isinstance(faces, ItemFaces):
            compared[result.location] = faces

    scan = run_scan(
        config,
        progress=progress,
        clock=clock,
        state=state,
        record_history=False,
        hook=search,
        on_extra=keep,
    )
    return subject_result(scan, compared, tolerance, probes.photos)
