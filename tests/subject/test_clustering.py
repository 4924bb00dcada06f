"""Distinct people by Chinese whispers, with a range from a threshold sweep."""

from __future__ import annotations

import numpy as np
from subject_helpers import dlib_like

from scanner.subject.clustering import SWEEP, THRESHOLD, estimate_people


def _people(n_people: int, per_person: int, spread: float, seed: int = 1) -> np.ndarray:
    """n people far apart (dlib-like centres), each seen `per_person` times, every sighting
    within about `spread` of its person."""
    rng = np.random.default_rng(seed)
    centres = dlib_like(n_people, seed)
    rows = [
        c + rng.normal(0, spread / np.sqrt(128), 128) for c in centres for _ in range(per_person)
    ]
    return np.array(rows)


def test_well_separated_people_are_counted_exactly() -> None:
    p = estimate_people(_people(12, 5, 0.25))
    assert (p.estimate, p.low, p.high) == (12, 12, 12)
    assert p.clustered == 60 and p.threshold == THRESHOLD and p.sweep == SWEEP


def test_the_range_widens_when_sightings_straddle_the_threshold() -> None:
    p = estimate_people(_people(10, 6, 0.42, seed=4))
    assert p.low <= p.estimate <= p.high
    assert p.low <= 10 <= p.high


def test_faces_that_could_not_be_clustered_raise_only_the_upper_end() -> None:
    p = estimate_people(_people(3, 4, 0.2), not_clustered=7)
    assert (p.estimate, p.low, p.high, p.not_clustered) == (3, 3, 10, 7)


def test_nothing_to_count() -> None:
    p = estimate_people(np.empty((0, 128)))
    assert (p.estimate, p.low, p.high, p.clustered) == (0, 0, 0, 0)
    q = estimate_people(np.empty((0, 128)), not_clustered=4)
    assert (q.estimate, q.low, q.high) == (0, 0, 4)


def test_non_finite_rows_are_left_out() -> None:
    rows = _people(2, 3, 0.2)
    rows[0, 5] = np.nan
    assert estimate_people(rows).clustered == 5
