"""From the workers' comparisons (in memory) to a SubjectResult: matches, what could not be
compared, and the coverage — in the main process, after the scan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from scanner.model import EvidenceKind, ItemResult, Location, ScanResult
from scanner.subject.spec import FaceCompared, ItemFaces, StoreCompared
from scanner.subject_results import NotCompared, StoredHit, SubjectMatch, SubjectResult

# Match confidence: a logistic in the distance, 0.5 at 0.6 (face_recognition's tolerance).
# Fitted on the development set's same/different pairs (midpoint 0.62, scale 0.022) and
# widened to a scale of 0.04, as that set is small: 0.92 at 0.5, 0.99 at 0.4, 0.08 at 0.7.
CONFIDENCE_MIDPOINT = 0.6
CONFIDENCE_SCALE = 0.04


def confidence(distance: float) -> float:
    """How sure a distance makes a match (an indication, independent of the tolerance)."""
    z = (distance - CONFIDENCE_MIDPOINT) / CONFIDENCE_SCALE
    return round(1.0 / (1.0 + math.exp(min(z, 700.0))), 3)


def subject_result(
    scan: ScanResult, faces: Mapping[Location, ItemFaces], tolerance: float, probe_photos: int
) -> SubjectResult:
    """The search's outcome from the scan and each item's comparison."""
    # A hard link is scanned once and reported under every name: same bytes, same faces.
    by_digest = {
        i.sha256: faces[i.location] for i in scan.items if i.location in faces and i.sha256
    }
    matches: list[SubjectMatch] = []
    missing: list[NotCompared] = []
    n_faces = n_stores = n_vectors = 0
    distances: list[float] = []
    for item in scan.items:
        kinds = {e.kind for e in item.evidence}
        compared = faces.get(item.location) or (by_digest.get(item.sha256) if item.sha256 else None)
        if not kinds & {EvidenceKind.FACE_IMAGE, EvidenceKind.FACE_EMBEDDING}:
            if EvidenceKind.FACE_TAGGED in kinds:
                missing.append(_tags_only(item))
            continue
        if compared is None:
            missing.append(_not_examined(item, scan))
            continue
        n_faces += len(compared.faces)
        distances += [f.distance for f in compared.faces if f.distance is not None]
        matches += [_face_match(item, f) for f in compared.faces if _within(f, tolerance)]
        missing += _face_gaps(item, compared)
        for store in compared.stores:
            if store.compared:
                n_stores += 1
                n_vectors += store.compared
                if store.best is not None:
                    distances.append(store.best)
            if store.within:
                matches.append(_store_match(item, store))
            if store.reason:
                missing.append(_store_gap(item, store))
    return SubjectResult(
        scan=scan,
        tolerance=tolerance,
        probe_photos=probe_photos,
        matches=tuple(sorted(matches, key=lambda m: (m.distance, m.location))),
        not_compared=tuple(sorted(missing, key=lambda n: (n.location, n.where or ""))),
        faces_compared=n_faces,
        stores_compared=n_stores,
        vectors_compared=n_vectors,
        nearest=min(distances) if distances else None,
    )


def _within(f: FaceCompared, tolerance: float) -> bool:
    return f.distance is not None and f.distance <= tolerance


def _app(item: ItemResult) -> str | None:
    for e in item.evidence:
        app = e.detail("app")
        if app:
            return str(app)
    return None


def _face_match(item: ItemResult, f: FaceCompared) -> SubjectMatch:
    assert f.distance is not None
    detector = next(
        (e.detector for e in item.evidence if e.kind is EvidenceKind.FACE_IMAGE), "face.yunet"
    )
    return SubjectMatch(
        location=item.location,
        kind=EvidenceKind.FACE_IMAGE,
        distance=f.distance,
        confidence=confidence(f.distance),
        detector=detector,
        box=f.box,
        app=_app(item),
        sha256=item.sha256,
        context=item.context,
        hits=(StoredHit(f.row, f.distance),) if f.row is not None else (),
    )


def _store_match(item: ItemResult, s: StoreCompared) -> SubjectMatch:
    assert s.best is not None
    detector = next(
        (
            e.detector
            for e in item.evidence
            if e.kind is EvidenceKind.FACE_EMBEDDING and e.detail("where") == s.where
        ),
        "embedding",
    )
    return SubjectMatch(
        location=item.location,
        kind=EvidenceKind.FACE_EMBEDDING,
        distance=s.best,
        confidence=confidence(s.best),
        detector=detector,
        where=s.where,
        within=s.within,
        compared=s.compared,
        count=s.count,
        app=_app(item),
        sha256=item.sha256,
        context=item.context,
        hits=s.hits,
    )


def _face_gaps(item: ItemResult, compared: ItemFaces) -> list[NotCompared]:
    out: list[NotCompared] = []
    if compared.undescribed:
        out.append(
            NotCompared(
                item.location,
                EvidenceKind.FACE_IMAGE,
                f"{compared.undescribed} face(s) found but too small or unreadable for a "
                "descriptor",
                count=compared.undescribed,
            )
        )
    for e in item.evidence:
        rows = e.detail("estimated_rows_with_faces")
        if not isinstance(rows, int) or e.kind is not EvidenceKind.FACE_IMAGE:
            continue
        if compared.images_compared < rows:
            out.append(
                NotCompared(
                    item.location,
                    EvidenceKind.FACE_IMAGE,
                    f"face images of {compared.images_compared} sampled rows compared; "
                    f"about {rows} rows hold face images",
                    where=str(e.detail("where") or "") or None,
                    count=rows - compared.images_compared,
                )
            )
    return out


def _store_gap(item: ItemResult, s: StoreCompared) -> NotCompared:
    return NotCompared(
        item.location,
        EvidenceKind.FACE_EMBEDDING,
        s.reason,
        where=s.where or None,
        count=s.count - s.compared,
    )


def _tags_only(item: ItemResult) -> NotCompared:
    return NotCompared(
        item.location,
        EvidenceKind.FACE_TAGGED,
        "face tags without the image's pixels (names are stored as digests): the image they "
        "describe is compared where it is among the targets",
        blocking=False,
    )


def _not_examined(item: ItemResult, scan: ScanResult) -> NotCompared:
    why = [p.detail for p in scan.problems if p.location == item.location]
    reason = why[0] if why else "no comparison came back for this item"
    kind = EvidenceKind.FACE_IMAGE
    if any(e.kind is EvidenceKind.FACE_EMBEDDING for e in item.evidence):
        kind = EvidenceKind.FACE_EMBEDDING
    return NotCompared(item.location, kind, f"not compared: {reason}")
