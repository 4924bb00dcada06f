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
import resource
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

from object_servers import LatencyProxy  # noqa: E402
from s3_server import Request, S3Server  # noqa: E402

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


class ServerProcess:
    """The S3 test server in a process of its own (`--serve`), so its CPU is neither counted
    in the scan's nor shares the scanning process's interpreter lock (the tests run it in a
    thread). Its request log and CPU time come back over a pipe."""

    def __init__(self) -> None:
        import subprocess

        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._ask("url")

    def _ask(self, command: str) -> str:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return self._proc.stdout.readline().strip()

    def clear_log(self) -> None:
        self._ask("clear")

    def requests(self) -> list[Request]:
        import json

        return [Request(*r) for r in json.loads(self._ask("log"))]

    def cpu(self) -> float:
        """The server process's CPU seconds so far (moto answering)."""
        return float(self._ask("cpu"))

    def stop(self) -> None:
        self._ask("stop")
        self._proc.wait(10)


class ThreadServer(S3Server):
    """The tests' server: in a thread of this process (its CPU is counted in ours)."""

    def cpu(self) -> float:
        return 0.0


def serve() -> None:
    """`--serve`: the S3 test server, driven by one command a line on stdin."""
    import dataclasses
    import json

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = S3Server()
    for line in sys.stdin:
        command = line.strip()
        if command == "url":
            answer = server.url
        elif command == "clear":
            server.clear_log()
            answer = "ok"
        elif command == "log":
            answer = json.dumps([dataclasses.astuple(r) for r in server.requests()])
        elif command == "cpu":
            answer = repr(time.process_time())
        else:
            break
        print(answer, flush=True)
    server.stop()
    print("stopped", flush=True)


Server = ServerProcess | ThreadServer


def _object_requests(server: Server) -> tuple[dict[str, list[Any]], int, int]:
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


def _environment(url: str, tmp: Path) -> None:
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_S3": url,
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
    ap.add_argument(
        "--server",
        choices=("process", "thread"),
        default="process",
        help="moto in a process of its own (default), or in a thread of this one as the tests",
    )
    ap.add_argument(
        "--latency",
        type=float,
        default=0.04,
        help="seconds a proxy holds each request for the latency runs (0: none)",
    )
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the server's access log
    tmp = Path(tempfile.mkdtemp(prefix="faceaudit-bench-objects-"))
    server: Server = ServerProcess() if args.server == "process" else ThreadServer()
    where = "its own process" if args.server == "process" else "a thread of this process"
    print(f"moto's S3 server: {where}")
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
        _environment(server.url, tmp)
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

        _rescans(args, server, s3_cfg, tmp)
        if args.latency > 0:
            _latency(args, server, s3_cfg, n)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _clocks(server: Server) -> tuple[float, float, float]:
    return time.monotonic(), time.process_time(), server.cpu()


def _since(start: tuple[float, float, float], server: Server) -> tuple[float, float, float]:
    """Wall, this process's CPU and the server's CPU seconds since `start`."""
    now = _clocks(server)
    return now[0] - start[0], now[1] - start[1], now[2] - start[2]


def _rescans(args: argparse.Namespace, server: Server, s3_cfg: ScanConfig, tmp: Path) -> None:
    """Cold scans with a state database, each followed by the unchanged rescan and by the
    floor: a bare listing of the bucket with a fresh client, which no rescan can beat."""
    cold_t: list[float] = []
    cold_cpu: list[tuple[float, float, float]] = []  # scanner, its workers, moto
    warm: list[tuple[float, float, float]] = []
    bare: list[tuple[float, float, float]] = []
    client_t: list[float] = []
    warm_list: list[float] = []
    rescan_gets = rescan_listing = reused = keys = 0
    for r in range(args.repeat):
        state = tmp / f"state-{r}.db"
        _fresh_clients()
        with StateDB(state) as db:
            start = _clocks(server)
            workers = resource.getrusage(resource.RUSAGE_CHILDREN)
            t, _ = _timed(s3_cfg, db)
            _, own, moto = _since(start, server)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime + after.ru_stime - workers.ru_utime - workers.ru_stime
            cold_cpu.append((own, used, moto))
        cold_t.append(t)
        _fresh_clients()
        server.clear_log()
        with StateDB(state) as db:
            start = _clocks(server)
            again = scan(s3_cfg, state=db)
            warm.append(_since(start, server))
        reused = again.stats.reused
        per_key, rescan_listing, _ = _object_requests(server)
        rescan_gets = sum(len(v) for v in per_key.values())
        floor, created, keys, listed_again = _bare_listing(server)
        bare.append(floor)
        client_t.append(created)
        warm_list.append(listed_again)

    def med(values: list[float]) -> float:
        return statistics.median(values)

    cold = med(cold_t)
    rescan, floor = med([w for w, _, _ in warm]), med([w for w, _, _ in bare])
    print(f"\nrescan of the unchanged bucket with a state database ({args.repeat} pairs)")
    print(
        f"  cold scan:              {_runs(cold_t)} s (CPU: scanner "
        f"{_runs([c for c, _, _ in cold_cpu])} s, workers {_runs([w for _, w, _ in cold_cpu])} s, "
        f"moto {_runs([m for _, _, m in cold_cpu])} s)"
    )
    print(
        f"  unchanged rescan:       {_runs([w for w, _, _ in warm])} s (reused {reused}; "
        f"CPU: scanner {_runs([c for _, c, _ in warm])} s, moto {_runs([m for _, _, m in warm])} s)"
    )
    print(
        "  bare listing of the bucket with a fresh client (what no rescan can beat): "
        f"{_runs([w for w, _, _ in bare])} s ({keys} keys; CPU: client "
        f"{_runs([c for _, c, _ in bare])} s, moto {_runs([m for _, _, m in bare])} s)"
    )
    print(
        f"    of which the client's creation (credentials, endpoint, service model): "
        f"{_runs(client_t)} s; the same listing again on that client: {_runs(warm_list)} s"
    )
    print(f"  rescan / floor:         {rescan / floor:.2f} (1.00: nothing but the listing)")
    print(f"  cold / floor:           {cold / floor:.1f}x (the most any rescan could reach here)")
    ratios = [c / w for c, (w, _, _) in zip(cold_t, warm, strict=True)]
    print(
        f"  cold / rescan:          {med(ratios):.1f}x measured (runs {_runs(ratios)}) "
        f"against a target of 50x: {'met' if med(ratios) >= 50 else 'NOT met'}"
    )
    moto_per_key = med([m for _, _, m in bare]) / max(keys, 1)
    print(
        f"  moto's CPU per listed key {moto_per_key * 1e3:.2f} ms; the cold scan per object "
        f"{cold / max(keys, 1) * 1e3:.1f} ms: 50x needs a rescan under {cold / 50:.2f} s"
    )
    listing_cpu = med([c + m for _, c, m in bare])
    cold_total = med([c + w + m for c, w, m in cold_cpu])
    print(
        f"  CPU, all processes: cold scan {cold_total:.2f} s, bare listing {listing_cpu:.2f} s "
        f"(client and moto): {cold_total / listing_cpu:.1f}x"
    )
    print(
        f"  requests of the last rescan: {rescan_listing} listing, {rescan_gets} object "
        "(target: listing alone)"
    )


def _bare_listing(server: Server) -> tuple[tuple[float, float, float], float, int, float]:
    """The floor of a rescan: a new client listing the bucket's versions as the source does
    (1,000 keys a request), with no scanner around it; the client's creation alone; the
    number of keys; and the same listing again on that client (the requests alone)."""
    import s3fs
    from fsspec.asyn import sync

    def listing(fs: Any) -> int:
        n, kwargs = 0, {"Bucket": BUCKET, "MaxKeys": 1000}
        while True:
            out = fs.call_s3("list_object_versions", **kwargs)
            n += len(out.get("Versions", []))
            if not out.get("IsTruncated"):
                return n
            kwargs["KeyMarker"] = out["NextKeyMarker"]
            kwargs["VersionIdMarker"] = out["NextVersionIdMarker"]

    _fresh_clients()
    start = _clocks(server)
    fs = s3fs.S3FileSystem(version_aware=True)
    keys = listing(fs)
    floor = _since(start, server)
    _fresh_clients()
    fs = s3fs.S3FileSystem(version_aware=True)
    t = time.monotonic()
    sync(fs.loop, fs.set_session)
    created = time.monotonic() - t
    t = time.monotonic()
    listing(fs)
    return floor, created, keys, time.monotonic() - t


def _latency(args: argparse.Namespace, server: Server, s3_cfg: ScanConfig, n: int) -> None:
    """Through a proxy that holds each request `--latency` seconds, as a distant store
    would, and straight to the server: the objects fetched one at a time (as before
    prefetching) and four at a time ahead of the workers. First the reads alone (every
    object fetched as a scan fetches it, nothing examined), then cold scans (no state),
    with the time the scanning process stood waiting for an object's bytes."""
    from scanner.sources import object_read

    gets = object_read.PREFETCH_GETS
    proxy = LatencyProxy(server.url, args.latency)
    waited = [0.0]
    fetch = object_read.ObjectRef._fetch

    def timed_fetch(ref: object_read.ObjectRef) -> None:
        t = time.monotonic()
        fetch(ref)
        waited[0] += time.monotonic() - t

    object_read.ObjectRef._fetch = timed_fetch  # type: ignore[method-assign]
    reads, scans = [], []
    stores = (
        (f"+{args.latency * 1e3:.0f} ms a request", proxy.url(server.url)),
        ("no added latency", server.url),
    )
    try:
        for label, url in stores:
            os.environ["AWS_ENDPOINT_URL_S3"] = url
            for ahead in (1, gets):
                object_read.PREFETCH_GETS = ahead
                _fresh_clients()
                refs = _listed_refs()
                proxy.clear()
                t = time.monotonic()
                for item in object_read.prefetching(refs):
                    item.ref.open()
                reads.append((label, ahead, time.monotonic() - t, len(refs), proxy.max_in_flight))
                _fresh_clients()
                proxy.clear()
                waited[0] = 0.0
                t, result = _timed(s3_cfg)
                scans.append((label, ahead, t, len(result.items), waited[0]))
    finally:
        object_read.PREFETCH_GETS = gets
        object_read.ObjectRef._fetch = fetch  # type: ignore[method-assign]
        os.environ["AWS_ENDPOINT_URL_S3"] = server.url
        proxy.stop()
    print("\nreading the objects alone (each as a scan fetches it, nothing examined)")
    head = ("store", "GETs at once", "objects/s", "time", "most in flight")
    print("  {:<22} {:>12} {:>10} {:>8} {:>15}".format(*head))
    for label, ahead, t, count, most in reads:
        shown = str(most) if label.startswith("+") else "-"
        print(f"  {label:<22} {ahead:>12} {count / t:>10.1f} {t:>7.2f}s {shown:>15}")
    print(f"cold scan (no state), {args.workers} workers")
    head = ("store", "GETs at once", "objects/s", "time", "items", "waited for bytes")
    print("  {:<22} {:>12} {:>10} {:>8} {:>6} {:>17}".format(*head))
    for label, ahead, t, items, wait in scans:
        print(f"  {label:<22} {ahead:>12} {n / t:>10.1f} {t:>7.2f}s {items:>6} {wait:>16.2f}s")


def _listed_refs() -> list[Any]:
    """Every object of the bucket as the source lists it (items holding their ObjectRef)."""
    from scanner.config import SampleLimits
    from scanner.sources.base import SourceContext, SourceItem
    from scanner.sources.globs import PathFilter
    from scanner.sources.objects import open_source

    ctx = SourceContext(PathFilter(), SampleLimits(), max_file_bytes=1 << 30)
    return [e for e in open_source(f"s3://{BUCKET}", ctx).items() if isinstance(e, SourceItem)]


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
