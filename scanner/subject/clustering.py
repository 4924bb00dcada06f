"""How many distinct people: dlib's Chinese whispers over 128-d descriptors, with a range.

The estimate clusters at face_recognition's tolerance (0.6: two descriptors closer than this
are taken for one person); the range is the count at 0.65 (people merged more readily:
fewer) and at 0.55 (split more readily: more). On the development set's identity groups
(tests/subject/test_quality.py) the estimate is within ±10% of the truth and the truth
within the range. Descriptors stay in memory; only counts leave this module.
"""

from __future__ import annotations

import numpy as np

from scanner.subject_results import PeopleEstimate

THRESHOLD = 0.6
SWEEP = (0.55, 0.65)
MAX_CLUSTERED = 20_000  # Chinese whispers compares every pair: beyond this, counted apart


def estimate_people(descriptors: np.ndarray, not_clustered: int = 0) -> PeopleEstimate:
    """Distinct people among `descriptors` (n x 128); `not_clustered` more faces or
    templates that could not be clustered widen the range's upper end (each may be anyone)."""
    rows = np.asarray(descriptors, dtype=np.float64).reshape(-1, 128)
    rows = rows[np.isfinite(rows).all(axis=1)]
    extra = not_clustered + max(0, len(rows) - MAX_CLUSTERED)
    rows = rows[:MAX_CLUSTERED]
    if not len(rows):
        return PeopleEstimate(0, 0, extra, 0, THRESHOLD, SWEEP, extra)
    counts = {t: _clusters(rows, t) for t in (THRESHOLD, *SWEEP)}
    low = min(counts.values())
    high = max(counts.values()) + extra
    return PeopleEstimate(counts[THRESHOLD], low, high, len(rows), THRESHOLD, SWEEP, extra)


def _clusters(rows: np.ndarray, threshold: float) -> int:
    import dlib

    vectors = [dlib.vector(r.tolist()) for r in rows]
    return len(set(dlib.chinese_whispers_clustering(vectors, threshold)))
