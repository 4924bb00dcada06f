"""Objects fetched a few at a time ahead of the workers (scanner.sources.object_read's
`prefetching`), against the real S3 server behind a proxy that delays every request as a
distant store would (object_servers.LatencyProxy). Concurrency is proven by the requests the
proxy holds at once, never by timing: a scan reading one object after another never has two."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import astronaut, encode, no_face
from object_servers import LatencyProxy
from s3_server import S3Server

from scanner import ScanConfig, scan
from scanner.model import ProblemReason
from scanner.sources.base import ItemChanged
from scanner.sources.object_read import PREFETCH_GETS, ObjectRef, prefetching
from scanner.sources.object_stores import ObjectTarget
from scanner.state.store import StateDB

FACE = encode(astronaut(), "JPEG")
COFFEE = encode(no_face(), "JPEG")
DELAY = 0.25  # seconds each request is held: long enough that GETs sent together overlap


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    s = S3Server()
    yield s
    s.stop()


@pytest.fixture
def slow(
    server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Any, LatencyProxy]]:
    """A bucket of twelve photos; the scanner reaches the server through the slow proxy."""
    import boto3
    import s3fs

    server.reset()
    server.use(monkeypatch, "slow-store-secret", tmp_path / "none")
    client = boto3.client("s3", endpoint_url=server.url)
    client.create_bucket(Bucket="far")
    for n in range(12):
        client.put_object(Bucket="far", Key=f"p/{n:02d}.jpg", Body=FACE if n % 3 else COFFEE)
    proxy = LatencyProxy(server.url, DELAY)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.url(server.url))
    s3fs.S3FileSystem.clear_instance_cache()
    yield client, proxy
    proxy.stop()
    s3fs.S3FileSystem.clear_instance_cache()


def _object_gets(server: S3Server) -> list[str]:
    return sorted(r.path for r in server.requests() if r.method == "GET" and r.path.count("/") >= 2)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_slow_store_is_read_several_objects_at_once(
    slow: tuple[Any, LatencyProxy], server: S3Server, workers: int
) -> None:
    _, proxy = slow
    server.clear_log()
    result = scan(ScanConfig(targets=["s3://far"], workers=workers))
    # every object read once, in one GET, and the report as a serial scan gives it
    assert _object_gets(server) == [f"/far/p/{n:02d}.jpg" for n in range(12)]
    assert [i.location.display for i in result.items] == [
        f"s3://far/p/{n:02d}.jpg" for n in range(12) if n % 3
    ]
    assert not result.problems and not result.incomplete
    # GETs overlapped at the proxy, never more than the bound
    assert 2 <= proxy.max_in_flight <= PREFETCH_GETS


def test_an_unchanged_rescan_fetches_nothing_ahead(
    slow: tuple[Any, LatencyProxy], server: S3Server, tmp_path: Path
) -> None:
    del slow  # the bucket, behind the slow proxy
    config = ScanConfig(targets=["s3://far"], workers=0)
    with StateDB(tmp_path / "state.db") as db:
        first = scan(config, state=db)
    server.clear_log()
    with StateDB(tmp_path / "state.db") as db:
        again = scan(config, state=db)
    assert again.stats.reused == 12 and again.items == first.items
    assert _object_gets(server) == []  # what the state leaves out is never fetched ahead


@dataclass(frozen=True)
class _Queued:
    ref: object


def _refs(keys: list[str], size: int) -> list[_Queued]:
    target = ObjectTarget.parse("s3://far")
    return [_Queued(ObjectRef(target, k, None, size, 1 << 30)) for k in keys]


def test_objects_fetched_ahead_hold_at_most_the_byte_budget(
    slow: tuple[Any, LatencyProxy],
) -> None:
    _, proxy = slow
    keys = [f"p/{n:02d}.jpg" for n in (1, 2, 4, 5, 7)]  # the faces: one size
    for item in prefetching(_refs(keys, len(FACE)), budget=len(FACE)):  # room for one
        assert isinstance(item.ref, ObjectRef)
        assert item.ref.open().head(3) == FACE[:3]
    assert proxy.max_in_flight == 1  # one object's bytes at a time: one GET at a time
    proxy.clear()
    for item in prefetching(_refs(keys, len(FACE))):
        assert isinstance(item.ref, ObjectRef)
        item.ref.open()
    assert proxy.max_in_flight >= 2


def test_an_object_gone_before_its_prefetch_is_still_its_own_problem(
    slow: tuple[Any, LatencyProxy], server: S3Server
) -> None:
    client, _ = slow
    client.delete_object(Bucket="far", Key="p/01.jpg")
    items = _refs(["p/02.jpg", "p/01.jpg", "p/04.jpg"], len(FACE))
    opened: list[str] = []
    for item in prefetching(items):
        assert isinstance(item.ref, ObjectRef)
        try:
            item.ref.open()
            opened.append(item.ref.key)
        except ItemChanged as exc:
            assert "gone" in str(exc)
            opened.append("gone")
    assert opened == ["p/02.jpg", "gone", "p/04.jpg"]


def test_a_store_that_keeps_failing_a_prefetched_get_is_that_items_problem(
    slow: tuple[Any, LatencyProxy], server: S3Server
) -> None:
    server.clear_log()
    server.throttle = 1000  # every object GET: 503 SlowDown, through every retry
    result = scan(ScanConfig(targets=["s3://far/p/01.jpg"], workers=0))
    server.throttle = 0
    assert [(p.location.display, p.reason, p.detail) for p in result.problems] == [
        (
            "s3://far/p/01.jpg",
            ProblemReason.UNREADABLE_FILE,
            "the store kept throttling (503 SlowDown) through every retry",
        )
    ]
    assert result.incomplete and "slow-store-secret" not in repr(result)


def test_only_object_store_targets_are_fetched_ahead() -> None:
    """The scheme decides, and a database URI whose password urlsplit refuses (`[`: a broken
    IPv6 host to it) is left to its own source to report, not an internal error here."""
    from scanner.sources.object_read import reads_objects

    assert reads_objects(["s3://bucket/photos", "/srv/files"])
    assert reads_objects(["AZ://container"])
    assert not reads_objects(["postgresql://user:p[ss@127.0.0.1:5432/db", "/srv", "x.zip"])
    assert not reads_objects([])
