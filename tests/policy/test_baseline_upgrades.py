"""Baselines of every format this faceaudit has written are read, upgraded step by step to the
current format, and match the same findings; a newer format, or a version that is no format,
is refused with an error naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.model import Disposition, EvidenceKind, FileLocation, Finding, Severity
from scanner.policy.baseline_upgrades import (
    BASELINE_FORMAT,
    STEPS,
    BaselineFormatError,
    format_of,
    upgrade,
)
from scanner.policy.gate import apply_baseline, baseline_document, load_baseline
from scanner.policy.loader import PolicyErrors

GOLDEN_REPORT = Path(__file__).resolve().parents[1] / "golden" / "report.policy.json"


def finding(fp: str, path: str, disposition: Disposition = Disposition.OPEN) -> Finding:
    return Finding(
        "GDPR-5-1-E-RETENTION",
        Severity.HIGH,
        "t",
        "m",
        FileLocation(path),
        EvidenceKind.FACE_IMAGE,
        ("GDPR Art 5(1)(e)",),
        "delete",
        "gdpr",
        fp,
        disposition=disposition,
    )


KNOWN = [finding("a" * 32, "hr/E1.jpg"), finding("b" * 32, "hr/E2.jpg")]
CURRENT = [*KNOWN, finding("c" * 32, "hr/E3.jpg")]  # one finding more since


def report_form(findings: list[Finding]) -> dict[str, Any]:
    """Format 0: a JSON report as `--format json` writes it (the keys a baseline reads)."""
    return {
        "schema_version": "1.3",
        "policy": {"name": "org", "files": ["org.yaml"]},
        "findings": [
            {
                "rule_id": f.rule_id,
                "severity": f.severity.label,
                "path": f.location.display,
                "location": {"path": f.location.display, "uri": f"file:{f.location.display}"},
                "fingerprint": f.fingerprint,
                "disposition": f.disposition.value,
            }
            for f in findings
        ],
    }


def format_1(findings: list[Finding]) -> dict[str, Any]:
    """Format 1, as `--write-baseline` has written it since it was introduced."""
    return {
        "faceaudit_baseline": 1,
        "policy": "org",
        "findings": [
            {"fingerprint": f.fingerprint, "rule_id": f.rule_id, "location": f.location.display}
            for f in sorted(findings, key=lambda f: f.fingerprint)
        ],
    }


SAMPLES = {0: report_form(KNOWN), 1: format_1(KNOWN)}


def dump(tmp_path: Path, doc: object, name: str = "baseline.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_every_format_before_the_current_one_has_a_step() -> None:
    assert set(STEPS) == set(range(BASELINE_FORMAT))
    assert set(SAMPLES) == set(range(BASELINE_FORMAT + 1))  # a sample of every format
    for version, step in STEPS.items():
        assert format_of(step(SAMPLES[version])) == version + 1


@pytest.mark.parametrize("version", sorted(SAMPLES))
def test_every_format_matches_the_same_findings(tmp_path: Path, version: int) -> None:
    known = load_baseline(dump(tmp_path, SAMPLES[version]))
    assert known == {f.fingerprint for f in KNOWN}
    judged = apply_baseline(CURRENT, known)
    assert [f.disposition for f in judged] == [
        Disposition.BASELINE,
        Disposition.BASELINE,
        Disposition.OPEN,
    ]


@pytest.mark.parametrize("version", sorted(SAMPLES))
def test_upgraded_documents_are_what_write_baseline_writes(version: int) -> None:
    written = json.loads(baseline_document(KNOWN, "org"))
    upgraded = upgrade(SAMPLES[version])
    upgraded["findings"] = sorted(upgraded["findings"], key=lambda f: f["fingerprint"])
    assert upgraded == written


def test_a_report_keeps_every_finding_whatever_its_disposition(tmp_path: Path) -> None:
    """As before formats were read: a finding waived in that report is known too."""
    golden = json.loads(GOLDEN_REPORT.read_text())
    prints = {f["fingerprint"] for f in golden["findings"]}
    assert "waived" in {f["disposition"] for f in golden["findings"]}
    assert load_baseline(GOLDEN_REPORT) == prints
    upgraded = upgrade(golden)
    assert upgraded["faceaudit_baseline"] == BASELINE_FORMAT
    assert upgraded["policy"] == golden["policy"]["name"]
    assert {f["fingerprint"] for f in upgraded["findings"]} == prints
    assert all(set(f) == {"fingerprint", "rule_id", "location"} for f in upgraded["findings"])


def test_a_newer_format_is_refused(tmp_path: Path) -> None:
    newer = {**format_1(KNOWN), "faceaudit_baseline": BASELINE_FORMAT + 1}
    path = dump(tmp_path, newer)
    with pytest.raises(PolicyErrors) as exc:
        load_baseline(path)
    (err,) = exc.value.errors
    assert err.file == str(path)
    assert err.message == (
        f"baseline format {BASELINE_FORMAT + 1} is newer than this faceaudit reads (up to "
        f"{BASELINE_FORMAT}): use a newer faceaudit, or write the baseline again with "
        "--write-baseline"
    )


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None, [1]])
def test_a_version_that_is_no_format_is_refused(tmp_path: Path, version: object) -> None:
    with pytest.raises(BaselineFormatError, match="must be a format number"):
        upgrade({**format_1(KNOWN), "faceaudit_baseline": version})
    with pytest.raises(PolicyErrors, match="must be a format number"):
        load_baseline(dump(tmp_path, {**format_1(KNOWN), "faceaudit_baseline": version}))


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"faceaudit_baseline": 1}, "'findings'"),
        ({"schema_version": "1.3"}, "'findings'"),
        ([1, 2], "list indices must be integers"),
        ({"findings": [{"rule_id": "R"}]}, "'fingerprint'"),
        ({"findings": ["a" * 32]}, "string indices must be integers"),
    ],
)
def test_broken_documents_keep_their_error(tmp_path: Path, doc: object, fragment: str) -> None:
    with pytest.raises(PolicyErrors) as exc:
        load_baseline(dump(tmp_path, doc))
    message = exc.value.errors[0].message
    assert message.startswith("not a faceaudit baseline or JSON report with findings: ")
    assert fragment in message
