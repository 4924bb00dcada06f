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
from scanner.model import (
    ContentType,
    Evidence,
    EvidenceKind,
    ItemResult,
    Location,
    ScanResult,
)
from scanner.state.store import StateDB
from scanner.subject.clustering import NO_GROUP, estimate_people
from scanner.subject.compare import FaceSearch
from scanner.subject.spec import DIMS, ItemFaces
from scanner.subject_results import Count, TriageItem, TriageResult

MAX_FRAMES = 1 << 16  # cannot-link groups: item number x MAX_FRAMES + frame


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
    """The summary of a scan whose faces were compared (descriptors in `compared`).

    Every total is the sum of the items' figures (`TriageResult.figures`), which the
    reports list row by row: the summary and the rows add up by construction."""
    stores = tagged = labelled_stores = 0
    names: set[str] = set()
    families: collections.Counter[str] = collections.Counter()
    blocks: list[np.ndarray] = []
    groups: list[np.ndarray] = []
    figures: list[TriageItem] = []
    unclustered = 0
    for item in scan.items:
        got = compared.get(item.location)
        figure = _figure(item, got)
        figures.append(figure)
        if got is not None:
            if got.descriptors is not None:
                blocks.append(got.descriptors)
                groups.append(_image_groups(item, got, len(figures)))
            if got.stored is not None:
                blocks.append(got.stored)
                groups.append(np.full(len(got.stored), NO_GROUP, dtype=np.int64))
            unclustered += got.undescribed
            for store in got.stores:
                unclustered += store.count - store.compared
        if figure.image_rows:
            unclustered += max(0, figure.image_rows - (got.images_compared if got else 0))
        if got is None and figure.faces:
            unclustered += figure.faces
        for e in item.evidence:
            if e.kind is EvidenceKind.FACE_EMBEDDING:
                stores += 1
                families[_family(e.detail("family"), e.detail("dims"))] += _int(e.detail("count"))
                labelled_stores += 1 if _labelled(item, e, got) else 0
            elif e.kind is EvidenceKind.FACE_TAGGED:
                tagged += 1
                names.update(n for n in str(e.detail("name_digests") or "").split(",") if n)
        if figure.image_rows and got is not None and got.name_columns:
            labelled_stores += 1
    descriptors = np.vstack(blocks) if blocks else np.empty((0, DIMS))
    marks = np.concatenate(groups) if groups else np.empty(0, dtype=np.int64)
    return TriageResult(
        scan=scan,
        files_with_faces=sum(1 for f in figures if f.faces),
        faces=sum(f.faces for f in figures),
        database_image_rows=sum(f.image_rows for f in figures),
        template_stores=stores,
        templates=sum(f.templates for f in figures),
        tagged_items=tagged,
        named_people=len(names),
        people=estimate_people(descriptors, unclustered, marks.tolist()),
        families=_counts(families),
        countries=_counts(_places(scan.items)),
        applications=_counts(_apps(scan.items)),
        oldest=min((i.context.created for i in scan.items if i.context.created), default=None),
        newest=max(
            (t for i in scan.items for t in (i.context.newest or i.context.created,) if t),
            default=None,
        ),
        unreadable=sum(1 for p in scan.problems if p.incomplete),
        figures=tuple(figures),
        labelled=sum(f.labelled for f in figures),
        labelled_stores=labelled_stores,
    )


def _figure(item: ItemResult, got: ItemFaces | None) -> TriageItem:
    """One item's figures: every face of a file (as `scan --count-faces` counts them), the
    face-image rows of a column, its templates, and those stored beside a name or label."""
    images = [e for e in item.evidence if e.kind is EvidenceKind.FACE_IMAGE]
    faces = image_rows = templates = labelled = 0
    lower = False
    if item.content_type is ContentType.DB_COLUMN:
        image_rows = sum(_int(e.detail("estimated_rows_with_faces")) for e in images)
    elif images:
        found = max(e.faces for e in images)
        if got is not None and (got.faces or got.undescribed):
            # The worker searched every face again (and described them): its count.
            faces = max(len(got.faces) + got.undescribed, found)
        else:
            faces = found
            lower = any(e.detail("count_is_lower_bound") is True for e in images)
    for e in item.evidence:
        if e.kind is EvidenceKind.FACE_EMBEDDING:
            count = _int(e.detail("count"))
            templates += count
            labelled += count if _labelled(item, e, got) else 0
    if image_rows and got is not None and got.name_columns:
        labelled += image_rows
    return TriageItem(item.location, faces, lower, image_rows, templates, labelled)


def _labelled(item: ItemResult, e: Evidence, got: ItemFaces | None) -> bool:
    """Templates stored with a person's label: one label per vector in a file (a pickle's
    or JSON's names, keys or image paths), or a name column beside a database column."""
    count = _int(e.detail("count"))
    if not count:
        return False
    if item.content_type is ContentType.DB_COLUMN:
        return got is not None and bool(got.name_columns)
    return _int(e.detail("labels")) == count


def _image_groups(item: ItemResult, got: ItemFaces, number: int) -> np.ndarray:
    """The cannot-link group of each face descriptor: one per frame of one image (faces
    of a database column come from different images: no group)."""
    assert got.descriptors is not None
    n = len(got.descriptors)
    if item.content_type is ContentType.DB_COLUMN or len(got.faces) != n:
        return np.full(n, NO_GROUP, dtype=np.int64)
    frames = [f.box.frame if f.box is not None else 0 for f in got.faces]
    return np.array([number * MAX_FRAMES + min(fr, MAX_FRAMES - 1) for fr in frames])


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
