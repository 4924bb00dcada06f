"""Benchmark: the same tree scanned from the local disk and from an S3 server, in one run.

Builds a tree under a temporary directory (outside the repository): real photos from the
development set (read in place, copied), its real embedding pickles, generated `.npy` and
pickle embedding files (face-model-like vectors), and a few non-image files (notes, random
blobs). Scans it from the disk and, uploaded, from moto's S3 server (tests/s3_server.py, the
server the tests use, with its request log); then cold with a state database and again
unchanged. Prints objects/s both ways and the ratio, the requests per object by kind from the
server's log, and the unchanged rescan against the cold scan, each beside its target.

    python bench/bench_objects.py [--photos 60] [--repeat 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

from s3_server import S3Server  # noqa: E402

from scanner import ScanConfig, scan  # noqa: E402
from scanner.model import ScanResult  # noqa: E402
from scanner.state.store import StateDB  # noqa: E402

DEVSET = Path(os.environ.get("FACEAUDIT_DEVSET", "/work/shared/data/faces-dev"))
BUCKET = "bench"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _vectors(n: int, seed: int, dims: int = 128) -> np.ndarray:
    """Vectors shaped like a face model's output: a shared direction, unequal variances."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=dims) * 0.6 + rng.normal(size=(n, dims)) * rng.uniform(0.2, 1.6, dims)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def build(root: Path, photos: int, copies: int) -> dict[str, str]:
    """The tree: relative path -> its kind ("image", "embedding", "text", "binary")."""
    with open(DEVSET / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    images = [
        r["path"]
        for r in rows
        if r["kind"] in ("face_image", "no_face_image")
        and r["path"].lower().endswith(IMAGE_SUFFIXES)
    ]
    step = max(1, len(images) // photos)
    kinds: dict[str, str] = {}

    def put(rel: str, kind: str, data: bytes | None = None, src: Path | None = None) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if src is not None:
            shutil.copyfile(src, path)
        else:
            path.write_bytes(data or b"")
        kinds[rel] = kind

    for n, rel in enumerate(images[::step][:photos]):
        for c in range(copies):  # the same photo under another key: read and looked at again
            put(f"photos/{c}/{n:03d}_{Path(rel).name}", "image", src=DEVSET / rel)
    for rel in (r["path"] for r in rows if r["kind"] == "embedding_file"):
        if rel.endswith((".pickle", ".pkl")):
            put(f"models/{rel.replace('/', '_')}", "embedding", src=DEVSET / rel)
    for n in range(6):
        vectors = _vectors(40 + 20 * n, seed=n)
        put(f"embeddings/people_{n}.npy", "embedding", _npy(vectors))
        names = {f"person {i}": v for i, v in enumerate(vectors)}
        put(f"embeddings/people_{n}.pkl", "embedding", pickle.dumps(names, protocol=4))
    rng = np.random.default_rng(7)
    for n in range(6):
        put(f"notes/note_{n}.txt", "text", (f"meeting note {n}\n" * 600).encode())
        put(f"raw/blob_{n}.bin", "binary", rng.bytes(64 * 1024 + n))
    return kinds


def _npy(vectors: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    np.save(out, vectors)
    return out.getvalue()


def _timed(config: ScanConfig, state: StateDB | None = None) -> tuple[float, ScanResult]:
    t = time.monotonic()
    result = scan(config, state=state)
    return time.monotonic() - t, result


def _found(result: ScanResult, prefix: str) -> dict[str, tuple[str, ...]]:
    """Each item's location without the scheme and root, and its evidence kinds."""
    out = {}
    for item in result.items:
        where = item.location.display
        assert where.startswith(prefix), where
        out[where[len(prefix) :]] = tuple(sorted(e.kind.value for e in item.evidence))
    return out


def _object_requests(server: S3Server) -> tuple[dict[str, list[Any]], int, int]:
    """Object requests by key, and the listing and other requests the server saw."""
    per_key: dict[str, list[Any]] = defaultdict(list)
    listing = other = 0
    for r in server.requests():
        parts = r.path.lstrip("/").split("/", 1)
        if len(parts) == 2 and parts[1]:
            per_key[parts[1]].append(r)
        elif r.method == "GET":
            listing += 1
        else:
            other += 1
    return per_key, listing, other


def _environment(server: S3Server, tmp: Path) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_S3": server.url,
            "AWS_ACCESS_KEY_ID": "AKIAFACEAUDITBENCH",
            "AWS_SECRET_ACCESS_KEY": "bench-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
        }
    )


def _fresh_clients() -> None:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # no connection or listing kept between runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--copies", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's access log
    tmp = Path(tempfile.mkdtemp(prefix="faceaudit-bench-objects-"))
    server = S3Server()
    try:
        root = tmp / "tree"
        kinds = build(root, args.photos, args.copies)
        total = sum((root / rel).stat().st_size for rel in kinds)
        count = Counter(kinds.values())
        print(
            f"tree: {len(kinds)} objects ({count['image']} images, {count['embedding']} "
            f"embedding files, {count['text']} text, {count['binary']} binary), "
            f"{total / 1e6:.1f} MB"
        )
        _environment(server, tmp)
        import boto3

        client = boto3.client("s3", endpoint_url=server.url)
        client.create_bucket(Bucket=BUCKET)
        for rel in sorted(kinds):
            client.upload_file(str(root / rel), BUCKET, rel)

        local_cfg = ScanConfig(targets=(root,), workers=args.workers)
        s3_cfg = ScanConfig(targets=(f"s3://{BUCKET}",), workers=args.workers)
        local_t, s3_t = [], []
        for _ in range(args.repeat):  # interleaved: the machine's load hits both alike
            t, local = _timed(local_cfg)
            local_t.append(t)
            _fresh_clients()
            server.clear_log()
            t, remote = _timed(s3_cfg)
            s3_t.append(t)
        per_key, listing, other = _object_requests(server)  # of the last S3 scan

        n = len(kinds)
        lm, sm = statistics.median(local_t), statistics.median(s3_t)
        print(
            f"\nscan, median of {args.repeat} (all runs: local {_runs(local_t)}, S3 {_runs(s3_t)})"
        )
        print(f"  local disk: {n / lm:7.1f} objects/s ({lm:.2f} s)")
        print(f"  S3 (moto):  {n / sm:7.1f} objects/s ({sm:.2f} s)")
        print(f"  ratio:      S3 at {lm / sm:.2f}x the local rate")
        same = _found(local, f"{root}/") == _found(remote, f"s3://{BUCKET}/")
        print(f"  same items, kinds and locations (but for the scheme): {'yes' if same else 'NO'}")
        print(f"  items with face data {len(remote.items)}, problems {len(remote.problems)}")

        print("\nrequests per object, by kind (the last S3 scan's server log)")
        print(f"  {'kind':<10} {'objects':>7} {'GET':>6} {'ranged':>7} {'HEAD':>5}  target")
        targets = {
            "image": "1 GET",
            "embedding": "1 GET",
            "text": "1 GET",
            "binary": "1 ranged GET",
        }
        for kind in ("image", "embedding", "text", "binary"):
            keys = [k for k, v in kinds.items() if v == kind]
            reqs = [r for k in keys for r in per_key.get(k, [])]
            gets = [r for r in reqs if r.method == "GET"]
            ranged = [r for r in gets if r.range]
            heads = [r for r in reqs if r.method == "HEAD"]
            print(
                f"  {kind:<10} {len(keys):>7} {len(gets) / len(keys):>6.2f} "
                f"{len(ranged) / len(keys):>7.2f} {len(heads) / len(keys):>5.2f}  {targets[kind]}"
            )
        print(f"  listing requests {listing}, other requests {other}")

        cold_t, warm_t, ratios = [], [], []
        list_t: list[tuple[float, float]] = []
        rescan_gets = rescan_listing = 0
        for r in range(args.repeat):
            state = tmp / f"state-{r}.db"
            _fresh_clients()
            with StateDB(state) as db:
                t, _ = _timed(s3_cfg, db)
            cold_t.append(t)
            _fresh_clients()
            server.clear_log()
            with StateDB(state) as db:
                t, again = _timed(s3_cfg, db)
            warm_t.append(t)
            ratios.append(cold_t[-1] / warm_t[-1])
            per_key, rescan_listing, _ = _object_requests(server)
            rescan_gets = sum(len(v) for v in per_key.values())
            list_t.append(_listing_alone())
        print(f"\nrescan of the unchanged bucket with a state database ({args.repeat} pairs)")
        print(f"  cold:      {_runs(cold_t)} s")
        print(f"  unchanged: {_runs(warm_t)} s (reused {again.stats.reused})")
        print(
            "  the listing alone (a new client, the same versioned listing): "
            f"{_runs([a for a, _ in list_t])} s; again on that client: "
            f"{_runs([b for _, b in list_t])} s"
        )
        floor = statistics.median(cold_t) / statistics.median(a for a, _ in list_t)
        print(f"  cold scan / the listing alone: {floor:.1f}x (the ceiling on this server)")
        print(
            f"  ratio:     {statistics.median(ratios):.1f}x faster (runs {_runs(ratios)}; "
            "target >= 50x)"
        )
        print(
            f"  requests of the last rescan: {rescan_listing} listing, {rescan_gets} object "
            "(target: listing alone)"
        )
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _listing_alone() -> tuple[float, float]:
    """The floor of a rescan: a new client listing the bucket as the source does, and the
    same listing again on that client (the server's part alone)."""
    import s3fs

    _fresh_clients()
    t = time.monotonic()
    fs = s3fs.S3FileSystem(version_aware=True)
    fs.find(BUCKET, detail=True)
    new = time.monotonic() - t
    fs.invalidate_cache()
    t = time.monotonic()
    fs.find(BUCKET, detail=True)
    return new, time.monotonic() - t


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
