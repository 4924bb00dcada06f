"""Waivers (reason, owner, expiry; expired ones fail the gate) and baselines (known findings
do not fail; baselines hold no times)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scanner.model import (
    Disposition,
    EvidenceKind,
    ExitCode,
    FileLocation,
    Finding,
    PolicyInfo,
    ScanResult,
    Severity,
)
from scanner.policy.gate import (
    apply_baseline,
    apply_waivers,
    baseline_document,
    load_baseline,
    load_waivers,
)
from scanner.policy.loader import PolicyErrors

NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def finding(
    rule: str = "GDPR-5-1-E-RETENTION",
    path: str = "hr/badges/E1.jpg",
    fp: str = "a" * 32,
    severity: Severity = Severity.HIGH,
) -> Finding:
    return Finding(
        rule,
        severity,
        "t",
        "m",
        FileLocation(path),
        EvidenceKind.FACE_IMAGE,
        ("GDPR Art 5(1)(e)",),
        "delete",
        "gdpr",
        fp,
    )


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "waivers.yaml"
    p.write_text(text)
    return p


def test_a_current_waiver_suppresses_with_its_justification(tmp_path: Path) -> None:
    w = load_waivers(
        write(
            tmp_path,
            f"""waivers:
  - fingerprint: {"a" * 32}
    reason: Legal hold for case 2026-14 until judgment
    owner: dpo@example.org
    expires: 2026-12-31
""",
        )
    )
    out, expired, unused = apply_waivers([finding(), finding(fp="b" * 32)], w, NOW)
    assert out[0].disposition is Disposition.WAIVED and "Legal hold" in (out[0].justification or "")
    assert out[1].disposition is Disposition.OPEN
    assert expired == () and unused == ()


def test_a_rule_waiver_narrowed_by_path(tmp_path: Path) -> None:
    w = load_waivers(
        write(
            tmp_path,
            """waivers:
  - rule: GDPR-5-1-E-RETENTION
    path: hr/legacy/**
    reason: Migration to the new store is scheduled
    owner: it@example.org
    expires: 2026-07-01
""",
        )
    )
    out, _, _ = apply_waivers(
        [finding(path="org/hr/legacy/a.jpg"), finding(path="org/hr/badges/b.jpg")], w, NOW
    )
    assert [f.disposition for f in out] == [Disposition.WAIVED, Disposition.OPEN]


def test_an_expired_waiver_waives_nothing_and_fails_the_gate(tmp_path: Path) -> None:
    w = load_waivers(
        write(
            tmp_path,
            f"""waivers:
  - fingerprint: {"a" * 32}
    reason: Temporary exception for the audit
    owner: dpo@example.org
    expires: 2026-05-31
""",
        )
    )
    out, expired, _ = apply_waivers([finding(severity=Severity.LOW)], w, NOW)
    assert out[0].disposition is Disposition.OPEN
    assert "expired on 2026-05-31" in (out[0].justification or "")
    assert len(expired) == 1
    info = PolicyInfo("p", (), "", (), (), (), NOW, expired_waivers=expired)
    result = ScanResult(
        "0",
        (),
        NOW,
        NOW,
        (),
        (),
        (),
        (),
        findings=(replace(out[0], disposition=Disposition.WAIVED),),
        policy=info,
        fail_on=Severity.CRITICAL,
    )
    assert result.exit_code is ExitCode.FINDINGS  # whatever it waived, and below --fail-on


def test_an_expired_waiver_that_matches_nothing_still_fails(tmp_path: Path) -> None:
    w = load_waivers(
        write(
            tmp_path,
            """waivers:
  - rule: BIPA-15-A-SCHEDULE
    reason: Schedule being published by legal
    owner: legal@example.org
    expires: 2025-01-01
""",
        )
    )
    _, expired, unused = apply_waivers([finding()], w, NOW)
    assert len(expired) == 1 and len(unused) == 1


@pytest.mark.parametrize(
    ("body", "fragment", "line"),
    [
        ("  - rule: X-1\n    owner: a\n    expires: 2027-01-01\n", "reason", 2),
        ("  - rule: X-1\n    reason: long enough reason\n    expires: 2027-01-01\n", "owner", 2),
        ("  - rule: X-1\n    reason: long enough reason\n    owner: a\n", "expires", 2),
        (
            "  - reason: long enough reason\n    owner: a\n    expires: 2027-01-01\n",
            "exactly one",
            2,
        ),
        ("  - rule: X-1\n    reason: short\n    owner: a\n    expires: 2027-01-01\n", "reason", 3),
        (
            "  - rule: X-1\n    reason: long enough reason\n    owner: a\n    expires: someday\n",
            "expires",
            5,
        ),
        (
            "  - fingerprint: xyz\n    reason: long enough reason\n"
            "    owner: a\n    expires: 2027-01-01\n",
            "fingerprint",
            2,
        ),
        (
            "  - rule: X-1\n    reason: long enough reason\n    owner: a\n"
            "    expires: 2027-01-01\n    note: x\n",
            "note",
            6,
        ),
    ],
)
def test_invalid_waivers_name_the_line(tmp_path: Path, body: str, fragment: str, line: int) -> None:
    with pytest.raises(PolicyErrors) as exc:
        load_waivers(write(tmp_path, "waivers:\n" + body))
    err = exc.value.errors[0]
    assert fragment in err.message and err.line == line, exc.value


def test_baseline_round_trip_has_no_times_and_is_stable(tmp_path: Path) -> None:
    findings = [finding(fp="c" * 32), finding(fp="a" * 32, path="x/\udcff.jpg")]
    text = baseline_document(findings, "org")
    assert text == baseline_document(list(reversed(findings)), "org")
    assert not re.search(r"\d{4}-\d\d-\d\d", text)  # no dates or times
    data = json.loads(text)
    assert set(data) == {"faceaudit_baseline", "policy", "findings"}
    assert all(
        set(f) == {"fingerprint", "rule_id", "location", "identity"} for f in data["findings"]
    )
    p = tmp_path / "baseline.json"
    p.write_text(text)
    known = load_baseline(p)
    out = apply_baseline([finding(fp="a" * 32), finding(fp="d" * 32)], known)
    assert [f.disposition for f in out] == [Disposition.BASELINE, Disposition.OPEN]


def test_a_broken_baseline_is_a_policy_error(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    p.write_text("{not json")
    with pytest.raises(PolicyErrors):
        load_baseline(p)


def test_a_waiver_written_before_format_2_matches_the_legacy_print(tmp_path: Path) -> None:
    """A waivers file names findings by fingerprint; one written before identities were
    relative to the scan root names the format-1 print, which still matches."""
    p = write(
        tmp_path,
        "waivers:\n  - fingerprint: " + "e" * 32 + "\n    reason: a known legacy export\n"
        "    owner: dpo@example.org\n    expires: 2099-01-01\n",
    )
    (waiver,) = load_waivers(p)
    old = replace(finding(fp="f" * 32), legacy_fingerprint="e" * 32)
    assert waiver.matches(old)
    assert not waiver.matches(finding(fp="f" * 32))
