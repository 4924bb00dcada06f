"""The issue's "done when": the same labelled tree — a subset of the development set
(../shared/data/faces-dev, read in place and copied to a temporary folder and the buckets,
never into the repository) with its real embedding files, a zip of photos and a few other
files — scanned from the disk and from each real server (moto S3, fake-gcs-server, Azurite)
gives the same items, with the same evidence (kind, detector, faces, boxes, details), at the
same locations but for the scheme and root."""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from object_servers import AzuriteServer, GCSServer
from s3_server import S3Server

from scanner import ScanConfig, scan
from scanner.model import ScanResult


@pytest.fixture(scope="module")
def tree(devset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """key -> bytes: every fifth labelled photo (faces and no faces), every embedding file,
    a zip of two photos, a text note and random bytes."""
    with open(devset / "manifest.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["path"])
    photos = [r for r in rows if r["kind"] in {"face_image", "no_face_image"}][::5]
    out = {f"photos/{r['path']}": (devset / r["path"]).read_bytes() for r in photos[:24]}
    for r in rows:
        if r["kind"] == "embedding_file":
            out[f"models/{r['path']}"] = (devset / r["path"]).read_bytes()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for key in list(out)[:2]:
            zf.writestr(key.rsplit("/", 1)[-1], out[key])
    out["backups/photos.zip"] = archive.getvalue()
    out["notes/readme.txt"] = b"badge photos are kept for one year\n"
    out["raw/blob.bin"] = os.urandom(5000)
    return out


def _found(result: ScanResult, root: str) -> list[tuple[Any, ...]]:
    found = []
    for item in result.items:
        display = item.location.display
        assert display.startswith(root), display
        evidence = tuple(
            (e.kind.value, e.detector, e.faces, e.boxes, e.details) for e in item.evidence
        )
        found.append((display[len(root) :], evidence))
    return sorted(found)


@pytest.fixture(scope="module")
def on_disk(tree: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("tree")
    for key, data in tree.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    result = scan(ScanConfig(targets=[root], workers=2))
    return _found(result, f"{root}/"), result


def _s3(tree: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    import boto3
    import s3fs

    server = S3Server()
    server.use(monkeypatch, "parity", tmp_path / "none")
    client = boto3.client("s3", endpoint_url=server.url)
    client.create_bucket(Bucket="parity")
    for key, data in tree.items():
        client.put_object(Bucket="parity", Key=key, Body=data)
    try:
        yield "s3://parity"
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()


def _gcs(tree: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    import gcsfs.core

    server = GCSServer()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    gcsfs.core.GCSFileSystem.clear_instance_cache()
    fs = gcsfs.core.GCSFileSystem(token="anon", skip_instance_cache=True)
    fs.mkdir("parity")
    for key, data in tree.items():
        fs.pipe_file(f"parity/{key}", data)
    try:
        yield "gs://parity?anonymous=true"
    finally:
        gcsfs.core.GCSFileSystem.clear_instance_cache()
        server.stop()


def _azure(
    tree: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    import base64

    import adlfs
    from azure.storage.blob import BlobServiceClient

    server = AzuriteServer("parity", base64.b64encode(b"parity test account key").decode())
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server.connection_string)
    adlfs.AzureBlobFileSystem.clear_instance_cache()
    service = BlobServiceClient.from_connection_string(server.connection_string)
    service.create_container("parity")
    for key, data in tree.items():
        service.get_blob_client("parity", key).upload_blob(data)
    try:
        yield "az://parity"
    finally:
        adlfs.AzureBlobFileSystem.clear_instance_cache()
        server.stop()


@pytest.mark.parametrize("scheme", ["s3", "gs", "az"])
def test_a_bucket_scans_like_the_same_tree_on_disk(
    scheme: str,
    tree: dict[str, bytes],
    on_disk: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    disk, disk_result = on_disk
    kinds = {e[0] for _, evidence in disk for e in evidence}
    assert {"face_image", "face_embedding"} <= kinds  # the tree holds what it should
    assert any("!/" in where for where, _ in disk)  # and a zip member
    server = {"s3": _s3, "gs": _gcs, "az": _azure}[scheme](tree, monkeypatch, tmp_path)
    target = next(server)
    try:
        result = scan(ScanConfig(targets=[target], workers=2))
    finally:
        next(server, None)
    bucket = target.split("?", 1)[0]
    assert _found(result, f"{bucket}/") == disk
    assert result.stats.items_scanned == disk_result.stats.items_scanned
    assert dict(result.stats.by_content_type) == dict(disk_result.stats.by_content_type)
    problems = sorted((p.location.display[len(bucket) + 1 :], p.reason) for p in result.problems)
    root = disk_result.targets[0].rstrip("/") + "/"
    assert problems == sorted(
        (p.location.display[len(root) :], p.reason) for p in disk_result.problems
    )
