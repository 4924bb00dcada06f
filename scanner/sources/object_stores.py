"""The object stores faceaudit reads, and the one thing that differs between them.

`s3://`, `gs://` (`gcs://`), `az://` (`abfs://`) targets are all read through fsspec
(scanner.sources.objects); the scheme only picks the filesystem (`s3fs`, `gcsfs`, `adlfs`:
the `[s3]`, `[gcs]`, `[azure]` extras) and how its listing names a few fields (`_Dialect`).
A missing extra is a ConfigError naming it. A target never carries a credential (refused
without being echoed); its options are a query string (`anonymous=true`,
`requester_pays=true`, `profile=NAME`), never displayed.
"""

from __future__ import annotations

import errno
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scanner.errors import ConfigError, FaceauditError

RETRIES = 3  # s3fs's own retries of a failed call, with backoff
ATTEMPTS = 3  # botocore's attempts within one call ("standard" mode: backoff with jitter)
PAGE_SIZE = 1000  # keys per listing request (each store's own maximum page)


@dataclass(frozen=True)
class _Dialect:
    """What differs between stores: the fsspec protocol, its package and extra, and the
    names of a listing's fields."""

    protocol: str
    package: str
    extra: str
    filesystem: str  # the fsspec filesystem class, "module:Class"
    modified: tuple[str, ...]  # the last-modified field(s), first present wins
    etag: tuple[str, ...]
    version: tuple[str, ...]
    storage_class: tuple[str, ...]
    archived: frozenset[str]  # storage classes that cannot be read without a restore
    options: dict[str, Callable[[str], dict[str, Any]]]
    # what pins a read to the listed object where no version id does (GCS: its generation;
    # S3 in a bucket never versioned, and Azure: its ETag, as an If-Match condition): a
    # replaced object is then never read
    pin: tuple[str, ...] = ()


def _flag(value: str) -> bool:
    if value.lower() in {"1", "true", "yes"}:
        return True
    if value.lower() in {"0", "false", "no"}:
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


S3 = _Dialect(
    "s3",
    "s3fs",
    "s3",
    "s3fs:S3FileSystem",
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
    ("ETag",),  # a version id pins a read, when there is one (object_stores.read)
)
_GCS = _Dialect(
    "gcs",
    "gcsfs",
    "gcs",
    # gcsfs's core class: the package's newer default first asks another API, Storage
    # Control (gRPC), for each bucket's layout, which emulators never answer (a 60 s
    # timeout per bucket)
    "gcsfs.core:GCSFileSystem",
    ("mtime", "updated"),
    ("etag", "md5Hash"),
    # every GCS object has a generation, versioned bucket or not: it goes into the state's
    # identity through the ETag and `updated`, never into the location (baselines would
    # drift with each rewrite)
    (),
    ("storageClass",),
    frozenset(),  # GCS's ARCHIVE class is read online
    {
        "anonymous": lambda v: {"token": "anon"} if _flag(v) else {},
        "requester_pays": lambda v: {"requester_pays": _flag(v)},
    },
    ("generation",),
)
_AZURE = _Dialect(
    "abfs",
    "adlfs",
    "azure",
    "adlfs:AzureBlobFileSystem",
    ("last_modified",),
    ("etag",),
    ("version_id",),
    ("blob_tier", "archive_status"),
    frozenset({"Archive", "rehydrate-pending-to-hot", "rehydrate-pending-to-cool"}),
    {"anonymous": lambda v: {"anon": _flag(v)}},
    ("etag",),
)
DIALECTS: dict[str, _Dialect] = {"s3": S3, "gs": _GCS, "gcs": _GCS, "az": _AZURE, "abfs": _AZURE}


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
        if self.dialect is S3:
            out["version_aware"] = True  # list object versions: each item's own version id
            # throttling (503 SlowDown) and resets: retried with backoff, a bounded number
            # of times (about RETRIES x ATTEMPTS requests for one read), then the item's problem
            out["config_kwargs"] = {"retries": {"mode": "standard", "max_attempts": ATTEMPTS}}
        return out


def filesystem(target: ObjectTarget) -> Any:
    """The fsspec filesystem of `target` (ConfigError naming the extra when it is missing)."""
    dialect = target.dialect
    module, _, name = dialect.filesystem.partition(":")
    try:
        importlib.import_module(dialect.package)
        cls = getattr(importlib.import_module(module), name)
    except ImportError:
        raise ConfigError(
            f"{target.scheme}:// targets need faceaudit's [{dialect.extra}] extra: "
            f"pip install {dialect.package} (in a checkout: pip install '.[{dialect.extra}]')"
        ) from None
    fs = cls(**target.fs_options())
    if dialect is S3:
        fs.retries = RETRIES  # a class attribute of s3fs, not an argument
    elif dialect is _AZURE:
        _bound_azure_retries(fs)
    # GCS: gcsfs's own policy is bounded — 6 tries of a request on 429, 5xx and connection
    # errors (resets), with backoff 1, 2, 4, 8, 16 s plus jitter (gcsfs.retry)
    return fs


AZURE_RETRIES = 4  # retries of one Azure request (throttling 503, 5xx, resets) ...
AZURE_BACKOFF = (1.0, 2)  # ... after 1 + 2**n seconds (n = 1..4: 3, 5, 9, 17 s), jittered


def _bound_azure_retries(fs: Any) -> None:
    """azure-storage-blob retries 503 ServerBusy, 5xx and connection errors itself, but by
    default after 15 s, then 18 s, 24 s...; adlfs takes no retry policy, so its client's
    policy (the instance in its pipeline) is set to a shorter, bounded one."""
    policy = getattr(getattr(fs.service_client, "_config", None), "retry_policy", None)
    if policy is None or not hasattr(policy, "initial_backoff"):
        return  # another azure-storage-blob: its own default stays
    policy.initial_backoff, policy.increment_base = AZURE_BACKOFF
    policy.total_retries = AZURE_RETRIES
    policy.connect_retries = policy.read_retries = policy.status_retries = AZURE_RETRIES


def _s3_error(exc: BaseException) -> dict[str, Any]:
    """The S3 error an s3fs exception was translated from (its `Code`, ...), or {}."""
    response = getattr(exc.__cause__, "response", None)  # botocore's ClientError
    error = response.get("Error") if isinstance(response, dict) else None
    return error if isinstance(error, dict) else {}


def describe(exc: BaseException) -> str:
    """An error in words that hold no credential: its class and the store's error code."""
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    code = code or getattr(exc, "error_code", None)  # azure-storage-blob's error code
    s3_error = _s3_error(exc)
    if s3_error.get("Code") == "InvalidObjectState":  # a 403 of an object archived since listed
        # the listing's words for an archived object; the class and (Intelligent-Tiering) the
        # access tier as the error names them, when they are names
        named = [str(s3_error.get(f, "")) for f in ("StorageClass", "AccessTier")]
        named = [n for n in named if n.replace("_", "").isalnum() and len(n) <= 40]
        tier = f"storage class {' '.join(named)}" if named else "archived"
        return f"{tier}: not readable without a restore, which a scan never asks for"
    if isinstance(exc, PermissionError) or getattr(exc, "status_code", None) == 403:
        return "access denied"  # azure-core's errors carry the HTTP status
    if str(code) == "BlobArchived":  # adlfs's listing does not carry the blob's tier
        return "Azure Archive tier: not readable without a rehydration, which a scan never asks for"
    if code == errno.EBUSY:  # s3fs's translation of SlowDown / 503
        return "the store kept throttling (503 SlowDown) through every retry"
    return f"{type(exc).__name__}{f' ({code})' if code else ''}"


@dataclass(frozen=True)
class Page:
    """One listing request's answer: its objects (fsspec info dicts, named `bucket/key`), the
    greatest key it covered and the store's token for the next page (None: the last)."""

    infos: list[dict[str, Any]]
    last: str | None
    token: str | None


def pages(fs: Any, target: ObjectTarget, after: str | None, token: str | None) -> Iterator[Page]:
    """The objects under `target`, page by page in key order, from after the key `after`
    (S3's StartAfter / KeyMarker, GCS's startOffset) or, for Azure, whose listing cannot start
    at a key, from the continuation `token` of an earlier listing. A prefix that names one
    object lists that object."""
    prefix = f"{target.prefix}/" if target.prefix else ""
    lister = {"s3": _s3_pages, "gcs": _gcs_pages, "abfs": _azure_pages}[target.dialect.protocol]
    empty = True
    for page in lister(fs, target, prefix, after, token):
        empty = empty and not page.infos
        yield page
    if empty and target.prefix and after is None and token is None and fs.isfile(target.root):
        yield Page([fs.info(target.root)], target.prefix, None)


def _s3_pages(
    fs: Any, target: ObjectTarget, prefix: str, after: str | None, token: str | None
) -> Iterator[Page]:
    versions = bool(fs.version_aware)  # every version listed, the current one kept
    method = "list_object_versions" if versions else "list_objects_v2"
    kwargs: dict[str, Any] = {"Bucket": target.bucket, "Prefix": prefix, "MaxKeys": PAGE_SIZE}
    if after is not None:
        kwargs["KeyMarker" if versions else "StartAfter"] = after
    while True:
        out = fs.call_s3(method, **kwargs)  # s3fs's call: its retries and error translation
        found = out.get("Versions" if versions else "Contents", [])
        keys = [c["Key"] for c in (*found, *out.get("DeleteMarkers", []))]
        infos = []
        for c in found:
            if versions and not c.get("IsLatest"):
                continue
            c["type"] = "file"
            fs._fill_info(c, target.bucket, versions=versions)
            infos.append(c)
        if not out.get("IsTruncated"):
            yield Page(infos, max(keys, default=after), None)
            return
        if versions:
            kwargs["KeyMarker"] = out.get("NextKeyMarker", "")
            kwargs["VersionIdMarker"] = out.get("NextVersionIdMarker", "")
            yield Page(infos, max(keys, default=after), kwargs["KeyMarker"])
        else:
            kwargs["ContinuationToken"] = out["NextContinuationToken"]
            yield Page(infos, max(keys, default=after), kwargs["ContinuationToken"])


def _gcs_pages(
    fs: Any, target: ObjectTarget, prefix: str, after: str | None, token: str | None
) -> Iterator[Page]:
    kwargs: dict[str, Any] = {"prefix": prefix, "maxResults": PAGE_SIZE}
    if after is not None:
        kwargs["startOffset"] = after  # inclusive: the key itself is left out below
    while True:
        out = fs.call("GET", "b/{}/o", target.bucket, json_out=True, **kwargs)
        items = [i for i in out.get("items", []) if i["name"] != after]
        infos = [fs._process_object(target.bucket, i) for i in items]
        last = max((i["name"] for i in items), default=after)
        next_token = out.get("nextPageToken")
        yield Page(infos, last, next_token)
        if not next_token:
            return
        kwargs["pageToken"] = next_token


def _azure_pages(
    fs: Any, target: ObjectTarget, prefix: str, after: str | None, token: str | None
) -> Iterator[Page]:
    from fsspec.asyn import sync

    while True:
        infos, last, token = sync(fs.loop, _azure_page, fs, target.bucket, prefix, token)
        yield Page(infos, last or after, token)
        if not token:
            return
        after = last or after


async def _azure_page(
    fs: Any, container: str, prefix: str, token: str | None
) -> tuple[list[dict[str, Any]], str | None, str | None]:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        async with fs.service_client.get_container_client(container=container) as client:
            listed = client.list_blobs(
                include=["metadata"], name_starts_with=prefix or None, results_per_page=PAGE_SIZE
            ).by_page(continuation_token=token)
            blobs = []
            async for page in listed:
                blobs = [b async for b in page]
                break
            infos: list[dict[str, Any]] = await fs._details(blobs)
            return infos, max((b.name for b in blobs), default=None), listed.continuation_token
    except ResourceNotFoundError:
        raise FileNotFoundError(container) from None


def read(
    fs: Any,
    target: ObjectTarget,
    key: str,
    version: str | None,
    pin: str | None,
    *,
    start: int | None = None,
    end: int | None = None,
) -> bytes:
    """The bytes [start, end) of the listed object (the whole of it without a range), one GET:
    of its version id (S3), generation (GCS) or ETag (S3 without a version id, and Azure: an
    If-Match condition). Another object now under the key is FileNotFoundError (GCS, S3: the
    version is gone) or ItemReplaced (If-Match)."""
    path = f"{target.bucket}/{key}"
    protocol = target.dialect.protocol
    if protocol == "gcs":
        data: bytes = fs.cat_file(
            path, start=start, end=end, **({"generation": pin} if pin else {})
        )
    else:
        from fsspec.asyn import sync

        reader = _s3_read if protocol == "s3" else _azure_read
        data = sync(fs.loop, reader, fs, target.bucket, key, version, pin, start=start, end=end)
    return data


class ItemReplaced(FaceauditError, OSError):
    """The object under the key is not the one listed (its ETag changed)."""


_S3FS_RETRIES = "_error_wrapper"  # s3fs.core's private retry helper, which cat_file uses


async def _s3_read(
    fs: Any,
    bucket: str,
    key: str,
    version: str | None,
    etag: str | None,
    *,
    start: int | None,
    end: int | None,
) -> bytes:
    """One GetObject, as s3fs's cat_file sends it (its retries, a body cut short included; no
    HEAD, no split into concurrent ranges), with the listed ETag as an If-Match condition
    where no version id pins the read (a bucket never versioned), which cat_file cannot send."""
    # cat_file's own retries of the body's read (a private helper of s3fs: without it, the
    # body is read once; the request itself is retried and its errors translated by _call_s3)
    retried = getattr(importlib.import_module("s3fs.core"), _S3FS_RETRIES, None)
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version is not None:
        kwargs["VersionId"] = version
    elif etag:
        # a multipart upload's ETag ("<md5>-<parts>") too: S3 compares it as a whole
        kwargs["IfMatch"] = etag if etag.startswith('"') else f'"{etag}"'
    if start is not None or end is not None:
        kwargs["Range"] = f"bytes={start or 0}-{'' if end is None else end - 1}"

    async def get() -> bytes:
        response = await fs._call_s3("get_object", **kwargs)
        try:
            body: bytes = await response["Body"].read()
        finally:
            response["Body"].close()
        return body

    try:
        data: bytes = await (get() if retried is None else retried(get, retries=fs.retries))
    except OSError as exc:
        if _s3_error(exc).get("Code") == "PreconditionFailed":  # 412: another ETag now
            raise ItemReplaced(key) from None
        raise
    return data


async def _azure_read(
    fs: Any,
    container: str,
    key: str,
    version: str | None,
    etag: str | None,
    *,
    start: int | None,
    end: int | None,
) -> bytes:
    """One download of the blob, its ETag an If-Match condition (`version`: unused, Azure's
    listing names none)."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    condition: dict[str, Any] = {}
    if etag:
        condition = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
    length = None if end is None else end - (start or 0)
    async with fs.service_client.get_blob_client(container=container, blob=key) as blob:
        try:
            stream = await blob.download_blob(
                offset=start if end is not None else None,
                length=length,
                max_concurrency=1,
                **condition,
            )
            data: bytes = await stream.readall()
        except ResourceNotFoundError:
            raise FileNotFoundError(key) from None
        except ResourceModifiedError:
            raise ItemReplaced(key) from None
    return data
