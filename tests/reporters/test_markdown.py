"""Markdown: golden file, the summary tables, each finding's details, and untrusted text kept
inert when a CommonMark renderer (markdown-it, with GitHub's tables) turns it into HTML."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from markdown_it import MarkdownIt
from reporters.sample import EXPIRED_WAIVER, check_golden, policy_result, sample_result

from scanner.model import FileLocation, Problem, ProblemReason, ScanResult
from scanner.reporters import Format
from scanner.reporters import render as render_any
from scanner.reporters.markdown import render
from scanner.reporters.text import markdown_code, markdown_escape

HOSTILE = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) "
    "![i](https://evil.example/p.png) **bold** _em_ `code` | pipe ~~strike~~ $x$ "
    "https://evil.example dpo@evil.example www.evil.example &amp; &#60;"
)


def to_html(text: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


def test_matches_golden_file() -> None:
    check_golden("report.md", render(policy_result()))


def test_reporter_registry_renders_markdown() -> None:
    assert render_any(policy_result(), Format.MARKDOWN) == render(policy_result())


def test_summary_tables_by_law_severity_and_store() -> None:
    html = to_html(render(policy_result()))
    html = html.split("<h2>Summary</h2>", 1)[1]  # after the action list
    tables = re.findall(r"<table>.*?</table>", html, re.S)
    heads = [re.search(r"<th>(.*?)</th>", t).group(1) for t in tables]  # type: ignore[union-attr]
    assert heads[:3] == ["Law (pack)", "Severity", "Store"]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", html.split("<td>gdpr</td>", 1)[1])[:5]
    assert cells == ["3", "2", "1", "1", "0"]  # findings, open, failing, waived, baseline
    assert "<td>(none declared)</td>" in html


def test_each_finding_has_evidence_age_basis_citation_and_remediation() -> None:
    text = render(policy_result())
    block = text.split("### 4\\. high: GDPR-5-1-E-RETENTION", 1)[1].split("###", 1)[0]
    assert "- **Location:** `photos/team/alice.jpg`" in block
    assert "- **Evidence:** face.yunet: at least 2 faces, confidence 0.93" in block
    assert "- **Age:** 1902 days, created 2019-03-02T14:05:09Z (exif:DateTimeOriginal)" in block
    assert "- **Legal basis:** gdpr-9-2-b" in block
    assert "**store:** hr-photos; **owner:** hr\\@example.org" in block
    assert "GDPR Art 5(1)(e); GDPR Art 9(1)" in block
    assert "([text of the law](<https://eur-lex.europa.eu/eli/reg/2016/679/oj>))" in block
    assert "- **Remediation:** Delete items older than the retention period" in block
    assert "fails the gate at --fail-on medium" in block


def test_policy_section_lists_expired_waivers() -> None:
    text = render(policy_result())
    assert "### Expired waivers (1): they fail the gate" in text
    html = to_html(text)
    assert EXPIRED_WAIVER.split(":")[0] in html
    assert "it-ops@example.org" in html  # escaped `@`, rendered back as text


def test_problems_are_listed() -> None:
    text = render(policy_result())
    assert "## Not scanned: the scan is incomplete (3)" in text
    assert "## Skipped by design (2)" in text


def _hostile_result() -> ScanResult:
    result = policy_result()
    finding = replace(
        result.findings[0],
        location=FileLocation(f"dir/{HOSTILE}`x``"),
        message=HOSTILE,
        title=HOSTILE,
        store=HOSTILE,
        remediation=HOSTILE,
        justification=HOSTILE,
        facts=(("basis", HOSTILE),),
    )
    problem = Problem(FileLocation(f"p|{HOSTILE}"), ProblemReason.DECODE_ERROR, HOSTILE)
    return replace(result, findings=(finding,), problems=(problem,))


def test_untrusted_text_stays_inert_when_rendered() -> None:
    html = to_html(render(_hostile_result()))
    assert "<script" not in html
    assert "<img" not in html
    assert "<a " not in html.replace('<a href="https://eur-lex.europa.eu/eli/reg/2016/679/oj">', "")
    assert "<strong>bold</strong>" not in html
    assert "<em>em</em>" not in html
    assert "<s>strike</s>" not in html and "<del>" not in html
    assert "&amp;amp;" in html  # the entity is shown, not decoded
    # The problem row is still one row with three cells, the `|` inside its name escaped.
    row = re.search(r"<tr>\s*<td>decode_error</td>(.*?)</tr>", html, re.S)
    assert row is not None
    assert row.group(1).count("<td>") == 2


def test_controls_in_untrusted_text_are_visible_and_on_one_line() -> None:
    result = policy_result()
    finding = replace(result.findings[0], message="a\n# forged heading\x1b[2J")
    text = render(replace(result, findings=(finding,)))
    assert "\x1b" not in text
    assert "\n# forged heading" not in text
    html = to_html(text)
    assert "<h1>forged" not in html
    assert "a\\x0a# forged heading\\x1b[2J" in html


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("# heading", "\\# heading"),
        ("- item", "\\- item"),
        ("1. item", "1\\. item"),
        ("a*b*c", "a\\*b\\*c"),
        ("see https://x.example", "see https\\://x.example"),
        ("www.x.example", "www\\.x.example"),
        ("a@b.example", "a\\@b.example"),
        ("<b>", "\\<b\\>"),
        ("kept 30 days; allows 10", "kept 30 days; allows 10"),  # prose stays readable
    ],
)
def test_markdown_escape(text: str, shown: str) -> None:
    assert markdown_escape(text) == shown


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("a.jpg", "`a.jpg`"),
        ("a`b.jpg", "``a`b.jpg``"),
        ("`a`", "`` `a` ``"),
        ("a|b", "`a|b`"),
    ],
)
def test_markdown_code(text: str, span: str) -> None:
    assert markdown_code(text) == span


def test_code_spans_escape_pipes_in_tables() -> None:
    assert markdown_code("a|b", in_table=True) == "`a\\|b`"


def test_without_a_policy_evidence_items_are_listed() -> None:
    text = render(sample_result())
    assert "no policy: items with face data are listed as findings" in text
    assert "FA\\-EVIDENCE\\-FACE\\-IMAGE" not in text  # rule ids are not escaped needlessly
    assert "FA-EVIDENCE-FACE-IMAGE" in text
    assert "## Policy" not in text


def test_findings_are_capped() -> None:
    text = render(policy_result(), max_findings=2)
    assert "… and 5 more findings (`--format json lists all`)." in text
    assert "### 3\\." not in text
