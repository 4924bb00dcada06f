"""Every reporter, one hostile string in every text field of a report.

Each reporter's own tests cover its escaping; this one poisons *every* string of a full
result (paths, members, details, reasons, notes, findings, policy, context) and checks what
each format promises: the terminal and Markdown see no control or bidirectional character,
HTML no live markup, JUnit is well-formed XML 1.0, JSON and SARIF parse, and no CSV cell can
start a formula.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import json
import re
from typing import Any

import pytest
from defusedxml import ElementTree
from reporters.sample import policy_result, sample_result

from scanner.model import ScanResult
from scanner.reporters import Format, render

HOSTILE = (
    "=cmd|' /C calc'!A0<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"
    "\x1b[2J\x1b[31m\u202egpj.exe\u2066\x00\x07\r\n  forged row\x85\x9b\udcff\t|`*_"
)
# Our own identifiers and digests, and ids a policy's schema validates: never free text from
# the scanned data.
UNTOUCHED = {"fingerprint", "sha256", "digest", "tool_version", "models", "detector", "family",
             "app", "linked_store", "method", "verified_by", "packs", "rules", "rule_id",
             "platform", "country", "region"}  # fmt: skip
# Controls other than newline and tab, C1 controls, bidirectional overrides and isolates.
UNSAFE_FOR_TERMINALS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def poison(value: Any, name: str = "") -> Any:
    """The same value with every string replaced by HOSTILE (enums, numbers, dates kept)."""
    if isinstance(value, enum.Enum) or name in UNTOUCHED:
        return value
    if isinstance(value, str):
        return HOSTILE
    if isinstance(value, tuple) and value and all(_is_pair(v) for v in value):
        return tuple((k, poison(v, k)) for k, v in value)  # (our key, untrusted value) pairs
    if isinstance(value, tuple):
        return tuple(poison(v, name) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: poison(getattr(value, f.name), f.name) for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **{k: v for k, v in changes.items() if k in _init(value)})
    return value


def _is_pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)


def _init(value: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(value) if f.init}


def results() -> dict[str, ScanResult]:
    return {"evidence": poison(sample_result()), "policy": poison(policy_result())}


@pytest.fixture(scope="module", params=["evidence", "policy"])
def hostile(request: pytest.FixtureRequest) -> ScanResult:
    result = results()[request.param]
    assert any(HOSTILE in str(p.location.path) for p in result.problems)
    return result


@pytest.mark.parametrize("fmt", [Format.CONSOLE, Format.MARKDOWN])
def test_text_reports_show_no_control_or_bidi_character(hostile: ScanResult, fmt: Format) -> None:
    text = render(hostile, fmt)
    assert not UNSAFE_FOR_TERMINALS.findall(text), sorted(set(UNSAFE_FOR_TERMINALS.findall(text)))
    assert "\udcff" not in text  # a lone surrogate cannot even be encoded for the terminal
    # the newline in the string did not start a line of its own (a forged table row)
    assert not any(line.startswith("  forged row") for line in text.splitlines())


def test_markdown_carries_no_live_html(hostile: ScanResult) -> None:
    """Outside code spans (where `<` is literal text) no tag can open."""
    text = re.sub(r"(`+)(?:(?!\1).)+\1", "", render(hostile, Format.MARKDOWN))
    assert HOSTILE not in text
    assert not re.findall(r"(?<!\\)<[A-Za-z/!?]", text)  # `\<` is a literal `<` in Markdown


def test_html_escapes_everything(hostile: ScanResult) -> None:
    text = render(hostile, Format.HTML)
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;" in text
    assert not UNSAFE_FOR_TERMINALS.findall(text.replace("\r\n", "\n"))


def test_junit_is_well_formed_xml(hostile: ScanResult) -> None:
    text = render(hostile, Format.JUNIT)
    root = ElementTree.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    assert "\x1b" not in text and "\x00" not in text


@pytest.mark.parametrize("fmt", [Format.JSON, Format.SARIF])
def test_json_reports_parse(hostile: ScanResult, fmt: Format) -> None:
    text = render(hostile, fmt)
    json.loads(text)
    text.encode("utf-8")  # no lone surrogate: every path is valid UTF-8 text


def test_no_csv_cell_starts_a_formula(hostile: ScanResult) -> None:
    text = render(hostile, Format.CSV)
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell[:40]
