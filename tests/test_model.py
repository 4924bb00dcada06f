"""Exit codes and severities: the contract a CI gate relies on."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from scanner.model import (
    ContentType,
    Evidence,
    EvidenceKind,
    ExitCode,
    FileLocation,
    ItemResult,
    Problem,
    ProblemReason,
    ScanResult,
    Severity,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def result(
    kinds: tuple[EvidenceKind, ...] = (),
    reasons: tuple[ProblemReason, ...] = (),
    fail_on: Severity | None = Severity.LOW,
    allow_incomplete: bool = False,
    interrupted: bool = False,
) -> ScanResult:
    items = tuple(
        ItemResult(
            FileLocation(f"/x/{n}.jpg"),
            ContentType.JPEG,
            10,
            "0" * 64,
            evidence=(Evidence(kind, "face.yunet", 0.9, faces=1),),
        )
        for n, kind in enumerate(kinds)
    )
    problems = tuple(Problem(FileLocation(f"/x/p{n}"), r, "detail") for n, r in enumerate(reasons))
    return ScanResult(
        "0.1.0", (), T0, T0, ("/x",), (), items, problems,
        interrupted=interrupted, fail_on=fail_on, allow_incomplete=allow_incomplete,
    )  # fmt: skip


FACE = EvidenceKind.FACE_IMAGE
TAG = EvidenceKind.FACE_TAGGED


@pytest.mark.parametrize(
    ("kinds", "reasons", "fail_on", "allow", "expected"),
    [
        ((), (), Severity.LOW, False, ExitCode.CLEAN),
        ((FACE,), (), Severity.LOW, False, ExitCode.FINDINGS),
        ((TAG,), (), Severity.HIGH, False, ExitCode.CLEAN),  # tags are medium
        ((TAG,), (), Severity.MEDIUM, False, ExitCode.FINDINGS),
        ((FACE,), (), Severity.CRITICAL, False, ExitCode.CLEAN),
        ((FACE,), (), None, False, ExitCode.CLEAN),  # --fail-on never
        ((), (ProblemReason.DECODE_ERROR,), Severity.LOW, False, ExitCode.INCOMPLETE),
        ((FACE,), (ProblemReason.TIMEOUT,), Severity.LOW, False, ExitCode.INCOMPLETE),
        ((FACE,), (ProblemReason.TIMEOUT,), Severity.LOW, True, ExitCode.FINDINGS),
        ((), (ProblemReason.ARCHIVE_RATIO,), Severity.LOW, True, ExitCode.CLEAN),
        ((), (ProblemReason.SYMLINK_NOT_FOLLOWED,), Severity.LOW, False, ExitCode.CLEAN),
        ((), (ProblemReason.SPECIAL_FILE,), Severity.LOW, False, ExitCode.CLEAN),
    ],
)
def test_exit_codes(
    kinds: tuple[EvidenceKind, ...],
    reasons: tuple[ProblemReason, ...],
    fail_on: Severity | None,
    allow: bool,
    expected: ExitCode,
) -> None:
    assert result(kinds, reasons, fail_on, allow).exit_code is expected


def test_interrupted_is_incomplete() -> None:
    assert result(interrupted=True).exit_code is ExitCode.INCOMPLETE


def test_only_what_hides_no_stored_data_is_complete() -> None:
    """Links, specials, cycles; views and indexes whose rows are scanned elsewhere; and the
    two database warnings (how a scan ran, not what it missed)."""
    complete = {r for r in ProblemReason if not r.incomplete}
    assert complete == {
        ProblemReason.SYMLINK_NOT_FOLLOWED,
        ProblemReason.SPECIAL_FILE,
        ProblemReason.DIRECTORY_CYCLE,
        ProblemReason.ARCHIVE_LINK,
        ProblemReason.VIEW_NOT_READ,
        ProblemReason.INDEX_NOT_READ,
        ProblemReason.VIEWS_READ,
        ProblemReason.DATABASE_ROLE_WRITABLE,
    }
    assert ProblemReason.VIRTUAL_TABLE_NOT_READ.incomplete


def test_severity_parse() -> None:
    assert Severity.parse("High") is Severity.HIGH
    with pytest.raises(ValueError, match="unknown severity"):
        Severity.parse("urgent")


def test_location_display() -> None:
    loc = FileLocation("/data/a.zip").child("inner.tar").child("x/y.jpg")
    assert loc.display == "/data/a.zip!/inner.tar!/x/y.jpg"
    assert loc.depth == 2
