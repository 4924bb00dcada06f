"""Reading one object, in the process that lists (never in a worker).

Workers have no network (scanner.sandbox) and never see a credential, so an `ObjectRef`
fetches its object when the engine hands it to a worker (as it is pickled), or when it is
opened in-process (`workers=0`). What `--since` or the state database leave out is never
pickled, so never read. Each object costs one request where its name tells the truth: an
object whose key names a kind the scanner reads whole (an image, an embedding file, an
archive, an SQLite file, text) is fetched whole in one GET; any other, one ranged GET of its
first bytes, then one GET of the whole object only when those bytes turn out to be something
a detector or an expander reads (whole again, not the rest: an object replaced between the
two GETs is never read as two halves). The extension only picks the requests: the content is always
sniffed from its bytes (what is unknown keeps only its first bytes). Each GET names the listed
version; s3fs's cat_file sends no HEAD before it (bench/bench_objects.py counts them).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import IO, Any

from scanner.errors import FaceauditError
from scanner.model import ContentType
from scanner.sniff import HEAD_BYTES, IMAGE_EXTENSIONS, sniff
from scanner.sources.base import ItemChanged
from scanner.sources.object_stores import ItemReplaced, ObjectTarget, describe, filesystem, read


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
        if self._got:
            return
        try:
            fs = filesystem(self.target)

            def get(end: int | None = None) -> bytes:
                start = 0 if end is not None else None
                return read(fs, self.target, self.key, self.version, self.pin, start=start, end=end)

            whole = self.size > HEAD_BYTES and _named_whole(self.key)
            if whole:
                data = get()  # one GET
            else:
                data = get(min(self.size, HEAD_BYTES))
                if len(data) < self.size and _fetched_whole(sniff(data)):
                    whole = True
                    data = get()  # whole: one object, never two halves
            if whole and len(data) != self.size:
                self._got["changed"] = "the object was replaced since it was listed"
                return
            if not _fetched_whole(sniff(data[:HEAD_BYTES])):
                data = data[:HEAD_BYTES]  # nothing a worker reads beyond its first bytes
            self._got["data"] = data[: self.max_bytes]
        except ItemReplaced:
            self._got["changed"] = "the object was replaced since it was listed"
        except FileNotFoundError:
            self._got["changed"] = (
                "the listed object is gone (deleted, or replaced by another version, since "
                "it was listed)"
            )
        except Exception as exc:  # any store error is this item's problem
            self._got["error"] = describe(exc)

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
