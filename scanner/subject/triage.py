"""`triage`: a breach summary of the targets — what face data, how much, about how many
people, where and from when — on one scan.

The workers search every face (not only the first one found) and return each face's
descriptor in memory; stored dlib templates come back the same way. They are clustered here
(scanner.subject.clustering) into an estimate of distinct people and then dropped: nothing of
them is written, and the result holds counts only.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

import numpy as np

from scanner.config import ScanConfig
from scanner.engine import ProgressCallback, run_scan
from scanner.model import ContentType, EvidenceKind, ItemResult, Location, ScanResult
from scanner.state.store import StateDB
from scanner.subject.clustering import estimate_people
from scanner.subject.compare import FaceSearch
from scanner.subject.spec import DIMS, ItemFaces
from scanner.subject_results import Count, TriageResult


def triage(
    config: ScanConfig,
    *,
    state: StateDB | None = None,
    progress: ProgressCallback | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> TriageResult:
    """Scan the targets and summarise them for a breach notification."""
    search = FaceSearch(np.empty((0, DIMS)), keep_descriptors=True)
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
    return summarise(scan, compared)


def summarise(scan: ScanResult, compared: dict[Location, ItemFaces]) -> TriageResult:
    """The summary of a scan whose faces were compared (descriptors in `compared`)."""
    files = faces = db_rows = stores = templates = tagged = 0
    names: set[str] = set()
    families: collections.Counter[str] = collections.Counter()
    blocks: list[np.ndarray] = []
    unclustered = 0
    for item in scan.items:
        got = compared.get(item.location)
        if got is not None:
            blocks += [b for b in (got.descriptors, got.stored) if b is not None]
            unclustered += got.undescribed
        for e in item.evidence:
            if e.kind is EvidenceKind.FACE_IMAGE and item.content_type is ContentType.DB_COLUMN:
                rows = _int(e.detail("estimated_rows_with_faces"))
                db_rows += rows
                unclustered += max(0, rows - (got.images_compared if got else 0))
            elif e.kind is EvidenceKind.FACE_EMBEDDING:
                stores += 1
                count = _int(e.detail("count"))
                templates += count
                families[_family(e.detail("family"), e.detail("dims"))] += count
            elif e.kind is EvidenceKind.FACE_TAGGED:
                tagged += 1
                names.update(n for n in str(e.detail("name_digests") or "").split(",") if n)
        if item.content_type is not ContentType.DB_COLUMN and _has(item, EvidenceKind.FACE_IMAGE):
            files += 1
            faces += _faces(item, got)
        if got is None and _has(item, EvidenceKind.FACE_IMAGE):
            unclustered += _faces(item, None)
        for store in got.stores if got is not None else ():
            unclustered += store.count - store.compared
    descriptors = np.vstack(blocks) if blocks else np.empty((0, DIMS))
    return TriageResult(
        scan=scan,
        files_with_faces=files,
        faces=faces,
        database_image_rows=db_rows,
        template_stores=stores,
        templates=templates,
        tagged_items=tagged,
        named_people=len(names),
        people=estimate_people(descriptors, unclustered),
        families=_counts(families),
        countries=_counts(_places(scan.items)),
        applications=_counts(_apps(scan.items)),
        oldest=min((i.context.created for i in scan.items if i.context.created), default=None),
        newest=max(
            (t for i in scan.items for t in (i.context.newest or i.context.created,) if t),
            default=None,
        ),
        unreadable=sum(1 for p in scan.problems if p.incomplete),
    )


def _has(item: ItemResult, kind: EvidenceKind) -> bool:
    return any(e.kind is kind for e in item.evidence)


def _faces(item: ItemResult, got: ItemFaces | None) -> int:
    if got is not None and (got.faces or got.undescribed):
        return len(got.faces) + got.undescribed
    return max((e.faces for e in item.evidence if e.kind is EvidenceKind.FACE_IMAGE), default=0)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _family(family: object, dims: object) -> str:
    if family:
        return str(family)
    return f"{dims}-d, model not recognised" if dims else "empty store"


def _places(items: Iterable[ItemResult]) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for item in items:
        labels = {
            f"{p.country} ({p.region})" if p.region else p.country for p in item.context.places
        }
        out.update(labels)
    return out


def _apps(items: Iterable[ItemResult]) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for item in items:
        apps = {str(e.detail("app")) for e in item.evidence if e.detail("app")}
        out.update(apps)
    return out


def _counts(counter: collections.Counter[str]) -> tuple[Count, ...]:
    return tuple(Count(k, v) for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
