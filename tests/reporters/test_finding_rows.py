"""A finding's rows (issue 13, point 5) in every report for people and in the JSON report:
the first ten rows (key, subject, why) and "and K more rows" for people, every row in JSON;
untrusted subject ids stay inert. Goldens: tests/golden/report-rows.*"""

from __future__ import annotations

import json

import pytest
from reporters.sample import CONSENT_ROWS, check_golden, rows_result, schema_errors

from scanner.reporters import Format, render

GOLDENS = {
    Format.CONSOLE: "report-rows.console.txt",
    Format.MARKDOWN: "report-rows.md",
    Format.HTML: "report-rows.html",
    Format.JSON: "report-rows.json",
    Format.JUNIT: "report-rows.junit.xml",
}


@pytest.mark.parametrize("fmt", list(GOLDENS))
def test_matches_golden_file(fmt: Format) -> None:
    check_golden(GOLDENS[fmt], render(rows_result(), fmt))


@pytest.mark.parametrize("fmt", [Format.CONSOLE, Format.MARKDOWN, Format.HTML, Format.JUNIT])
def test_reports_for_people_list_ten_rows_then_count(fmt: Format) -> None:
    text = render(rows_result(), fmt)
    assert "row id=101 (subject C-0101): expired" in text
    assert "row id=212 (subject C-0107): missing" in text
    assert "row id=108 (subject C-0108): missing" in text  # the tenth, by (reason, subject)
    assert "C-0109" not in text and "C-0110" not in text and "C-0111" not in text
    assert "and 3 more rows (--format json lists every row)" in text
    assert "\x1b" not in text  # the hostile subject is inert: no escape sequence
    if fmt is not Format.CONSOLE:  # and no markup
        assert "<b>C|9</b>" not in text


def test_the_json_report_lists_every_row_and_validates() -> None:
    document = json.loads(render(rows_result(), Format.JSON))
    assert schema_errors(document) == []
    (consent,) = [f for f in document["findings"] if f["rule_id"] == "GDPR-9-2-A-CONSENT"]
    rows = consent["rows"]
    assert (rows["total"], rows["listed"], len(rows["rows"])) == (13, 13, 13)
    assert rows["digest"] == CONSENT_ROWS.digest
    assert rows["rows"][0] == {"key": {"id": "99"}, "subject": "<b>C|9</b>\x1b[31m",
                               "reason": "expired"}  # fmt: skip
    # findings without rows carry no `rows` key (the format is unchanged for them)
    assert all("rows" not in f for f in document["findings"] if f is not consent)
