"""Object stores: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (`abfs://`).

One implementation for every store, through fsspec: the scheme only picks the filesystem
(`s3fs`, `gcsfs`, `adlfs`, the `[s3]`, `[gcs]`, `[azure]` extras; `[cloud]` for all) and how its
listing names a few fields (`_Dialect`). A missing extra is a ConfigError naming it.

The source lists, in the main process: include/exclude globs (on the key relative to the
target's prefix), the size limit and archived storage classes (Glacier, Deep Archive, Azure's
Archive tier: reported, never restored) are decided from the listing before anything is read.
An item's `ObjectRef` is then read by **this** process, never by a worker: workers have no
network (scanner.sandbox) and never see a credential. The read happens when the engine hands
the item to a worker (the ref fetches itself as it is pickled), so what `--since` or the
state database leave out is never read at all: one ranged GET of the first bytes, sniffed
(the key's extension is never trusted), then one GET of the whole object only when its
content is something a detector or an expander reads. With `workers=0` the same fetch runs
when the ref is opened.

Read-only by construction: the only calls are listing (with versions where the store keeps
them) and GETs (ranged or whole), each of the object version that was listed. Credentials
come from each ecosystem's own chain (AWS environment and profiles, `AWS_ENDPOINT_URL` /
`AWS_ENDPOINT_URL_S3`, Google application default credentials, Azure's environment); the
library passes none and never prints or stores one: a target naming a credential is refused,
and errors are reported by their class and the object's location only.

Target options (a query string, never shown in reports): `anonymous=true` (public buckets),
`requester_pays=true` (S3, GCS), `profile=NAME` (S3).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scanner.errors import ConfigError, FaceauditError
from scanner.model import ContentType, ObjectLocation, Problem, ProblemReason
from scanner.sniff import HEAD_BYTES, sniff
from scanner.sources.base import SourceContext, SourceItem, SourceStats


@dataclass(frozen=True)
class _Dialect:
    """What differs between stores: the fsspec protocol, its package and extra, and the
    names of a listing's fields."""

    protocol: str
    package: str
    extra: str
    modified: tuple[str, ...]  # the last-modified field(s), first present wins
    etag: tuple[str, ...]
    version: tuple[str, ...]
    storage_class: tuple[str, ...]
    archived: frozenset[str]  # storage classes that cannot be read without a restore
    options: dict[str, Callable[[str], dict[str, Any]]]


def _flag(value: str) -> bool:
    if value.lower() in {"1", "true", "yes"}:
        return True
    if value.lower() in {"0", "false", "no"}:
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


_S3 = _Dialect(
    "s3",
    "s3fs",
    "s3",
    ("LastModified",),
    ("ETag",),
    ("VersionId",),
    ("StorageClass",),
    frozenset({"GLACIER", "DEEP_ARCHIVE"}),
    {
        "anonymous": lambda v: {"anon": _flag(v)},
        "requester_pays": lambda v: {"requester_pays": _flag(v)},
        "profile": lambda v: {"profile": v},
    },
)
_GCS = _Dialect(
    "gcs",
    "gcsfs",
    "gcs",
    ("updated", "mtime"),
    ("etag", "md5Hash"),
    ("generation",),
    ("storageClass",),
    frozenset(),  # GCS's ARCHIVE class is read online
    {
        "anonymous": lambda v: {"token": "anon"} if _flag(v) else {},
        "requester_pays": lambda v: {"requester_pays": _flag(v)},
    },
)
_AZURE = _Dialect(
    "abfs",
    "adlfs",
    "azure",
    ("last_modified",),
    ("etag",),
    ("version_id",),
    ("blob_tier", "archive_status"),
    frozenset({"Archive", "rehydrate-pending-to-hot", "rehydrate-pending-to-cool"}),
    {"anonymous": lambda v: {"anon": _flag(v)}},
)
DIALECTS: dict[str, _Dialect] = {"s3": _S3, "gs": _GCS, "gcs": _GCS, "az": _AZURE, "abfs": _AZURE}


@dataclass(frozen=True)
class ObjectTarget:
    """A parsed target: its scheme, bucket (container), key prefix and options."""

    scheme: str
    bucket: str
    prefix: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, target: str) -> ObjectTarget:
        parts = urlsplit(target)
        scheme = parts.scheme.lower()
        if scheme not in DIALECTS:
            raise ConfigError(f"no object store reads {scheme}:// targets")
        if "@" in parts.netloc or parts.password is not None:
            # never echo it: the part before `@` may be a key
            raise ConfigError(
                f"{scheme}:// targets never carry credentials; use the store's own "
                "credential chain (docs/objects.md)"
            )
        if not parts.netloc:
            raise ConfigError(f"{scheme}:// target without a bucket: {cls._shown(target)}")
        options = tuple(parse_qsl(parts.query, keep_blank_values=True))
        known = DIALECTS[scheme].options
        for name, _ in options:
            if name not in known:
                raise ConfigError(
                    f"unknown option {name!r} for {scheme}:// targets "
                    f"(known: {', '.join(sorted(known))})"
                )
        return cls(scheme, parts.netloc, parts.path.strip("/"), options)

    @staticmethod
    def _shown(target: str) -> str:
        return target.split("?", 1)[0]

    @property
    def dialect(self) -> _Dialect:
        return DIALECTS[self.scheme]

    @property
    def store(self) -> str:
        return f"{self.scheme}://{self.bucket}"

    @property
    def root(self) -> str:
        """The listing's root in fsspec's terms (no scheme)."""
        return f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def fs_options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.options:
            out.update(self.dialect.options[name](value))
        if self.dialect is _S3:
            out["version_aware"] = True  # list object versions: each item's own version id
        return out


def filesystem(target: ObjectTarget) -> Any:
    """The fsspec filesystem of `target` (ConfigError naming the extra when it is missing)."""
    dialect = target.dialect
    try:
        importlib.import_module(dialect.package)
        import fsspec
    except ImportError:
        raise ConfigError(
            f"{target.scheme}:// targets need the {dialect.package} package: "
            f"pip install 'faceaudit[{dialect.extra}]'"
        ) from None
    return fsspec.filesystem(dialect.protocol, **target.fs_options())


def _field(info: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = info.get(name)
        if value not in (None, ""):
            return value
    return None


def _mtime_ns(value: Any) -> int | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    if isinstance(value, (int, float)):
        return int(value * 1_000_000_000)
    return None


def _identity(size: int, mtime_ns: int | None, etag: str, version: str | None) -> tuple[int, ...]:
    """What the state database compares, in a file's shape (device, inode, size, mtime,
    ctime): a digest of ETag, version id and LastModified (63 bits, an SQLite integer) for
    the inode, the size, and no times. An object's content cannot change without a new ETag
    or LastModified (each write replaces it whole), so no entry is "racy" as a file written
    within the scan's second is (scanner.state.incremental)."""
    tag = hashlib.sha256(f"{etag}\0{version or ''}\0{mtime_ns}".encode()).digest()
    return (0, int.from_bytes(tag[:8], "big") >> 1, size, 0, 0)


def _fetched_whole(ct: ContentType) -> bool:
    """Content a worker reads beyond its first bytes (everything it can recognise)."""
    return ct is not ContentType.UNKNOWN


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
    _got: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def _path(self) -> str:
        path = f"{self.target.bucket}/{self.key}"
        if self.version is not None and self.target.dialect is _S3:
            path += f"?versionId={self.version}"
        return path

    def _fetch(self) -> None:
        if "data" in self._got or "error" in self._got:
            return
        try:
            fs = filesystem(self.target)
            path = self._path()
            head = fs.cat_file(path, start=0, end=min(self.size, HEAD_BYTES))
            data = head
            if len(head) < self.size and _fetched_whole(sniff(head)):
                data = fs.cat_file(path)
            if len(data) > self.max_bytes:
                data = data[: self.max_bytes]
            self._got["data"] = data
        except FileNotFoundError:
            self._got["error"] = "the object is gone (deleted or replaced since it was listed)"
        except Exception as exc:  # any store error is this item's problem
            self._got["error"] = _describe(exc)

    def __getstate__(self) -> dict[str, Any]:
        self._fetch()
        return {f: getattr(self, f) for f in ("target", "key", "version", "size", "max_bytes")} | {
            "_got": dict(self._got)
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def open(self) -> ObjectReader:
        self._fetch()
        if "error" in self._got:
            raise ObjectRead(self._got["error"])
        return ObjectReader(self._got["data"], self.size)


def _describe(exc: BaseException) -> str:
    """An error in words that hold no credential: its class and the store's error code."""
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    if isinstance(exc, PermissionError):
        return "access denied"
    return f"{type(exc).__name__}{f' ({code})' if code else ''}"


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

    def stream(self) -> Any:
        import io

        self._have(self._size)
        return io.BytesIO(self._data)

    def descriptor(self) -> int | None:
        return None

    def close(self) -> None:
        pass


class ObjectSource:
    """The objects under one target's prefix, listed once (scanner.sources.base.Source)."""

    def __init__(self, target: ObjectTarget, ctx: SourceContext) -> None:
        self.target = target
        self.ctx = ctx
        self.stats = SourceStats()

    def items(self) -> Iterator[SourceItem | Problem]:
        target = self.target
        where = ObjectLocation(target.store, target.prefix)
        try:
            fs = filesystem(target)
            fs.invalidate_cache()  # a rescan in this process lists afresh
            listing: dict[str, dict[str, Any]] = fs.find(target.root, detail=True)
        except ConfigError:
            raise
        except FileNotFoundError:
            yield Problem(where, ProblemReason.MISSING_TARGET, "no such bucket or prefix")
            return
        except PermissionError:
            yield Problem(where, ProblemReason.UNREADABLE_DIRECTORY, "access denied (listing)")
            return
        except Exception as exc:  # a store error is the target's problem
            yield Problem(where, ProblemReason.UNREADABLE_DIRECTORY, _describe(exc))
            return
        for name in sorted(listing):
            info = listing[name]
            if info.get("type") == "directory":
                continue
            entry = self._entry(name.split("?versionId=", 1)[0], info)
            if entry is not None:
                yield entry

    def _entry(self, name: str, info: dict[str, Any]) -> SourceItem | Problem | None:
        target, dialect = self.target, self.target.dialect
        key = name[len(target.bucket) + 1 :]
        relative = key[len(target.prefix) :].lstrip("/") if target.prefix else key
        if self.ctx.filter.excludes(relative) or not self.ctx.filter.includes_file(relative):
            self.stats.excluded += 1
            return None
        version = _field(info, dialect.version)
        version = None if version in (None, "null") else str(version)
        location = ObjectLocation(target.store, key, version)
        size = int(info.get("size") or 0)
        tier = _field(info, dialect.storage_class)
        if tier in dialect.archived:
            detail = (
                f"storage class {tier}: not readable without a restore, which a scan never asks for"
            )
            return Problem(location, ProblemReason.ARCHIVED_OBJECT, detail)
        if size > self.ctx.max_file_bytes:
            detail = (
                f"object of {size} bytes exceeds the {self.ctx.max_file_bytes} byte limit; not read"
            )
            return Problem(location, ProblemReason.OVERSIZE, detail)
        mtime_ns = _mtime_ns(_field(info, dialect.modified))
        etag = str(_field(info, dialect.etag) or "")
        ref = ObjectRef(target, key, version, size, self.ctx.max_file_bytes)
        return SourceItem(
            location, size, mtime_ns, ref=ref, identity=_identity(size, mtime_ns, etag, version)
        )


def check(target: str) -> None:
    """A usable target: known scheme and options, its extra installed (ConfigError)."""
    filesystem(ObjectTarget.parse(target))


def open_source(target: str, ctx: SourceContext) -> ObjectSource:
    return ObjectSource(ObjectTarget.parse(target), ctx)


def display(target: str) -> str:
    """The target without its options (they may name a profile)."""
    parsed = ObjectTarget.parse(target)
    return f"{parsed.store}/{parsed.prefix}" if parsed.prefix else parsed.store
