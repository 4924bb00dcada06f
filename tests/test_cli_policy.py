"""`faceaudit policy …` and `scan --policy/--waivers/--baseline/--write-baseline/--as-of`,
through the installed command on the demo organisation (real images, real detector)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from helpers import run_faceaudit as run

from scanner.demo_org import AS_OF, build_demo_org

PACKS = Path(__file__).resolve().parents[1] / "policies"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli-org")
    build_demo_org(base / "org")
    return base


def scan(org: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        "scan",
        "org",
        "-q",
        "-j",
        "2",
        "--policy",
        "org/faceaudit-policy.yaml",
        "--as-of",
        AS_OF.isoformat(),
        *extra,
        cwd=org,
    )


def test_validate_every_pack_and_an_invalid_file(tmp_path: Path) -> None:
    proc = run("policy", "validate", *sorted(str(p) for p in PACKS.glob("*.yaml")), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("valid") == len(list(PACKS.glob("*.yaml")))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "schema_version: 1\nname: bad\nextends: [gdpr]\nrules:\n  - id: B-1\n"
        "    check: retention_exceeded\n    severity: high\n    title: t\n"
        "    citations: [x]\n    remediation: r\n    max_period: PT12H\n"
    )
    proc = run("policy", "validate", str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{bad}:11: [B-1]" in proc.stderr and "PT12H" in proc.stderr


def test_list_show_explain(org: Path) -> None:
    listed = run("policy", "list", "--policy", "bipa", cwd=org)
    assert listed.returncode == 0 and "BIPA-15-A-SCHEDULE" in listed.stdout
    shown = run("policy", "show", "org/faceaudit-policy.yaml", cwd=org)
    assert shown.returncode == 0 and "hr-badges" in shown.stdout and "leavers" in shown.stdout
    explained = run("policy", "explain", "GDPR-5-1-E-RETENTION", cwd=org)
    assert explained.returncode == 0
    assert "GDPR Art 5(1)(e)" in explained.stdout and "remediation" in explained.stdout
    missing = run("policy", "explain", "NO-SUCH-RULE", cwd=org)
    assert missing.returncode == 2


def test_scan_with_policy_baseline_and_waivers(org: Path) -> None:
    first = scan(org, "--format", "json", "--write-baseline", "baseline.json")
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    findings = report["findings"]
    assert len(findings) == 15 and all(f["disposition"] == "open" for f in findings)
    baseline = json.loads((org / "baseline.json").read_text())
    assert len(baseline["findings"]) == 15
    assert not re.search(r"\d{4}-\d\d-\d\d", json.dumps(baseline))  # no dates or times

    # every finding known: clean
    known = scan(org, "--baseline", "baseline.json", "--format", "json")
    assert known.returncode == 0, known.stderr
    assert {f["disposition"] for f in json.loads(known.stdout)["findings"]} == {"baseline"}

    # the earlier JSON report as the baseline (format 0, upgraded on reading): the same
    (org / "report.json").write_text(first.stdout)
    known = scan(org, "--baseline", "report.json", "--format", "json")
    assert known.returncode == 0, known.stderr
    assert {f["disposition"] for f in json.loads(known.stdout)["findings"]} == {"baseline"}

    # a baseline of a newer format is refused before scanning: a usage error naming it
    newer = org / "newer.json"
    newer.write_text(json.dumps({**baseline, "faceaudit_baseline": 99}))
    refused = scan(org, "--baseline", "newer.json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "newer.json: baseline format 99 is newer than this faceaudit reads" in refused.stderr

    # waive the UK rule until next year: the rest still fails
    (org / "waivers.yaml").write_text(
        "waivers:\n  - rule: ACME-NO-UK-RESIDENTS\n"
        "    reason: Offsite photos under review by legal\n"
        "    owner: dpo@acme.example\n    expires: 2027-01-31\n"
    )
    waived = scan(org, "--waivers", "waivers.yaml", "--format", "json", "--fail-on", "critical")
    assert waived.returncode == 0, waived.stderr  # no finding is critical in this scenario
    states = {f["rule_id"]: f["disposition"] for f in json.loads(waived.stdout)["findings"]}
    assert states["ACME-NO-UK-RESIDENTS"] == "waived"

    # the same waiver, expired: the gate fails whatever it waived
    (org / "expired.yaml").write_text(
        "waivers:\n  - rule: ACME-NO-UK-RESIDENTS\n"
        "    reason: Offsite photos under review by legal\n"
        "    owner: dpo@acme.example\n    expires: 2026-01-31\n"
    )
    expired = scan(org, "--waivers", "expired.yaml", "--fail-on", "critical")
    assert expired.returncode == 1, expired.stderr


def test_gate_usage_errors(org: Path) -> None:
    assert run("scan", "org", "--waivers", "w.yaml", cwd=org).returncode == 2  # needs --policy
    (org / "broken.yaml").write_text("waivers:\n  - rule: X\n")
    proc = scan(org, "--waivers", "broken.yaml")
    assert proc.returncode == 2 and "broken.yaml:2" in proc.stderr
    assert scan(org, "--as-of", "next tuesday").returncode == 2
    assert run("scan", "org", "--policy", "no-such-pack", cwd=org).returncode == 2


# -- unknown packs, registers checked when validating, store overrides shown -----------------


def test_a_misspelt_pack_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    for args in (("scan", ".", "--policy", "gdrp"), ("policy", "show", "gdrp")):
        proc = run(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == "faceaudit: error: unknown pack 'gdrp' (did you mean gdpr?)"
    proc = run("policy", "validate", "gdrp", cwd=tmp_path)
    assert proc.returncode == 2 and "gdrp: unknown pack 'gdrp' (did you mean gdpr?)" in proc.stderr
    assert run("policy", "validate", "gdpr", cwd=tmp_path).returncode == 0
    far = run("policy", "show", "zzzz", cwd=tmp_path)
    assert far.returncode == 2 and "unknown pack 'zzzz' (built-in packs: bipa" in far.stderr


REGISTER_POLICY = """\
schema_version: 1
name: org
extends: [gdpr]
stores:
  - id: photos
    paths: ["photos/**"]
    legal_basis: [gdpr-9-2-a]
    subject: {{path_pattern: '(?P<subject>[a-z]+)\\.jpg$'}}
    consent_register: consents
registers:
  - id: consents
    kind: consent
    source: csv:{source}
    key_column: subject
    granted_column: {granted}
"""


def test_validate_reads_registers_and_a_scan_refuses_a_broken_one(tmp_path: Path) -> None:
    from db_helpers import face_jpeg

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "ann.jpg").write_bytes(face_jpeg())
    (tmp_path / "consents.csv").write_text("subject,granted_at\nann,2024-01-01\n")
    cases = {
        "no-file.yaml": (REGISTER_POLICY.format(source="nope.csv", granted="granted_at"), 11),
        "no-column.yaml": (REGISTER_POLICY.format(source="consents.csv", granted="granted"), 11),
    }
    for name, (text, line) in cases.items():
        policy = tmp_path / name
        policy.write_text(text)
        proc = run("policy", "validate", str(policy), cwd=tmp_path)
        assert proc.returncode == 2, (name, proc.stdout, proc.stderr)
        assert "valid" not in proc.stdout
        assert f"{policy}:{line}: register 'consents'" in proc.stderr, proc.stderr
        scanned = run("scan", "photos", "-q", "--policy", str(policy), cwd=tmp_path)
        assert scanned.returncode == 2, scanned.stderr
        assert "internal error" not in scanned.stderr
        assert f"faceaudit: policy error: {policy}:{line}: register 'consents'" in scanned.stderr
    assert (
        "consents.csv has no column 'granted'"
        in run("policy", "validate", str(tmp_path / "no-column.yaml"), cwd=tmp_path).stderr
    )
    assert (
        "csv:nope.csv: no such file"
        in run("policy", "validate", str(tmp_path / "no-file.yaml"), cwd=tmp_path).stderr
    )
    good = tmp_path / "good.yaml"
    good.write_text(REGISTER_POLICY.format(source="consents.csv", granted="granted_at"))
    proc = run("policy", "validate", str(good), cwd=tmp_path)
    assert proc.returncode == 0 and "valid" in proc.stdout, proc.stderr


def test_show_and_explain_name_store_overrides(tmp_path: Path) -> None:
    policy = Path(__file__).resolve().parent / "policy" / "valid" / "store-overrides.yaml"
    shown = run("policy", "show", str(policy), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "override CO-6-1-1314-2Y: max_period=P90D" in shown.stdout
    explained = run("policy", "explain", "GDPR-5-1-E-NO-RETENTION", "-p", str(policy), cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    assert "changed for store 'archive': enabled=false (Art 89(1) archive" in explained.stdout
    art6 = run("policy", "explain", "GDPR-6-1-NO-BASIS", cwd=tmp_path)
    assert "data: photo (by the store's use)" in art6.stdout and "'data'" not in art6.stdout


def test_show_lists_the_legal_holds(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parent / "policy" / "valid" / "legal-holds.yaml"
    proc = run("policy", "show", str(fixture), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "legal holds (2):" in proc.stdout
    assert "CASE-2026-014: from 2026-03-01 until lifted; owner legal@acme.example" in proc.stdout
    assert "REG-ORDER-7: from 2026-01-15 until 2027-01-14" in proc.stdout
    assert "      store kyc" in proc.stdout and "hr/badges/2024/**" in proc.stdout
