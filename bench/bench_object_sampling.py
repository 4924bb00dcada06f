"""Benchmark: bytes fetched of large embedding objects, against the disk scan of the same files.

Generates, under a temporary directory (outside the repository), a 200 MB `.npy` of 512-d
float32 face-model-like unit vectors (102,400 rows), a ~100 MB Parquet file with a
`list<float>` 512-d embedding column (48,000 rows, row groups of 8,000) and a ~100 MB HDF5
file with a (200000, 128) float32 dataset; uploads them to moto's S3 server (tests/s3_server.py,
the tests' server, whose request log counts the bytes of every answer), scans the bucket and
the folder, and prints per object: its size, its GETs (ranged or whole), the bytes the server
sent and their share of the object, and whether the evidence equals the disk scan's.
Bytes, not times: they do not depend on the machine's load.

    python bench/bench_object_sampling.py [--workers 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from s3_server import S3Server  # noqa: E402

from scanner import ScanConfig, scan  # noqa: E402
from scanner.model import ScanResult  # noqa: E402

BUCKET = "mlsets"


def _faces(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Unit vectors with a shared direction and unequal variance (a trained model's output)."""
    x = rng.standard_normal((n, d), dtype=np.float32) + rng.standard_normal(d, dtype=np.float32)
    x *= rng.uniform(0.5, 1.5, d).astype(np.float32)
    out: np.ndarray = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def build(folder: Path) -> dict[str, Path]:
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    npy = folder / "arcface_embeddings.npy"
    array = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=(102_400, 512))
    for start in range(0, 102_400, 10_240):
        array[start : start + 10_240] = _faces(rng, 10_240, 512)
    array.flush()
    del array
    parquet = folder / "face_embeddings.parquet"
    schema = pa.schema([("person", pa.string()), ("embedding", pa.list_(pa.float32()))])
    with pq.ParquetWriter(parquet, schema, compression="none") as writer:
        for start in range(0, 48_000, 8_000):
            offsets = pa.array(np.arange(0, 8_000 * 512 + 1, 512, dtype=np.int32))
            column = pa.ListArray.from_arrays(offsets, pa.array(_faces(rng, 8_000, 512).ravel()))
            people = [f"p{j}" for j in range(start, start + 8_000)]
            writer.write_table(pa.table({"person": people, "embedding": column}))
    hdf5 = folder / "face_templates.h5"
    with h5py.File(hdf5, "w") as f:
        f.create_dataset("encodings", data=_faces(rng, 200_000, 128))
    return {"npy": npy, "parquet": parquet, "hdf5": hdf5}


def _evidence(result: ScanResult) -> dict[str, Any]:
    return {
        i.location.display.rsplit("/", 1)[-1]: [(e.detector, e.details) for e in i.evidence]
        for i in result.items
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="generate the files here and keep them")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="faceaudit-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = S3Server()
    try:
        files = _built(folder)
        _run(server, folder, files, args.workers)
    finally:
        server.stop()
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _built(folder: Path) -> dict[str, Path]:
    files = folder / "files"
    files.mkdir(exist_ok=True)
    return build(files)


def _run(server: S3Server, folder: Path, files: dict[str, Path], workers: int) -> None:
    import boto3

    os.environ.update(server.environ("bench-secret", folder / "none"))
    client = boto3.client("s3", endpoint_url=server.url)
    client.create_bucket(Bucket=BUCKET)
    for kind, path in files.items():
        client.upload_file(str(path), BUCKET, f"{kind}/{path.name}")
    server.clear_log()
    remote = scan(ScanConfig(targets=[f"s3://{BUCKET}"], workers=workers))
    log = server.requests()
    local = scan(ScanConfig(targets=[str(next(iter(files.values())).parent)], workers=workers))
    print(f"{'object':8} {'size':>12} {'GETs':>5} {'ranged':>6} {'bytes sent':>12} {'share':>7}")
    for kind, path in files.items():
        gets = [r for r in log if r.path == f"/{BUCKET}/{kind}/{path.name}"]
        size, sent = path.stat().st_size, sum(r.sent for r in gets)
        ranged = sum(r.range is not None for r in gets)
        print(f"{kind:8} {size:>12} {len(gets):>5} {ranged:>6} {sent:>12} {sent / size:>7.2%}")
    for p in remote.problems:
        print(f"problem: {p.location.display}: {p.reason.value}: {p.detail}")
    print("same evidence as from the disk:", _evidence(remote) == _evidence(local))
    print("methods:", sorted({r.method for r in log}))


if __name__ == "__main__":
    main()
