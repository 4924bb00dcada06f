"""Reading one object, in the process that lists (never in a worker).

Workers have no network (scanner.sandbox) and never see a credential, so an `ObjectRef`
fetches its object when the engine hands it to a worker (as it is pickled), or when it is
opened in-process (`workers=0`), unless `prefetching` fetched it ahead, a few objects at a
time, in threads of that process (a store's latency then bounds nothing but those few).
What `--since` or the state database leave out is never queued, so never read. Each object
costs one request where its name tells the truth: an object whose key names a kind the
scanner reads whole (an image, an embedding file, an archive, an SQLite file, text) is
fetched whole in one GET; any other, one ranged GET of its first bytes, then one GET of the
whole object only when those bytes turn out to be something a detector or an expander
reads (whole again, not the rest: an object replaced between the two GETs is never read as
two halves). The extension only picks the requests: the content is always sniffed from its
bytes (what is unknown keeps only its first bytes). Each GET names the listed object (its
version id, generation, or ETag as an If-Match condition: object_stores.read), and no HEAD
comes before it (bench/bench_objects.py counts them).

A large object of a format read by random access (npy, HDF5, Parquet, Arrow: its key says so
and it is over SAMPLE_OVER bytes) is never fetched whole: one ranged GET of its first
SAMPLE_HEAD bytes, then the ranges its reader asks for (the npy header's rows, the Parquet
footer and one row group's pages, the HDF5 metadata and a slice), each one ranged GET of the
listed version, fetched by this process: in-process, or on a worker's request over the pool's
pipe (`read_range`, scanner.work.Fetch) since a worker has no network. Every byte fetched of
one object counts against its budget, `max_bytes` (the size limit, `--max-file-mb`): the
worker that parses the content cannot make this process read more of it.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError, Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, TypeVar

from scanner.errors import FaceauditError
from scanner.model import ContentType
from scanner.sniff import HEAD_BYTES, IMAGE_EXTENSIONS, SAMPLED_TYPES, sniff
from scanner.sources.base import ItemChanged, ReadBudgetSpent
from scanner.sources.object_stores import (
    DIALECTS,
    ItemReplaced,
    ObjectTarget,
    describe,
    filesystem,
    read,
)


def _fetched_whole(ct: ContentType) -> bool:
    """Content a worker reads beyond its first bytes (everything it can recognise)."""
    return ct is not ContentType.UNKNOWN


# Keys named like content a worker reads whole (text too: it may list vectors): fetched in
# one GET. A hint for the requests only; the bytes decide what the content is.
_READ_WHOLE = IMAGE_EXTENSIONS | {
    ".npy", ".npz", ".pkl", ".pickle", ".joblib", ".parquet", ".arrow", ".feather", ".h5",
    ".hdf5", ".zip", ".tar", ".tgz", ".gz", ".xz", ".db", ".sqlite", ".sqlite3", ".txt",
    ".csv", ".tsv", ".json", ".jsonl",
}  # fmt: skip


# Keys named like a format read by random access: over SAMPLE_OVER bytes, read by ranges.
_SAMPLED = {".npy", ".h5", ".hdf5", ".he5", ".parquet", ".pq", ".arrow", ".feather"}
SAMPLE_OVER = 16 * 1024 * 1024  # smaller objects of those formats: one GET, whole
SAMPLE_HEAD = 64 * 1024  # the first ranged GET of a sampled object (an npy header: < 10 KB)
RANGE_MAX = 16 * 1024 * 1024  # one ranged GET at most (scanner.detectors.base.READ_AT_MAX)


def _extension(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _named_whole(key: str) -> bool:
    return _extension(key) in _READ_WHOLE


def sampled_by_name(key: str) -> bool:
    """Whether an object under this key is read by ranges when large (its content decides
    in the end: a key that lies is read as what its bytes are)."""
    return _extension(key) in _SAMPLED


class ObjectRead(FaceauditError, OSError):
    """An object could not be read (its class and the store's code, never a credential)."""


@dataclass(frozen=True)
class ObjectRef:
    """A picklable reference to one object version, fetched by the process that lists (on
    pickling for a worker, or when opened in-process), never by the worker itself."""

    target: ObjectTarget
    key: str
    version: str | None
    size: int
    max_bytes: int
    pin: str | None = None  # GCS generation, S3 and Azure ETag (object_stores.read)
    _got: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _fetch(self) -> None:
        pending = self._got.pop("pending", None)
        if pending is not None:  # fetched ahead (prefetching): its outcome, once it is in
            try:
                self._got.update(pending.result())
                return
            except CancelledError:  # the scan stopped before its turn: read here
                pass
        if not self._got:
            self._got.update(self._read(filesystem(self.target)))

    def prefetch(self, pool: Executor, fs: Any) -> None:
        """Start fetching this object on `pool` (a thread of the listing process) with `fs`,
        the filesystem the listing uses; opening or pickling the reference then waits for it.
        Fetched once, whichever comes first."""
        if not self._got:
            self._got["pending"] = pool.submit(self._read, fs)

    def _read(self, fs: Any) -> dict[str, Any]:
        """The object's bytes ("data"), or why it was not read ("changed", "error"): never
        raises, so a fault stays this item's problem."""

        spent = [0]

        def get(end: int | None = None) -> bytes:
            start = 0 if end is not None else None
            data = read(fs, self.target, self.key, self.version, self.pin, start=start, end=end)
            spent[0] += len(data)
            return data

        replaced = "the object was replaced since it was listed"
        try:
            if self.size > SAMPLE_OVER and sampled_by_name(self.key):
                return self._sampled(get) | {"spent": spent[0]}
            whole = self.size > HEAD_BYTES and _named_whole(self.key)
            if whole:
                data = get()  # one GET
            else:
                data = get(min(self.size, HEAD_BYTES))
                if len(data) < self.size and _fetched_whole(sniff(data)):
                    whole = True
                    data = get()  # whole: one object, never two halves
            if whole and len(data) != self.size:
                return {"changed": replaced}
            if not _fetched_whole(sniff(data[:HEAD_BYTES])):
                data = data[:HEAD_BYTES]  # nothing a worker reads beyond its first bytes
            return {"data": data[: self.max_bytes]}
        except ItemReplaced:
            return {"changed": replaced}
        except FileNotFoundError:
            return {
                "changed": "the listed object is gone (deleted, or replaced by another "
                "version, since it was listed)"
            }
        except Exception as exc:  # any store error is this item's problem
            return {"error": describe(exc)}

    def _sampled(self, get: Callable[..., bytes]) -> dict[str, Any]:
        """A large object named like a format read by ranges: its first bytes, and the rest
        on demand when they are such a format; else what any object gets."""
        data = get(SAMPLE_HEAD)  # one ranged GET; the rest by ranges, on demand
        ct = sniff(data[:HEAD_BYTES])
        if ct in SAMPLED_TYPES:
            return {"data": data, "ranged": True}
        if self.size > self.max_bytes or not _fetched_whole(ct):
            return {"data": data[:HEAD_BYTES]}  # oversize, or nothing a worker reads
        data = get()  # a key that lies: the content is read whole, as what it is
        if len(data) != self.size:
            return {"changed": "the object was replaced since it was listed"}
        return {"data": data}

    @property
    def fetched_ahead(self) -> int:
        """Bytes a fetch of this object holds: its first bytes only when it is sampled."""
        if self.size > SAMPLE_OVER and sampled_by_name(self.key):
            return SAMPLE_HEAD
        return min(self.size, self.max_bytes)

    @property
    def fetched(self) -> int:
        """Bytes of this object fetched so far (by this process)."""
        return int(self._got.get("spent", 0))

    def read_range(self, offset: int, n: int) -> bytes:
        """Up to `n` bytes from `offset` (at most RANGE_MAX), by one ranged GET of the listed
        version, within the object's budget (`max_bytes` in all). Raises ItemChanged when the
        listed object is gone or replaced, ObjectRead otherwise."""
        n = max(0, min(n, RANGE_MAX, self.size - max(0, offset)))
        if n == 0 or offset < 0:
            return b""
        if self.fetched + n > self.max_bytes:
            raise ReadBudgetSpent(
                f"the read budget of this object ({self.max_bytes} bytes, the size limit) is spent"
            )
        try:
            fs = filesystem(self.target)
            data = read(
                fs, self.target, self.key, self.version, self.pin, start=offset, end=offset + n
            )
        except (ItemReplaced, FileNotFoundError) as exc:
            raise ItemChanged("the object was replaced since it was listed") from exc
        except Exception as exc:  # any store error is this item's problem
            raise ObjectRead(describe(exc)) from exc
        self._got["spent"] = self.fetched + len(data)
        return data

    def __getstate__(self) -> dict[str, Any]:
        self._fetch()
        return {
            f: getattr(self, f) for f in ("target", "key", "version", "size", "max_bytes", "pin")
        } | {"_got": dict(self._got, remote=True)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def open(self) -> ObjectReader:
        """The object as fetched. A sampled object's reader reads its further ranges through
        this reference in the process that lists; in a worker (which has no network) through
        the caller, once `connect`ed to it (scanner.expand)."""
        self._fetch()
        if "changed" in self._got:
            raise ItemChanged(self._got["changed"])
        if "error" in self._got:
            raise ObjectRead(self._got["error"])
        ranged = bool(self._got.get("ranged"))
        fetch = self.read_range if ranged and not self._got.get("remote") else None
        return ObjectReader(self._got["data"], self.size, ranged=ranged, fetch=fetch)


RangeFetch = Callable[[int, int], bytes]


class ObjectReader:
    """A Reader over what was fetched: the whole object, or its first bytes when the rest is
    nothing a detector reads (then the rest is never asked for), or — `ranged` — the first
    bytes of a large object read by its header and a sample, whose other bytes are fetched by
    range as they are asked for (`fetch`: this process's, or the caller's for a worker)."""

    def __init__(
        self, data: bytes, size: int, *, ranged: bool = False, fetch: RangeFetch | None = None
    ) -> None:
        self._data = data
        self._size = size
        self._fetch = fetch
        self.ranged = ranged
        self.fetched = 0  # bytes read by range beyond the first ones

    def connect(self, fetch: RangeFetch) -> None:
        """Read further ranges through `fetch` (a worker's caller), unless it can itself."""
        if self.ranged and self._fetch is None:
            self._fetch = fetch

    @property
    def size(self) -> int:
        return self._size

    @property
    def atime_preserved(self) -> bool:
        return True

    def _have(self, end: int) -> None:
        if end > len(self._data) and len(self._data) < self._size:
            raise ObjectRead("only the object's first bytes were fetched")

    def head(self, n: int) -> bytes:
        return self._data[:n]

    def read_at(self, offset: int, n: int) -> bytes:
        n = max(0, n)
        if self.ranged and offset + n > len(self._data) and offset < self._size:
            if self._fetch is None:
                raise ObjectRead("the object's further ranges cannot be read here")
            data = self._fetch(offset, n)
            self.fetched += len(data)
            return data
        self._have(offset + n)
        return self._data[offset : offset + n]

    def read_all(self, limit: int) -> bytes:
        """The whole object up to `limit`; of a ranged one, its first bytes only (the rest
        is read by `read_at`)."""
        if self.ranged:
            return self._data[:limit]
        self._have(min(limit, self._size))
        return self._data[:limit]

    def stream(self) -> IO[bytes]:
        self._have(self._size)
        return io.BytesIO(self._data)

    def descriptor(self) -> int | None:
        return None

    def close(self) -> None:
        pass


# Fetching ahead of the workers (`prefetching`): real stores answer a GET in 20-100 ms, so
# objects read one after another would bound a scan by that latency, not by detection.
PREFETCH_GETS = 4  # objects fetched at once, ahead of the item a worker takes next
PREFETCH_BYTES = 64 * 1024 * 1024  # what objects fetched ahead may hold (one, if larger)


class _Queued(Protocol):
    @property
    def ref(self) -> object: ...


Q = TypeVar("Q", bound=_Queued)


def reads_objects(targets: Iterable[str]) -> bool:
    """True when some target is an object store's (its objects are worth fetching ahead).
    Only the scheme is read: a database URI's credentials may hold what urlsplit refuses
    (`[` in a password reads as a broken IPv6 host), and that URI's source reports it."""
    return any(t.partition("://")[0].lower() in DIALECTS for t in targets if "://" in t)


def prefetching(
    items: Iterable[Q], gets: int | None = None, budget: int | None = None
) -> Iterator[Q]:
    """`items` unchanged and in order, the objects among them fetched `gets` at a time
    ahead of the one taken: at most `gets` items are drawn ahead, and those fetched ahead
    hold at most `budget` bytes (or one object, when it alone is larger). Only what the
    engine queues is here (what the state database or `--since` leave out never is), so
    fetching ahead reads nothing a serial scan would not. The GETs run in threads of this
    process on the listing's filesystem (no second client); the workers still never
    touch the network. A fault is the item's problem as before (`ObjectRef._read`)."""
    gets = gets or PREFETCH_GETS  # 1: each object fetched when it is taken, as before
    budget = budget or PREFETCH_BYTES
    ahead: deque[Q] = deque()
    upstream = iter(items)
    systems: dict[ObjectTarget, Any] = {}
    with ThreadPoolExecutor(gets, thread_name_prefix="faceaudit-get") as pool:
        try:
            while True:
                while len(ahead) < gets:
                    item = next(upstream, None)
                    if item is None:
                        break
                    ahead.append(item)
                held = 0
                for queued in ahead:
                    ref = queued.ref
                    if not isinstance(ref, ObjectRef):
                        continue
                    if held and held + ref.fetched_ahead > budget:
                        break  # its turn comes when those before it are taken
                    held += ref.fetched_ahead
                    if ref.target not in systems:
                        try:
                            systems[ref.target] = filesystem(ref.target)  # the listing's
                        except Exception:  # read in place, where its error is reported
                            systems[ref.target] = None
                    if systems[ref.target] is not None:
                        ref.prefetch(pool, systems[ref.target])
                if not ahead:
                    return
                yield ahead.popleft()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # a stopped scan: nothing left running
