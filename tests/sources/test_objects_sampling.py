"""Large embedding objects read by their header and a sample, never whole, against a real S3
server (moto's server mode, s3_server.py, which counts the bytes of every answer): an npy
over the size limit, a Parquet file of several row groups and an HDF5 dataset cost a small
fraction of their size in ranged GETs, give the evidence a scan of the same files from the
disk gives, and never cost more than the object's budget (the size limit)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from embedding_samples import model_like
from s3_server import S3Server

from scanner import ScanConfig, scan
from scanner.config import Limits
from scanner.model import ExitCode, ProblemReason, ScanResult
from scanner.sources.object_read import SAMPLE_HEAD, SAMPLE_OVER

SECRET = "Sx9PlantedSecretKeyNeverShown0123456789abcd"
MiB = 1024 * 1024
LIMIT = 40 * MiB  # the size limit of these scans: the npy and Parquet over it, HDF5 under


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    s = S3Server()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 48 MiB npy of 512-d float32 vectors, a ~53 MB Parquet file with a list<float>
    column in row groups of 4,000 rows, a ~25 MB HDF5 file with an (N, 128) dataset."""
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("stores")
    npy = folder / "arcface_gallery.npy"
    array = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=(24_576, 512))
    for start in range(0, 24_576, 4_096):
        array[start : start + 4_096] = model_like(4_096, 512, seed=start)
    array.flush()
    del array
    parquet = folder / "faces.parquet"
    schema = pa.schema([("person", pa.string()), ("embedding", pa.list_(pa.float32()))])
    with pq.ParquetWriter(parquet, schema, compression="none") as writer:
        for group in range(6):
            x = model_like(4_000, 512, seed=100 + group).astype(np.float32)
            offsets = pa.array(np.arange(0, 4_000 * 512 + 1, 512, dtype=np.int32))
            column = pa.ListArray.from_arrays(offsets, pa.array(x.ravel()))
            people = [f"person-{group}-{i % 50}" for i in range(4_000)]
            writer.write_table(pa.table({"person": people, "embedding": column}))
    hdf5 = folder / "templates.h5"
    with h5py.File(hdf5, "w") as f:
        f.create_dataset("encodings", data=model_like(48_000, 128, seed=7).astype(np.float32))
    return {"npy": npy, "parquet": parquet, "hdf5": hdf5}


@pytest.fixture
def s3(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    import boto3
    import s3fs

    server.reset()
    server.use(monkeypatch, SECRET, tmp_path / "none")
    yield boto3.client("s3", endpoint_url=server.url)
    s3fs.S3FileSystem.clear_instance_cache()


def _upload(s3: Any, stores: dict[str, Path]) -> None:
    s3.create_bucket(Bucket="mlsets")
    for kind, path in stores.items():
        s3.upload_file(str(path), "mlsets", f"{kind}/{path.name}")


def _evidence(result: ScanResult) -> dict[str, list[tuple[Any, ...]]]:
    return {
        item.location.display.rsplit("/", 1)[-1]: [
            (e.kind, e.detector, e.confidence, e.details, e.reasons) for e in item.evidence
        ]
        for item in result.items
    }


def _range_bytes(header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-(\d+)", header or "")
    assert match, f"an object GET without a range: {header!r}"
    return int(match[2]) - int(match[1]) + 1


@pytest.mark.parametrize("workers", [0, 1])
def test_large_embedding_objects_are_sampled_by_ranges_as_from_the_disk(
    s3: Any, server: S3Server, stores: dict[str, Path], workers: int
) -> None:
    """workers=0: this process reads the ranges; 1: the worker asks for them over its pipe."""
    _upload(s3, stores)
    server.clear_log()
    limits = Limits(max_file_bytes=LIMIT)
    remote = scan(ScanConfig(targets=["s3://mlsets"], workers=workers, limits=limits))
    requests = server.requests()
    local = scan(ScanConfig(targets=[str(next(iter(stores.values())).parent)], limits=limits))
    assert remote.problems == () and local.problems == ()
    assert _evidence(remote) == _evidence(local)  # same counts, dims, sample, confidence
    found = _evidence(remote)
    npy = dict(found["arcface_gallery.npy"][0][3])
    assert npy["count"] == 24_576 and npy["dims"] == 512  # the header's exact count
    assert npy["sampled"] == 2_048  # rows examined
    table = dict(found["faces.parquet"][0][3])
    assert (table["count"], table["sampled"]) == (24_000, 2_048)
    h5 = dict(found["templates.h5"][0][3])
    assert (h5["count"], h5["sampled"]) == (48_000, 2_048)

    assert {r.method for r in requests} == {"GET"}  # listing and ranged GETs, nothing else
    for kind, path in stores.items():
        size = path.stat().st_size
        assert size > SAMPLE_OVER
        gets = [r for r in requests if r.path == f"/mlsets/{kind}/{path.name}"]
        asked = [_range_bytes(r.range) for r in gets]  # every GET of the object is ranged
        assert asked[0] == SAMPLE_HEAD  # its first bytes, then what its reader asks for
        sent = sum(r.sent for r in gets)
        assert sent == sum(asked)  # the server sent what was asked, no more
        assert sent < min(size * 0.15, 8 * MiB), (kind, sent, size)
        item = next(i for i in remote.items if i.location.path.endswith(path.name))
        assert dict(item.notes)["object_bytes_read"] == sent
    npy_sent = sum(r.sent for r in requests if r.path.endswith(".npy"))
    assert npy_sent < 0.1 * stores["npy"].stat().st_size  # ~4 MiB of a 48 MiB object


def test_an_object_never_costs_more_than_its_budget(
    s3: Any, server: S3Server, stores: dict[str, Path]
) -> None:
    """A size limit smaller than the sample: the npy is read up to the limit, then reported."""
    _upload(s3, stores)
    server.clear_log()
    budget = 2 * MiB
    result = scan(
        ScanConfig(targets=["s3://mlsets/npy"], workers=1, limits=Limits(max_file_bytes=budget))
    )
    sent = sum(r.sent for r in server.requests() if r.path.endswith(".npy"))
    assert 0 < sent <= budget
    assert result.items == ()
    (problem,) = result.problems
    assert problem.reason is ProblemReason.OVERSIZE
    assert "read budget of this object (2097152 bytes" in problem.detail


def test_a_small_embedding_object_is_one_get_and_a_large_image_stays_oversize(
    s3: Any, server: S3Server
) -> None:
    s3.create_bucket(Bucket="small")
    np_bytes = _npy_bytes(model_like(256, 128, seed=3).astype(np.float32))
    s3.put_object(Bucket="small", Key="gallery.npy", Body=np_bytes)
    s3.put_object(Bucket="small", Key="huge.jpg", Body=b"\xff\xd8\xff" + bytes(3 * MiB))
    # a key named like an npy over the limit whose content is not: its first bytes only
    s3.put_object(Bucket="small", Key="lies.npy", Body=b"\x00" * (17 * MiB))
    server.clear_log()
    result = scan(
        ScanConfig(targets=["s3://small"], workers=0, limits=Limits(max_file_bytes=2 * MiB))
    )
    gets = {r.path: r.range for r in server.requests() if r.path.count("/") == 2}
    assert gets == {"/small/gallery.npy": None, "/small/lies.npy": f"bytes=0-{SAMPLE_HEAD - 1}"}
    assert [i.location.display for i in result.items] == ["s3://small/gallery.npy"]
    reasons = {p.location.display.rsplit("/", 1)[-1]: p.reason for p in result.problems}
    assert reasons == {"huge.jpg": ProblemReason.OVERSIZE, "lies.npy": ProblemReason.OVERSIZE}


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def test_the_ranges_of_a_sampled_object_name_its_listed_version(s3: Any, server: S3Server) -> None:
    """In a versioned bucket each ranged GET names the listed version: the object overwritten
    meanwhile, its ranges still come from the version that was listed."""
    from scanner.sources.object_read import ObjectRef
    from scanner.sources.object_stores import ObjectTarget

    s3.create_bucket(Bucket="versioned")
    s3.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    data = _npy_bytes(model_like(9_000, 512, seed=6).astype(np.float32))
    listed = s3.put_object(Bucket="versioned", Key="g.npy", Body=data)["VersionId"]
    ref = ObjectRef(ObjectTarget.parse("s3://versioned"), "g.npy", listed, len(data), 1 << 30)
    reader = ref.open()
    s3.put_object(Bucket="versioned", Key="g.npy", Body=bytes(reversed(data)))
    assert reader.ranged and reader.read_at(len(data) // 2, 4096) == data[len(data) // 2 :][:4096]
    queries = [r.query for r in server.requests() if r.path == "/versioned/g.npy" and r.range]
    assert len(queries) == 2 and all(f"versionId={listed}" in q for q in queries)


# What happens to a large object between its first bytes and its sample's ranges, made at the
# server just before the scan's second GET of it: archived by a lifecycle rule (S3 then refuses
# every GET of it, 403 InvalidObjectState), deleted, its listed version removed, or, in a
# bucket never versioned (no version id to name), overwritten by an object of the same size
# (only its ETag tells: the ranges carry the listed one as an If-Match condition).
CHANGES: dict[str, tuple[ProblemReason, str]] = {
    "archived": (
        ProblemReason.UNREADABLE_FILE,
        "storage class GLACIER: not readable without a restore, which a scan never asks for",
    ),
    "deleted": (ProblemReason.CHANGED_DURING_SCAN, "the object was replaced since it was listed"),
    "overwritten": (
        ProblemReason.CHANGED_DURING_SCAN,
        "the object was replaced since it was listed",
    ),
    "version-removed": (
        ProblemReason.CHANGED_DURING_SCAN,
        "the object was replaced since it was listed",
    ),
}


def _changed_after_first_bytes(
    s3: Any, server: S3Server, key: str, change: str, listed: str | None, new: bytes = b""
) -> list[str | None]:
    """Makes `change` to churn/`key` just before the server answers the scan's second GET of
    it (`new`: what overwrites it); returns the Range headers of the GETs of it (filled in as
    the scan sends them)."""
    gets: list[str | None] = []

    def before_get(request: Any) -> None:
        if request.path != f"/churn/{key}":
            return
        gets.append(request.range)
        if len(gets) != 2:  # after its first bytes, before the first range its reader asks for
            return
        if change == "archived":
            source = {"Bucket": "churn", "Key": key}
            s3.copy_object(Bucket="churn", Key=key, CopySource=source, StorageClass="GLACIER")
        elif change == "deleted":
            s3.delete_object(Bucket="churn", Key=key)
        elif change == "overwritten":
            s3.put_object(Bucket="churn", Key=key, Body=new)
        else:
            s3.delete_object(Bucket="churn", Key=key, VersionId=listed)

    server.before_get = before_get
    return gets


def _reported(reason: ProblemReason, detail: str, detector: str) -> tuple[ProblemReason, str]:
    """A refused range names the detector that asked for it; a change does not."""
    return reason, f"{detector}: {detail}" if reason is ProblemReason.UNREADABLE_FILE else detail


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_range_the_store_refuses_after_listing_is_that_objects_problem(
    s3: Any, server: S3Server, change: str, workers: int
) -> None:
    """The npy detector reads the sample's rows by ranged GETs after the object's first bytes;
    the store refusing one (or the object gone) is reported for that object only, as a read
    problem naming the detector or a change, never as a detector error, and the scan goes on
    to judge the bucket's other objects: incomplete, exit 3. Overwritten in a bucket never
    versioned, by another npy of the same shape: a change, never a sample of the new rows
    under the listed header."""
    s3.create_bucket(Bucket="churn")
    if change == "version-removed":
        s3.put_bucket_versioning(Bucket="churn", VersioningConfiguration={"Status": "Enabled"})
    large = _npy_bytes(model_like(9_000, 512, seed=11).astype(np.float32))
    new = _npy_bytes(model_like(9_000, 512, seed=13).astype(np.float32))
    assert len(large) > SAMPLE_OVER and len(new) == len(large) and new != large
    listed = s3.put_object(Bucket="churn", Key="a-large.npy", Body=large).get("VersionId")
    s3.put_object(Bucket="churn", Key="b-small.npy", Body=_npy_bytes(model_like(256, 128, seed=12)))
    gets = _changed_after_first_bytes(s3, server, "a-large.npy", change, listed, new)
    result = scan(ScanConfig(targets=["s3://churn"], workers=workers, limits=Limits()))
    assert gets[0] == f"bytes=0-{SAMPLE_HEAD - 1}" and len(gets) == 2  # no GET after the refusal
    assert [(p.location.display, p.reason, p.detail) for p in result.problems] == [
        ("s3://churn/a-large.npy", *_reported(*CHANGES[change], "embedding.npy"))
    ]
    judged = {i.location.display: [e.detector for e in i.evidence] for i in result.items}
    assert judged == {"s3://churn/b-small.npy": ["embedding.npy"]}
    assert result.incomplete and result.exit_code == ExitCode.INCOMPLETE


def _hdf5_bytes() -> bytes:
    import io

    import h5py

    out = io.BytesIO()
    with h5py.File(out, "w") as f:
        f.create_dataset("encodings", data=model_like(40_000, 128, seed=7).astype(np.float32))
    return out.getvalue()


def _parquet_bytes() -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    schema = pa.schema([("embedding", pa.list_(pa.float32()))])
    with pq.ParquetWriter(out, schema, compression="none") as writer:
        for group in range(3):
            x = model_like(3_000, 512, seed=group).astype(np.float32)
            offsets = pa.array(np.arange(0, 3_000 * 512 + 1, 512, dtype=np.int32))
            column = pa.ListArray.from_arrays(offsets, pa.array(x.ravel()))
            writer.write_table(pa.table({"embedding": column}))
    return out.getvalue()


@pytest.mark.parametrize("change", ["archived", "deleted"])
@pytest.mark.parametrize(
    ("key", "detector"), [("a.h5", "embedding.hdf5"), ("a.parquet", "embedding.parquet")]
)
def test_a_refused_range_of_an_hdf5_or_parquet_object_is_no_decode_error(
    s3: Any, server: S3Server, key: str, detector: str, change: str
) -> None:
    """HDF5 and Parquet are read through h5py's and pyarrow's file objects, which see a read
    error as any other: the object refused or gone is reported as such, not as content that
    does not decode."""
    s3.create_bucket(Bucket="churn")
    body = _hdf5_bytes() if key.endswith(".h5") else _parquet_bytes()
    assert len(body) > SAMPLE_OVER
    s3.put_object(Bucket="churn", Key=key, Body=body)
    gets = _changed_after_first_bytes(s3, server, key, change, None)
    result = scan(ScanConfig(targets=["s3://churn"], workers=1, limits=Limits()))
    assert len(gets) == 2
    assert [(p.location.display, p.reason, p.detail) for p in result.problems] == [
        (f"s3://churn/{key}", *_reported(*CHANGES[change], detector))
    ]
    assert result.exit_code == ExitCode.INCOMPLETE
