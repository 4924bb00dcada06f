"""Object stores: `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` (`abfs://`).

One implementation for every store, through fsspec (scanner.sources.object_stores: the scheme
only picks the filesystem). The source lists, in the main process: include/exclude globs (on
the key relative to the target's prefix), the size limit and archived storage classes
(Glacier, Deep Archive: reported, never restored; Azure's Archive tier is not in adlfs's
listing, its GET is refused: scanner.sources.object_stores.describe) are decided from the
listing before anything is read (but a large object named like an npy, HDF5 or Parquet
file is read by ranges, header and sample, within the size limit:
scanner.sources.object_read); `--since` and the state database then decide on the
listing's LastModified, ETag and version id (the engine), and only what they leave is read
(scanner.sources.object_read: in this process, never in a worker).

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
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from scanner.errors import ConfigError
from scanner.model import ObjectLocation, Problem, ProblemReason
from scanner.sources.base import ListingMark, SourceContext, SourceItem, SourceStats
from scanner.sources.object_read import ObjectRef, sampled_by_name
from scanner.sources.object_stores import ObjectTarget, describe, filesystem, pages


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


class ObjectSource:
    """The objects under one target's prefix, listed once (scanner.sources.base.Source)."""

    def __init__(self, target: ObjectTarget, ctx: SourceContext) -> None:
        self.target = target
        self.ctx = ctx
        self.stats = SourceStats()

    @property
    def listing(self) -> str:
        """What is listed, as the state's checkpoints name it (the target and its options;
        a target never carries a credential)."""
        target = self.target
        return f"{target.store}/{target.prefix}?{urlencode(target.options)}"

    def items(self) -> Iterator[SourceItem | Problem | ListingMark]:
        """Page by page, in key order, each page's items then its mark; an interrupted
        scan's next run starts after the mark of the last page it looked at completely."""
        target = self.target
        where = ObjectLocation(target.store, target.prefix)
        checkpoints = self.ctx.checkpoints
        resumed = checkpoints.resume(self.listing) if checkpoints is not None else None
        after = resumed.key if resumed is not None else None
        token = resumed.token if resumed is not None else None
        try:
            fs = filesystem(target)
            fs.invalidate_cache()  # a rescan in this process lists afresh
            listed = pages(fs, target, after, token)
            first = True
            while True:
                try:
                    page = next(listed)
                except StopIteration:
                    break
                if first and not page.infos and after is None and not fs.exists(target.bucket):
                    # adlfs may list a missing container as empty; s3fs and gcsfs raise
                    raise FileNotFoundError(target.bucket)
                first = False
                for info in sorted(page.infos, key=lambda i: str(i["name"])):
                    if info.get("type") == "directory":
                        continue
                    entry = self._entry(str(info["name"]).split("?versionId=", 1)[0], info)
                    if entry is not None:
                        yield entry
                yield ListingMark(self.listing, page.last, page.token)
        except ConfigError:
            raise
        except FileNotFoundError:
            yield Problem(where, ProblemReason.MISSING_TARGET, "no such bucket or prefix")
            return
        except PermissionError:
            yield Problem(where, ProblemReason.UNREADABLE_DIRECTORY, "access denied (listing)")
            return
        except Exception as exc:  # a store error is the target's problem
            yield Problem(where, ProblemReason.UNREADABLE_DIRECTORY, describe(exc))
            return
        yield ListingMark(self.listing, None, done=True)

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
        if size > self.ctx.max_file_bytes and not sampled_by_name(key):
            # (a large npy, HDF5 or Parquet object is read by its header and a sample)
            detail = (
                f"object of {size} bytes exceeds the {self.ctx.max_file_bytes} byte limit; not read"
            )
            return Problem(location, ProblemReason.OVERSIZE, detail)
        mtime_ns = _mtime_ns(_field(info, dialect.modified))
        etag = str(_field(info, dialect.etag) or "")
        pin = _field(info, dialect.pin)
        pin = None if pin is None else str(pin)
        ref = ObjectRef(target, key, version, size, self.ctx.max_file_bytes, pin)
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
