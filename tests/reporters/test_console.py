"""The console report: golden file, terminal-safe names, the row cap, the exit sentence."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from reporters.sample import EXPIRED_WAIVER, check_golden, policy_result, sample_result

from scanner.model import (
    ContentType,
    Disposition,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemResult,
    Problem,
    ProblemReason,
    ScanResult,
    Severity,
)
from scanner.reporters import Format
from scanner.reporters import render as render_any
from scanner.reporters.console import MAX_ROWS, render
from scanner.reporters.text import terminal_safe

# What a terminal or a log viewer could act on: C0/C1 controls (ESC, CSI, BEL, CR, LF...),
# DEL, the Unicode line separators, and bidirectional overrides and isolates.
RAW_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def item(path: str, kind: EvidenceKind = EvidenceKind.FACE_IMAGE, faces: int = 1) -> ItemResult:
    detector = "face.yunet" if kind is EvidenceKind.FACE_IMAGE else "face.tags"
    return ItemResult(
        location=FileLocation(path),
        content_type=ContentType.JPEG,
        size=1,
        sha256=None,
        evidence=(Evidence(kind, detector, 0.9, faces=faces),),
    )


def rows(text: str) -> list[str]:
    """The table rows (item and problem rows are indented by two spaces)."""
    return [line for line in text.split("\n") if line.startswith("  ")]


def test_matches_golden_file() -> None:
    check_golden("report.console.txt", render(sample_result()))


def test_reporter_registry_renders_console() -> None:
    assert render_any(sample_result(), Format.CONSOLE) == render(sample_result())


def test_golden_content() -> None:
    text = render(sample_result())
    assert text.startswith(
        "faceaudit 9.8.7-golden: 42 items scanned in 12.3 s (7 directories, 5 archive members, "
        "2 excluded)\n"
    )
    assert "Face data in 4 items (3 face_image, 1 face_tagged); at least 4 faces seen" in text
    assert "backups/2019.zip!/badges.tar!/staff/badge-0042.png" in text
    assert "Not scanned (3): the scan is incomplete" in text
    assert "Skipped by design: 1 special file, 1 symlink not followed" in text
    assert "access times could not be preserved" in text
    assert text.endswith(
        "Exit code 3: incomplete scan: some items could not be examined (see problems)\n"
    )


# -- hostile names ---------------------------------------------------------------------------


def test_hostile_names_cannot_reach_the_terminal_raw() -> None:
    text = render(sample_result())
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\udcff" not in text
    text.encode("utf-8")  # strict: printable on a UTF-8 terminal
    assert not RAW_UNSAFE.search(text)
    # The forged row stays inside the hostile item's own row, visibly escaped.
    hostile = [r for r in rows(text) if "bad\\xff.jpg" in r]
    assert len(hostile) == 1
    assert hostile[0].endswith(
        "inbox/bad\\xff.jpg\\x1b[31m\\x0a  face_image       9  0.99  face.yunet     forged.jpg"
    )
    assert sum("forged.jpg" in line for line in text.splitlines()) == 1
    # Problem rows: the name and the detail are both escaped.
    assert "incoming/\\x1b]0;owned\\x07scan.jpg: OSError: image file is truncated\\x1b[2J" in text


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),  # RIGHT-TO-LEFT OVERRIDE
        ("a\u2066b\u2069c", "a\\u2066b\\u2069c"),  # isolates
        ("a\u200fb", "a\\u200fb"),  # RIGHT-TO-LEFT MARK
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line and paragraph separators
        ("a\rb", "a\\x0db"),  # carriage return: would overwrite the row start
        ("a\x9b31mb", "a\\x9b31mb"),  # 8-bit CSI
        ("a\x08\x7fb", "a\\x08\\x7fb"),  # backspace, DEL
        ("caf\u00e9/\u5199\u771f.jpg", "caf\u00e9/\u5199\u771f.jpg"),  # printable: unchanged
        ("bad\udcff\udcfe.jpg", "bad\\xff\\xfe.jpg"),  # undecodable bytes
    ],
)
def test_terminal_safe_names(name: str, shown: str) -> None:
    assert terminal_safe(name) == shown
    result = replace(
        sample_result(),
        items=(item(name),),
        problems=(Problem(FileLocation(name), ProblemReason.DECODE_ERROR, name),),
    )
    text = render(result)
    assert not RAW_UNSAFE.search(text)
    assert text.count(shown) == 3  # the item row, and the problem row's name and detail
    assert text.splitlines() == text[:-1].split("\n")  # no line break but "\n"


# -- the row cap -----------------------------------------------------------------------------


def test_items_are_capped_with_a_count_of_the_rest() -> None:
    many = tuple(item(f"p/{i:03}.jpg") for i in range(MAX_ROWS + 7))
    text = render(replace(sample_result(), items=many, problems=()))
    face_rows = [r for r in rows(text) if r.startswith("  face_image")]
    assert len(face_rows) == MAX_ROWS
    assert face_rows[-1].endswith(f"p/{MAX_ROWS - 1:03}.jpg")
    assert "  ... and 7 more (--format json lists all)" in text
    assert f"Face data in {MAX_ROWS + 7} items" in text


def test_exactly_max_rows_has_no_more_line() -> None:
    exact = tuple(item(f"p/{i:03}.jpg") for i in range(MAX_ROWS))
    text = render(replace(sample_result(), items=exact, problems=()))
    assert len([r for r in rows(text) if r.startswith("  face_image")]) == MAX_ROWS
    assert "more" not in text


def test_incomplete_problems_are_capped_too() -> None:
    problems = tuple(
        Problem(FileLocation(f"p/{i:03}.jpg"), ProblemReason.DECODE_ERROR, "truncated")
        for i in range(MAX_ROWS + 3)
    )
    text = render(replace(sample_result(), items=(), problems=problems))
    assert len([r for r in rows(text) if r.startswith("  decode_error")]) == MAX_ROWS
    assert text.count("  ... and 3 more\n") == 1
    assert f"Not scanned ({MAX_ROWS + 3})" in text


def test_max_rows_is_a_parameter() -> None:
    text = render(sample_result(), max_rows=1)
    assert "  ... and 3 more (--format json lists all)" in text
    assert "  ... and 2 more\n" in text  # 3 incomplete problems, one shown


# -- the exit sentence -----------------------------------------------------------------------

TAGGED = item("t.jpg", EvidenceKind.FACE_TAGGED)
FACE = item("f.jpg")
TRUNCATED = Problem(FileLocation("x.jpg"), ProblemReason.DECODE_ERROR, "truncated")
LINK = Problem(FileLocation("l"), ProblemReason.SYMLINK_NOT_FOLLOWED, "link")


def scan(**changes: object) -> ScanResult:
    return replace(sample_result(), **{"items": (), "problems": (), **changes})


@pytest.mark.parametrize(
    ("result", "sentence"),
    [
        (scan(), "Exit code 0: clean: no face data at or above the --fail-on severity\n"),
        (
            scan(items=(TAGGED,), problems=(LINK,), fail_on=Severity.HIGH),
            "Exit code 0: face data found (1 items), none at or above the --fail-on severity\n",
        ),
        (
            scan(items=(FACE,), fail_on=None),
            "Exit code 0: face data found, but --fail-on never does not fail on it\n",
        ),
        (
            scan(problems=(TRUNCATED,), allow_incomplete=True),
            "Exit code 0: clean: no face data at or above the --fail-on severity (the scan is "
            "incomplete; --allow-incomplete was given)\n",
        ),
        (scan(items=(FACE,)), "Exit code 1: face data found at or above the --fail-on severity\n"),
        (
            scan(items=(TAGGED,), fail_on=Severity.MEDIUM),
            "Exit code 1: face data found at or above the --fail-on severity\n",
        ),
        (
            scan(items=(FACE,), problems=(TRUNCATED,), allow_incomplete=True),
            "Exit code 1: face data found at or above the --fail-on severity (the scan is "
            "incomplete; --allow-incomplete was given)\n",
        ),
        (
            scan(items=(FACE,), problems=(TRUNCATED,)),
            "Exit code 3: incomplete scan: some items could not be examined (see problems)\n",
        ),
        (
            scan(interrupted=True),
            "Exit code 3: incomplete scan: some items could not be examined (see problems)\n",
        ),
    ],
)
def test_exit_sentence(result: ScanResult, sentence: str) -> None:
    text = render(result)
    assert text.endswith("\n\n" + sentence)
    assert text.endswith(f"Exit code {int(result.exit_code)}: " + sentence.split(": ", 1)[1])


def test_no_face_data_line() -> None:
    text = render(scan())
    assert "No face data found." in text
    assert "KIND" not in text
    assert "Not scanned" not in text
    assert "Skipped by design" not in text


# -- findings (with a policy) ------------------------------------------------------------------


def test_policy_scan_matches_golden_file() -> None:
    check_golden("report.policy.console.txt", render(policy_result()))


def test_findings_section_comes_before_the_exit_line() -> None:
    text = render(policy_result())
    lines = text.splitlines()
    head = lines.index(
        "Findings against the policy example-org (7: 5 open, 4 failing; 1 waived, 1 baseline)"
    )
    assert head < len(lines) - 2
    assert lines[-1].startswith("Exit code 3")
    rows = [line for line in lines[head + 2 :] if line.startswith("  ") and line[2] != " "]
    assert [r.split()[0:2] for r in rows[:7]] == [
        ["critical", "FAIL"],
        ["high", "baseline"],
        ["high", "FAIL"],
        ["high", "FAIL"],
        ["high", "waived"],
        ["medium", "FAIL"],
        ["low", "open"],
    ]
    assert "sqlite:///srv/kyc.db#customers.face_embedding: 1200 face templates" in text
    assert "(DSAR hold for case 2024-117" in text
    assert f"expired waiver (fails the gate): {EXPIRED_WAIVER}" in text
    assert "1 unused waivers" in text


def test_findings_are_terminal_safe() -> None:
    result = policy_result()
    hostile = replace(
        result.findings[0],
        rule_id="R\x1b[2J",
        message="m\x1b]0;x\x07\u202e",
        disposition=Disposition.WAIVED,
        justification="j\r\n",
    )
    policy = replace(result.policy, name="p\x1b[31m", expired_waivers=("w\x9b",))
    text = render(replace(result, findings=(hostile,), policy=policy))
    assert not RAW_UNSAFE.search(text)
    assert "R\\x1b[2J" in text
    assert "m\\x1b]0;x\\x07\\u202e" in text
    assert "(j\\x0d\\x0a)" in text
    assert "policy p\\x1b[31m" in text
    assert "w\\x9b" in text


def test_findings_rows_are_capped() -> None:
    result = policy_result()
    text = render(result, max_rows=2)
    assert "  ... and 5 more (--format json lists all)" in text


POLICY = policy_result().policy


def test_no_findings_section_without_a_policy() -> None:
    assert "Findings against" not in render(sample_result())


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        (
            {"problems": (), "allow_incomplete": False},
            "Exit code 1: open findings at or above the --fail-on severity, or an expired waiver\n",
        ),
        (
            {"problems": (), "fail_on": None},
            "Exit code 0: findings, but --fail-on never does not fail on them\n",
        ),
        (
            {"problems": (), "findings": (), "policy": replace(POLICY, expired_waivers=())},
            "Exit code 0: no findings: the policy allows the face data found (7 items)\n",
        ),
    ],
)
def test_exit_sentence_with_a_policy(changes: dict[str, object], sentence: str) -> None:
    assert render(replace(policy_result(), **changes)).endswith(sentence)


# -- text that does not mislead ------------------------------------------------------------


def test_every_finding_baselined_is_not_called_clean() -> None:
    result = policy_result()
    known = tuple(
        replace(f, disposition=Disposition.BASELINE, justification=None) for f in result.findings
    )
    policy = replace(result.policy, expired_waivers=())
    text = render(replace(result, findings=known, problems=(), policy=policy))
    last = text.splitlines()[-1]
    assert last == (
        "Exit code 0: no new finding fails the gate, but 7 findings remain (7 in the baseline)"
    )
    assert "clean" not in text and "no face data" not in text.lower()


def test_baselined_waived_and_below_threshold_are_each_counted() -> None:
    result = replace(policy_result(), problems=(), fail_on=Severity.CRITICAL)
    policy = replace(result.policy, expired_waivers=())
    critical = [f for f in result.findings if f.severity is Severity.CRITICAL]
    findings = tuple(
        replace(f, disposition=Disposition.BASELINE) if f in critical else f
        for f in result.findings
    )
    text = render(replace(result, findings=findings, policy=policy))
    assert text.endswith(
        "Exit code 0: no new finding fails the gate, but 7 findings remain (2 in the baseline, "
        "1 waived, 4 open below the --fail-on severity)\n"
    )


def test_a_policy_that_allows_the_face_data_found_says_so() -> None:
    result = replace(policy_result(), problems=(), findings=())
    policy = replace(result.policy, expired_waivers=())
    text = render(replace(result, policy=policy))
    assert text.endswith(
        "Exit code 0: no findings: the policy allows the face data found (7 items)\n"
    )


def test_a_face_count_that_is_a_lower_bound_says_at_least() -> None:
    text = render(sample_result())
    assert "; at least 4 faces seen" in text
    row = next(line for line in text.splitlines() if "photos/team/alice.jpg" in line)
    assert row.split()[:2] == ["face_image", ">=2"]


def test_an_exact_face_count_is_shown_as_it_is() -> None:
    result = sample_result()
    exact = tuple(
        replace(
            item,
            evidence=tuple(
                replace(e, details=(("count_is_lower_bound", False),))
                if e.kind is EvidenceKind.FACE_IMAGE
                else e
                for e in item.evidence
            ),
        )
        for item in result.items
    )
    text = render(replace(result, items=exact))
    assert "; 4 faces seen" in text and "at least" not in text
    row = next(line for line in text.splitlines() if "photos/team/alice.jpg" in line)
    assert row.split()[:2] == ["face_image", "2"]


def test_the_console_never_claims_a_json_report_was_written() -> None:
    for result in (sample_result(), policy_result()):
        text = render(result, max_rows=1)
        assert "JSON report" not in text
        assert "(--format json lists all)" in text
