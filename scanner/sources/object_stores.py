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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from scanner.errors import ConfigError

RETRIES = 3  # s3fs's own retries of a failed call, with backoff
ATTEMPTS = 3  # botocore's attempts within one call ("standard" mode: backoff with jitter)


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
    return fs


def describe(exc: BaseException) -> str:
    """An error in words that hold no credential: its class and the store's error code."""
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    code = code or getattr(exc, "error_code", None)  # azure-storage-blob's error code
    if isinstance(exc, PermissionError):
        return "access denied"
    if str(code) == "BlobArchived":  # adlfs's listing does not carry the blob's tier
        return "Azure Archive tier: not readable without a rehydration, which a scan never asks for"
    if code == errno.EBUSY:  # s3fs's translation of SlowDown / 503
        return "the store kept throttling (503 SlowDown) through every retry"
    return f"{type(exc).__name__}{f' ({code})' if code else ''}"
