"""JUnit XML, for CI systems that show test results (GitLab, Jenkins, Azure, CircleCI …).

- One test suite per rule; one test case per (rule, location).
- An open finding at or above --fail-on is a failure; below it, a passing case that says so.
  A waived, held (legal hold) or baselined finding is skipped, with the reason.
- Every problem that makes the scan incomplete (and an interruption) is an `error` case in
  the suite `faceaudit.scan`, so CI shows an incomplete scan as broken, not as green.
- Expired waivers fail the gate whatever they waived: each is a failure in `faceaudit.policy`.
- Untrusted text (paths, messages) has controls made visible and characters that XML 1.0
  cannot hold replaced by visible escapes; ElementTree escapes the rest.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from scanner.model import Disposition, Finding, ScanResult
from scanner.reporters.findings import (
    is_failing,
    iso,
    more_rows_text,
    reported_findings,
    row_text,
    shown_rows,
)
from scanner.reporters.text import terminal_safe, unicode_safe

# What XML 1.0 cannot hold at all (after surrogates were made visible): C0 controls other than
# tab, newline and carriage return, and the non-characters U+FFFE and U+FFFF.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_line(text: str) -> str:
    """One line of untrusted text: every control and bidi character shown as an escape."""
    return _XML_INVALID.sub(_visible, terminal_safe(text))


def xml_block(text: str) -> str:
    """Multi-line text: newlines and tabs kept; what XML 1.0 cannot hold shown as escapes."""
    return _XML_INVALID.sub(_visible, unicode_safe(text))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def render(result: ScanResult) -> str:
    findings = reported_findings(result)
    root = ET.Element("testsuites", {"name": "faceaudit"})
    suites = [_rule_suite(result, group) for group in _by_rule(findings)]
    suites.append(_scan_suite(result))
    if result.policy is not None:
        suites.append(_policy_suite(result))
    for suite in suites:
        root.append(suite)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.set("time", _seconds(result))
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'


def _seconds(result: ScanResult) -> str:
    return f"{(result.finished_at - result.started_at).total_seconds():.3f}"


def _by_rule(findings: Iterable[Finding]) -> list[list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.rule_id, []).append(f)
    return [groups[rule] for rule in sorted(groups)]


def _suite(name: str, result: ScanResult) -> ET.Element:
    return ET.Element("testsuite", {"name": xml_line(name), "timestamp": iso(result.started_at)})


def _count(suite: ET.Element) -> ET.Element:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
    suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
    suite.set("time", "0")
    return suite


def _rule_suite(result: ScanResult, findings: list[Finding]) -> ET.Element:
    first = findings[0]
    suite = _suite(f"{first.pack}.{first.rule_id}", result)
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("title", first.title),
        ("citations", "; ".join(first.citations)),
        ("remediation", first.remediation),
        ("help_uri", first.help_uri or ""),
    ):
        if value:
            ET.SubElement(props, "property", {"name": name, "value": xml_line(value)})
    seen: set[str] = set()
    for f in findings:
        if f.fingerprint in seen:  # one case per (rule, location)
            continue
        seen.add(f.fingerprint)
        suite.append(_case(result, f))
    return _count(suite)


def _case(result: ScanResult, f: Finding) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "classname": xml_line(f"{f.pack}.{f.rule_id}"),
            "name": xml_line(f.location.display),
            "time": "0",
        },
    )
    details = _details(f)
    if f.disposition is Disposition.WAIVED:
        reason = f"waived: {f.justification or 'a current waiver'}"
        ET.SubElement(case, "skipped", {"message": xml_line(reason)})
    elif f.disposition is Disposition.HELD:
        reason = f"held: {f.justification or 'a legal hold keeps the item'}"
        ET.SubElement(case, "skipped", {"message": xml_line(reason)})
    elif f.disposition is Disposition.BASELINE:
        reason = f"in the baseline: {f.justification or 'known, does not fail the gate'}"
        ET.SubElement(case, "skipped", {"message": xml_line(reason)})
    elif is_failing(f, result):
        failure = ET.SubElement(
            case,
            "failure",
            {"message": xml_line(f"{f.severity.label}: {f.message}"), "type": f.severity.label},
        )
        failure.text = details
        return case
    else:
        threshold = result.fail_on.label if result.fail_on is not None else "never"
        details += f"\nbelow the --fail-on threshold ({threshold}): reported, does not fail"
    out = ET.SubElement(case, "system-out")
    out.text = details
    return case


def _details(f: Finding) -> str:
    lines = [
        f"rule: {f.rule_id} ({f.severity.label}) {xml_line(f.title)}",
        f"location: {xml_line(f.location.display)}",
        f"message: {xml_line(f.message)}",
        f"kind: {f.kind.value}",
    ]
    if f.store:
        lines.append(f"store: {xml_line(f.store)}")
    if f.citations:
        lines.append(f"citations: {xml_line('; '.join(f.citations))}")
    lines += [f"{k}: {xml_line(str(v))}" for k, v in f.facts]
    shown, more = shown_rows(f)
    if shown and f.rows is not None:
        lines.append(f"rows ({f.rows.total}):")
        lines += [f"  {xml_line(row_text(r))}" for r in shown]
        if more:
            lines.append(f"  {more_rows_text(more)}")
    lines.append(f"remediation: {xml_block(f.remediation)}")
    lines.append(f"fingerprint: {f.fingerprint}")
    return "\n".join(lines)


def _scan_suite(result: ScanResult) -> ET.Element:
    """Incomplete problems as errors: the scan could not look at everything."""
    suite = _suite("faceaudit.scan", result)
    if result.interrupted:
        case = ET.SubElement(
            suite, "testcase", {"classname": "faceaudit.scan", "name": "scan", "time": "0"}
        )
        ET.SubElement(case, "error", {"message": "the scan was interrupted", "type": "interrupted"})
    for problem in result.problems:
        if not problem.incomplete:
            continue
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"faceaudit.scan.{problem.reason.value}",
                "name": xml_line(problem.location.display),
                "time": "0",
            },
        )
        error = ET.SubElement(
            case, "error", {"message": xml_line(problem.detail), "type": problem.reason.value}
        )
        error.text = (
            f"not scanned ({problem.reason.value}): {xml_line(problem.detail)}\n"
            "the scan is incomplete: this item may hold face data nobody looked at"
        )
    if not suite.findall("testcase"):
        ET.SubElement(
            suite,
            "testcase",
            {"classname": "faceaudit.scan", "name": "every item was examined", "time": "0"},
        )
    return _count(suite)


def _policy_suite(result: ScanResult) -> ET.Element:
    policy = result.policy
    assert policy is not None
    suite = _suite("faceaudit.policy", result)
    props = ET.SubElement(suite, "properties")
    for name, value in (("policy", policy.name), ("digest", policy.digest)):
        ET.SubElement(props, "property", {"name": name, "value": xml_line(value)})
    for waiver in policy.expired_waivers:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": "faceaudit.policy.waivers", "name": xml_line(waiver), "time": "0"},
        )
        text = f"expired waiver: {waiver}"
        if result.fail_on is not None:
            failure = ET.SubElement(case, "failure", {"message": xml_line(text), "type": "expired"})
            failure.text = "an expired waiver fails the gate, whatever it waived"
        else:
            ET.SubElement(case, "system-out").text = xml_line(text)
    if not suite.findall("testcase"):
        ET.SubElement(
            suite,
            "testcase",
            {"classname": "faceaudit.policy.waivers", "name": "no expired waivers", "time": "0"},
        )
    return _count(suite)
