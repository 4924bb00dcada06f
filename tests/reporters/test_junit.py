"""JUnit XML: golden file, well-formed XML 1.0 whatever the names, suites per rule, failures
at the threshold, skipped waivers and baselines, errors for an incomplete scan."""

from __future__ import annotations

import re
from dataclasses import replace
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import pytest
from reporters.sample import EXPIRED_WAIVER, WAIVER, check_golden, policy_result, sample_result

from scanner.model import FileLocation, Problem, ProblemReason, ScanResult, Severity
from scanner.reporters import Format
from scanner.reporters import render as render_any
from scanner.reporters.junit import render, xml_block, xml_line

# Characters XML 1.0 forbids (surrogates cannot reach the text: it is valid UTF-8).
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def parse(result: ScanResult) -> Element:
    text = render(result)
    assert not XML_INVALID.search(text)
    root: Element = SafeET.fromstring(text.encode("utf-8"))
    return root


def suite(root: Element, name: str) -> Element:
    found = root.find(f"testsuite[@name='{name}']")
    assert found is not None, [s.get("name") for s in root]
    return found


def test_matches_golden_file() -> None:
    check_golden("report.junit.xml", render(policy_result()))


def test_reporter_registry_renders_junit() -> None:
    assert render_any(policy_result(), Format.JUNIT) == render(policy_result())


def test_one_suite_per_rule_and_a_case_per_location() -> None:
    root = parse(policy_result())
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == [
        "aiact.AIACT-5-1-E-SCRAPED",
        "bipa.BIPA-15-A-SCHEDULE",
        "faceaudit.FA-UNDECLARED-STORE",
        "gdpr.GDPR-30-RECORDS",
        "gdpr.GDPR-5-1-E-RETENTION",
        "faceaudit.scan",
        "faceaudit.policy",
    ]
    retention = suite(root, "gdpr.GDPR-5-1-E-RETENTION")
    cases = retention.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "photos/team/alice.jpg",
        "postgresql://db.example:5432/immich#public.face_search.embedding",
    ]
    assert {c.get("classname") for c in cases} == {"gdpr.GDPR-5-1-E-RETENTION"}
    props = {p.get("name"): p.get("value") for p in retention.iter("property")}
    assert props["citations"] == "GDPR Art 5(1)(e); GDPR Art 9(1)"


def test_totals_add_up() -> None:
    root = parse(policy_result())
    assert root.attrib == {
        "name": "faceaudit",
        "tests": "11",
        "failures": "5",  # 4 failing findings and the expired waiver
        "errors": "3",  # the 3 incomplete problems
        "skipped": "2",  # a waiver and a baseline
        "time": "12.345",
    }
    for s in root.findall("testsuite"):
        cases = s.findall("testcase")
        assert int(s.get("tests", "-1")) == len(cases)
        assert int(s.get("failures", "-1")) == sum(c.find("failure") is not None for c in cases)


def test_open_findings_at_or_above_the_threshold_fail_and_below_pass() -> None:
    root = parse(policy_result())  # --fail-on medium
    bipa = suite(root, "bipa.BIPA-15-A-SCHEDULE").find("testcase/failure")
    assert bipa is not None
    assert bipa.get("type") == "medium"
    assert (bipa.get("message") or "").startswith("medium: 1200 face templates")
    assert "740 ILCS 14/15(a)" in (bipa.text or "")
    assert "remediation: Publish a written retention schedule" in (bipa.text or "")
    low = suite(root, "gdpr.GDPR-30-RECORDS").find("testcase")
    assert low is not None
    assert low.find("failure") is None
    assert "below the --fail-on threshold (medium)" in (low.findtext("system-out") or "")


def test_waived_and_baselined_findings_are_skipped_with_the_reason() -> None:
    root = parse(policy_result())
    skipped = [c for c in root.iter("testcase") if c.find("skipped") is not None]
    reasons = sorted(c.find("skipped").get("message") or "" for c in skipped)  # type: ignore[union-attr]
    assert reasons == [
        "in the baseline: in the baseline report of 2024-04-30",
        f"waived: {WAIVER}",
    ]


def test_incomplete_problems_are_errors() -> None:
    scan = suite(parse(policy_result()), "faceaudit.scan")
    errors = [c.find("error") for c in scan.findall("testcase")]
    assert [e.get("type") for e in errors if e is not None] == [
        "pixel_limit",
        "decode_error",
        "timeout",
    ]
    # a complete scan shows one passing case, so the suite is not empty
    clean = suite(parse(replace(policy_result(), problems=())), "faceaudit.scan")
    assert [c.get("name") for c in clean.findall("testcase")] == ["every item was examined"]
    assert clean.get("errors") == "0"


def test_an_interrupted_scan_is_an_error() -> None:
    scan = suite(parse(replace(policy_result(), problems=(), interrupted=True)), "faceaudit.scan")
    assert scan.get("errors") == "1"


def test_expired_waivers_fail_the_policy_suite() -> None:
    policy = suite(parse(policy_result()), "faceaudit.policy")
    failure = policy.find("testcase/failure")
    assert failure is not None
    assert failure.get("message") == f"expired waiver: {EXPIRED_WAIVER}"
    never = suite(parse(replace(policy_result(), fail_on=None)), "faceaudit.policy")
    assert never.get("failures") == "0"


def test_fail_on_never_fails_nothing() -> None:
    root = parse(replace(policy_result(), fail_on=None, problems=()))
    assert root.get("failures") == "0"


def test_without_a_policy_evidence_is_judged_by_fail_on() -> None:
    root = parse(replace(sample_result(), fail_on=Severity.HIGH))
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "evidence.FA-EVIDENCE-FACE-IMAGE",
        "evidence.FA-EVIDENCE-FACE-TAGGED",
        "faceaudit.scan",
    ]
    assert root.get("failures") == "3"  # 3 face images (high); the tagged photo is medium


@pytest.mark.parametrize(
    "name",
    [
        "a\x00b\x01c\x0bd\x1f",  # controls XML 1.0 cannot hold
        "a\ufffe\uffffb",  # non-characters
        "bad\udcff.jpg",  # undecodable bytes
        "a\"b<c>&d'e",  # markup
        "a\nb\rc\td",  # whitespace an attribute would lose
        "]]>",
    ],
)
def test_any_name_gives_well_formed_xml(name: str) -> None:
    result = policy_result()
    finding = replace(result.findings[0], location=FileLocation(name), message=name)
    problem = Problem(FileLocation(name), ProblemReason.DECODE_ERROR, name)
    root = parse(replace(result, findings=(finding,), problems=(problem,)))
    names = [c.get("name") or "" for c in root.iter("testcase")]
    assert xml_line(name) in names
    assert all("\n" not in n and "\r" not in n for n in names)


def test_xml_helpers() -> None:
    assert xml_line("a\x1bb\nc") == "a\\x1bb\\x0ac"
    assert xml_block("a\x1bb\nc\td") == "a\\x1bb\nc\td"
    assert xml_line("\ufffe") == "\\ufffe"
    assert xml_block("x\udcff") == "x\\xff"
