"""The acceptance scenario: a demo organisation (scanner.demo_org) scanned for real — real
images through the real detector, a real SQLite KYC database, a real zip backup — and judged
against its policy as of a fixed date. Exactly the expected findings, nothing more."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import snapshot
from reporters.sample import check_golden, schema_errors
from reporters.test_sarif import sarif_errors

from scanner.config import ScanConfig
from scanner.demo_org import AS_OF, FACEBOOK_NAME, build_demo_org
from scanner.engine import run_scan
from scanner.model import ExitCode, ScanResult
from scanner.policy.judgement import Judgement
from scanner.policy.loader import load_policy
from scanner.reporters import Format, render

EXPECTED = {
    ("ACME-NO-UK-RESIDENTS", "org/events/london-offsite-1.jpg"),
    ("ACME-NO-UK-RESIDENTS", "org/events/london-offsite-2.jpg"),
    ("AIACT-5-1-E-SCRAPED", f"org/marketing/inspiration/{FACEBOOK_NAME}"),
    ("AIACT-5-1-E-SCRAPED", "org/marketing/inspiration/moodboard-03.jpg"),
    ("FA-UNDECLARED-STORE", f"org/marketing/inspiration/{FACEBOOK_NAME}"),
    ("FA-UNDECLARED-STORE", "org/marketing/inspiration/moodboard-03.jpg"),
    ("FA-UNDECLARED-STORE", "org/backup/2019-laptop.zip!/projects/face-door/encodings.pickle"),
    ("GDPR-5-1-E-RETENTION", "org/hr/badges/E1003.jpg"),
    ("GDPR-5-1-E-RETENTION", "org/hr/badges/E1004.jpg"),
    ("GDPR-9-2-A-CONSENT", "sqlite://org/kyc/kyc.db#customers.face_embedding"),
    # face images inside documents: a scanned ID card on page 2 of a PDF, a CV's photo
    ("FA-UNDECLARED-STORE", "org/hr/onboarding/E1005-onboarding.pdf!/page-2/image-1"),
    ("FA-UNDECLARED-STORE", "org/hr/recruiting/cv-2026-017.docx!/word/media/image1.jpeg"),
    # a door-camera recording past the CCTV store's 31 days (and the rule on every video);
    # a badge photo sent to HR's mailbox, outside every store
    ("GDPR-5-1-E-RETENTION", "org/cctv/entrance/door-0001.mp4"),
    ("ACME-CCTV-31D", "org/cctv/entrance/door-0001.mp4"),
    ("FA-UNDECLARED-STORE", "org/mail/hr-inbox.mbox!/msg-badge-photo-E1005@example.com/me.jpg"),
}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ScanResult]:
    base = tmp_path_factory.mktemp("scenario")
    policy_file = build_demo_org(base / "org")
    policy = load_policy(policy_file)
    (base / "before.txt").write_text(repr(_state(base / "org")))
    cwd = Path.cwd()
    os.chdir(base)  # locations as a CI job sees them: relative to where it runs
    try:
        config = ScanConfig(targets=(Path("org"),), workers=2)
        return base, run_scan(config, judgement=Judgement(policy, as_of=AS_OF))
    finally:
        os.chdir(cwd)


def test_exactly_the_expected_findings(scenario: tuple[Path, ScanResult]) -> None:
    _, result = scenario
    got = {(f.rule_id, f.location.display) for f in result.findings}
    assert got == EXPECTED
    assert not result.problems, result.problems
    assert result.exit_code is ExitCode.FINDINGS


def test_the_findings_state_their_facts(scenario: tuple[Path, ScanResult]) -> None:
    _, result = scenario
    by = {(f.rule_id, f.location.display): f for f in result.findings}
    e1004 = by[("GDPR-5-1-E-RETENTION", "org/hr/badges/E1004.jpg")]
    assert "purpose ended 2025-11-20" in e1004.message and "2025-12-20" in e1004.message
    assert e1004.store == "hr-badges" and e1004.fact("retention") == "P30D"
    kyc = by[("GDPR-9-2-A-CONSENT", "sqlite://org/kyc/kyc.db#customers.face_embedding")]
    assert kyc.fact("consent_withdrawn") == 2 and kyc.fact("subjects") == 6
    uk = by[("ACME-NO-UK-RESIDENTS", "org/events/london-offsite-1.jpg")]
    assert uk.fact("countries") and "GB" in str(uk.fact("countries"))
    assert "exif-gps" in uk.message
    scraped = by[("AIACT-5-1-E-SCRAPED", "org/marketing/inspiration/moodboard-03.jpg")]
    assert "instagram" in scraped.message
    # fingerprints are stable identities: one per finding
    assert len({f.fingerprint for f in result.findings}) == len(EXPECTED)


def test_the_leaver_within_30_days_and_staying_staff_are_not_findings(
    scenario: tuple[Path, ScanResult],
) -> None:
    _, result = scenario
    flagged = {f.location.display for f in result.findings}
    assert "org/hr/badges/E1002.jpg" not in flagged  # left 5 days before the evaluation date
    assert "org/hr/badges/E1001.jpg" not in flagged  # still employed
    badges = [i for i in result.items if "/badges/" in i.location.display]
    assert len(badges) == 4  # the detector found every badge photo


def _state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Content, size and mtime of every file (SQLite may move the access time: documented)."""
    return {k: v[:3] for k, v in snapshot(root).items()}


def test_the_scan_left_the_organisation_untouched(scenario: tuple[Path, ScanResult]) -> None:
    base, _ = scenario
    assert repr(_state(base / "org")) == (base / "before.txt").read_text()


# -- golden reports ----------------------------------------------------------------------
# What may differ between machines and library versions is blanked: times, versions, content
# digests (JPEG encoders differ) and what depends on them (fingerprints, sizes), detector
# scores and boxes, absolute paths of the policy files, the kernel's sandbox.
VOLATILE = {
    "started_at",
    "finished_at",
    "duration_s",
    "version",
    "semanticVersion",
    "models",
    "sha256",
    "fingerprint",
    "partialFingerprints",
    "size",
    "confidence",
    "boxes",
    "bytes_read",
    "notes",
    "files",
    "digest",
    "startTimeUtc",
    "endTimeUtc",
    "workers",
    "hashes",
    "uri_base",
    "fullDescription_markdown",
    "security-severity_source",
    "sandbox.landlock",  # the kernel's Landlock ABI
    "sandbox.syscalls",  # the machine's architecture
}


def _normalise(value: object, base: str) -> object:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in VOLATILE else _normalise(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, base) for v in value]
    if isinstance(value, str):
        return value.replace(base, "<base>")
    return value


@pytest.mark.parametrize(
    ("fmt", "golden"), [("json", "scenario.json"), ("sarif", "scenario.sarif")]
)
def test_golden_reports(scenario: tuple[Path, ScanResult], fmt: str, golden: str) -> None:
    base, result = scenario
    text = render(result, Format(fmt))
    document = json.loads(text)
    if fmt == "sarif":
        assert sarif_errors(document) == []
    else:
        assert schema_errors(document) == []
    normalised = json.dumps(_normalise(document, str(base)), indent=2, sort_keys=True) + "\n"
    check_golden(golden, normalised)


# -- the remediation plan of the scenario (what `faceaudit demo` shows) ---------------------
PLAN_VOLATILE = {"plan_id", "created_at", "report", "report_sha256", "policy_digest"}
PLAN_VOLATILE |= {"fingerprints", "preconditions"}  # content digests, inodes, times


def test_the_plan_leaves_containers_to_a_person(
    scenario: tuple[Path, ScanResult], tmp_path: Path
) -> None:
    """The HR mailbox, the onboarding PDF, the CV and the laptop backup each hold one face
    among other data: the plan names the member for a person and never moves the container;
    the loose photos are deleted."""
    from scanner.remediation import plan_from_report, write_plan

    base, result = scenario
    report = tmp_path / "report.json"
    report.write_text(render(result, Format.JSON), encoding="utf-8")
    plan = plan_from_report(report, base=base)
    by_path = {
        Path(i.path).relative_to(base).as_posix(): i for i in plan.items if "://" not in i.path
    }
    mailbox = by_path["org/mail/hr-inbox.mbox"]
    assert mailbox.action == "manual" and mailbox.members == (
        "msg-badge-photo-E1005@example.com/me.jpg",
    )
    manual = {p for p, i in by_path.items() if i.action == "manual"}
    assert manual == {
        "org/mail/hr-inbox.mbox",
        "org/hr/onboarding/E1005-onboarding.pdf",
        "org/hr/recruiting/cv-2026-017.docx",
        "org/backup/2019-laptop.zip",
    }
    assert by_path["org/hr/badges/E1003.jpg"].action == "delete"
    assert not any(i.path == str(base / "org/mail/hr-inbox.mbox") for i in plan.acting)
    write_plan(plan, tmp_path / "plan.json")
    document = json.loads((tmp_path / "plan.json").read_text())
    normalised = {
        k: ("<volatile>" if k in PLAN_VOLATILE else v) for k, v in document.items() if k != "items"
    }
    normalised["source"] = {
        k: ("<volatile>" if k in PLAN_VOLATILE else v) for k, v in document["source"].items()
    }
    normalised["items"] = [
        {k: ("<volatile>" if k in PLAN_VOLATILE else v) for k, v in item.items()}
        for item in document["items"]
    ]
    text = json.dumps(_normalise(normalised, str(base)), indent=2, sort_keys=True) + "\n"
    check_golden("scenario.plan.json", text)
