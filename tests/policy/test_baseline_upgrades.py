"""Baselines of every format this faceaudit has written are read, upgraded step by step to the
current format, and match the same findings; a newer format, or a version that is no format,
is refused with an error naming the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from scanner.model import Disposition, EvidenceKind, FileLocation, Finding, Severity
from scanner.policy.baseline_upgrades import (
    BASELINE_FORMAT,
    STEPS,
    BaselineFormatError,
    format_of,
    upgrade,
)
from scanner.policy.evaluate import fingerprint
from scanner.policy.gate import (
    LEGACY_NOTE,
    Baseline,
    apply_baseline,
    baseline_document,
    load_baseline,
)
from scanner.policy.loader import PolicyErrors

GOLDEN_REPORT = Path(__file__).resolve().parents[1] / "golden" / "report.policy.json"


def old_print(path: str) -> str:
    """The fingerprint format 1 computed: over the location as displayed (no digest here)."""
    return fingerprint("GDPR-5-1-E-RETENTION", path)


def finding(
    fp: str, path: str, disposition: Disposition = Disposition.OPEN, legacy: str | None = None
) -> Finding:
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
        legacy_fingerprint=old_print(path) if legacy is None else legacy,
    )


KNOWN = [finding("a" * 32, "hr/E1.jpg"), finding("b" * 32, "hr/E2.jpg")]
CURRENT = [*KNOWN, finding("c" * 32, "hr/E3.jpg")]  # one finding more since


def report_form(findings: list[Finding], *, current: bool = False) -> dict[str, Any]:
    """Format 0: a JSON report as `--format json` writes it (the keys a baseline reads): of
    an earlier version (fingerprints over the display), or of this one (`current`: each
    finding with its identity, and the fingerprint over it)."""
    return {
        "schema_version": "1.6" if current else "1.3",
        "policy": {"name": "org", "files": ["org.yaml"]},
        "findings": [
            {
                "rule_id": f.rule_id,
                "severity": f.severity.label,
                "path": f.location.display,
                "location": {"path": f.location.display, "uri": f"file:{f.location.display}"},
                "fingerprint": f.fingerprint if current else f.legacy_fingerprint,
                **({"identity": f.location.identity} if current else {}),
                "disposition": f.disposition.value,
            }
            for f in findings
        ],
    }


def format_1(findings: list[Finding]) -> dict[str, Any]:
    """Format 1, as `--write-baseline` wrote it: fingerprints over the displayed location."""
    return {
        "faceaudit_baseline": 1,
        "policy": "org",
        "findings": [
            {
                "fingerprint": f.legacy_fingerprint,
                "rule_id": f.rule_id,
                "location": f.location.display,
            }
            for f in sorted(findings, key=lambda f: f.legacy_fingerprint or "")
        ],
    }


def format_2(findings: list[Finding]) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(baseline_document(findings, "org")))


SAMPLES = {0: report_form(KNOWN), 1: format_1(KNOWN), 2: format_2(KNOWN)}


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
    if version < 2:  # written before format 2: the prints are legacy ones
        assert known == Baseline(
            frozenset(), frozenset(old_print(f.location.display) for f in KNOWN)
        )
    else:
        assert known == Baseline(frozenset(f.fingerprint for f in KNOWN))
    judged = apply_baseline(CURRENT, known)
    assert [f.disposition for f in judged] == [
        Disposition.BASELINE,
        Disposition.BASELINE,
        Disposition.OPEN,
    ]
    legacy = LEGACY_NOTE if version < 2 else None
    assert [f.justification for f in judged] == [legacy, legacy, None]


def test_a_legacy_print_matches_only_the_finding_it_was_computed_for() -> None:
    """Spelled otherwise (`/srv/hr/E1.jpg`), the display differs: format 1 never matched it."""
    known = Baseline(frozenset(), frozenset({old_print("hr/E1.jpg")}))
    moved = finding("a" * 32, "/srv/hr/E1.jpg")
    assert apply_baseline([moved], known)[0].disposition is Disposition.OPEN
    assert apply_baseline([moved], Baseline(frozenset({"a" * 32})))[0].disposition is (
        Disposition.BASELINE
    )


def test_a_report_of_this_version_is_read_as_format_2(tmp_path: Path) -> None:
    known = load_baseline(dump(tmp_path, report_form(KNOWN, current=True)))
    assert known == Baseline(frozenset(f.fingerprint for f in KNOWN))


@pytest.mark.parametrize("version", sorted(SAMPLES))
def test_upgraded_documents_name_what_they_matched(version: int) -> None:
    upgraded = upgrade(SAMPLES[version])
    assert upgraded["faceaudit_baseline"] == BASELINE_FORMAT
    if version == BASELINE_FORMAT:
        assert upgraded == format_2(KNOWN)
        return
    assert upgraded["findings"] == []
    legacy = sorted(upgraded["legacy"], key=lambda f: f["fingerprint"])
    assert legacy == format_1(KNOWN)["findings"]


def test_write_baseline_after_an_old_one_migrates_it() -> None:
    """A finding matched by its legacy print is written with its format-2 fingerprint."""
    judged = apply_baseline(KNOWN, Baseline(frozenset(), frozenset(old_print("hr/E1.jpg"))))
    written = json.loads(baseline_document(judged, "org"))
    assert written == format_2(KNOWN)
    assert "legacy" not in written


def test_a_report_keeps_every_finding_whatever_its_disposition(tmp_path: Path) -> None:
    """As before formats were read: a finding waived in that report is known too."""
    golden = json.loads(GOLDEN_REPORT.read_text())
    prints = {f["fingerprint"] for f in golden["findings"]}
    assert "waived" in {f["disposition"] for f in golden["findings"]}
    assert load_baseline(GOLDEN_REPORT) == Baseline(frozenset(prints))
    upgraded = upgrade(golden)
    assert upgraded["faceaudit_baseline"] == BASELINE_FORMAT
    assert upgraded["policy"] == golden["policy"]["name"]
    assert {f["fingerprint"] for f in upgraded["findings"]} == prints
    assert all(
        set(f) == {"fingerprint", "rule_id", "location", "identity"} for f in upgraded["findings"]
    )


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
