"""In a worker: the faces and stored vectors of one item, compared with the probes.

Runs after the detectors, on the same bytes, only for items with face evidence:

- every face box of an image detector gets a descriptor (scanner.subject.descriptors) and
  its distance to the nearest probe;
- face images in a database column (evidence without boxes) are searched again, image by
  image, within the detector's own bounds;
- every stored vector set that became evidence is compared when it is in dlib's space
  (128 dimensions, norms of dlib's descriptors), and otherwise said "not comparable".

`FaceSearch` is how a scan asks for it: the scan's item hook (scanner.work.ItemHook). The
result (`ItemFaces`) goes back to the main process in memory; descriptors only when the
search keeps them (triage).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from scanner.detectors.base import DetectContext, LoadedItem
from scanner.detectors.face_column import MAX_IMAGES, TIME_BUDGET_S, indexed_images
from scanner.detectors.face_yunet import YuNetFaceDetector
from scanner.detectors.models import DLIB_ENCODER, DLIB_HOG, DLIB_POSE5, ModelSpec
from scanner.embeddings.vectors import VectorSet
from scanner.errors import ConfigError
from scanner.faces.geometry import RelBox, iou
from scanner.faces.imaging import ImageProblem
from scanner.model import Evidence, EvidenceKind, FaceBox, ItemResult, VectorRef
from scanner.subject.descriptors import FaceDescriptor, describe_boxes
from scanner.subject.spec import (
    DEFAULT_TOLERANCE,
    DIMS,
    DLIB_FAMILY,
    FaceCompared,
    ItemFaces,
    StoreCompared,
    holds_faces,
)
from scanner.subject_results import MAX_HITS, StoredHit

SAME_FACE_IOU = 0.35  # boxes of two detectors overlapping this much are one face
# What the workers preload for a face search (FaceSearch.models).
MODELS: tuple[ModelSpec, ...] = (*YuNetFaceDetector.models, DLIB_HOG, DLIB_POSE5, DLIB_ENCODER)


@dataclass(frozen=True)
class FaceSearch:
    """The workers' face comparison, a scan's item hook (scanner.work.ItemHook): every face
    and stored dlib template of an item with face data is compared with `probes`; with
    `keep_descriptors` (triage), the descriptors come back too, for clustering."""

    probes: np.ndarray = field(repr=False, compare=False)  # (k, 128) float64; k may be 0
    tolerance: float = DEFAULT_TOLERANCE
    keep_descriptors: bool = False
    every_face: bool = True  # search images again for every face (not the first ones found)
    name = "face comparison"  # how the item's problems name a failure

    def __post_init__(self) -> None:
        if not 0.0 < self.tolerance <= 2.0:
            raise ConfigError(f"face search tolerance must be in (0, 2] (got {self.tolerance!r})")

    def __repr__(self) -> str:
        return (
            f"FaceSearch(probes=<{len(self.probes)} withheld>, tolerance={self.tolerance}, "
            f"keep_descriptors={self.keep_descriptors}, every_face={self.every_face})"
        )

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        """YuNet (every face again), dlib's HOG, landmarks and encoder."""
        return MODELS

    @property
    def keep_vectors(self) -> bool:
        return True  # stored templates are compared with the probes

    def after(
        self,
        item: LoadedItem,
        evidence: Sequence[Evidence],
        vectors: Sequence[VectorSet],
        ctx: DetectContext,
    ) -> ItemFaces | None:
        """The item's faces and stores compared (examine)."""
        return examine(item, evidence, vectors, self, ctx)

    def needs_look(self, result: ItemResult) -> bool:
        return holds_faces(result)


def examine(
    item: LoadedItem,
    evidence: Sequence[Evidence],
    vectors: Sequence[VectorSet],
    search: FaceSearch,
    ctx: DetectContext,
) -> ItemFaces | None:
    """The item's faces and stores compared with the probes (None: no face data)."""
    if not any(e.kind in (EvidenceKind.FACE_IMAGE, EvidenceKind.FACE_EMBEDDING) for e in evidence):
        return None
    described: list[FaceDescriptor] = []
    rows: list[VectorRef | None] = []
    undescribed = images = 0
    every = replace(ctx, settings=replace(ctx.settings, count_faces=True))
    boxes = distinct_boxes(evidence)
    if boxes and search.every_face and any(_lower_bound(e) for e in evidence):
        # The scan stopped at the first faces it was sure of: look for every face.
        fresh = LoadedItem(item.location, item.content_type, item.data, item.size, item.reader)
        # Its boxes first: the same boxes a probe photo's search gives (one space for both).
        boxes = distinct_boxes([*YuNetFaceDetector().detect(fresh, every).evidence, *evidence])
    if boxes:
        described, undescribed = describe_boxes(item, boxes, ctx.models, ctx.limits.max_pixels)
    elif item.column is not None and any(e.kind is EvidenceKind.FACE_IMAGE for e in evidence):
        described, rows, undescribed, images = _column_faces(item, every)
    faces = tuple(
        FaceCompared(
            d.box if item.column is None else None,
            nearest(d.vector, search),
            d.aligned_by,
            rows[n] if n < len(rows) else None,
        )
        for n, d in enumerate(described)
    )
    stores, stored = _stores(evidence, vectors, search)
    keep = search.keep_descriptors
    return ItemFaces(
        faces=faces,
        stores=tuple(stores),
        undescribed=undescribed,
        images_compared=images,
        name_columns=name_columns(item.column.context) if item.column is not None else (),
        descriptors=np.array([d.vector for d in described]) if keep and described else None,
        stored=np.vstack(stored) if keep and stored else None,
    )


def nearest(vector: np.ndarray, search: FaceSearch) -> float | None:
    """Distance to the nearest probe (face_recognition.face_distance), None without probes."""
    if not len(search.probes):
        return None
    return round(float(np.linalg.norm(search.probes - vector, axis=1).min()), 4)


def _lower_bound(e: Evidence) -> bool:
    return e.detector == YuNetFaceDetector.id and e.detail("count_is_lower_bound") is True


def distinct_boxes(evidence: Sequence[Evidence]) -> list[FaceBox]:
    """Face boxes of every image detector, a face found by two of them counted once."""
    kept: list[FaceBox] = []
    for e in sorted(evidence, key=lambda e: -e.faces):  # stable: ties keep the caller's order
        if e.kind is not EvidenceKind.FACE_IMAGE:
            continue
        for b in e.boxes:
            box = RelBox(b.x, b.y, b.w, b.h)
            if not any(
                k.frame == b.frame and iou(RelBox(k.x, k.y, k.w, k.h), box) > SAME_FACE_IOU
                for k in kept
            ):
                kept.append(b)
    return kept


def _column_faces(
    item: LoadedItem, ctx: DetectContext
) -> tuple[list[FaceDescriptor], list[VectorRef | None], int, int]:
    """Face images stored in a column's sampled rows, searched and described one by one;
    with each face, the row its image is in (when the source says)."""
    assert item.column is not None
    refs = item.column.refs if len(item.column.refs) == len(item.column.values) else ()
    detector = YuNetFaceDetector()
    started = time.monotonic()
    out: list[FaceDescriptor] = []
    rows: list[VectorRef | None] = []
    failed = examined = 0
    for index, content_type, data in indexed_images(item.column.values)[:MAX_IMAGES]:
        if time.monotonic() - started > TIME_BUDGET_S:
            break
        examined += 1
        loaded = LoadedItem(item.location, content_type, data)
        try:
            found = detector.detect(loaded, ctx)
        except ImageProblem:
            continue
        boxes = distinct_boxes(found.evidence)
        if boxes:
            described, undescribed = describe_boxes(
                loaded, boxes, ctx.models, ctx.limits.max_pixels
            )
            out += described
            rows += [refs[index] if refs else None] * len(described)
            failed += undescribed
    return out, rows, failed, examined


# A column whose name says it holds people's names (first_name, fullName, surname,
# full_name_hash …), not the name of a file, an image, a table or a device.
_NAME_WORDS = frozenset(
    {
        "name", "names", "fullname", "firstname", "lastname", "middlename", "surname",
        "surnames", "forename", "forenames", "givenname", "familyname",
    }
)  # fmt: skip
_NOT_PEOPLE = frozenset(
    {
        "file", "image", "img", "photo", "picture", "pic", "path", "table", "column", "model",
        "app", "application", "host", "device", "camera", "album", "company", "org",
        "organisation", "organization", "product", "tag", "bucket", "object", "type", "class",
        "schema", "db", "database", "domain", "server", "dataset",
    }
)  # fmt: skip


def name_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The columns (of a face column's table) that name the people in its rows."""
    out = []
    for column in columns:
        spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", column)
        words = set(re.split(r"[^a-z0-9]+", spaced.lower()))
        if words & _NAME_WORDS and not words & _NOT_PEOPLE:
            out.append(column)
    return tuple(out)


def comparable(e: Evidence) -> bool:
    return e.detail("dims") == DIMS and e.detail("family") == DLIB_FAMILY


def _stores(
    evidence: Sequence[Evidence], vectors: Sequence[VectorSet], search: FaceSearch
) -> tuple[list[StoreCompared], list[np.ndarray]]:
    out: list[StoreCompared] = []
    kept: list[np.ndarray] = []
    by_where = {vs.where: vs for vs in vectors if vs.dims == DIMS}
    for e in evidence:
        if e.kind is not EvidenceKind.FACE_EMBEDDING:
            continue
        where = str(e.detail("where") or "")
        dims = int(e.detail("dims") or 0)
        family = e.detail("family")
        count = int(e.detail("count") or 0)
        fam = str(family) if family is not None else None
        if count == 0:
            continue  # an application's store with no template in it yet: nothing to compare
        if not comparable(e):
            out.append(StoreCompared(where, dims, fam, count, 0, reason=_space(dims, fam)))
            continue
        vs = by_where.get(where)
        finite = np.isfinite(vs.sample).all(axis=1) if vs is not None else np.zeros(0, bool)
        rows = vs.sample[finite] if vs is not None else None
        if vs is None or rows is None or not len(rows):
            out.append(StoreCompared(where, dims, fam, count, 0, reason="vectors not read"))
            continue
        known = len(vs.refs) == len(vs.sample)
        refs = [r for r, ok in zip(vs.refs, finite, strict=True) if ok] if known else []
        best: float | None = None
        within = 0
        hits: tuple[StoredHit, ...] = ()
        if len(search.probes):
            near = np.min([np.linalg.norm(rows - p, axis=1) for p in search.probes], axis=0)
            best = round(float(near.min()), 4)
            inside = np.flatnonzero(near <= search.tolerance)
            within = len(inside)
            nearest_first = inside[np.argsort(near[inside], kind="stable")][:MAX_HITS]
            hits = tuple(
                StoredHit(refs[i] if refs else VectorRef(), round(float(near[i]), 4))
                for i in nearest_first
            )
        reason = "" if len(rows) >= count else f"{len(rows)} of {count} vectors read and compared"
        out.append(StoreCompared(where, dims, fam, count, len(rows), best, within, reason, hits))
        kept.append(rows)
    return out, kept


def _space(dims: int, family: str | None) -> str:
    if dims == DIMS:
        what = family or "a 128-d model other than dlib (FaceNet, OpenFace or SFace)"
        return f"128-d vectors of {what}: not dlib's descriptor space, not comparable"
    model = family or "another face model"
    return f"{dims}-d vectors ({model}): not comparable with dlib's 128-d space"
