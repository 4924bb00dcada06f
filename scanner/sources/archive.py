"""The archive source: zip, tar (plain, gz, bz2, xz) and single compressed streams, read
in-stream and never extracted to disk.

Every archive opened from a target shares one budget (entries, decompressed bytes, depth)
across its nested archives, so a bomb stops at the first limit it hits and is reported.
"""

from __future__ import annotations

import io
import itertools
import lzma
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Protocol, cast

from scanner.config import Limits
from scanner.model import ContentType, Location, Problem, ProblemReason
from scanner.sniff import HEAD_BYTES, sniff
from scanner.sources.streams import (
    RATIO_FLOOR,
    CountingReader,
    LimitHit,
    Prefixed,
    RatioGuard,
    TarReads,
    decompressor,
)
from scanner.sources.zip_index import INDEX_META_BYTES, ZipEntry, read_index
from scanner.sources.zip_members import ZipMembers

_CHUNK = 1 << 16
# What a tar's headers (header blocks, pax records, long names) may take in all: 4 KiB for
# each entry the limit allows, at least 64 MiB; a zip's names, extra fields and comments:
# 1 KiB an entry, at least zip_index.INDEX_META_BYTES (16 MiB).
TAR_HEADER_BYTES = 64 * 1024 * 1024
TAR_HEADER_BYTES_PER_ENTRY = 4096
ZIP_META_BYTES_PER_ENTRY = 1024


@dataclass(frozen=True)
class Member:
    """A member the detectors should see, held in memory (bounded by the limits)."""

    location: Location
    data: bytes
    content_type: ContentType
    mtime_ns: int | None


class MemberSink(Protocol):
    """Receives members the walker did not keep (not images, not archives): for counting."""

    def __call__(self, location: Location, content_type: ContentType) -> None: ...


class _Budget:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.entries = 0
        self.total = 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.archive_max_entries:
            raise LimitHit(
                ProblemReason.ARCHIVE_ENTRIES,
                f"more than {self.limits.archive_max_entries} entries; the rest was not read",
            )

    def spend(self, n: int) -> None:
        self.total += n
        if self.total > self.limits.archive_max_total_bytes:
            raise LimitHit(
                ProblemReason.ARCHIVE_SIZE,
                f"more than {self.limits.archive_max_total_bytes} bytes decompressed; "
                "the rest was not read",
            )


# What a walker hands on by default: what the built-in detectors read, archives (opened in
# turn) and SQLite databases (their columns). A caller passes the types its detectors read.
DEFAULT_WANTED = frozenset(
    ct for ct in ContentType if ct.is_image or ct.is_vector_store or ct is ContentType.XMP
)


# Where office documents keep their pictures (members elsewhere are counted as entries, never
# read): Word, PowerPoint and Excel's media folders; OpenDocument's Pictures. Thumbnails of
# the first page are left out: they show again what the media folder holds.
OFFICE_MEDIA: dict[ContentType, tuple[str, ...]] = {
    ContentType.OOXML: ("word/media/", "ppt/media/", "xl/media/"),
    ContentType.OPENDOCUMENT: ("Pictures/",),
}


class ArchiveWalker:
    """Expands one archive (and the archives inside it) into members and problems. Members
    of the `wanted` types (and archives and SQLite databases) are read and handed on; the
    others are counted through `on_other`."""

    def __init__(
        self,
        limits: Limits,
        on_other: MemberSink | None = None,
        wanted: frozenset[ContentType] = DEFAULT_WANTED,
    ) -> None:
        self.limits = limits
        self.wanted = wanted
        self.members_seen = 0
        self._on_other = on_other

    def expand(
        self, location: Location, stream: IO[bytes], content_type: ContentType
    ) -> Iterator[Member | Problem]:
        budget = _Budget(self.limits)
        try:
            yield from self._expand(location, stream, content_type, budget)
        except LimitHit as hit:
            yield Problem(location, hit.reason, hit.detail)

    # -- dispatch ---------------------------------------------------------------------------

    def _expand(
        self, location: Location, stream: IO[bytes], ct: ContentType, budget: _Budget
    ) -> Iterator[Member | Problem]:
        if location.depth >= self.limits.archive_max_depth:
            yield Problem(
                location,
                ProblemReason.ARCHIVE_DEPTH,
                f"archive nested deeper than {self.limits.archive_max_depth} levels; not opened",
            )
            return
        try:
            if ct is ContentType.ZIP:
                yield from self._zip(location, stream, budget)
            elif ct in OFFICE_MEDIA:  # an office document: its media folders only
                yield from self._zip(location, stream, budget, OFFICE_MEDIA[ct])
            elif ct is ContentType.TAR:
                yield from self._tar(location, stream, budget)
            else:
                yield from self._compressed(location, stream, ct, budget)
        except LimitHit as hit:
            if hit.reason is not ProblemReason.ARCHIVE_RATIO:
                raise  # entry and size budgets are shared by the whole archive tree
            yield Problem(location, hit.reason, hit.detail)
        except (zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError) as exc:
            yield Problem(location, ProblemReason.ARCHIVE_CORRUPT, f"{type(exc).__name__}: {exc}")
        except (EOFError, OSError, ValueError, NotImplementedError) as exc:
            yield Problem(location, ProblemReason.ARCHIVE_CORRUPT, f"{type(exc).__name__}: {exc}")
        except MemoryError:
            raise
        except Exception as exc:
            # A library's parser tripping over hostile bytes (IndexError, KeyError,
            # struct.error …) fails this archive, never the whole scan.
            detail = f"unexpected {type(exc).__name__} while reading: {exc}"[:400]
            yield Problem(location, ProblemReason.ARCHIVE_CORRUPT, detail)

    def _member(
        self,
        location: Location,
        read: Callable[[int], bytes],
        budget: _Budget,
        *,
        declared_size: int | None = None,
        compressed_size: int | None = None,
        mtime_ns: int | None = None,
    ) -> Iterator[Member | Problem]:
        """Read one member with every cap applied, then yield it or recurse into it.

        The caller has counted the entry: links, encrypted and skipped entries count too.
        """
        self.members_seen += 1
        head = read(HEAD_BYTES)
        budget.spend(len(head))
        ct = sniff(head)
        if not (ct in self.wanted or ct.is_archive or ct is ContentType.SQLITE):
            if self._on_other is not None:
                self._on_other(location, ct)
            return
        cap = self.limits.max_file_bytes
        if declared_size is not None and declared_size > cap:
            yield Problem(location, ProblemReason.OVERSIZE, f"{declared_size} bytes > {cap} limit")
            return
        chunks = [head]
        size = len(head)
        while True:
            chunk = read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            budget.spend(len(chunk))
            if size > cap:
                yield Problem(location, ProblemReason.OVERSIZE, f"more than {cap} bytes")
                return
            if (
                compressed_size
                and size > RATIO_FLOOR
                and size > compressed_size * self.limits.archive_max_ratio
            ):
                yield Problem(
                    location,
                    ProblemReason.ARCHIVE_RATIO,
                    f"expands more than {self.limits.archive_max_ratio:g}:1; not read further",
                )
                return
            chunks.append(chunk)
        data = b"".join(chunks)
        if ct.is_archive:
            yield from self._expand(location, io.BytesIO(data), ct, budget)
        else:
            yield Member(location, data, ct, mtime_ns)

    # -- zip --------------------------------------------------------------------------------

    def _zip(
        self,
        location: Location,
        stream: IO[bytes],
        budget: _Budget,
        folders: tuple[str, ...] | None = None,
    ) -> Iterator[Member | Problem]:
        # The index is read within the entries still allowed (nested archives share them),
        # so a directory of millions of members costs what the limit allows, not more.
        most = self.limits.archive_max_entries
        metadata = max(INDEX_META_BYTES, ZIP_META_BYTES_PER_ENTRY * most)
        index = read_index(stream, max(0, most - budget.entries), max_total_meta=metadata)
        overlap = _zip_overlap(index.entries)
        if overlap:
            yield Problem(location, ProblemReason.ARCHIVE_OVERLAP, overlap)
            return
        with ZipMembers(stream, index) as members:
            for entry in index.entries:
                budget.entry()
                if not entry.is_dir and (folders is None or entry.name.startswith(folders)):
                    yield from self._zip_member(location.child(entry.name), members, entry, budget)
        if index.stopped is not None:
            nested = f"{location.members[-1]!r} (nested) " if location.members else ""
            raise LimitHit(ProblemReason.ARCHIVE_ENTRIES, nested + index.stopped)

    def _zip_member(
        self, member: Location, members: ZipMembers, entry: ZipEntry, budget: _Budget
    ) -> Iterator[Member | Problem]:
        mode = entry.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            yield Problem(
                member, ProblemReason.ARCHIVE_LINK, "symbolic link in archive; not followed"
            )
            return
        if entry.flags & 0x1:
            yield Problem(member, ProblemReason.ENCRYPTED_MEMBER, "encrypted; cannot be read")
            return
        size, packed = entry.file_size, entry.compressed_size
        if size > RATIO_FLOOR and packed > 0 and size / packed > self.limits.archive_max_ratio:
            yield Problem(
                member,
                ProblemReason.ARCHIVE_RATIO,
                f"declares {size} bytes from {packed} "
                f"(more than {self.limits.archive_max_ratio:g}:1); not read",
            )
            return
        try:
            with members.open(entry) as fh:
                yield from self._member(
                    member,
                    fh.read,
                    budget,
                    declared_size=size,
                    compressed_size=packed,
                    mtime_ns=_zip_time(entry.date_time),
                )
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            yield Problem(member, ProblemReason.ARCHIVE_CORRUPT, f"{type(exc).__name__}: {exc}")

    # -- tar --------------------------------------------------------------------------------

    def _tar(
        self, location: Location, stream: IO[bytes], budget: _Budget
    ) -> Iterator[Member | Problem]:
        # Random access when the input can seek: skipped data is seeked over, not read (a
        # sparse 100 GiB tar would otherwise take minutes). Otherwise tarfile reads what it
        # skips, and so would count it as headers: the walker reads it instead (as data).
        limits = self.limits
        header_budget = max(
            TAR_HEADER_BYTES, TAR_HEADER_BYTES_PER_ENTRY * limits.archive_max_entries
        )
        source = TarReads(stream, limits.archive_max_total_bytes, header_budget)
        seekable = stream.seekable()
        with tarfile.open(fileobj=cast(IO[bytes], source), mode="r:" if seekable else "r|") as tf:
            for info in _tar_entries(tf, source):
                budget.entry()
                has_data = not (info.isdir() or info.issym() or info.islnk() or info.isdev())
                fh = tf.extractfile(info) if has_data else None
                yield from self._tar_member(location, info, fh, budget)
                if fh is not None and not seekable:
                    while fh.read(_CHUNK):
                        pass

    def _tar_member(
        self, location: Location, info: tarfile.TarInfo, fh: IO[bytes] | None, budget: _Budget
    ) -> Iterator[Member | Problem]:
        if info.isdir():
            return
        member = location.child(info.name)
        if info.issym() or info.islnk():
            yield Problem(
                member, ProblemReason.ARCHIVE_LINK, f"link to {info.linkname}; not followed"
            )
        elif not info.isreg():
            yield Problem(
                member, ProblemReason.ARCHIVE_LINK, "special entry (device or FIFO); not read"
            )
        elif fh is not None:
            mtime_ns = int(info.mtime * 1_000_000_000) if info.mtime else None
            yield from self._member(
                member, fh.read, budget, declared_size=info.size, mtime_ns=mtime_ns
            )

    # -- gzip / bzip2 / xz ------------------------------------------------------------------

    def _compressed(
        self, location: Location, stream: IO[bytes], ct: ContentType, budget: _Budget
    ) -> Iterator[Member | Problem]:
        counted = CountingReader(stream)
        with decompressor(ct, cast(IO[bytes], counted)) as plain:
            guarded = RatioGuard(
                plain, counted, self.limits.archive_max_ratio, self.limits.archive_max_total_bytes
            )
            peek = guarded.read(HEAD_BYTES)
            budget.spend(len(peek))
            inner = Prefixed(peek, guarded)
            if len(peek) >= 262 and peek[257:262] == b"ustar":
                yield from self._tar(location, cast(IO[bytes], inner), budget)
                return
            name = (location.members[-1] if location.members else location.path).rsplit("/", 1)[-1]
            stem = name.rsplit(".", 1)[0] if "." in name else name
            budget.entry()
            yield from self._member(location.child(stem), inner.read, budget)


def _tar_entries(tf: tarfile.TarFile, source: TarReads) -> Iterator[tarfile.TarInfo]:
    """A tar's entries one at a time, their headers read within the header budget.

    tarfile keeps every TarInfo it returns in `TarFile.members` (undocumented, but there
    since Python 2; each TarInfo with its pax records), so a listing would grow with the
    archive: each is dropped as soon as it is returned (tests/sources/test_archive.py measures
    this, so a tarfile without the attribute would be noticed)."""
    kept = getattr(tf, "members", None)
    while True:
        source.headers = True
        info = tf.next()
        source.headers = False
        if info is None:
            return
        if isinstance(kept, list):
            kept.clear()
        yield info


def _zip_time(date_time: tuple[int, int, int, int, int, int]) -> int | None:
    """A zip member's date (DOS time: no zone, read as UTC); 1980-01-01 is "no date"."""
    if date_time[:3] <= (1980, 1, 1):
        return None
    try:
        when = datetime(*date_time, tzinfo=timezone.utc)
    except ValueError:
        return None
    return int(when.timestamp()) * 1_000_000_000


def _zip_overlap(entries: tuple[ZipEntry, ...]) -> str | None:
    """Overlapping entries are how non-recursive zip bombs multiply one compressed block.
    A member's span runs from its local header to the end of its data (names counted as
    stored: cp437 is one byte a character, so `café.jpg` is 8 bytes, not the 9 of UTF-8)."""
    spans = sorted((e.header_offset, e.data_end, e.name) for e in entries if not e.is_dir)
    for (_start_a, end_a, name_a), (start_b, _end_b, name_b) in itertools.pairwise(spans):
        if start_b < end_a:
            return f"entries {name_a!r} and {name_b!r} overlap (a zip bomb construction); not read"
    return None
