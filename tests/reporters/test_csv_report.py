"""CSV: golden file, one row per finding with the documented columns, formula injection
defused, controls made visible, and a round trip through the csv module."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest
from reporters.sample import IMMICH_COLUMN, KYC_COLUMN, check_golden, policy_result, sample_result

from scanner.model import FileLocation, ScanResult
from scanner.reporters import Format
from scanner.reporters import render as render_any
from scanner.reporters.csv_report import COLUMNS, cell, render


def rows(result: ScanResult) -> list[dict[str, str]]:
    text = render(result)
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_matches_golden_file() -> None:
    check_golden("report.csv", render(policy_result()))


def test_reporter_registry_renders_csv() -> None:
    assert render_any(policy_result(), Format.CSV) == render(policy_result())


def test_columns_start_with_the_documented_ones() -> None:
    header = render(policy_result()).split("\r\n", 1)[0]
    assert header.startswith(
        "rule_id,severity,disposition,kind,location,store,pack,citations,message,fingerprint,"
        "age_days,"
    )
    assert header.split(",") == list(COLUMNS)


def test_one_row_per_finding_with_crlf_line_ends() -> None:
    text = render(policy_result())
    assert text.count("\r\n") == 1 + 7 + 2  # the findings, a due one, an item without one
    assert "\n" not in text.replace("\r\n", "")
    table = [r for r in rows(policy_result()) if r["record"] == "finding"]
    assert len(table) == 7
    kyc = next(r for r in table if r["location"] == KYC_COLUMN)
    assert kyc["rule_id"] == "BIPA-15-A-SCHEDULE"
    assert kyc["age_days"] == "1593"
    assert kyc["created"] == "2020-01-06T08:00:00Z"
    assert kyc["countries"] == "US"
    assert kyc["failing"] == "yes"
    assert kyc["facts"] == "region=US-IL; rows=340; age_days=1593; retention_policy_url=no"
    waived = next(r for r in table if r["location"] == IMMICH_COLUMN)
    assert (waived["disposition"], waived["failing"]) == ("waived", "no")
    alice = [r for r in table if r["location"] == "photos/team/alice.jpg"]
    assert {r["platforms"] for r in alice} == {"instagram"}
    assert {r["citations"] for r in alice} == {
        "Regulation (EU) 2024/1689 Art 5(1)(e)",
        "GDPR Art 5(1)(e); GDPR Art 9(1)",
    }


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\\x09=1"),
        ("\r=1", "'\\x0d=1"),
        ("\uff1d1+1", "'\uff1d1+1"),  # full-width equals sign
        ("photos/a.jpg", "photos/a.jpg"),
        ("a=b", "a=b"),  # only the start of a cell matters
        ("x\x1b[31m\u202e", "x\\x1b[31m\\u202e"),
    ],
)
def test_cells_cannot_start_a_formula_or_carry_controls(value: str, shown: str) -> None:
    assert cell(value) == shown


def test_numbers_stay_numbers() -> None:
    assert cell(-5) == -5
    assert cell(None) == ""


def test_hostile_locations_and_messages_in_the_file() -> None:
    result = policy_result()
    finding = replace(
        result.findings[0],
        location=FileLocation("=cmd|' /C calc'!A0"),
        message="-1+1\n=2",
        store="@store",
    )
    (row,) = [r for r in rows(replace(result, findings=(finding,))) if r["record"] == "finding"]
    assert row["location"] == "'=cmd|' /C calc'!A0"
    assert row["message"] == "'-1+1\\x0a=2"
    assert row["store"] == "'@store"
    text = render(replace(result, findings=(finding,)))
    assert "\x1b" not in text
    text.encode("utf-8")


def test_the_hostile_sample_path_stays_in_one_row() -> None:
    table = rows(policy_result())
    hostile = [r for r in table if r["location"].startswith("inbox/")]
    assert len(hostile) == 1
    assert hostile[0]["location"].startswith("inbox/bad\\xff.jpg\\x1b[31m\\x0a")
    assert hostile[0]["uri"].startswith("inbox/bad%FF.jpg%1B")


def test_without_a_policy_evidence_items_are_rows() -> None:
    table = rows(sample_result())
    assert len(table) == 4
    assert {r["pack"] for r in table} == {"evidence"}
