"""The subject-search and triage reports: golden files, JSON schemas, every untrusted string
escaped, HTML self-contained (no script, no image, a strict CSP), and no vector anywhere."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from reporters.sample import _format_checker, check_golden
from reporters.test_html import ALLOWED_TAGS, Tags
from subject_helpers import sample_faces, sample_scan

import scanner
from scanner.model import FileLocation
from scanner.reporters.html import CSP
from scanner.reporters.subject_formats import SubjectFormat, render_subject, render_triage
from scanner.subject.match import subject_result
from scanner.subject.triage import summarise
from scanner.subject_results import SubjectResult, TriageResult

SCHEMAS = Path(scanner.__file__).resolve().parent / "schemas"
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>|*_`\x1b[31m\u202e\n"
NUMBER_RUN = re.compile(r"(?:-?\d+\.\d+\s*,\s*){8,}")


def subject() -> SubjectResult:
    scan = sample_scan()
    return subject_result(scan, sample_faces(scan), 0.6, 2)


def triage() -> TriageResult:
    scan = sample_scan()
    return summarise(scan, sample_faces(scan))


def _errors(document: object, name: str) -> list[str]:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=_format_checker())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


@pytest.mark.parametrize("fmt", list(SubjectFormat))
@pytest.mark.parametrize("report", ["subject", "triage"])
def test_golden_files(report: str, fmt: SubjectFormat) -> None:
    ext = {"markdown": "md", "json": "json", "html": "html"}[fmt.value]
    text = render_subject(subject(), fmt) if report == "subject" else render_triage(triage(), fmt)
    check_golden(f"{report}.{ext}", text)


def test_json_reports_follow_their_schemas() -> None:
    document = json.loads(render_subject(subject(), SubjectFormat.JSON))
    assert _errors(document, "subject") == []
    assert document["verdict"] == {
        "found": True, "complete": False, "locations": 2, "matches": 2, "exit_code": 3
    }  # fmt: skip
    assert document["matches"][1]["store"] == {
        "where": "$.encodings", "vectors_within": 1, "compared": 40, "count": 40
    }  # fmt: skip
    assert document["matches"][1]["hits"] == [
        {"key": None, "label": "alice", "path": "$.encodings[17]", "date": None,
         "date_column": None, "distance": 0.42}
    ]  # fmt: skip
    triage_doc = json.loads(render_triage(triage(), SubjectFormat.JSON))
    assert _errors(triage_doc, "triage") == []
    assert triage_doc["people"]["clustered"] == 67
    assert triage_doc["jurisdictions"] == [
        {"label": "GB", "count": 1},
        {"label": "US (US-IL)", "count": 1},
    ]


def test_an_empty_search_and_an_empty_triage_follow_their_schemas() -> None:
    scan = replace(sample_scan(), items=(), problems=())
    empty = subject_result(scan, {}, 0.6, 1)
    assert _errors(json.loads(render_subject(empty, SubjectFormat.JSON)), "subject") == []
    assert (
        _errors(json.loads(render_triage(summarise(scan, {}), SubjectFormat.JSON)), "triage") == []
    )
    assert "NOT FOUND" in render_subject(empty, SubjectFormat.MARKDOWN)


def _hostile_results() -> tuple[SubjectResult, TriageResult]:
    scan = sample_scan()
    faces = sample_faces(scan)
    team = next(i for i in scan.items if i.location.path == "photos/team/alice.jpg")
    moved = FileLocation(HOSTILE + "team.jpg")
    items = tuple(replace(i, location=moved) if i is team else i for i in scan.items)
    faces[moved] = faces.pop(team.location)
    scan = replace(scan, items=items, targets=(HOSTILE,))
    return subject_result(scan, faces, 0.6, 1), summarise(scan, faces)


def test_markdown_escapes_untrusted_names() -> None:
    for text in (render_subject(_hostile_results()[0], SubjectFormat.MARKDOWN),
                 render_triage(_hostile_results()[1], SubjectFormat.MARKDOWN)):  # fmt: skip
        assert "\x1b" not in text and "\u202e" not in text
        assert "<script>" not in text.replace("`", "") or "`" in text
        for line in text.splitlines():
            if line.startswith("|"):
                assert line.rstrip().endswith("|")  # no name broke a table row


@pytest.mark.parametrize("which", ["subject", "triage"])
def test_html_is_self_contained_and_escaped(which: str) -> None:
    s, t = _hostile_results()
    text = (
        render_subject(s, SubjectFormat.HTML)
        if which == "subject"
        else render_triage(t, SubjectFormat.HTML)
    )
    parser = Tags()
    parser.feed(text)
    assert {tag for tag, _ in parser.tags} <= ALLOWED_TAGS
    assert all(not any(k.startswith("on") for k in attrs) for _, attrs in parser.tags)
    assert CSP in text and "<img" not in text and "<script" not in text
    assert "\x1b" not in text and "\u202e" not in text


def test_no_report_holds_a_vector() -> None:
    for text in (
        *(render_subject(subject(), f) for f in SubjectFormat),
        *(render_triage(triage(), f) for f in SubjectFormat),
    ):
        assert not NUMBER_RUN.search(text)
