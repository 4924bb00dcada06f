"""The plan: one action per file from a JSON report's findings, with the rules and laws,
`none` with its reason, and preconditions taken from the file as it is."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

import scanner
from scanner.remediation import PlanError, holds_for, plan_from_report, read_plan, write_plan
from tests.remediation.conftest import faceaudit, finding, sha, write_report


def _file(path: Path, data: bytes = b"\xff\xd8 a face") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_one_action_per_file_citing_every_rule(tmp_path: Path) -> None:
    photo = _file(tmp_path / "a.jpg")
    findings = [
        finding(photo, "GDPR-5-1-E-RETENTION"),
        finding(photo, "UK-GDPR-5-1-E-RETENTION", citations=["UK GDPR Art 5(1)(e)"]),
    ]
    plan = plan_from_report(write_report(tmp_path, findings, [photo]), base=tmp_path)
    (item,) = plan.items
    assert item.action == "delete" and item.path == str(photo)
    assert item.rule_ids == ("GDPR-5-1-E-RETENTION", "UK-GDPR-5-1-E-RETENTION")
    assert set(item.citations) == {"GDPR Art 5(1)(e)", "UK GDPR Art 5(1)(e)"}
    st = photo.stat()
    pre = item.preconditions
    assert pre is not None
    assert (pre.size, pre.sha256, pre.mtime_ns, pre.ino, pre.dev) == (
        st.st_size,
        sha(photo),
        st.st_mtime_ns,
        st.st_ino,
        st.st_dev,
    )


def test_none_with_its_reason(tmp_path: Path) -> None:
    waived, known = _file(tmp_path / "waived.jpg"), _file(tmp_path / "known.jpg")
    changed, gone = _file(tmp_path / "changed.jpg"), _file(tmp_path / "gone.jpg")
    link = tmp_path / "link.jpg"
    os.symlink(waived, link)
    findings = [
        finding(waived, disposition="waived", justification="research (dpo, 2027-01-01)"),
        finding(known, disposition="baseline"),
        finding(changed),
        finding(gone),
        finding(link),
        finding(
            "sqlite://kyc.db#customers.face",
            location={"uri": "sqlite://kyc.db#customers.face"},
        ),
    ]
    report = write_report(tmp_path, findings, [changed, gone])
    changed.write_bytes(b"other bytes")
    gone.unlink()
    plan = plan_from_report(report, base=tmp_path)
    reasons = {Path(i.path).name: (i.action, i.reason) for i in plan.items}
    assert reasons["waived.jpg"] == ("none", "every finding is waived")
    assert reasons["known.jpg"] == ("none", "every finding is in the baseline")
    assert reasons["changed.jpg"][0] == "none" and "changed since the scan" in str(
        reasons["changed.jpg"][1]
    )
    assert reasons["gone.jpg"] == ("none", "gone since the scan")
    assert reasons["link.jpg"][0] == "none" and "symbolic link" in str(reasons["link.jpg"][1])
    db = next(i for i in plan.items if i.path.startswith("sqlite:"))
    assert db.action == "none" and "database rows" in str(db.reason)
    assert not plan.acting


def test_archive_members_are_one_entry_for_their_archive_left_to_a_person(
    tmp_path: Path,
) -> None:
    """tests/remediation/test_containers.py: the rule, and when the whole archive is acted on."""
    archive = _file(tmp_path / "backup.zip", b"PK\x03\x04 not really")
    members = [
        finding(archive, location={"members": [m], "uri": f"file://{archive}!/{m}"})
        for m in ("a/enc.pickle", "b/face.jpg")
    ]
    (item,) = plan_from_report(write_report(tmp_path, members), base=tmp_path).items
    assert item.action == "manual" and item.path == str(archive)
    assert item.members == ("a/enc.pickle", "b/face.jpg")


def test_relative_paths_resolve_against_the_base(tmp_path: Path) -> None:
    photo = _file(tmp_path / "share" / "a.jpg")
    relative = finding("share/a.jpg", location={"uri": "share/a.jpg"})
    (item,) = plan_from_report(write_report(tmp_path, [relative]), base=tmp_path).items
    assert item.path == str(photo) and item.action == "delete"


HOLD_POLICY = """\
schema_version: 1
name: holds
extends: [gdpr]
holds:
  - case: CASE-2026-014
    scope:
      paths: ["evidence/**"]
    reason: Employment tribunal claim; counsel asked to keep the photos
    owner: legal@acme.example
    start: 2026-03-01
"""


def _hold_policy(where: Path) -> Path:
    path = where / "holds.yaml"
    path.write_text(HOLD_POLICY)
    return path


def test_a_legal_hold_keeps_its_items_out_of_the_plan(tmp_path: Path) -> None:
    held, free = _file(tmp_path / "evidence" / "a.jpg"), _file(tmp_path / "other" / "b.jpg")
    from scanner.policy.loader import load_policy

    holds = load_policy(_hold_policy(tmp_path)).holds
    assert holds_for(str(held), holds) is not None and holds_for(str(free), holds) is None
    assert holds_for(str(held)) is None  # no policy, no hold
    report = write_report(tmp_path, [finding(held), finding(free)], [held, free])
    plan = plan_from_report(report, base=tmp_path, holds=holds)
    actions = {Path(i.path).name: i for i in plan.items}
    assert actions["b.jpg"].action == "delete"
    kept = actions["a.jpg"]
    assert kept.action == "none" and kept.hold is not None and kept.hold.case == "CASE-2026-014"
    assert (
        kept.reason == "legal hold CASE-2026-014: Employment tribunal claim; counsel asked "
        "to keep the photos"
    )
    # through the CLI, the policy's holds are asked
    done = faceaudit(
        "remediate",
        "plan",
        str(report),
        "-o",
        str(tmp_path / "p.json"),
        "--policy",
        str(_hold_policy(tmp_path)),
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["summary"] == {"delete": 1, "quarantine": 0, "manual": 0, "none": 1}


def test_a_finding_the_scan_held_is_planned_as_held(tmp_path: Path) -> None:
    photo = _file(tmp_path / "a.jpg")
    held_by = {"case": "C-1", "reason": "litigation", "owner": "legal@x", "start": "2026-01-01"}
    report = write_report(tmp_path, [finding(photo, disposition="held", held_by=held_by)])
    (item,) = plan_from_report(report, base=tmp_path).items
    assert item.action == "none" and item.reason == "legal hold C-1: litigation"


def test_purge_keeps_what_a_hold_declared_since_covers(tmp_path: Path, shm: Path) -> None:
    photo = _file(tmp_path / "evidence" / "a.jpg")
    from tests.remediation.conftest import entries, plan_for

    plan = plan_for(tmp_path, [photo])
    vault = shm / "v"
    assert (
        faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes").returncode == 0
    )
    policy = str(_hold_policy(tmp_path))
    purge = ["remediate", "purge", "--vault", str(vault), "--as-of", "2100-01-01"]
    dry = faceaudit(*purge, "--policy", policy)
    assert "legal hold CASE-2026-014" in dry.stdout and "would" not in dry.stdout
    kept = faceaudit(*purge, "--policy", policy, "--yes")
    assert "legal hold CASE-2026-014" in kept.stdout
    assert len(entries(vault, "quarantined")) == 1  # still restorable
    log = [json.loads(line) for line in (vault / "audit.jsonl").read_text().splitlines()]
    said = [(r["event"], r["fields"]) for r in log if not r["event"].startswith("audit.")]
    assert ("purge-dry-run", {"due": 0, "held": 1}) in said  # the dry run is recorded
    assert any(e == "hold" and f["case"] == "CASE-2026-014" for e, f in said)  # and the hold
    assert faceaudit(*purge, "--yes").returncode == 0  # the hold lifted (no policy): purged
    assert not entries(vault, "quarantined")


def test_the_plan_file_round_trips_and_is_versioned(tmp_path: Path) -> None:
    photo = _file(tmp_path / "a.jpg")
    plan = plan_from_report(
        write_report(tmp_path, [finding(photo)]), base=tmp_path, action="quarantine"
    )
    write_plan(plan, tmp_path / "plan.json")
    assert read_plan(tmp_path / "plan.json") == plan
    doc = json.loads((tmp_path / "plan.json").read_text())
    assert doc["schema_version"] == 2 and doc["kind"] == "faceaudit-remediation-plan"
    assert doc["summary"] == {"delete": 0, "quarantine": 1, "manual": 0, "none": 0}
    doc["schema_version"] = 99
    (tmp_path / "plan.json").write_text(json.dumps(doc))
    with pytest.raises(PlanError):
        read_plan(tmp_path / "plan.json")


def test_bad_inputs_are_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[]")
    bad = faceaudit("remediate", "plan", str(tmp_path / "x.json"), "-o", str(tmp_path / "p"))
    assert bad.returncode == 2 and "not a JSON object" in bad.stderr
    bad = faceaudit("remediate", "apply", str(tmp_path / "x.json"), "--vault", str(tmp_path / "v"))
    assert bad.returncode == 2
    assert faceaudit("remediate", "restore", "--vault", str(tmp_path / "v")).returncode == 2


def test_the_grace_period_comes_from_the_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "schema_version: 1\nname: acme\nextends: [gdpr]\nremediation:\n  grace_days: 7\n"
    )
    photo = _file(tmp_path / "a.jpg")
    report = write_report(tmp_path, [finding(photo)])
    out = tmp_path / "plan.json"
    done = faceaudit("remediate", "plan", str(report), "-o", str(out), "--policy", str(policy))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["grace_days"] == 7
    done = faceaudit("remediate", "plan", str(report), "-o", str(out), "--grace-days", "3")
    assert json.loads(out.read_text())["grace_days"] == 3
    policy.write_text("schema_version: 1\nname: acme\nremediation:\n  grace_days: -1\n")
    bad = faceaudit("remediate", "plan", str(report), "-o", str(out), "--policy", str(policy))
    assert bad.returncode == 2


SCHEMA = Path(scanner.__file__).resolve().parent / "schemas" / "plan.schema.json"


def test_plans_validate_against_their_schema(tmp_path: Path) -> None:
    photo, waived = _file(tmp_path / "a.jpg"), _file(tmp_path / "w.jpg")
    report = write_report(tmp_path, [finding(photo), finding(waived, disposition="waived")])
    out = tmp_path / "plan.json"
    write_plan(plan_from_report(report, base=tmp_path), out)
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema)
    doc["items"][0]["action"] = "shred"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_plan_by_scanning(tmp_path: Path) -> None:
    """`--scan` runs a real scan under the policy, keeps its JSON report beside the plan."""
    from tests.helpers import astronaut

    share = tmp_path / "share"
    share.mkdir()
    astronaut().save(share / "astronaut.png")
    out = tmp_path / "plan.json"
    done = faceaudit("remediate", "plan", "--scan", str(share), "--policy", "gdpr", "-o", str(out))
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    (item,) = doc["items"]
    assert item["action"] == "delete" and item["path"] == str(share / "astronaut.png")
    assert doc["source"]["report"] == str(tmp_path / "plan.report.json")
    assert json.loads((tmp_path / "plan.report.json").read_text())["findings"]
    no_policy = faceaudit("remediate", "plan", "--scan", str(share), "-o", str(out))
    assert no_policy.returncode == 2 and "--policy" in no_policy.stderr


def test_links_among_the_directories_are_resolved_when_planning(tmp_path: Path) -> None:
    photo = _file(tmp_path / "real" / "a.jpg")
    os.symlink(tmp_path / "real", tmp_path / "alias")
    report = write_report(tmp_path, [finding(tmp_path / "alias" / "a.jpg")])
    (item,) = plan_from_report(report, base=tmp_path).items
    assert item.action == "delete" and item.path == str(photo)
