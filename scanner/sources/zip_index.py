"""A zip archive's index (its central directory), read within bounds.

`zipfile.ZipFile` parses the whole central directory when it opens an archive (a ZipInfo of
a few hundred bytes per entry) and trusts the end record's sizes and offsets: an index that
lists millions of members costs gigabytes before any per-entry limit applies. `read_index`
finds the end record with a bounded search, checks every size and offset against the file,
and reads directory records one at a time: it stops after `max_entries` records, or when
names, extra fields and comments pass their byte budget, and says how many the archive
declares. Layout and field meanings are those of PKWARE's APPNOTE.TXT (4.3.12 central
directory header, 4.3.14-4.3.16 ZIP64 end record, locator and end record, 4.5.3 ZIP64
extra field). Whatever does not add up raises `zipfile.BadZipFile`.

Members are read through zipfile's own decompression by zip_members.ZipMembers.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from typing import IO, cast

KiB = 1024
MiB = 1024 * KiB
ENTRY_META_BYTES = 16 * KiB  # name + extra field + comment of one directory record
INDEX_META_BYTES = 16 * MiB  # the same, over all the records read

_END = struct.Struct("<4s4H2IH")  # end of central directory record (4.3.16)
_LOCATOR = struct.Struct("<4sIQI")  # ZIP64 end of central directory locator (4.3.15)
_END64 = struct.Struct("<4sQ2H2I4Q")  # ZIP64 end of central directory record (4.3.14)
_CENTRAL = struct.Struct("<4s4B4HI2I5H2I")  # central directory file header (4.3.12)
_END_SIG, _LOCATOR_SIG, _END64_SIG = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL_HEADER = 30  # fixed part of a local file header (4.3.7)
_MAX_COMMENT = 0xFFFF
_ZIP64_EXTRA = 0x0001
_UNSET32 = 0xFFFFFFFF  # "the value is in the ZIP64 extra field"
_MAX_EXTRACT_VERSION = 63  # zipfile refuses newer archives (6.3 is APPNOTE's current)
_UTF8_NAME = 0x800  # general purpose flag bit 11
_FIELD = struct.Struct("<2H")  # an extra field's header: id, size

EMPTY_ARCHIVE = _END.pack(_END_SIG, 0, 0, 0, 0, 0, 0, 0)  # an end record and nothing else
LOCATOR_SIZE = _LOCATOR.size

_EndFields = tuple[bytes, int, int, int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One central-directory record, ZIP64 values resolved, offsets absolute in the file."""

    position: int  # 0-based, in directory order
    stored_name: str  # as zipfile decodes it: UTF-8 with flag bit 11, else cp437
    name_length: int  # bytes, as stored
    flags: int
    method: int
    crc: int
    compressed_size: int
    file_size: int
    header_offset: int
    dos_time: int
    dos_date: int
    external_attr: int

    @property
    def name(self) -> str:
        """The name zipfile shows (ZipInfo.filename): cut at the first NUL (POSIX)."""
        return self.stored_name.split("\x00", 1)[0]

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def date_time(self) -> tuple[int, int, int, int, int, int]:
        """DOS date and time, unvalidated, as zipfile decodes them."""
        d, t = self.dos_date, self.dos_time
        return ((d >> 9) + 1980, (d >> 5) & 0xF, d & 0x1F, t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2)

    @property
    def data_end(self) -> int:
        """Where its data ends at the earliest (a local header at least as long as ours)."""
        return self.header_offset + _LOCAL_HEADER + self.name_length + self.compressed_size

    def zipinfo(self) -> zipfile.ZipInfo:
        """A ZipInfo for `ZipFile.open`, with the documented attributes set from the index."""
        info = zipfile.ZipInfo(self.stored_name)
        info.flag_bits = self.flags
        info.compress_type = self.method
        info.CRC = self.crc
        info.compress_size = self.compressed_size
        info.file_size = self.file_size
        info.header_offset = self.header_offset
        info.external_attr = self.external_attr
        info.date_time = self.date_time
        return info


@dataclass(frozen=True)
class ZipIndex:
    """The first records of a central directory, and whether (and why) the rest was unread."""

    entries: tuple[ZipEntry, ...]
    declared: int  # entries the end record (or the ZIP64 end record) declares
    file_size: int
    directory_start: int
    stopped: str | None = None  # why records were left unread ("lists 3,000,000 members; …")


def read_index(
    stream: IO[bytes],
    max_entries: int,
    *,
    max_entry_meta: int = ENTRY_META_BYTES,
    max_total_meta: int = INDEX_META_BYTES,
) -> ZipIndex:
    """Read at most `max_entries` records of a zip's central directory from a seekable stream.

    Reads at most 64 KiB + 22 bytes to find the end record, 132 for the ZIP64 locator and
    end record, and 46 + `max_entry_meta` bytes per record; holds the names of the records
    read and nothing else. Raises zipfile.BadZipFile when the archive's structure does not
    add up.
    """
    if not stream.seekable():
        raise zipfile.BadZipFile("the archive cannot be read at random (not seekable)")
    size = stream.seek(0, 2)
    end_at, end = _find_end(stream, size)
    declared, cd_size, cd_offset = end[4:7]
    limit = end_at  # the directory ends where the end records begin
    zip64 = _zip64_end(stream, end_at)
    if zip64 is not None:
        limit, declared, cd_size, cd_offset = zip64
    # Bytes before the archive proper (a self-extractor's stub) shift every offset, as in
    # zipfile; a directory that would end past the end records is a lie.
    shift = limit - cd_size - cd_offset
    if shift < 0:
        raise zipfile.BadZipFile(
            f"the end record puts a {cd_size:,}-byte central directory at offset "
            f"{cd_offset:,}, past the end of the directory at {limit:,}"
        )
    if declared * _CENTRAL.size > cd_size:
        raise zipfile.BadZipFile(
            f"the end record declares {declared:,} entries, more than a {cd_size:,}-byte "
            "central directory can hold"
        )
    start = cd_offset + shift
    budgets = (max_entry_meta, max_total_meta)
    reader = _Records(stream, start, start + cd_size, shift=shift, budgets=budgets)
    entries: list[ZipEntry] = []
    stopped: str | None = None
    while reader.remaining:
        if len(entries) >= max_entries:
            stopped = _unread(declared, len(entries))
            break
        entry = reader.next(len(entries))
        if isinstance(entry, str):
            stopped = f"{_unread(declared, len(entries))} ({entry})"
            break
        entries.append(entry)
    return ZipIndex(tuple(entries), declared, size, start, stopped)


def _unread(declared: int, read: int) -> str:
    if declared > read:
        return f"lists {declared:,} members; the first {read:,} were read"
    return (
        f"lists more than {read:,} members (it declares {declared:,}); the first {read:,} were read"
    )


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = stream.read(n - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _find_end(stream: IO[bytes], size: int) -> tuple[int, _EndFields]:
    """The end record: in the last 64 KiB + 22 bytes. A record whose comment ends exactly at
    the end of the file wins (a signature inside a comment is not taken); failing that, the
    last complete one (trailing bytes tolerated, as zipfile does)."""
    tail_start = max(0, size - _END.size - _MAX_COMMENT)
    stream.seek(tail_start)
    tail = _read_exact(stream, size - tail_start)
    fallback = None
    end = len(tail)
    while (at := tail.rfind(_END_SIG, 0, end)) >= 0:
        end = at + len(_END_SIG) - 1  # the next search: signatures starting before this one
        if at + _END.size > len(tail):
            continue
        record = cast("_EndFields", _END.unpack_from(tail, at))
        ends = at + _END.size + record[-1]
        if ends == len(tail):
            return tail_start + at, record
        if fallback is None and ends <= len(tail):
            fallback = (tail_start + at, record)
    if fallback is None:
        raise zipfile.BadZipFile("no end of central directory record (not a zip, or truncated)")
    return fallback


def _zip64_end(stream: IO[bytes], end_at: int) -> tuple[int, int, int, int] | None:
    """(where it starts, entries, directory size, directory offset) from the ZIP64 end
    record, when a ZIP64 locator sits right before the end record."""
    locator_at = end_at - _LOCATOR.size
    if locator_at < 0:
        return None
    stream.seek(locator_at)
    sig, disk, offset, disks = _LOCATOR.unpack(_read_fully(stream, _LOCATOR.size))
    if sig != _LOCATOR_SIG:
        return None
    if disk != 0 or disks > 1:
        raise zipfile.BadZipFile("zipfiles that span multiple disks are not supported")
    # Where zipfile looks (no extensible data: the record ends at the locator), then where
    # the locator points (the record may carry extensible data); either way it must end
    # exactly at the locator.
    for at in dict.fromkeys((locator_at - _END64.size, offset)):
        if 0 <= at <= locator_at - _END64.size:
            stream.seek(at)
            fields = _END64.unpack(_read_fully(stream, _END64.size))
            if fields[0] == _END64_SIG and at + 12 + fields[1] == locator_at:
                return at, fields[7], fields[8], fields[9]
    raise zipfile.BadZipFile("a ZIP64 locator points at no ZIP64 end record")


def _read_fully(stream: IO[bytes], n: int) -> bytes:
    data = _read_exact(stream, n)
    if len(data) < n:
        raise zipfile.BadZipFile("the archive ends early (truncated)")
    return data


class _Records:
    """Central-directory records between `start` and `end`, read one at a time."""

    def __init__(
        self, stream: IO[bytes], start: int, end: int, *, shift: int, budgets: tuple[int, int]
    ) -> None:
        self.stream = stream
        self.start = start
        self.end = end
        self.shift = shift
        self.entry_meta, self.total_meta = budgets
        self.at = start
        self.meta = 0
        stream.seek(start)

    @property
    def remaining(self) -> bool:
        return self.at < self.end

    def next(self, position: int) -> ZipEntry | str:
        """The next record, or why it was left unread (a byte budget)."""
        number = position + 1
        if self.at + _CENTRAL.size > self.end:
            raise zipfile.BadZipFile(f"entry {number:,} is cut off by the end of the directory")
        (sig, _made_by, _system, needs, _reserved, flags, method, dos_time, dos_date, crc,
         compressed, size, n, m, k, _disk, _internal, external, offset,
         ) = _CENTRAL.unpack(_read_fully(self.stream, _CENTRAL.size))  # fmt: skip
        if sig != _CENTRAL_SIG:
            raise zipfile.BadZipFile(f"entry {number:,}: bad central directory signature")
        meta = n + m + k
        if self.at + _CENTRAL.size + meta > self.end:
            raise zipfile.BadZipFile(f"entry {number:,} is cut off by the end of the directory")
        if meta > self.entry_meta:
            return (
                f"entry {number:,} declares {meta:,} bytes of name, extra field and comment, "
                f"more than {self.entry_meta:,}"
            )
        if self.meta + meta > self.total_meta:
            return f"names, extra fields and comments would pass {self.total_meta:,} bytes"
        body = _read_fully(self.stream, meta)
        self.at += _CENTRAL.size + meta
        self.meta += meta
        if needs > _MAX_EXTRACT_VERSION:
            raise zipfile.BadZipFile(f"entry {number:,} needs zip version {needs / 10:.1f}")
        try:
            name = body[:n].decode("utf-8" if flags & _UTF8_NAME else "cp437")
        except UnicodeDecodeError:
            raise zipfile.BadZipFile(f"entry {number:,}: its name is not UTF-8") from None
        if _UNSET32 in (size, compressed, offset):
            size, compressed, offset = _zip64_values(
                body[n : n + m], (size, compressed, offset), number
            )
        entry = ZipEntry(
            position, name, n, flags, method, crc, compressed, size, offset + self.shift,
            dos_time, dos_date, external,
        )  # fmt: skip
        if entry.data_end > self.start:
            raise zipfile.BadZipFile(
                f"entry {number:,} ({entry.name!r}) would run to byte {entry.data_end:,}, "
                f"past the start of the central directory at {self.start:,}"
            )
        return entry


def _zip64_values(extra: bytes, values: tuple[int, int, int], number: int) -> tuple[int, int, int]:
    """Size, compressed size and header offset, the ones set to 0xFFFFFFFF taken in that
    order from the ZIP64 extra field (APPNOTE 4.5.3); without one, the values stand."""
    at = 0
    while at + _FIELD.size <= len(extra):
        kind, length = _FIELD.unpack_from(extra, at)
        body = extra[at + _FIELD.size : at + _FIELD.size + length]
        if len(body) < length:
            raise zipfile.BadZipFile(f"entry {number:,}: corrupt extra field {kind:04x}")
        if kind == _ZIP64_EXTRA:
            resolved, cursor = [], 0
            for value in values:
                if value != _UNSET32:
                    resolved.append(value)
                    continue
                if cursor + 8 > len(body):
                    raise zipfile.BadZipFile(f"entry {number:,}: ZIP64 extra field too short")
                resolved.append(int.from_bytes(body[cursor : cursor + 8], "little"))
                cursor += 8
            return resolved[0], resolved[1], resolved[2]
        at += _FIELD.size + length
    return values
