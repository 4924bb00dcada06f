"""The object-store source against a real S3 server (moto's server mode, s3_server.py): faces
found at `s3://` locations, the listing's filters applied before any GET, read-only requests,
archived storage classes reported, versions located, the state reused by listing alone, no
secret anywhere, a missing extra a usage error."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import astronaut, encode, no_face
from reporters.sample import report_validator
from s3_server import S3Server

from scanner import ScanConfig, scan
from scanner.config import Limits
from scanner.errors import ConfigError
from scanner.model import EvidenceKind, ObjectLocation, ProblemReason
from scanner.policy.judgement import Judgement
from scanner.policy.loader import load_policy
from scanner.reporters import json_report
from scanner.sources import display
from scanner.sources.base import ItemChanged
from scanner.sources.object_read import ObjectRef
from scanner.sources.object_stores import ATTEMPTS, RETRIES, ObjectTarget
from scanner.state.store import StateDB

SECRET = "Sx9PlantedSecretKeyNeverShown0123456789abcd"
FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    s = S3Server()
    yield s
    s.stop()


@pytest.fixture
def s3(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """A boto3 client on the emptied server; the scanner finds it by the standard AWS
    environment (AWS_ENDPOINT_URL_S3 and keys), whose secret key is the planted secret."""
    import boto3
    import s3fs

    server.reset()
    server.use(monkeypatch, SECRET, tmp_path / "none")
    client = boto3.client("s3", endpoint_url=server.url)
    yield client
    s3fs.S3FileSystem.clear_instance_cache()


def _zip(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(name, data)
    return out.getvalue()


FACE = encode(astronaut(), "JPEG")
COFFEE = encode(no_face(), "JPEG")


def _sqlite_image() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "kiosk.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE visitors (id INTEGER PRIMARY KEY, photo BLOB)")
        conn.execute("INSERT INTO visitors (photo) VALUES (?)", (FACE,))
        conn.commit()
        conn.close()
        return path.read_bytes()


def _fill(s3: Any) -> None:
    s3.create_bucket(Bucket="uploads")
    put = s3.put_object
    put(Bucket="uploads", Key="people/face.jpg", Body=FACE)
    put(Bucket="uploads", Key="things/coffee.jpg", Body=COFFEE)
    put(Bucket="uploads", Key="notes/fake.jpg", Body=b"\x00\xfe not a picture" * 1000)
    put(
        Bucket="uploads",
        Key="backups/old.zip",
        Body=_zip("badges/face.png", encode(astronaut(), "PNG")),
    )
    put(Bucket="uploads", Key="cold/face.jpg", Body=FACE, StorageClass="GLACIER")
    put(Bucket="uploads", Key="raw/blob.bin", Body=os.urandom(len(FACE) + 1000))
    put(Bucket="uploads", Key="apps/kiosk", Body=_sqlite_image())  # no extension


def _gets(server: S3Server) -> dict[str, list[str | None]]:
    """The object GETs the server saw: key -> their Range headers (None: the whole object)."""
    out: dict[str, list[str | None]] = {}
    for r in server.requests():
        parts = r.path.lstrip("/").split("/", 1)
        if r.method == "GET" and len(parts) == 2 and parts[1]:
            out.setdefault(parts[1], []).append(r.range)
    return out


def test_faces_are_found_at_s3_locations_with_archived_objects_reported(
    s3: Any, server: S3Server
) -> None:
    _fill(s3)
    server.clear_log()
    result = scan(ScanConfig(targets=["s3://uploads"], workers=2))
    found = {i.location.display: {e.kind for e in i.evidence} for i in result.items}
    assert found == {
        "s3://uploads/people/face.jpg": {EvidenceKind.FACE_IMAGE},
        "s3://uploads/backups/old.zip!/badges/face.png": {EvidenceKind.FACE_IMAGE},
        "s3://uploads/apps/kiosk#visitors.photo": {EvidenceKind.FACE_IMAGE},
    }
    face = next(i for i in result.items if i.location.display.endswith("people/face.jpg"))
    assert face.location == ObjectLocation("s3://uploads", "people/face.jpg")
    listed = s3.head_object(Bucket="uploads", Key="people/face.jpg")["LastModified"]
    assert face.mtime_ns == int(listed.timestamp()) * 1_000_000_000
    problems = {p.location.display: (p.reason, p.detail) for p in result.problems}
    assert problems["s3://uploads/cold/face.jpg"][0] is ProblemReason.ARCHIVED_OBJECT
    assert "GLACIER" in problems["s3://uploads/cold/face.jpg"][1]
    # content sniffed, not the extension: a text object named .jpg is not decoded
    assert problems["s3://uploads/notes/fake.jpg"][0] is ProblemReason.DECODE_ERROR
    assert result.incomplete and result.targets == ("s3://uploads",)
    gets = _gets(server)
    assert "cold/face.jpg" not in gets  # never restored, never read
    assert gets["raw/blob.bin"] == ["bytes=0-4095"]  # unknown content: one ranged GET only
    # one GET for what is named like content read whole (its bytes still decide what it is)
    assert gets["people/face.jpg"] == [None]
    assert gets["notes/fake.jpg"] == [None]
    # a recognised object under a name that does not say so: its first bytes, then whole
    assert gets["apps/kiosk"] == ["bytes=0-4095", None]
    # read-only: listing and GETs, nothing else
    assert {r.method for r in server.requests()} <= {"GET", "HEAD"}


def test_globs_size_and_since_apply_before_any_object_is_read(s3: Any, server: S3Server) -> None:
    _fill(s3)
    server.clear_log()
    config = ScanConfig(
        targets=["s3://uploads/people", "s3://uploads/things", "s3://uploads/raw"],
        include=("*.jpg", "*.bin"),
        exclude=("coffee.*",),
        limits=Limits(max_file_bytes=len(FACE)),
        workers=0,
    )
    result = scan(config)
    assert [i.location.display for i in result.items] == ["s3://uploads/people/face.jpg"]
    oversize = [p for p in result.problems if p.reason is ProblemReason.OVERSIZE]
    assert [p.location.display for p in oversize] == ["s3://uploads/raw/blob.bin"]
    assert set(_gets(server)) == {"people/face.jpg"}  # nor the excluded, nor the oversize
    server.clear_log()
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    quiet = scan(ScanConfig(targets=["s3://uploads"], since=later, workers=0))
    assert quiet.items == () and _gets(server) == {}  # --since: decided on LastModified


def test_a_versioned_bucket_locates_the_current_version(s3: Any, server: S3Server) -> None:
    s3.create_bucket(Bucket="badges")
    s3.put_bucket_versioning(Bucket="badges", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="badges", Key="2019/a.jpg", Body=COFFEE)
    current = s3.put_object(Bucket="badges", Key="2019/a.jpg", Body=FACE)["VersionId"]
    before = s3.list_object_versions(Bucket="badges")["Versions"]
    result = scan(ScanConfig(targets=["s3://badges/2019"], workers=2))
    [item] = result.items
    assert item.location == ObjectLocation("s3://badges", "2019/a.jpg", current)
    assert item.location.display == "s3://badges/2019/a.jpg"
    assert {e.kind for e in item.evidence} == {EvidenceKind.FACE_IMAGE}
    after = s3.list_object_versions(Bucket="badges")["Versions"]
    assert [(v["VersionId"], v["ETag"]) for v in after] == [
        (v["VersionId"], v["ETag"]) for v in before
    ]
    # the JSON report (schema 1.5) names the version that was read beside the path
    doc = json.loads(json_report.render(result))
    report_validator().validate(doc)
    assert doc["items"][0]["location"] == {
        "path": "s3://badges/2019/a.jpg",
        "members": [],
        "version_id": current,
    }


def test_an_unchanged_bucket_rescans_by_listing_alone(
    s3: Any, server: S3Server, tmp_path: Path
) -> None:
    _fill(s3)
    with StateDB(tmp_path / "state.db") as db:
        first = scan(ScanConfig(targets=["s3://uploads"], workers=2), state=db)
    server.clear_log()
    with StateDB(tmp_path / "state.db") as db:
        again = scan(ScanConfig(targets=["s3://uploads"], workers=2), state=db)
    # the listing only; an object whose look was incomplete is looked at again, as a file is
    assert _gets(server) == {"notes/fake.jpg": [None]}
    assert [i.location for i in again.items] == [i.location for i in first.items]
    s3.put_object(Bucket="uploads", Key="things/coffee.jpg", Body=FACE)  # replaced: new ETag
    server.clear_log()
    with StateDB(tmp_path / "state.db") as db:
        third = scan(ScanConfig(targets=["s3://uploads"], workers=2), state=db)
    assert set(_gets(server)) == {"things/coffee.jpg", "notes/fake.jpg"}
    assert "s3://uploads/things/coffee.jpg" in {i.location.display for i in third.items}


def test_the_secret_key_appears_nowhere(s3: Any, server: S3Server, tmp_path: Path) -> None:
    _fill(s3)
    state, report = tmp_path / "state.db", tmp_path / "report.json"
    proc = subprocess.run(
        [
            FACEAUDIT,
            "scan",
            "s3://uploads",
            "s3://missing-bucket",
            "-j",
            "1",
            "-f",
            "json",
            "-o",
            str(report),
            "--state",
            str(state),
        ],
        capture_output=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    doc = json.loads(report.read_text())
    assert "s3://uploads/people/face.jpg" in {i["path"] for i in doc["items"]}
    assert "missing_target" in {p["reason"] for p in doc["problems"]}
    outputs = proc.stdout + proc.stderr + report.read_bytes()
    for path in tmp_path.iterdir():
        if path.name.startswith("state.db"):
            outputs += path.read_bytes()
    assert SECRET.encode() not in outputs


def test_a_missing_extra_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['s3fs'] = None\n"
        "from scanner.cli import main\n"
        "sys.argv = ['faceaudit', 'scan', 's3://uploads/photos']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "need faceaudit's [s3] extra: pip install s3fs" in proc.stderr


def test_targets_never_carry_credentials_and_options_are_not_displayed() -> None:
    with pytest.raises(ConfigError) as caught:
        display(f"s3://AKIA:{SECRET}@uploads/x")
    assert SECRET not in str(caught.value)
    assert display("s3://uploads/people/?anonymous=true&profile=audit") == "s3://uploads/people"
    with pytest.raises(ConfigError, match="unknown option 'token'"):
        display("s3://uploads?token=abc")


def test_anonymous_access_sends_no_credentials(s3: Any, server: S3Server) -> None:
    s3.create_bucket(Bucket="public-photos")
    s3.put_object(Bucket="public-photos", Key="a.jpg", Body=FACE, ACL="public-read")
    server.clear_log()
    result = scan(ScanConfig(targets=["s3://public-photos?anonymous=true"], workers=0))
    assert [i.location.display for i in result.items] == ["s3://public-photos/a.jpg"]
    assert result.targets == ("s3://public-photos",)
    sent = server.requests()
    assert sent and not any(r.signed for r in sent)
    server.clear_log()
    scan(ScanConfig(targets=["s3://public-photos"], workers=0))
    assert all(r.signed for r in server.requests())
    # a private object read anonymously: denied, reported, the scan incomplete
    s3.put_object(Bucket="public-photos", Key="private.jpg", Body=FACE)
    denied = scan(ScanConfig(targets=["s3://public-photos?anonymous=true"], workers=2))
    assert [(p.location.display, p.reason, p.detail) for p in denied.problems] == [
        ("s3://public-photos/private.jpg", ProblemReason.UNREADABLE_FILE, "access denied")
    ]
    assert denied.incomplete


# docs/objects.md's least-privilege policy, for the bucket `shared` and its `public/` prefix;
# moto 5.2 checks a listing under its operation's name (s3:ListObjectsV2,
# s3:ListObjectVersions), not the IAM action's, so both are allowed
AUDITOR_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:ListObjectsV2",
                "s3:ListObjectVersions",
            ],
            "Resource": "arn:aws:s3:::shared",
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": "arn:aws:s3:::shared/public/*",
        },
    ],
}


def test_denied_prefixes_and_objects_are_reported_and_the_scan_goes_on(
    s3: Any, server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto enforcing IAM: a user may list `shared` and read only its `public/` prefix, and
    may not list `closed`. Every object under `private/` is reported denied, the `closed`
    target's listing is reported denied, and what is allowed is scanned: exit 3. (moto does
    not evaluate policy conditions such as `s3:prefix`, so a listing denied for one prefix
    of a listable bucket is tested at the bucket's scope.)"""
    import boto3
    import s3fs

    for bucket in ("shared", "closed"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="shared", Key="public/a.jpg", Body=FACE)
    s3.put_object(Bucket="shared", Key="private/b.jpg", Body=FACE)
    s3.put_object(Bucket="shared", Key="private/c.jpg", Body=COFFEE)
    s3.put_object(Bucket="closed", Key="2019/x.jpg", Body=FACE)
    iam = boto3.client("iam", endpoint_url=server.url)
    iam.create_user(UserName="auditor")
    iam.put_user_policy(
        UserName="auditor", PolicyName="faceaudit", PolicyDocument=json.dumps(AUDITOR_POLICY)
    )
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    s3fs.S3FileSystem.clear_instance_cache()
    server.enforce_iam(True)
    try:
        result = scan(ScanConfig(targets=["s3://shared", "s3://closed/2019"], workers=2))
    finally:
        server.enforce_iam(False)
    assert [i.location.display for i in result.items] == ["s3://shared/public/a.jpg"]
    assert [(p.location.display, p.reason, p.detail) for p in result.problems] == [
        ("s3://closed/2019", ProblemReason.UNREADABLE_DIRECTORY, "access denied (listing)"),
        ("s3://shared/private/b.jpg", ProblemReason.UNREADABLE_FILE, "access denied"),
        ("s3://shared/private/c.jpg", ProblemReason.UNREADABLE_FILE, "access denied"),
    ]
    assert result.incomplete and result.exit_code == 3


def test_an_object_deleted_or_replaced_after_listing_is_a_change(s3: Any) -> None:
    s3.create_bucket(Bucket="churn")
    s3.put_object(Bucket="churn", Key="a.jpg", Body=FACE)
    s3.put_object(Bucket="churn", Key="b.jpg", Body=FACE)
    target = ObjectTarget.parse("s3://churn")
    gone = ObjectRef(target, "a.jpg", None, len(FACE), 1 << 30)
    replaced = ObjectRef(target, "b.jpg", None, len(FACE), 1 << 30)
    s3.delete_object(Bucket="churn", Key="a.jpg")
    s3.put_object(Bucket="churn", Key="b.jpg", Body=COFFEE)
    with pytest.raises(ItemChanged, match="deleted"):
        gone.open()
    with pytest.raises(ItemChanged, match="replaced"):
        replaced.open()


def _put(s3: Any, bucket: str, key: str, body: bytes, *, multipart: bool) -> None:
    """`body` under `key`, by one PUT or by a multipart upload (one part: an ETag `"…-1"`)."""
    if not multipart:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=body)
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload=parts)
    assert s3.head_object(Bucket=bucket, Key=key)["ETag"].endswith('-1"')


@pytest.mark.parametrize("multipart", [False, True])
def test_an_object_overwritten_in_a_bucket_never_versioned_is_a_change(
    s3: Any, server: S3Server, multipart: bool
) -> None:
    """No version id to name: each GET carries the listed ETag as an If-Match condition (a
    multipart upload's too). An object overwritten between the listing and its GET by one of
    the same size (only the ETag tells) is a change, never read in its place; the others are
    read as listed."""
    s3.create_bucket(Bucket="plain")
    _put(s3, "plain", "a.jpg", FACE, multipart=multipart)
    _put(s3, "plain", "b.jpg", FACE, multipart=multipart)
    gets: list[str | None] = []

    def before_get(request: Any) -> None:
        if request.path == "/plain/a.jpg":
            gets.append(request.range)
            if len(gets) == 1:
                s3.put_object(Bucket="plain", Key="a.jpg", Body=bytes(reversed(FACE)))

    server.before_get = before_get
    result = scan(ScanConfig(targets=["s3://plain"], workers=0))
    assert gets == [None]  # one GET, of the whole object, refused
    assert [(p.location.display, p.reason, p.detail) for p in result.problems] == [
        (
            "s3://plain/a.jpg",
            ProblemReason.CHANGED_DURING_SCAN,
            "the object was replaced since it was listed",
        )
    ]
    found = {i.location.display: {e.kind for e in i.evidence} for i in result.items}
    assert found == {"s3://plain/b.jpg": {EvidenceKind.FACE_IMAGE}}
    assert result.incomplete and result.exit_code == 3


def test_an_s3fs_without_its_private_retry_helper_still_pins_and_reads(
    s3: Any, server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 reads go through s3fs's private retry helper (what cat_file uses); an s3fs release
    without it must still read, pin by ETag and tell a replaced object apart."""
    from scanner.sources import object_stores

    monkeypatch.setattr(object_stores, "_S3FS_RETRIES", "_renamed_in_a_later_s3fs")
    s3.create_bucket(Bucket="bare")
    s3.put_object(Bucket="bare", Key="a.jpg", Body=FACE)
    s3.put_object(Bucket="bare", Key="b.jpg", Body=FACE)

    def before_get(request: Any) -> None:
        if request.path == "/bare/a.jpg":
            s3.put_object(Bucket="bare", Key="a.jpg", Body=bytes(reversed(FACE)))

    server.before_get = before_get
    result = scan(ScanConfig(targets=["s3://bare"], workers=0))
    assert [(p.location.display, p.reason) for p in result.problems] == [
        ("s3://bare/a.jpg", ProblemReason.CHANGED_DURING_SCAN)
    ]
    found = {i.location.display: {e.kind for e in i.evidence} for i in result.items}
    assert found == {"s3://bare/b.jpg": {EvidenceKind.FACE_IMAGE}}


def test_throttling_is_retried_by_the_client_and_bounded(s3: Any, server: S3Server) -> None:
    s3.create_bucket(Bucket="busy")
    s3.put_object(Bucket="busy", Key="a.jpg", Body=FACE)
    server.clear_log()
    server.throttle = 2  # the first two GETs of the object: 503 SlowDown
    result = scan(ScanConfig(targets=["s3://busy"], workers=0))
    assert [i.location.display for i in result.items] == ["s3://busy/a.jpg"]
    assert not result.incomplete
    assert len(_gets(server)["a.jpg"]) == 3  # 2 refused, then the whole object
    server.throttle = 1000  # a store that never recovers: a bounded wait, then a problem
    again = scan(ScanConfig(targets=["s3://busy"], workers=0))
    assert [(p.reason, p.detail) for p in again.problems] == [
        (
            ProblemReason.UNREADABLE_FILE,
            "the store kept throttling (503 SlowDown) through every retry",
        )
    ]
    assert again.incomplete and 1000 - server.throttle <= 4 * RETRIES * ATTEMPTS


BADGES_POLICY = """\
schema_version: 1
name: badges
extends: [gdpr]
stores:
  - id: badges
    paths: ["s3://hr-badges/2019/**"]
    kinds: [face_image]
    purpose: building access
    legal_basis: [gdpr-9-2-b]
    retention: {period: P1Y, from: creation}
    region: [FR]
    owner: security@example.org
    dpia: DPIA-7
    retention_schedule_url: https://example.org/retention
"""


def test_policies_name_buckets_and_date_objects_by_last_modified(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(Bucket="hr-badges")
    s3.put_object(Bucket="hr-badges", Key="2019/a.jpg", Body=FACE)
    s3.put_object(Bucket="hr-badges", Key="2020/b.jpg", Body=FACE)
    listed = s3.head_object(Bucket="hr-badges", Key="2019/a.jpg")["LastModified"]
    (tmp_path / "policy.yaml").write_text(BADGES_POLICY)
    judgement = Judgement(load_policy(tmp_path / "policy.yaml"), as_of=listed + timedelta(days=800))
    result = scan(ScanConfig(targets=["s3://hr-badges"], workers=0), judgement=judgement)
    retention = [f for f in result.findings if f.rule_id == "GDPR-5-1-E-RETENTION"]
    assert [(f.store, f.location.display) for f in retention] == [
        ("badges", "s3://hr-badges/2019/a.jpg")
    ]
    assert f"created {listed.date().isoformat()}" in retention[0].message
