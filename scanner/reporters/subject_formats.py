"""The subject search's and the triage's reporters, keyed by format (pure functions)."""

from __future__ import annotations

import enum
from collections.abc import Callable

from scanner.reporters import (
    subject_html,
    subject_json,
    subject_markdown,
    triage_html,
    triage_json,
    triage_markdown,
)
from scanner.subject_results import SubjectResult, TriageResult


class SubjectFormat(str, enum.Enum):
    MARKDOWN = "markdown"
    JSON = "json"
    HTML = "html"


SUBJECT_REPORTERS: dict[SubjectFormat, Callable[[SubjectResult], str]] = {
    SubjectFormat.MARKDOWN: subject_markdown.render,
    SubjectFormat.JSON: subject_json.render,
    SubjectFormat.HTML: subject_html.render,
}

TRIAGE_REPORTERS: dict[SubjectFormat, Callable[[TriageResult], str]] = {
    SubjectFormat.MARKDOWN: triage_markdown.render,
    SubjectFormat.JSON: triage_json.render,
    SubjectFormat.HTML: triage_html.render,
}


def render_subject(result: SubjectResult, fmt: SubjectFormat) -> str:
    return SUBJECT_REPORTERS[fmt](result)


def render_triage(result: TriageResult, fmt: SubjectFormat) -> str:
    return TRIAGE_REPORTERS[fmt](result)
