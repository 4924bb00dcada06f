"""What the embedding-file detectors share: names from the item, one verdict per vector set,
and the same notes and problems whatever the format.

Each detector only parses (scanner.embeddings.npy, textvec, jsonvec, tables); turning the
vector sets into evidence is the same for all of them, so it lives here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from scanner.detectors.base import (
    DetectContext,
    DetectorOutput,
    LoadedItem,
    embedding_evidence,
    kept_vectors,
)
from scanner.embeddings.vectors import VectorSet, classify
from scanner.model import Evidence, ProblemReason, ScalarValue

if TYPE_CHECKING:
    from scanner.embeddings.vecsets import Findings

# The parsers (scanner.embeddings.*) and the apps' reference are imported by the first item a
# detector reads: a worker that sees only photos never loads them.


def item_names(item: LoadedItem) -> tuple[str, ...]:
    """The file's name and its archive members' names.

    Directories are left out on purpose: a folder named after a project or a test run
    ("face_project/", "test_faces0/") says nothing about what one file holds.
    """
    parts = (item.location.path, *item.location.members)
    return tuple(p.rsplit("/", 1)[-1] for p in parts if p)


def stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name


def decode_text(data: bytes) -> str:
    """Text as UTF-8 (a BOM dropped); undecodable bytes replaced, never fatal."""
    return data.decode("utf-8-sig", errors="replace")


def report(detector: str, item: LoadedItem, ctx: DetectContext, found: Findings) -> DetectorOutput:
    """One piece of evidence per vector set at or above the threshold; notes say what else
    was seen (how many sets, the best confidence that stayed below)."""
    from scanner.embeddings.vecsets import limited
    from scanner.reference.apps import identify_path

    match = identify_path(item.location.display)
    app = match.app if match else None
    sets, left_out = limited(found.sets)
    evidence: list[Evidence] = []
    reported: list[VectorSet] = []
    below: list[float] = []
    for vs in sets:
        verdict = classify(vs, app=app)
        if verdict.confidence >= ctx.settings.embedding_threshold:
            extra: tuple[tuple[str, ScalarValue], ...] = (
                ("labels", vs.labels),
                ("sampled", int(vs.sample.shape[0])),
            )
            evidence.append(embedding_evidence(detector, vs, verdict, app=app, extra=extra))
            reported.append(vs)
        else:
            below.append(verdict.confidence)
    notes: list[tuple[str, ScalarValue]] = [*found.notes, ("vector_sets", len(found.sets))]
    if below:
        notes.append(("best_confidence_below_threshold", max(below)))
    if left_out:
        notes.append(("vector_sets_not_classified", left_out))
    return DetectorOutput(
        tuple(evidence), tuple(notes), tuple(found.problems), kept_vectors(ctx, reported)
    )


def run(
    detector: str, item: LoadedItem, ctx: DetectContext, parse: Callable[[], Findings]
) -> DetectorOutput:
    """Parse and report; a missing optional library is reported for the item, never skipped."""
    from scanner.embeddings.tables import MissingLibrary

    try:
        found = parse()
    except MissingLibrary as exc:
        return DetectorOutput(problems=((ProblemReason.DETECTOR_UNAVAILABLE, exc.hint),))
    return report(detector, item, ctx, found)
