"""The HTML, Markdown and CSV reports carry what the JSON report has and a reader acts on:
for each finding its rule, severity, disposition, location, store, the store's owner, the legal
basis, message, citations, remediation, deadline and fingerprint; each declared store with its
owner, purpose, legal basis and retention; each item with face data but no finding; and each
finding that falls due (--due-within) with its deadline."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from reporters.sample import policy_result

from scanner.reporters import csv_report, json_report, markdown
from scanner.reporters import html as html_report
from scanner.reporters.text import terminal_safe

RESULT = policy_result()
DOC: dict[str, Any] = json.loads(json_report.render(RESULT))
STORES = {s["id"]: s for s in DOC["policy"]["store_details"]}


def _html_text() -> str:
    page = html_report.render(RESULT)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _markdown_text() -> str:
    return re.sub(r"\\(.)", r"\1", markdown.render(RESULT))


def _csv_text() -> str:
    cells = [c for row in csv.reader(io.StringIO(csv_report.render(RESULT))) for c in row]
    return "\n".join(cells)


TEXTS: dict[str, Callable[[], str]] = {
    "html": _html_text,
    "markdown": _markdown_text,
    "csv": _csv_text,
}


def _shown(value: str) -> str:
    return terminal_safe(value)


def _basis(finding: dict[str, Any]) -> str | None:
    facts = finding["facts"]
    for key in ("legal_basis", "basis"):  # what the checks record, then an older fact name
        if key in facts:
            return str(facts[key])
    store = STORES.get(finding["store"] or "")
    return ", ".join(store["legal_basis"]) if store and store["legal_basis"] else None


def _finding_values(f: dict[str, Any]) -> list[str]:
    values = [f["rule_id"], f["severity"], f["disposition"], f["path"], f["message"]]
    values += [f["remediation"], f["fingerprint"], *f["citations"]]
    if f["store"]:
        values.append(f["store"])
        owner = STORES.get(f["store"], {}).get("owner")
        if owner:
            values.append(owner)
    if _basis(f):
        values.append(_basis(f))  # type: ignore[arg-type]
    if "deadline" in f["facts"]:
        values.append(str(f["facts"]["deadline"]))
    if f["justification"]:
        values.append(f["justification"])
    return values


def test_the_sample_has_what_the_test_is_about() -> None:
    assert any(f["store"] and STORES[f["store"]]["owner"] for f in DOC["findings"])
    assert any("legal_basis" in f["facts"] for f in DOC["findings"])
    assert any(not f["facts"].get("legal_basis") and _basis(f) for f in DOC["findings"])
    assert DOC["due"] and DOC["actions"]
    judged = {f["path"] for f in DOC["findings"]}
    assert [i for i in DOC["items"] if i["path"] not in judged]


@pytest.mark.parametrize("fmt", sorted(TEXTS))
def test_every_finding_field_a_reader_acts_on(fmt: str) -> None:
    text = TEXTS[fmt]()
    for f in DOC["findings"]:
        for value in _finding_values(f):
            assert _shown(value) in text, (fmt, f["rule_id"], value)


@pytest.mark.parametrize("fmt", ["html", "markdown"])
def test_every_declared_store_with_owner_purpose_basis_retention(fmt: str) -> None:
    text = TEXTS[fmt]()
    for store in DOC["policy"]["store_details"]:
        for value in (store["id"], store["owner"], store["purpose"], *store["legal_basis"]):
            if value:
                assert _shown(value) in text, (fmt, store["id"], value)
        if store["retention"]:
            assert f"{store['retention']} from" in text


def test_the_csv_names_the_owner_and_basis_of_each_row() -> None:
    rows = list(csv.DictReader(io.StringIO(csv_report.render(RESULT))))
    for f in DOC["findings"]:
        (row,) = [r for r in rows if r["fingerprint"] == f["fingerprint"]]
        owner = STORES.get(f["store"] or "", {}).get("owner")
        assert row["owner"] == (owner or "")
        assert row["legal_basis"] == (_basis(f) or "")
        assert row["deadline"] == str(f["facts"].get("deadline", ""))


@pytest.mark.parametrize("fmt", sorted(TEXTS))
def test_items_with_evidence_and_no_finding(fmt: str) -> None:
    text = TEXTS[fmt]()
    judged = {f["path"] for f in DOC["findings"]}
    rest = [i for i in DOC["items"] if i["path"] not in judged]
    for item in rest:
        assert _shown(item["path"]) in text, (fmt, item["path"])
        if item["store"]:
            assert item["store"] in text
            assert STORES[item["store"]]["owner"] in text
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(csv_report.render(RESULT))))
        assert sorted(r["location"] for r in rows if r["record"] == "no finding") == sorted(
            i["path"] for i in rest
        )


@pytest.mark.parametrize("fmt", sorted(TEXTS))
def test_what_falls_due(fmt: str) -> None:
    text = TEXTS[fmt]()
    assert DOC["policy"]["due_within"] == "P30D"
    for due in DOC["due"]:
        for value in (due["path"], due["deadline"], due["rule_id"], due["message"]):
            assert _shown(value) in text, (fmt, value)
