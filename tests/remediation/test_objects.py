"""Objects in a real S3 server (moto's server mode, tests/s3_server.py), through the CLI:
every version of a face photo erased (not a delete marker), each version in the vault first
and restorable; an Object Lock retention reported as "blocked until DATE" with nothing
touched; an object replaced between plan and apply skipped; a SIGKILL during the erasure
recovered by the next run with every version either in the bucket or in the vault."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import astronaut, encode
from s3_server import S3Server

import scanner
from tests.remediation.conftest import entries, faceaudit, finding, write_report

KILL = "FACEAUDIT_REMEDIATE_KILL_AFTER"
SCHEMA = Path(scanner.__file__).resolve().parent / "schemas" / "plan.schema.json"
FACE = encode(astronaut(), "JPEG")
# three versions of one face photo: the same picture saved three times, a little different
VERSIONS = [FACE + bytes([n]) * (n * 100 + 1) for n in range(3)]


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    s = S3Server()
    yield s
    s.stop()


@pytest.fixture
def s3(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A boto3 client on the emptied server; the CLI finds it by the AWS environment."""
    import boto3
    import s3fs

    server.reset()
    server.use(monkeypatch, "remediation-test-secret", tmp_path / "none")
    yield boto3.client("s3", endpoint_url=server.url)
    s3fs.S3FileSystem.clear_instance_cache()


def _versioned(s3: Any, bucket: str = "faces-versioned", **create: Any) -> list[str]:
    s3.create_bucket(Bucket=bucket, **create)
    if not create:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return [
        s3.put_object(Bucket=bucket, Key="photos/a.jpg", Body=body)["VersionId"]
        for body in VERSIONS
    ]


def _plan(tmp_path: Path, uri: str) -> Path:
    found = finding(uri, location={"uri": uri})
    report = write_report(tmp_path, [found])
    plan = tmp_path / "plan.json"
    done = faceaudit("remediate", "plan", str(report), "-o", str(plan), env={})
    assert done.returncode == 0, done.stdout + done.stderr
    return plan


def _apply(plan: Path, vault: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    return faceaudit("remediate", "apply", str(plan), "--vault", str(vault), *extra, env=env or {})


def _left(s3: Any, bucket: str) -> tuple[list[Any], list[Any]]:
    page = s3.list_object_versions(Bucket=bucket, Prefix="photos/a.jpg")
    return page.get("Versions", []), page.get("DeleteMarkers", [])


def _in_vault(vault: Path, vid: str) -> list[bytes]:
    from scanner.remediation import Vault
    from scanner.remediation.stash import unstash

    with Vault.open(vault, create=False) as v:
        entry = v.get("manifest", vid)
        assert entry is not None
        return [unstash(v, p) for p in entry["parts"]]


def test_every_version_erased_then_restored(s3: Any, tmp_path: Path) -> None:
    ids = _versioned(s3)
    plan = _plan(tmp_path, "s3://faces-versioned/photos/a.jpg")
    (item,) = json.loads(plan.read_text())["items"]
    assert item["action"] == "delete"
    jsonschema.validate(json.loads(plan.read_text()), json.loads(SCHEMA.read_text()))
    assert item["object"]["version_id"] == ids[-1] and item["object"]["versions"] == 3
    assert (
        item["object"]["etag"]
        == s3.head_object(Bucket="faces-versioned", Key="photos/a.jpg")["ETag"]
    )
    vault = tmp_path / "vault"
    dry = _apply(plan, vault)
    assert dry.returncode == 0 and "would" in dry.stdout, dry.stdout + dry.stderr
    assert len(_left(s3, "faces-versioned")[0]) == 3  # a dry run touches nothing
    done = _apply(plan, vault, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _left(s3, "faces-versioned") == ([], [])  # no version, no delete marker
    (entry,) = entries(vault, "quarantined")
    assert entry["kind"] == "object" and [p["version_id"] for p in entry["parts"]] == ids
    assert _in_vault(vault, entry["id"]) == VERSIONS  # every version, byte-identical
    # the vault holds them encrypted: no version's bytes in the clear anywhere in it
    for path in vault.rglob("*"):
        if path.is_file():
            assert FACE[:4096] not in path.read_bytes()
    back = faceaudit("remediate", "restore", entry["id"], "--vault", str(vault), env={})
    assert back.returncode == 0, back.stdout + back.stderr
    got = s3.get_object(Bucket="faces-versioned", Key="photos/a.jpg")
    assert got["Body"].read() == VERSIONS[-1] and got["VersionId"] not in ids  # a new version
    assert entries(vault, "restored") and not list((vault / "keys").iterdir())


def test_object_lock_is_blocked_until_its_date(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="faces-locked", ObjectLockEnabledForBucket=True)
    until = datetime(2031, 3, 4, tzinfo=timezone.utc)
    s3.put_object(
        Bucket="faces-locked",
        Key="photos/a.jpg",
        Body=FACE,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    plan = _plan(tmp_path, "s3://faces-locked/photos/a.jpg")
    vault = tmp_path / "vault"
    dry = _apply(plan, vault)
    assert dry.returncode == 3 and "blocked until 2031-03-04T00:00:00Z" in dry.stdout
    done = _apply(plan, vault, "--yes")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "blocked" in done.stdout and "blocked until 2031-03-04T00:00:00Z" in done.stdout
    versions, _ = _left(s3, "faces-locked")
    assert len(versions) == 1  # untouched
    assert not entries(vault) and not list((vault / "keys").iterdir())
    log = (vault / "audit.jsonl").read_text()
    assert '"blocked"' in log  # reported in the audit log too, never hidden


def test_replaced_between_plan_and_apply_is_skipped(s3: Any, tmp_path: Path) -> None:
    _versioned(s3)
    plan = _plan(tmp_path, "s3://faces-versioned/photos/a.jpg")
    s3.put_object(Bucket="faces-versioned", Key="photos/a.jpg", Body=FACE + b"edited")
    vault = tmp_path / "vault"
    done = _apply(plan, vault, "--yes")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "skipped" in done.stdout and "ETag" in done.stdout
    assert len(_left(s3, "faces-versioned")[0]) == 4  # nothing deleted
    assert not entries(vault)


def test_unversioned_bucket_and_other_schemes(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="faces-plain")
    s3.put_object(Bucket="faces-plain", Key="photos/a.jpg", Body=FACE)
    uris = ["s3://faces-plain/photos/a.jpg", "gs://faces/photos/b.jpg"]
    report = write_report(tmp_path, [finding(u, location={"uri": u}) for u in uris])
    plan = tmp_path / "plan.json"
    assert faceaudit("remediate", "plan", str(report), "-o", str(plan), env={}).returncode == 0
    items = {i["path"]: i for i in json.loads(plan.read_text())["items"]}
    assert items["gs://faces/photos/b.jpg"]["action"] == "none"
    assert "gs://" in items["gs://faces/photos/b.jpg"]["reason"]
    assert items["s3://faces-plain/photos/a.jpg"]["object"]["version_id"] is None
    vault = tmp_path / "vault"
    done = _apply(plan, vault, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _left(s3, "faces-plain") == ([], [])
    (entry,) = entries(vault, "quarantined")
    assert _in_vault(vault, entry["id"]) == [FACE]


@pytest.mark.parametrize("state", ["intent", "copied", "verified", "source_removed"])
def test_killed_during_erasure(s3: Any, tmp_path: Path, state: str) -> None:
    _versioned(s3)
    plan = _plan(tmp_path, "s3://faces-versioned/photos/a.jpg")
    vault = tmp_path / "vault"
    killed = _apply(plan, vault, "--yes", env={KILL: f"object:{state}"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    again = _apply(plan, vault, "--yes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "recovered" in again.stderr
    # every version is in exactly one place: the bucket, or the vault (byte-identical)
    versions, markers = _left(s3, "faces-versioned")
    assert not versions and not markers  # the second run finished the work
    (entry,) = entries(vault, "quarantined")
    assert _in_vault(vault, entry["id"]) == VERSIONS
    assert not list((vault / "journal").iterdir()) and not list((vault / "tmp").iterdir())
    assert len(list((vault / "keys").iterdir())) == 3
    assert len(list((vault / "objects").iterdir())) == 3
    assert os.path.isfile(vault / "audit.jsonl")


def test_purge_destroys_every_version_in_the_vault(s3: Any, tmp_path: Path) -> None:
    _versioned(s3)
    uri = "s3://faces-versioned/photos/a.jpg"
    report = write_report(tmp_path, [finding(uri, location={"uri": uri})])
    plan = tmp_path / "plan.json"
    made = faceaudit("remediate", "plan", str(report), "-o", str(plan), "--grace-days", "0", env={})
    assert made.returncode == 0, made.stdout + made.stderr
    vault = tmp_path / "vault"
    assert _apply(plan, vault, "--yes").returncode == 0
    assert len(list((vault / "keys").iterdir())) == 3
    purged = faceaudit("remediate", "purge", "--vault", str(vault), "--yes", env={})
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert not list((vault / "keys").iterdir()) and not list((vault / "objects").iterdir())
    (erasure,) = [json.loads(p.read_text()) for p in (vault / "erasures").iterdir()]
    assert erasure["plan"] == json.loads(plan.read_text())["plan_id"]
    assert uri not in json.dumps(erasure)  # the location only as a salted hash


HOLD_POLICY = """\
schema_version: 1
name: holds
extends: [gdpr]
holds:
  - case: CASE-2026-031
    scope:
      paths: ["evidence/**"]
      databases: ["*#public.faces.photo"]
    reason: Regulator's inquiry; keep the uploads as they are
    owner: legal@acme.example
    start: 2026-01-01
"""


def test_a_legal_hold_keeps_objects_and_rows_out_of_the_plan(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="faces-held")
    for key in ("evidence/a.jpg", "photos/b.jpg"):
        s3.put_object(Bucket="faces-held", Key=key, Body=FACE)
    uris = [
        "s3://faces-held/evidence/a.jpg",
        "s3://faces-held/photos/b.jpg",
        "postgresql://db.example:5432/app#public.faces.photo",
    ]
    report = write_report(tmp_path, [finding(u, location={"uri": u}) for u in uris])
    policy = tmp_path / "holds.yaml"
    policy.write_text(HOLD_POLICY)
    plan = tmp_path / "plan.json"
    made = faceaudit(
        "remediate", "plan", str(report), "-o", str(plan), "--policy", str(policy), env={}
    )
    assert made.returncode == 0, made.stdout + made.stderr
    items = {i["path"]: i for i in json.loads(plan.read_text())["items"]}
    held = items["s3://faces-held/evidence/a.jpg"]
    assert held["action"] == "none" and held["hold"]["case"] == "CASE-2026-031"
    assert items["s3://faces-held/photos/b.jpg"]["action"] == "delete"
    db = items["postgresql://db.example:5432/app#public.faces.photo"]
    assert db["action"] == "none" and db["hold"]["case"] == "CASE-2026-031"


def test_purge_keeps_a_held_object(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="faces-held")
    s3.put_object(Bucket="faces-held", Key="evidence/a.jpg", Body=FACE)
    uri = "s3://faces-held/evidence/a.jpg"
    report = write_report(tmp_path, [finding(uri, location={"uri": uri})])
    plan = tmp_path / "plan.json"
    made = faceaudit("remediate", "plan", str(report), "-o", str(plan), "--grace-days", "0", env={})
    assert made.returncode == 0, made.stdout + made.stderr
    vault = tmp_path / "vault"
    assert _apply(plan, vault, "--yes").returncode == 0  # planned before the hold
    policy = tmp_path / "holds.yaml"
    policy.write_text(HOLD_POLICY)
    args = ("remediate", "purge", "--vault", str(vault), "--policy", str(policy))
    purged = faceaudit(*args, "--yes", env={})
    assert purged.returncode == 0 and "CASE-2026-031" in purged.stdout, purged.stdout
    (entry,) = entries(vault, "quarantined")
    assert _in_vault(vault, entry["id"]) == [FACE]  # kept, whatever its grace period says
