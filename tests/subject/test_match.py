"""From the workers' comparisons to a SubjectResult, and the triage summary: matches,
everything that could not be compared (never dropped), exit codes, counts and ranges."""

from __future__ import annotations

from dataclasses import replace

import pytest
from subject_helpers import sample_faces, sample_scan

from scanner.model import EvidenceKind, ExitCode
from scanner.subject.match import confidence, subject_result
from scanner.subject.triage import summarise


def test_confidence_falls_with_the_distance_and_is_one_half_at_the_tolerance() -> None:
    values = [confidence(d / 100) for d in range(0, 120, 5)]
    assert values == sorted(values, reverse=True)
    assert confidence(0.6) == 0.5
    assert confidence(0.4) > 0.99 and confidence(0.5) > 0.9 and confidence(0.7) < 0.1
    assert confidence(50.0) == 0.0


def test_matches_and_what_was_not_compared() -> None:
    scan = sample_scan()
    result = subject_result(scan, sample_faces(scan), 0.6, 1)
    found = {(m.location.path, m.kind) for m in result.matches}
    assert found == {
        ("photos/team/alice.jpg", EvidenceKind.FACE_IMAGE),
        ("models/encodings.pickle", EvidenceKind.FACE_EMBEDDING),
    }
    assert [m.distance for m in result.matches] == [0.31, 0.42]  # nearest first
    store = result.matches[1]
    assert (store.within, store.compared, store.count, store.app) == (1, 40, 40, "face_recognition")
    gaps = {n.location.path: n for n in result.not_compared}
    assert "512-d" in gaps["models/arcface.npy"].reason and gaps["models/arcface.npy"].blocking
    assert "24 sampled rows" in gaps["sqlite:///srv/kyc.db#customers.photo"].reason
    assert gaps["sqlite:///srv/kyc.db#customers.photo"].count == 276
    assert (
        "too small"
        in next(
            n for n in result.not_compared if n.count == 1 and n.kind is EvidenceKind.FACE_IMAGE
        ).reason
    )
    tags = gaps["photos/tagged/lunch.jpg"]
    assert tags.kind is EvidenceKind.FACE_TAGGED and not tags.blocking
    assert result.faces_compared == 2 + 1 + 24 and result.vectors_compared == 40
    assert result.nearest == 0.31
    assert result.exit_code is ExitCode.INCOMPLETE


def test_an_item_with_faces_and_no_comparison_is_never_dropped() -> None:
    scan = sample_scan()
    faces = sample_faces(scan)
    team = next(i for i in scan.items if i.location.path == "photos/team/alice.jpg")
    del faces[team.location]
    result = subject_result(scan, faces, 0.6, 1)
    gap = next(n for n in result.not_compared if n.location == team.location)
    assert gap.blocking and gap.reason.startswith("not compared")


@pytest.mark.parametrize(
    ("allow", "expected"), [(False, ExitCode.INCOMPLETE), (True, ExitCode.FINDINGS)]
)
def test_exit_codes(allow: bool, expected: ExitCode) -> None:
    scan = replace(sample_scan(), allow_incomplete=allow)
    assert subject_result(scan, sample_faces(scan), 0.6, 1).exit_code is expected


def test_found_nowhere_when_everything_was_compared() -> None:
    full = sample_scan()
    keep = {"photos/team/alice.jpg", "backups/2019.zip"}
    scan = replace(full, items=tuple(i for i in full.items if i.location.path in keep), problems=())
    faces = {k: v for k, v in sample_faces(full).items() if k.path in keep}
    assert subject_result(scan, faces, 0.6, 1).exit_code is ExitCode.FINDINGS
    strict = subject_result(scan, faces, 0.3, 1)
    assert not strict.found and strict.exit_code is ExitCode.CLEAN and strict.nearest == 0.31


def test_triage_counts_ranges_places_and_dates() -> None:
    scan = sample_scan()
    t = summarise(scan, sample_faces(scan))
    assert (t.files_with_faces, t.faces, t.database_image_rows) == (3, 4, 300)
    assert (t.template_stores, t.templates, t.tagged_items, t.named_people) == (2, 70, 2, 1)
    assert t.records == 3 + 300 + 70 + 2
    # 2 + 1 + 24 face descriptors and 40 stored templates clustered; the rest may be anyone
    assert t.people.clustered == 67 and t.people.not_clustered == 1 + 276 + 30
    assert t.people.low <= t.people.estimate <= t.people.high
    assert [(c.label, c.count) for c in t.families] == [
        ("dlib/face_recognition", 40),
        ("ArcFace/InsightFace", 30),
    ]
    assert [c.label for c in t.countries] == ["GB", "US (US-IL)"]
    assert [c.label for c in t.applications] == ["CompreFace", "face_recognition"]
    assert (t.oldest.year, t.newest.year) == (2019, 2024)  # type: ignore[union-attr]
    assert t.unreadable == 3 and t.exit_code is ExitCode.INCOMPLETE
