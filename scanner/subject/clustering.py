"""How many distinct people: dlib's Chinese whispers over 128-d descriptors, with a range,
and a cannot-link constraint: two faces of one image are never the same person.

The estimate clusters at face_recognition's tolerance (0.6: two descriptors closer than this
are taken for one person); the range is the count at 0.65 (people merged more readily:
fewer) and at 0.55 (split more readily: more). On the development set's identity groups
(tests/subject/test_quality.py) the estimate is within ±10% of the truth and the truth
within the range. Descriptors stay in memory; only counts leave this module.

Faces of one image (one frame of it) carry the same group number. dlib's clustering knows no
constraint, so a cluster that holds two faces of one group is clustered again, on its own
edges, by Chinese whispers that never gives a face a label held by another face of its
group (`_split`; beyond SPLIT_MAX faces, the fewest people the constraint allows: `_fewest`);
clusters without such a pair are dlib's, unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scanner.subject_results import PeopleEstimate

THRESHOLD = 0.6
SWEEP = (0.55, 0.65)
MAX_CLUSTERED = 20_000  # Chinese whispers compares every pair: beyond this, counted apart
NO_GROUP = -1  # a descriptor without a cannot-link group (a stored template, a database image)
ITERATIONS = 100  # dlib's default for chinese_whispers
SEED = 0  # the constrained pass is seeded: the same faces give the same count
SPLIT_MAX = 2_000  # larger clusters are split by _fewest (linear), not by _split (pairs)


def estimate_people(
    descriptors: np.ndarray, not_clustered: int = 0, groups: Sequence[int] | None = None
) -> PeopleEstimate:
    """Distinct people among `descriptors` (n x 128); `not_clustered` more faces or
    templates that could not be clustered widen the range's upper end (each may be anyone).
    `groups` (n ints, NO_GROUP for none): descriptors of one group (the faces of one image)
    are never counted as one person."""
    rows = np.asarray(descriptors, dtype=np.float64).reshape(-1, 128)
    marks = np.full(len(rows), NO_GROUP, dtype=np.int64) if groups is None else np.asarray(groups)
    if marks.shape != (len(rows),):
        raise ValueError(f"{len(marks)} groups for {len(rows)} descriptors")
    finite = np.isfinite(rows).all(axis=1)
    rows, marks = rows[finite], marks[finite]
    extra = not_clustered + max(0, len(rows) - MAX_CLUSTERED)
    rows, marks = rows[:MAX_CLUSTERED], marks[:MAX_CLUSTERED]
    if not len(rows):
        return PeopleEstimate(0, 0, extra, 0, THRESHOLD, SWEEP, extra)
    counts = {t: len(set(cluster(rows, t, marks))) for t in (THRESHOLD, *SWEEP)}
    low = min(counts.values())
    high = max(counts.values()) + extra
    return PeopleEstimate(counts[THRESHOLD], low, high, len(rows), THRESHOLD, SWEEP, extra)


def cluster(rows: np.ndarray, threshold: float, groups: np.ndarray | None = None) -> list[int]:
    """A cluster label per row: dlib's Chinese whispers, with clusters that put two rows of
    one group together split under the cannot-link constraint."""
    import dlib

    vectors = [dlib.vector(r.tolist()) for r in rows]
    labels = [int(x) for x in dlib.chinese_whispers_clustering(vectors, threshold)]
    if groups is None:
        return labels
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(label, []).append(i)
    next_label = max(labels, default=-1) + 1
    for idx in members.values():
        marks = [int(groups[i]) for i in idx if groups[i] != NO_GROUP]
        if len(marks) == len(set(marks)):
            continue  # no two faces of one image here
        split = _split if len(idx) <= SPLIT_MAX else _fewest
        for i, sub in zip(idx, split(rows[idx], groups[idx], threshold), strict=True):
            labels[i] = next_label + sub
        next_label += len(idx)
    return labels


def _split(rows: np.ndarray, groups: np.ndarray, threshold: float) -> list[int]:
    """Chinese whispers on `rows` (edges between rows closer than `threshold`, weight 1 as
    dlib's) where a row never takes a label that another row of its group holds. Each row
    starts with a label of its own, so the constraint holds from the start and after every
    step; rows are visited in a seeded random order."""
    n = len(rows)
    sq = (rows * rows).sum(axis=1)
    dist2 = sq[:, None] + sq[None, :] - 2.0 * rows @ rows.T
    near = (dist2 < threshold * threshold) & ~np.eye(n, dtype=bool)
    neighbours = [np.flatnonzero(near[i]) for i in range(n)]
    same = [
        np.flatnonzero((groups == groups[i]) & (np.arange(n) != i))
        if groups[i] != NO_GROUP
        else np.empty(0, dtype=np.int64)
        for i in range(n)
    ]
    labels = np.arange(n)
    rng = np.random.default_rng(SEED)
    for _ in range(ITERATIONS):
        changed = False
        for i in rng.permutation(n):
            if not len(neighbours[i]):
                continue
            same_labels = labels[same[i]]
            candidates, votes = np.unique(labels[neighbours[i]], return_counts=True)
            allowed = ~np.isin(candidates, same_labels) if len(same[i]) else slice(None)
            candidates, votes = candidates[allowed], votes[allowed]
            if not len(candidates):
                continue
            best = int(candidates[int(np.argmax(votes))])  # ties: the smallest label
            if best != labels[i]:
                labels[i] = best
                changed = True
        if not changed:
            break
    return [int(x) for x in np.unique(labels, return_inverse=True)[1]]


def _fewest(rows: np.ndarray, groups: np.ndarray, threshold: float) -> list[int]:
    """The fewest people the constraint allows, for clusters too large to cluster again:
    the k-th face of each group goes to the k-th person (faces without a group: the first),
    so the cluster counts as many people as its largest group has faces."""
    seen: dict[int, int] = {}
    out = []
    for g in groups.tolist():
        if g == NO_GROUP:
            out.append(0)
            continue
        out.append(seen.get(g, 0))
        seen[g] = out[-1] + 1
    return out
