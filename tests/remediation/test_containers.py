"""Findings inside a container (an archive's members, a PDF's pictures, a mailbox's
attachments): one `manual` plan entry for the container, which `apply` never touches, unless
the policy allows acting on the whole container (`container_action: whole`) or every member
the scan examined is a finding; several findings in one container are one entry."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import scanner
from scanner.remediation import PlanError, plan_from_report, read_plan, write_plan
from scanner.remediation.plan import ContainerRule
from scanner.remediation.subject_plan import plan_from_subject
from scanner.remediation.targets import plan_from_report as plan_with_remote
from tests.remediation.conftest import faceaudit, finding, sha

SCHEMA = Path(scanner.__file__).resolve().parent / "schemas" / "plan.schema.json"


def _file(path: Path, data: bytes = b"PK\x03\x04 not really") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _member(
    archive: Path | str, member: str, rule: str = "GDPR-5-1-E-RETENTION", **extra: Any
) -> dict[str, Any]:
    loc = {"members": member.split("!/"), "uri": f"file://{archive}!/{member}"}
    return {**finding(archive, rule, location=loc, **extra), "fingerprint": f"{rule}:{member}"}


def _report(where: Path, findings: list[dict[str, Any]], **extra: Any) -> Path:
    doc = {
        "schema_version": "1.4",
        "policy": {"name": "test", "digest": "0" * 64},
        "findings": findings,
        "items": [],
        **extra,
    }
    report = where / "report.json"
    report.write_text(json.dumps(doc), encoding="utf-8")
    return report


# -- the planning rule ----------------------------------------------------------------------


def test_members_of_a_container_are_a_persons_to_remove(tmp_path: Path) -> None:
    archive = _file(tmp_path / "backup.zip")
    findings = [_member(archive, "a/enc.pickle"), _member(archive, "b/face.jpg", "UK-GDPR-X")]
    (item,) = plan_from_report(_report(tmp_path, findings), base=tmp_path).items
    assert item.action == "manual" and item.path == str(archive)
    assert item.members == ("a/enc.pickle", "b/face.jpg")
    assert item.rule_ids == ("GDPR-5-1-E-RETENTION", "UK-GDPR-X")
    assert item.container is not None
    assert (item.container.scope, item.container.basis) == ("members", "default")
    assert "2 members" in str(item.reason) and "container_action: whole" in str(item.reason)
    # the container as the reviewer saw it, so the person can tell it is the same file
    assert item.preconditions is not None and item.preconditions.sha256 == sha(archive)


def test_the_policy_may_allow_acting_on_the_whole_container(tmp_path: Path) -> None:
    archive = _file(tmp_path / "backup.zip")
    findings = [
        _member(archive, "a.jpg", store="backups"),
        _member(archive, "b.jpg", store="backups"),
    ]
    report = _report(tmp_path, findings)
    (whole,) = plan_from_report(report, base=tmp_path, containers=ContainerRule("whole")).items
    assert whole.action == "delete" and whole.preconditions is not None
    assert whole.container is not None
    assert (whole.container.scope, whole.container.basis) == ("whole", "policy")
    assert "remediation: {container_action: whole}" in whole.container.why
    by_store = ContainerRule("manual", (("backups", "whole"),))
    (item,) = plan_from_report(report, base=tmp_path, containers=by_store).items
    assert item.action == "delete" and "store backups" in str(item.container and item.container.why)
    # a store that does not allow it for one of the findings: a person's
    other = ContainerRule("whole", (("hr", "manual"),))
    findings[1]["store"] = "hr"
    report = _report(tmp_path, findings)
    (item,) = plan_from_report(report, base=tmp_path, containers=other).items
    assert item.action == "manual"


def test_a_container_whose_every_examined_member_is_a_finding_is_acted_on(tmp_path: Path) -> None:
    archive = _file(tmp_path / "faces.zip")
    findings = [_member(archive, "a.jpg"), _member(archive, "b.jpg")]
    all_of_it = [{"path": str(archive), "members_examined": 2}]
    report = _report(tmp_path, findings, containers=all_of_it)
    (item,) = plan_from_report(report, base=tmp_path, action="quarantine").items
    assert item.action == "quarantine" and item.container is not None
    assert (item.container.scope, item.container.basis, item.container.examined) == (
        "whole",
        "all-members",
        2,
    )
    assert "every member the scan examined in the container (2)" in item.container.why
    # a third member examined that is no finding: the container holds something else
    more = [{"path": str(archive), "members_examined": 3}]
    (item,) = plan_from_report(_report(tmp_path, findings, containers=more), base=tmp_path).items
    assert item.action == "manual" and item.container and item.container.examined == 3
    # a waived member is not a person's to remove, and keeps the container
    findings[1]["disposition"] = "waived"
    report = _report(tmp_path, findings, containers=all_of_it)
    (item,) = plan_from_report(report, base=tmp_path).items
    assert item.action == "manual" and item.members == ("a.jpg",)


def test_findings_in_one_container_are_one_entry_however_spelt(tmp_path: Path) -> None:
    archive = _file(tmp_path / "x" / "backup.zip")
    findings = [
        _member("x/backup.zip", "a.jpg"),
        _member("./x/backup.zip", "b.jpg"),
        _member("x/../x/backup.zip", "inner.tar!/c.jpg"),
        _member(archive, "a.jpg", "OTHER-RULE"),
    ]
    (item,) = plan_from_report(_report(tmp_path, findings), base=tmp_path).items
    assert item.path == str(archive) and item.action == "manual"
    assert item.members == ("a.jpg", "b.jpg", "inner.tar!/c.jpg")
    assert len(item.fingerprints) == 4
    # a finding about the file itself (a video's retention) acts on the file, members and all
    findings.append(finding(archive, "ACME-CCTV-31D"))
    (item,) = plan_from_report(_report(tmp_path, findings), base=tmp_path).items
    assert item.action == "delete" and item.container is None


def test_an_objects_members_are_a_persons_too(tmp_path: Path) -> None:
    """Before the store is asked anything: the object is never listed, let alone erased."""
    uri = "s3://photos/backups/2019.zip"
    findings = [
        finding(uri, location={"path": uri, "members": [m], "uri": f"{uri}!/{m}"})
        for m in ("a.jpg", "b.jpg")
    ]
    (item,) = plan_with_remote(_report(tmp_path, findings), base=tmp_path).items
    assert item.action == "manual" and item.path == uri and item.members == ("a.jpg", "b.jpg")
    assert item.object is None and item.preconditions is None


def test_a_subjects_matches_in_one_archive_are_one_manual_entry(tmp_path: Path) -> None:
    archive = _file(tmp_path / "team.zip")
    matches = [
        {
            "path": f"team.zip!/{m}",
            "location": {"path": "team.zip", "members": [m]},
            "similarity": 0.9,
        }
        for m in ("2019/a.jpg", "2020/b.jpg")
    ]
    report = tmp_path / "found.json"
    report.write_text(json.dumps({"report": "subject", "matches": matches, "verdict": {}}))
    (item,) = plan_from_subject(report, base=tmp_path).items
    assert item.action == "manual" and item.path == str(archive)
    assert item.members == ("2019/a.jpg", "2020/b.jpg")


def test_the_plan_file_carries_the_container_and_refuses_a_contradiction(tmp_path: Path) -> None:
    archive, photo = _file(tmp_path / "backup.zip"), _file(tmp_path / "a.jpg", b"\xff\xd8")
    report = _report(tmp_path, [_member(archive, "a.jpg"), finding(photo)])
    plan = plan_from_report(report, base=tmp_path)
    out = tmp_path / "plan.json"
    write_plan(plan, out)
    assert read_plan(out) == plan
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 2
    assert doc["summary"] == {"delete": 1, "quarantine": 0, "manual": 1, "none": 0}
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)
    manual = next(i for i in doc["items"] if i["action"] == "manual")
    assert manual["container"]["scope"] == "members" and manual["members"] == ["a.jpg"]
    # a plan edited after the review to move the container: refused, by the schema and apply
    manual["action"] = "delete"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    out.write_text(json.dumps(doc))
    with pytest.raises(PlanError):
        read_plan(out)
    manual["action"], manual["container"] = "manual", None
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


# -- end to end: a real zip and a real mbox, scanned, planned, applied ----------------------


def _share(tmp_path: Path) -> dict[str, Path]:
    from tests.helpers import astronaut, encode, no_face
    from tests.media_helpers import mbox, message

    share = tmp_path / "share"
    share.mkdir()
    face = encode(astronaut(), "JPEG")
    with zipfile.ZipFile(share / "photos.zip", "w") as z:
        z.writestr("team/astronaut.jpg", face)
        z.writestr("team/minutes.txt", "Minutes of the team meeting: nothing about faces.\n")
    badge = message(attachments=[("me.jpg", face, "jpeg")])
    other = message(
        message_id="<payroll.7@corp.example>",
        text="Payroll runs on Friday.",
        attachments=[("coffee.jpg", encode(no_face(), "JPEG"), "jpeg")],
    )
    (share / "hr.mbox").write_bytes(mbox([badge, other]))
    astronaut().save(share / "loose.png")
    return {"zip": share / "photos.zip", "mbox": share / "hr.mbox", "photo": share / "loose.png"}


def _state(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return sha(path), st.st_size, st.st_mtime_ns, st.st_ino


def test_a_real_zip_and_mbox_are_left_to_a_person_and_untouched(tmp_path: Path) -> None:
    files = _share(tmp_path)
    before = {k: _state(p) for k, p in files.items() if k != "photo"}
    plan_file, vault, log = tmp_path / "plan.json", tmp_path / "vault", tmp_path / "audit.jsonl"
    share = str(files["zip"].parent)
    done = faceaudit("remediate", "plan", "--scan", share, "--policy", "gdpr", "-o", str(plan_file))
    assert done.returncode == 0, done.stderr
    doc = json.loads(plan_file.read_text())
    by_path = {i["path"]: i for i in doc["items"]}
    assert set(by_path) == {str(p) for p in files.values()}  # one entry per file
    for name, member in (("zip", "team/astronaut.jpg"), ("mbox", "me.jpg")):
        item = by_path[str(files[name])]
        assert item["action"] == "manual", item
        assert len(item["members"]) == 1 and item["members"][0].endswith(member)
        assert item["container"]["scope"] == "members"
    assert by_path[str(files["photo"])]["action"] == "delete"
    assert doc["summary"]["manual"] == 2 and "2 for a person" in done.stderr
    assert "members: team/astronaut.jpg" in done.stdout

    dry = faceaudit("remediate", "apply", str(plan_file), "--vault", str(vault))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("manual ") == 2 and "would" in dry.stdout

    applied = faceaudit(
        "remediate", "apply", str(plan_file), "--vault", str(vault), "--yes", "--log", str(log)
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    lines = {line.split()[1]: line for line in applied.stdout.splitlines()}
    manual_ids = [i["id"] for i in doc["items"] if i["action"] == "manual"]
    for item_id in manual_ids:
        assert lines[item_id].startswith("manual ") and "container is untouched" in lines[item_id]
    assert "2 item(s) left for a person" in applied.stderr
    assert {k: _state(files[k]) for k in before} == before  # byte-identical, same inode
    assert not files["photo"].exists()  # the loose photo went into the vault
    events = [json.loads(line) for line in log.read_text().splitlines()]
    manual = [e["fields"] for e in events if e["event"] == "manual"]
    assert sorted(e["plan_item"] for e in manual) == sorted(manual_ids)
    assert all(e["members"] == 1 and e["basis"] == "default" for e in manual)
    text = log.read_text()
    assert "photos.zip" not in text and "hr.mbox" not in text  # paths only as salted hashes
    applied_event = next(e["fields"] for e in events if e["event"] == "apply")
    assert (applied_event["items"], applied_event["manual"]) == (1, 2)
    verified = faceaudit("audit", "verify", str(log), "--key", str(tmp_path / "audit-keys"))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_policy_that_allows_it_acts_on_the_whole_container(tmp_path: Path) -> None:
    files = _share(tmp_path)
    policy = tmp_path / "org.yaml"
    policy.write_text(
        "schema_version: 1\nname: org\nextends: [gdpr]\nremediation:\n  container_action: whole\n"
    )
    plan_file, vault = tmp_path / "plan.json", tmp_path / "vault"
    share = str(files["zip"].parent)
    done = faceaudit(
        "remediate", "plan", "--scan", share, "--policy", str(policy), "-o", str(plan_file)
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(plan_file.read_text())
    items = {i["path"]: i for i in doc["items"]}
    for name in ("zip", "mbox"):
        item = items[str(files[name])]
        assert item["action"] == "delete" and item["container"]["basis"] == "policy"
    assert "the whole container is acted on: the policy" in done.stdout
    applied = faceaudit("remediate", "apply", str(plan_file), "--vault", str(vault), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not any(p.exists() for p in files.values())


def test_a_real_zip_of_faces_only_is_acted_on_whole(tmp_path: Path) -> None:
    """The scan counts the members it examined in each container (the report's
    `containers`); a zip whose every member is a finding goes whole, and the plan says so."""
    from tests.helpers import astronaut, encode
    from tests.reporters.sample import schema_errors

    files = _share(tmp_path)
    face = encode(astronaut(), "JPEG")
    only_faces = files["zip"].parent / "faces.zip"
    with zipfile.ZipFile(only_faces, "w") as z:
        z.writestr("a.jpg", face)
        z.writestr("b/c.jpg", face)
    # a zip of one zip of one face: the inner zip is a member too, so a person's
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("a.jpg", face)
    with zipfile.ZipFile(only_faces.parent / "nested.zip", "w") as z:
        z.write(inner, "inner.zip")
    plan_file, vault = tmp_path / "plan.json", tmp_path / "vault"
    share = str(only_faces.parent)
    done = faceaudit("remediate", "plan", "--scan", share, "--policy", "gdpr", "-o", str(plan_file))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "plan.report.json").read_text())
    assert schema_errors(report) == []
    counted = {Path(c["path"]).name: c["members_examined"] for c in report["containers"]}
    assert counted == {"faces.zip": 2, "photos.zip": 2, "hr.mbox": 4, "nested.zip": 2}
    items = {Path(i["path"]).name: i for i in json.loads(plan_file.read_text())["items"]}
    whole = items["faces.zip"]
    assert whole["action"] == "delete" and whole["members"] == ["a.jpg", "b/c.jpg"]
    assert whole["container"] == {
        "scope": "whole",
        "basis": "all-members",
        "why": "every member the scan examined in the container (2) is a finding",
        "examined": 2,
    }
    nested = items["nested.zip"]
    assert nested["action"] == "manual" and nested["members"] == ["inner.zip!/a.jpg"]
    mixed = items["photos.zip"]
    assert mixed["action"] == "manual" and mixed["container"]["examined"] == 2
    assert "1 of the 2 members the scan examined in this" in mixed["reason"]
    before = _state(files["zip"])
    applied = faceaudit("remediate", "apply", str(plan_file), "--vault", str(vault), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert not only_faces.exists() and _state(files["zip"]) == before
