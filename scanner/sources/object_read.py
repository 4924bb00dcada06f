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
bytes (what is unknown keeps only its first bytes). Each GET names the listed version;
s3fs's cat_file sends no HEAD before it (bench/bench_objects.py counts them).
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError, Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from scanner.errors import FaceauditError
from scanner.model import ContentType
from scanner.sniff import HEAD_BYTES, IMAGE_EXTENSIONS, sniff
from scanner.sources.base import ItemChanged
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


def _named_whole(key: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in _READ_WHOLE


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
    pin: str | None = None  # GCS generation, Azure ETag (object_stores.read)
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

        def get(end: int | None = None) -> bytes:
            start = 0 if end is not None else None
            return read(fs, self.target, self.key, self.version, self.pin, start=start, end=end)

        replaced = "the object was replaced since it was listed"
        try:
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

    def __getstate__(self) -> dict[str, Any]:
        self._fetch()
        return {
            f: getattr(self, f) for f in ("target", "key", "version", "size", "max_bytes", "pin")
        } | {"_got": dict(self._got)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def open(self) -> ObjectReader:
        self._fetch()
        if "changed" in self._got:
            raise ItemChanged(self._got["changed"])
        if "error" in self._got:
            raise ObjectRead(self._got["error"])
        return ObjectReader(self._got["data"], self.size)


class ObjectReader:
    """A Reader over what was fetched: the whole object, or its first bytes when the rest is
    nothing a detector reads (then the rest is never asked for)."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data = data
        self._size = size

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
        self._have(offset + max(0, n))
        return self._data[offset : offset + max(0, n)]

    def read_all(self, limit: int) -> bytes:
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
    """True when some target is an object store's (its objects are worth fetching ahead)."""
    return any(urlsplit(t).scheme.lower() in DIALECTS for t in targets)


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
                    if held and held + ref.size > budget:
                        break  # its turn comes when those before it are taken
                    held += ref.size
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
