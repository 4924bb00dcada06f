"""`faceaudit policy …` and `scan --policy/--waivers/--baseline/--write-baseline/--as-of`,
through the installed command on the demo organisation (real images, real detector)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.demo_org import AS_OF, build_demo_org

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
PACKS = Path(__file__).resolve().parents[1] / "policies"


def run(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FACEAUDIT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        check=False,
        stdin=subprocess.DEVNULL,
    )


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
    assert len(findings) == 10 and all(f["disposition"] == "open" for f in findings)
    baseline = json.loads((org / "baseline.json").read_text())
    assert len(baseline["findings"]) == 10
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
