"""The object-store source against real GCS and Azure Blob servers (object_servers.py):
fake-gcs-server reached through STORAGE_EMULATOR_HOST, Azurite reached by a connection string.
The same checks on both: faces found at `gs://` / `az://` locations, content sniffed rather
than trusted from the name, the listing's filters applied before any GET, nothing written
(every object's generation / ETag and the listing compared before and after), no planted
secret anywhere. The scanner only sees each ecosystem's own environment."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from helpers import astronaut, encode, no_face
from object_servers import AzuriteServer, GCSServer, ResettingProxy

from scanner import ScanConfig, scan
from scanner.config import Limits
from scanner.model import EvidenceKind, ObjectLocation, ProblemReason
from scanner.sources.object_stores import ObjectTarget, filesystem
from scanner.state.store import StateDB

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
FACE = encode(astronaut(), "JPEG")
COFFEE = encode(no_face(), "JPEG")
# planted secrets: the Azure account key, and the OAuth token of Google's default credentials
AZURE_KEY = base64.b64encode(b"faceaudit planted azure account key, never shown").decode()
GCS_TOKEN = "ya29.PlantedGoogleAccessTokenNeverShown0123456789"
GCS_REFRESH = "1//PlantedGoogleRefreshTokenNeverShown"


@dataclass
class Store:
    """One server as the tests drive it: the scheme, writing and snapshotting through the
    store's own client, and the object GETs it logged."""

    scheme: str
    secret: str
    mkbucket: Callable[[str], None]
    put: Callable[[str, bytes], None]  # "bucket/key", data
    snapshot: Callable[[str], dict[str, tuple[str, ...]]]  # bucket -> {key: (etag, version..)}
    requests: Callable[[], list[tuple[str, str]]]

    def gets(self, bucket: str) -> dict[str, int]:
        """Object GETs the server saw since `mark()`: key -> how many."""
        out: dict[str, int] = {}
        for method, url in self.requests()[self._mark :]:
            key = _object_key(self.scheme, bucket, url)
            if method == "GET" and key:
                out[key] = out.get(key, 0) + 1
        return out

    def methods(self) -> set[str]:
        return {m for m, _ in self.requests()[self._mark :]}

    def mark(self) -> None:
        self._mark = len(self.requests())

    _mark: int = 0


def _object_key(scheme: str, bucket: str, url: str) -> str | None:
    path = url.split("?", 1)[0]
    if scheme == "gs":
        prefix = f"/download/storage/v1/b/{bucket}/o/"
        return unquote(path[len(prefix) :]) if path.startswith(prefix) else None
    parts = path.split("/", 5)  # http: '' host account container key
    if len(parts) == 6 and parts[4] == bucket and "comp=" not in url and "restype=" not in url:
        return unquote(parts[5])
    return None


@pytest.fixture(scope="module")
def gcs_server() -> Iterator[GCSServer]:
    s = GCSServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def azure_server() -> Iterator[AzuriteServer]:
    s = AzuriteServer("faceaudit", AZURE_KEY)
    yield s
    s.stop()


def _gcs(server: GCSServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Store:
    import gcsfs.core

    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "faceaudit.apps.googleusercontent.com",
                "client_secret": GCS_REFRESH,
                "refresh_token": GCS_REFRESH,
                "token": GCS_TOKEN,
                "expiry": "2099-01-01T00:00:00Z",
            }
        )
    )
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    gcsfs.core.GCSFileSystem.clear_instance_cache()

    def client() -> Any:
        return gcsfs.core.GCSFileSystem(token="anon", skip_instance_cache=True)

    def snapshot(bucket: str) -> dict[str, tuple[str, ...]]:
        listing = client().find(bucket, detail=True)
        return {
            k: (v["etag"], v["generation"], v["metageneration"], v["updated"])
            for k, v in listing.items()
        }

    return Store(
        "gs",
        GCS_TOKEN,
        lambda b: client().mkdir(b),
        lambda path, data: client().pipe_file(path, data),
        snapshot,
        server.requests,
    )


def _azure(server: AzuriteServer, monkeypatch: pytest.MonkeyPatch) -> Store:
    import adlfs
    from azure.storage.blob import BlobServiceClient

    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", server.connection_string)
    adlfs.AzureBlobFileSystem.clear_instance_cache()
    service = BlobServiceClient.from_connection_string(server.connection_string)

    def put(path: str, data: bytes) -> None:
        container, key = path.split("/", 1)
        service.get_blob_client(container, key).upload_blob(data, overwrite=True)

    def snapshot(container: str) -> dict[str, tuple[str, ...]]:
        blobs = service.get_container_client(container).list_blobs(include=["metadata"])
        return {
            b.name: (b.etag, b.last_modified.isoformat(), str(b.size), str(b.blob_tier))
            for b in blobs
        }

    return Store(
        "az",
        AZURE_KEY,
        lambda c: service.create_container(c) and None,
        put,
        snapshot,
        server.requests,
    )


@pytest.fixture(params=["gs", "az"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Store:
    if request.param == "gs":
        return _gcs(request.getfixturevalue("gcs_server"), monkeypatch, tmp_path)
    return _azure(request.getfixturevalue("azure_server"), monkeypatch)


_COUNTER = iter(range(1_000_000))


def _bucket(name: str) -> str:
    """A fresh bucket (container) name per test: the servers live for the module."""
    return f"{name}-{os.getpid()}-{next(_COUNTER)}"


def _zip(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(name, data)
    return out.getvalue()


def _fill(store: Store, bucket: str) -> None:
    store.mkbucket(bucket)
    store.put(f"{bucket}/people/face.jpg", FACE)
    store.put(f"{bucket}/things/coffee.jpg", COFFEE)
    store.put(f"{bucket}/notes/fake.jpg", b"\x00\xfe not a picture" * 1000)
    store.put(f"{bucket}/backups/old.zip", _zip("badges/face.png", encode(astronaut(), "PNG")))
    store.put(f"{bucket}/raw/blob.bin", os.urandom(len(FACE) + 1000))


def test_faces_are_found_and_nothing_is_written(store: Store) -> None:
    bucket = _bucket("uploads")
    _fill(store, bucket)
    before = store.snapshot(bucket)
    store.mark()
    result = scan(ScanConfig(targets=[f"{store.scheme}://{bucket}"], workers=2))
    root = f"{store.scheme}://{bucket}"
    found = {i.location.display: {e.kind for e in i.evidence} for i in result.items}
    assert found == {
        f"{root}/people/face.jpg": {EvidenceKind.FACE_IMAGE},
        f"{root}/backups/old.zip!/badges/face.png": {EvidenceKind.FACE_IMAGE},
    }
    face = next(i for i in result.items if i.location.display.endswith("people/face.jpg"))
    assert face.location == ObjectLocation(root, "people/face.jpg")
    assert face.mtime_ns is not None
    assert abs(face.mtime_ns / 1e9 - time.time()) < 3600  # the listing's last-modified
    problems = {p.location.display: p.reason for p in result.problems}
    # content sniffed, not the name: a non-image named .jpg is not decoded as one
    assert problems == {f"{root}/notes/fake.jpg": ProblemReason.DECODE_ERROR}
    gets = store.gets(bucket)
    assert gets["notes/fake.jpg"] == 1 and gets["raw/blob.bin"] == 1  # one ranged GET
    assert gets["people/face.jpg"] == 1  # named like an image: one GET, sniffed from its bytes
    # read-only: only GETs (listing and reads), and every object's ETag / generation as before
    assert store.methods() <= {"GET", "HEAD"}
    assert store.snapshot(bucket) == before


def test_globs_size_and_since_apply_before_any_object_is_read(store: Store) -> None:
    bucket = _bucket("filtered")
    _fill(store, bucket)
    store.mark()
    root = f"{store.scheme}://{bucket}"
    config = ScanConfig(
        targets=[f"{root}/people", f"{root}/things", f"{root}/raw"],
        include=("*.jpg", "*.bin"),
        exclude=("coffee.*",),
        limits=Limits(max_file_bytes=len(FACE)),
        workers=0,
    )
    result = scan(config)
    assert [i.location.display for i in result.items] == [f"{root}/people/face.jpg"]
    oversize = [p for p in result.problems if p.reason is ProblemReason.OVERSIZE]
    assert [p.location.display for p in oversize] == [f"{root}/raw/blob.bin"]
    assert set(store.gets(bucket)) == {"people/face.jpg"}
    store.mark()
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    quiet = scan(ScanConfig(targets=[root], since=later, workers=0))
    assert quiet.items == () and store.gets(bucket) == {}


def test_an_unchanged_bucket_rescans_by_listing_alone(store: Store, tmp_path: Path) -> None:
    bucket = _bucket("state")
    _fill(store, bucket)
    root = f"{store.scheme}://{bucket}"
    with StateDB(tmp_path / "state.db") as db:
        scan(ScanConfig(targets=[root], workers=0), state=db)
    store.mark()
    with StateDB(tmp_path / "state.db") as db:
        scan(ScanConfig(targets=[root], workers=0), state=db)
    assert store.gets(bucket) == {"notes/fake.jpg": 1}  # its look was incomplete: again
    store.put(f"{bucket}/things/coffee.jpg", FACE)  # replaced: a new ETag
    store.mark()
    with StateDB(tmp_path / "state.db") as db:
        third = scan(ScanConfig(targets=[root], workers=0), state=db)
    assert set(store.gets(bucket)) == {"things/coffee.jpg", "notes/fake.jpg"}
    assert f"{root}/things/coffee.jpg" in {i.location.display for i in third.items}


def test_the_planted_secret_appears_nowhere(store: Store, tmp_path: Path) -> None:
    bucket = _bucket("secret")
    _fill(store, bucket)
    fs = filesystem(ObjectTarget.parse(f"{store.scheme}://{bucket}"))
    if store.scheme == "gs":  # the planted token is what the scanner sends
        assert fs.credentials.method == "google_default"
        # gcsfs's core class: its newer default first calls the Storage Control API (gRPC)
        assert (type(fs).__module__, type(fs).__name__) == ("gcsfs.core", "GCSFileSystem")
    else:  # the planted key signs its requests
        assert AZURE_KEY in fs.connection_string
    state, report = tmp_path / "state.db", tmp_path / "report.json"
    root = f"{store.scheme}://{bucket}"
    argv = [FACEAUDIT, "scan", root, f"{store.scheme}://missing-{bucket}", "-j", "1"]
    argv += ["-f", "json", "-o", str(report), "--state", str(state)]
    proc = subprocess.run(
        argv,
        capture_output=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=str(tmp_path)),
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    doc = json.loads(report.read_text())
    assert f"{root}/people/face.jpg" in {i["path"] for i in doc["items"]}
    assert "missing_target" in {p["reason"] for p in doc["problems"]}
    outputs = proc.stdout + proc.stderr + report.read_bytes()
    for path in tmp_path.iterdir():
        if path.name.startswith("state.db"):
            outputs += path.read_bytes()
    assert store.secret.encode() not in outputs
    assert GCS_REFRESH.encode() not in outputs


def test_an_azure_archive_blob_is_reported_not_rehydrated(
    azure_server: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.blob import BlobServiceClient

    store = _azure(azure_server, monkeypatch)
    container = _bucket("cold")
    store.mkbucket(container)
    store.put(f"{container}/badges/face.jpg", FACE)
    service = BlobServiceClient.from_connection_string(azure_server.connection_string)
    service.get_blob_client(container, "badges/face.jpg").set_standard_blob_tier("Archive")
    before = store.snapshot(container)
    result = scan(ScanConfig(targets=[f"az://{container}"], workers=0))
    assert result.items == () and result.incomplete
    assert [(p.location.display, p.detail) for p in result.problems] == [
        (
            f"az://{container}/badges/face.jpg",
            "Azure Archive tier: not readable without a rehydration, which a scan never asks for",
        )
    ]
    assert store.snapshot(container) == before  # still archived: never rehydrated


def test_an_interrupted_listing_resumes_after_its_last_complete_page(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C after five objects of nine, listed two a page: the next scan lists from after
    the fourth key, the last of the last complete page (GCS `startOffset`, Azure's
    continuation marker), reads only what follows, and reports what a scan from the start
    reports."""
    from scanner.sources import object_stores

    monkeypatch.setattr(object_stores, "PAGE_SIZE", 2)
    bucket = _bucket("resume")
    store.mkbucket(bucket)
    keys = [f"p/{n}.jpg" for n in range(9)]
    for n, key in enumerate(keys):
        store.put(f"{bucket}/{key}", FACE if n % 4 == 0 else COFFEE)
    target = f"{store.scheme}://{bucket}"
    reference = scan(ScanConfig(targets=[target], workers=0))
    assert len(reference.items) == 3

    def stop_after_five(progress: Any) -> None:
        if progress.done >= 5:
            raise KeyboardInterrupt

    state = tmp_path / "state.db"
    with StateDB(state) as db:
        cut = scan(ScanConfig(targets=[target], workers=0), state=db, progress=stop_after_five)
    assert cut.interrupted
    store.mark()
    with StateDB(state) as db:
        resumed = scan(ScanConfig(targets=[target], workers=0), state=db)
    # the fifth object, looked at before the interruption, is saved (unchanged: not read
    # again) though its page was not complete; what came after it is read
    assert set(store.gets(bucket)) == set(keys[5:])
    listings = [u for m, u in store.requests()[store._mark :] if m == "GET" and "/o/" not in u]
    listings = [u for u in listings if ("startOffset" in u or "marker=" in u)]
    assert listings, "the listing did not start after the mark"

    def found(result: Any) -> list[tuple[str, int]]:
        return [(i.location.display, sum(e.faces for e in i.evidence)) for i in result.items]

    assert found(resumed) == found(reference)
    assert not resumed.incomplete


def _listed(store: Store, bucket: str, key: str, data: bytes, *, put: bool = True) -> Any:
    """A reference to `bucket/key` pinned as a listing pins it (GCS: its generation; Azure:
    its ETag), the object first written with `data` (a new bucket) unless `put` is False."""
    from scanner.sources.object_read import ObjectRef

    if put:
        store.mkbucket(bucket)
        store.put(f"{bucket}/{key}", data)
    target = ObjectTarget.parse(f"{store.scheme}://{bucket}")
    info = filesystem(target).info(f"{bucket}/{key}")
    pin = str(info["generation"] if store.scheme == "gs" else info["etag"])
    return ObjectRef(target, key, None, len(data), 1 << 30, pin)


def test_a_replaced_object_is_never_read_for_the_listed_one(store: Store) -> None:
    """Reads are pinned to what was listed (GCS: its generation; Azure: its ETag, If-Match):
    an object replaced by one of the same size after the listing is a change, not read."""
    from scanner.sources.base import ItemChanged

    bucket = _bucket("pinned")
    listed = _listed(store, bucket, "a.jpg", FACE)
    fresh = _listed(store, bucket, "a.jpg", FACE, put=False)
    assert fresh.open().read_all(1 << 30) == FACE  # the listed object itself: read
    store.put(f"{bucket}/a.jpg", bytes(reversed(FACE)))  # same size, other content
    with pytest.raises(ItemChanged, match="replaced"):
        listed.open()


@pytest.mark.parametrize("permission", ["rl", "l"])
def test_azure_by_a_sas_token_and_it_appears_nowhere(
    azure_server: AzuriteServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, permission: str
) -> None:
    """A container SAS (read + list, as docs/objects.md advises; then list only) in the
    connection string instead of the account key: the scan lists and reads by it — or, list
    only, reports every object unreadable (exit 3) — and neither the SAS's signature nor the
    account key appears in any output."""
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    store = _azure(azure_server, monkeypatch)
    bucket = _bucket("sas")
    _fill(store, bucket)
    sas = generate_container_sas(
        azure_server.account,
        bucket,
        account_key=azure_server.key,
        permission=ContainerSasPermissions.from_string(permission),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    signature = unquote(dict(p.split("=", 1) for p in sas.split("&"))["sig"])
    connection = f"BlobEndpoint={azure_server.url};SharedAccessSignature={sas}"
    state, report = tmp_path / "state.db", tmp_path / "report.json"
    argv = [FACEAUDIT, "scan", f"az://{bucket}", "-j", "1", "-f", "json", "-o", str(report)]
    argv += ["--state", str(state)]
    env = dict(os.environ, HOME=str(tmp_path), AZURE_STORAGE_CONNECTION_STRING=connection)
    proc = subprocess.run(
        argv, capture_output=True, timeout=300, check=False, stdin=subprocess.DEVNULL, env=env
    )
    doc = json.loads(report.read_text())
    paths = {i["path"] for i in doc["items"]}
    if permission == "rl":
        assert proc.returncode == 3, proc.stderr[-2000:]  # notes/fake.jpg: a decode error
        assert f"az://{bucket}/people/face.jpg" in paths
    else:
        assert proc.returncode == 3 and paths == set()
        denied = [p for p in doc["problems"] if p["reason"] == "unreadable_file"]
        assert len(denied) == 5, doc["problems"]
        assert {p["detail"] for p in denied} == {"access denied"}
    outputs = proc.stdout + proc.stderr + report.read_bytes()
    for path in tmp_path.iterdir():
        if path.name.startswith("state.db"):
            outputs += path.read_bytes()
    for secret in (signature, sas, azure_server.key):
        assert secret.encode() not in outputs


def test_connection_resets_are_retried_with_backoff_and_bounded(
    store: Store, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a proxy that resets connections: three resets are retried away (the scan is
    complete); a store that resets every connection costs a bounded number of tries and
    time, then the target is reported and the scan ends (exit 3)."""
    import adlfs
    import gcsfs.core

    bucket = _bucket("resets")
    store.mkbucket(bucket)
    store.put(f"{bucket}/face.jpg", FACE)
    store.put(f"{bucket}/coffee.jpg", COFFEE)
    if store.scheme == "gs":
        server: Any = request.getfixturevalue("gcs_server")
        proxy = ResettingProxy(server.url)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", proxy.url(server.url))
    else:
        server = request.getfixturevalue("azure_server")
        proxy = ResettingProxy(server.url)
        through = server.connection_string.replace(server.url, proxy.url(server.url))
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", through)
    try:
        gcsfs.core.GCSFileSystem.clear_instance_cache()
        adlfs.AzureBlobFileSystem.clear_instance_cache()
        proxy.resets = 3
        result = scan(ScanConfig(targets=[f"{store.scheme}://{bucket}"], workers=0))
        assert proxy.reset_count == 3
        assert [i.location.display for i in result.items] == [f"{store.scheme}://{bucket}/face.jpg"]
        assert not result.incomplete, result.problems

        gcsfs.core.GCSFileSystem.clear_instance_cache()
        adlfs.AzureBlobFileSystem.clear_instance_cache()
        proxy.resets = 1_000_000  # never recovers
        started = time.monotonic()
        down = scan(ScanConfig(targets=[f"{store.scheme}://{bucket}"], workers=0))
        took = time.monotonic() - started
        tries = proxy.reset_count - 3
    finally:
        proxy.stop()
    assert down.incomplete and down.items == ()
    assert [(p.location.display, p.reason) for p in down.problems] == [
        (f"{store.scheme}://{bucket}/", ProblemReason.UNREADABLE_DIRECTORY)
    ]
    # bounded: GCS 6 tries a request (gcsfs), Azure 1 + 4 (object_stores.AZURE_RETRIES); the
    # client may open a connection or two more per listing beside them (seen: 7 and, on a
    # loaded machine, 9 on GCS), never one per second of waiting
    assert tries <= 2 * (6 if store.scheme == "gs" else 5), tries
    print(f"{store.scheme}: {tries} connections reset, gave up after {took:.1f} s")
    assert took < 90, took


def _npy(rows: int, dims: int, seed: int) -> bytes:
    import numpy as np
    from embedding_samples import model_like

    out = io.BytesIO()
    np.save(out, model_like(rows, dims, seed).astype(np.float32))
    return out.getvalue()


def test_a_large_npy_object_is_sampled_by_ranges_as_from_the_disk(
    store: Store, tmp_path: Path
) -> None:
    """Over 16 MiB (and over the size limit): its header and a sample by ranged GETs, each
    pinned to the listed object; the evidence a scan of the same file on disk gives."""
    from scanner.sources.object_read import SAMPLE_OVER

    data = _npy(10_240, 512, seed=5)  # 20 MiB
    assert len(data) > SAMPLE_OVER
    bucket = _bucket("galleries")
    store.mkbucket(bucket)
    store.put(f"{bucket}/arcface.npy", data)
    (tmp_path / "arcface.npy").write_bytes(data)
    limits = Limits(max_file_bytes=8 * 1024 * 1024)
    store.mark()
    remote = scan(ScanConfig(targets=[f"{store.scheme}://{bucket}"], workers=1, limits=limits))
    local = scan(ScanConfig(targets=[str(tmp_path)], workers=1, limits=limits))
    assert remote.problems == () and local.problems == ()
    (item,) = remote.items
    assert [e.details for e in item.evidence] == [e.details for e in local.items[0].evidence]
    assert dict(item.evidence[0].details)["count"] == 10_240
    assert dict(item.notes)["object_bytes_read"] < len(data) // 4
    assert store.gets(bucket)["arcface.npy"] > 1  # ranges, not one whole GET
    assert store.methods() <= {"GET", "HEAD"}


def test_the_ranges_of_a_sampled_object_are_pinned_to_the_listed_one(store: Store) -> None:
    from scanner.sources.base import ItemChanged

    data = _npy(9_000, 512, seed=6)
    bucket = _bucket("pinned-ranges")
    reader = _listed(store, bucket, "g.npy", data).open()
    assert reader.ranged and reader.read_at(len(data) - 100, 100) == data[-100:]
    store.put(f"{bucket}/g.npy", bytes(reversed(data)))  # same size, other content
    with pytest.raises(ItemChanged, match="replaced"):
        reader.read_at(len(data) // 2, 4096)
