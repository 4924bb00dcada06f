"""The bounded zip index (sources/zip_index.py) and the walker reading zips through it.

What zipfile lists, the reader lists (ordinary, ZIP64, self-extracting, commented archives);
the index costs what the entry limit allows, never what the archive declares (a directory
of 2,000,000 members, walked in a subprocess whose peak memory is measured); end records and
directory records that lie are `archive_corrupt`, quickly, never an exception.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import walk_in_subprocess, zip_listing

from scanner.config import Limits
from scanner.model import ContentType, FileLocation, Problem, ProblemReason
from scanner.sources.archive import ArchiveWalker, Member
from scanner.sources.zip_index import ZipIndex, read_index
from scanner.sources.zip_members import ZipMembers

MiB = 1 << 20
END = struct.Struct("<4s4H2IH")
END64 = struct.Struct("<4sQ2H2I4Q")
LOCATOR = struct.Struct("<4sIQI")
CENTRAL = struct.Struct("<4s6H3I5H2I")
ZIP64_END = END.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, **kw: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, (2021, 6, 1, 12, 30, 44))
            info.external_attr = 0o100644 << 16
            info.comment = kw.get("entry_comment", b"")
            zf.writestr(info, data, compress_type=method)
        zf.comment = kw.get("comment", b"")
    return buf.getvalue()


def index_of(data: bytes, max_entries: int = 10_000, **kw: int) -> ZipIndex:
    return read_index(io.BytesIO(data), max_entries, **kw)


def as_zipfile_lists(infos: list[zipfile.ZipInfo]) -> list[tuple[object, ...]]:
    return [
        (i.filename, i.orig_filename, i.flag_bits, i.compress_type, i.CRC, i.compress_size,
         i.file_size, i.header_offset, i.date_time, i.external_attr)
        for i in infos
    ]  # fmt: skip


def as_index_lists(index: ZipIndex) -> list[tuple[object, ...]]:
    return [
        (e.name, e.stored_name, e.flags, e.method, e.crc, e.compressed_size, e.file_size,
         e.header_offset, e.date_time, e.external_attr)
        for e in index.entries
    ]  # fmt: skip


def small_listing(tmp_path: Path, listed: int, real: int, *, zip64: bool) -> bytes:
    file = tmp_path / "listing.zip"
    zip_listing(file, listed, real=real, zip64=zip64)
    return file.read_bytes()


# -- what zipfile lists, the index lists ---------------------------------------------------------

MEMBERS = {
    "photos/": b"",
    "photos/a.jpg": b"\xff\xd8\xff" + bytes(3000),
    "café.txt": b"utf-8 name, flag bit 11",
    "notes.txt": b"hello " * 200,
}
ARCHIVES: dict[str, Callable[[Path], bytes]] = {
    "stored": lambda _: zip_bytes(MEMBERS, zipfile.ZIP_STORED),
    "deflated": lambda _: zip_bytes(MEMBERS),
    "bzip2": lambda _: zip_bytes(MEMBERS, zipfile.ZIP_BZIP2),
    "lzma": lambda _: zip_bytes(MEMBERS, zipfile.ZIP_LZMA),
    "comments": lambda _: zip_bytes(MEMBERS, comment=b"archive", entry_comment=b"member"),
    "cp437-name": lambda _: zip_bytes({"cafX.jpg": b"x"}).replace(b"cafX", b"caf\x82"),
    "nul-in-name": lambda _: zip_bytes({"a.jpgX.exe": b"x"}).replace(b"a.jpgX", b"a.jpg\x00"),
    "self-extracting": lambda _: b"#!/bin/sh\nexit 0\n" + bytes(500) + zip_bytes(MEMBERS),
    "trailing-bytes": lambda _: zip_bytes(MEMBERS) + b"\x00garbage after the end record",
    "empty": lambda _: zip_bytes({}),
    "zip64": lambda tmp: small_listing(tmp, 5, 5, zip64=True),
    "zip64-listing": lambda tmp: small_listing(tmp, 40, 5, zip64=True),
}


@pytest.mark.parametrize("build", ARCHIVES.values(), ids=ARCHIVES.keys())
def test_the_index_lists_what_zipfile_lists(tmp_path: Path, build: Callable[[Path], bytes]) -> None:
    data = build(tmp_path)
    expected = as_zipfile_lists(zipfile.ZipFile(io.BytesIO(data)).infolist())

    index = index_of(data)

    assert as_index_lists(index) == expected
    assert index.stopped is None


@pytest.mark.parametrize("build", ARCHIVES.values(), ids=ARCHIVES.keys())
def test_members_are_read_through_zipfile(tmp_path: Path, build: Callable[[Path], bytes]) -> None:
    data = build(tmp_path)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        expected = [zf.read(info) for info in zf.infolist()]
    stream = io.BytesIO(data)
    index = read_index(stream, 100)

    with ZipMembers(stream, index) as members:
        got = []
        for entry in index.entries:
            with members.open(entry) as fh:
                got.append(fh.read())

    assert got == expected


def test_a_member_cannot_read_past_the_archive(tmp_path: Path) -> None:
    """zipfile reads the member's data after a local header whose extra field it skips; a
    local header claiming a 64 KiB extra field sends it past the end of the file, where
    nothing (not the empty listing zipfile was shown) may be read."""
    data = bytearray(zip_bytes({"a.txt": b"abc"}, zipfile.ZIP_STORED))
    struct.pack_into("<H", data, 28, 0xFFFF)  # the local header's extra field length
    stream = io.BytesIO(bytes(data))
    index = read_index(stream, 10)
    with (
        ZipMembers(stream, index) as members,
        pytest.raises((zipfile.BadZipFile, EOFError)),
        members.open(index.entries[0]) as fh,
    ):
        fh.read()


def test_a_signature_in_the_archive_comment_is_not_the_end_record() -> None:
    """zipfile takes the last end-record signature in the file: one inside the archive
    comment makes it list whatever that fake record says. The record whose comment runs
    exactly to the end of the file is the real one."""
    fake = END.pack(b"PK\x05\x06", 0, 0, 0, 0, 0, 0, 0)
    data = zip_bytes(MEMBERS, comment=fake + b" (a fake end record in the comment)")

    index = index_of(data)

    assert [e.name for e in index.entries] == list(MEMBERS)


# -- bounded -------------------------------------------------------------------------------------


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self.bytes_read += len(data)
        return data


@pytest.mark.parametrize("zip64", [True, False], ids=["zip64", "plain"])
def test_the_index_reads_only_what_the_limit_allows(tmp_path: Path, zip64: bool) -> None:
    data = small_listing(tmp_path, 200_000, 100, zip64=zip64)
    stream = CountingStream(data)

    index = read_index(stream, 10)

    assert [e.name for e in index.entries] == [f"{i:07}.txt" for i in range(10)]
    assert index.declared == (200_000 if zip64 else 200_000 % 65_536)
    declared = f"{index.declared:,}"
    assert index.stopped == f"lists {declared} members; the first 10 were read"
    # the end record's 64 KiB search, the ZIP64 records, ten records of 49 or 61 bytes
    assert stream.bytes_read < 66_000 + 100 + 10 * 61
    assert len(data) > 10 * MiB


def test_more_records_than_declared_are_still_bounded(tmp_path: Path) -> None:
    data = bytearray(small_listing(tmp_path, 30, 30, zip64=False))
    struct.pack_into("<2H", data, len(data) - 14, 3, 3)  # the end record: 3 entries

    index = index_of(bytes(data), 10)

    assert len(index.entries) == 10
    assert index.stopped == "lists more than 10 members (it declares 3); the first 10 were read"


def test_names_extra_fields_and_comments_have_a_byte_budget() -> None:
    members = {f"{i}.txt": b"x" for i in range(4)}
    big = zip_bytes(members, entry_comment=b"c" * 20_000)  # 20,005 bytes per record

    per_entry = index_of(big)
    assert per_entry.entries == ()
    assert per_entry.stopped == (
        "lists 4 members; the first 0 were read (entry 1 declares 20,005 bytes of name, "
        "extra field and comment, more than 16,384)"
    )
    total = index_of(zip_bytes(members, entry_comment=b"c" * 1000), max_total_meta=2500)
    assert [e.name for e in total.entries] == ["0.txt", "1.txt"]
    assert total.stopped == (
        "lists 4 members; the first 2 were read "
        "(names, extra fields and comments would pass 2,500 bytes)"
    )


@pytest.mark.parametrize(
    ("zip64", "declared"), [(True, "2,000,000"), (False, "33,920")], ids=["zip64", "plain"]
)
def test_a_directory_of_two_million_members_costs_what_the_limit_allows(
    tmp_path: Path, zip64: bool, declared: str
) -> None:
    """Before the index was bounded, zipfile listed all 2,000,000 records first: 922 MiB and
    13 s in this subprocess (the layout past the first 10,000 overlaps, so it then refused the
    archive). Now 10,000 records are read, their members scanned, the rest reported."""
    file = tmp_path / "listing.zip"
    zip_listing(file, 2_000_000, zip64=zip64)
    assert file.stat().st_size > 100 * MiB
    try:
        run = walk_in_subprocess(file, ContentType.ZIP)
    finally:
        file.unlink()

    assert run["problems"] == [
        [
            "listing.zip",
            "archive_entries",
            f"lists {declared} members; the first 10,000 were read",
        ]
    ]
    assert run["seen"] == 10_000
    assert run["peak_kib"] < 150 * 1024, run
    assert run["peak_kib"] - run["before_kib"] < 32 * 1024, run
    assert run["elapsed"] < 5, run


# -- lies ----------------------------------------------------------------------------------------


def one_member() -> bytes:
    return zip_bytes({"a.jpg": b"\xff\xd8\xff" + bytes(100)}, zipfile.ZIP_STORED)


def with_end(data: bytes, **fields: int) -> bytes:
    """`data` with its (comment-less) end record rewritten."""
    names = ("disk", "cd_disk", "on_disk", "count", "size", "offset")
    sig, *values, comment = END.unpack(data[-END.size :])
    current = dict(zip(names, values, strict=True))
    current.update(fields)
    if "count" in fields:
        current["on_disk"] = fields["count"]
    return data[: -END.size] + END.pack(sig, *current.values(), comment)


def zip64_tail(count: int, size: int, offset: int, locator_at: int | None = None) -> bytes:
    record_at = offset + size
    return (
        END64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
        + LOCATOR.pack(b"PK\x06\x07", 0, record_at if locator_at is None else locator_at, 1)
        + ZIP64_END
    )


def as_zip64(data: bytes, count: int | None = None, **kw: int) -> bytes:
    """A one-member zip whose end record defers to a ZIP64 end record."""
    _sig, _d, _c, _o, real_count, size, offset, _comment = END.unpack(data[-END.size :])
    body = data[: -END.size]
    return body + zip64_tail(real_count if count is None else count, size, offset, **kw)


def with_central(data: bytes, **fields: int) -> bytes:
    """`data` (one member) with its central record's sizes or offset rewritten."""
    at = data.index(b"PK\x01\x02")
    values = list(CENTRAL.unpack_from(data, at))
    for name, index in (("compressed", 8), ("size", 9), ("comment_length", 12), ("offset", 16)):
        if name in fields:
            values[index] = fields[name]
    out = bytearray(data)
    CENTRAL.pack_into(out, at, *values)
    return bytes(out)


def with_zip64_extra(data: bytes, extra: bytes, **fields: int) -> bytes:
    """`data` (one member) whose central record carries `extra`, the end record adjusted."""
    data = with_central(data, **fields)
    at = data.index(b"PK\x01\x02")
    n = struct.unpack_from("<H", data, at + 28)[0]
    record = bytearray(data[at : at + CENTRAL.size + n])
    struct.pack_into("<H", record, 30, len(extra))
    cd = bytes(record) + extra
    return data[:at] + cd + END.pack(b"PK\x05\x06", 0, 0, 1, 1, len(cd), at, 0)


LIES: dict[str, tuple[Callable[[], bytes], str]] = {
    "not-a-zip": (lambda: b"PK\x03\x04" + bytes(300), "no end of central directory record"),
    "cut-in-half": (lambda: one_member()[: len(one_member()) // 2], "no end of central"),
    "count-2**64-1": (
        lambda: as_zip64(one_member(), count=2**64 - 1),
        "declares 18,446,744,073,709,551,615 entries, more than a 51-byte",
    ),
    "count-without-directory": (
        lambda: with_end(one_member(), count=1000),
        "declares 1,000 entries, more than a 51-byte",
    ),
    "offset-past-the-end": (lambda: with_end(one_member(), offset=2**31), "past the end of the"),
    "size-past-the-end": (lambda: with_end(one_member(), size=2**31), "past the end of the"),
    "zip64-offset-past-the-end": (
        lambda: one_member()[: -END.size] + zip64_tail(1, 51, 2**63),
        "past the end of the",
    ),
    "record-runs-past-the-directory": (
        lambda: with_central(one_member(), comment_length=100),
        "entry 1 is cut off by the end of the directory",
    ),
    "locator-points-nowhere": (
        lambda: one_member()[: -END.size] + LOCATOR.pack(b"PK\x06\x07", 0, 12, 1) + ZIP64_END,
        "a ZIP64 locator points at no ZIP64 end record",
    ),
    "many-disks": (
        lambda: (
            as_zip64(one_member())[: -END.size - LOCATOR.size]
            + LOCATOR.pack(b"PK\x06\x07", 0, 189, 3)
            + ZIP64_END
        ),
        "span multiple disks",
    ),
    "member-past-the-directory": (
        lambda: with_central(one_member(), offset=170),
        "would run to byte 308, past the start of the central directory at 138",
    ),
    "compressed-size-into-the-directory": (
        lambda: with_central(one_member(), compressed=10**6),
        "past the start of the central directory",
    ),
    "zip64-sentinel-without-extra": (
        lambda: with_central(one_member(), compressed=0xFFFFFFFF),
        "past the start of the central directory",
    ),
    "zip64-extra-too-short": (
        lambda: with_zip64_extra(one_member(), struct.pack("<2HI", 1, 4, 0), offset=0xFFFFFFFF),
        "ZIP64 extra field too short",
    ),
    "extra-field-runs-over": (
        lambda: with_zip64_extra(one_member(), struct.pack("<2H", 1, 40), offset=0xFFFFFFFF),
        "corrupt extra field 0001",
    ),
    "bad-record-signature": (
        lambda: one_member().replace(b"PK\x01\x02", b"PK\x01\x09"),
        "bad central directory signature",
    ),
}


@pytest.mark.parametrize(("build", "words"), LIES.values(), ids=LIES.keys())
def test_an_index_that_lies_is_refused(build: Callable[[], bytes], words: str) -> None:
    with pytest.raises(zipfile.BadZipFile, match=words.replace("*", r"\*")):
        index_of(build())


@pytest.mark.parametrize(("build", "words"), LIES.values(), ids=LIES.keys())
def test_the_walker_reports_a_lying_index_as_corrupt(
    build: Callable[[], bytes], words: str
) -> None:
    started = time.monotonic()
    out = list(
        ArchiveWalker(Limits()).expand(
            FileLocation("lies.zip"), io.BytesIO(build()), ContentType.ZIP
        )
    )
    assert time.monotonic() - started < 1
    [problem] = out
    assert isinstance(problem, Problem)
    assert (problem.location, problem.reason) == (
        FileLocation("lies.zip"),
        ProblemReason.ARCHIVE_CORRUPT,
    )
    assert problem.detail.startswith("BadZipFile: ")
    assert words in problem.detail


def test_the_walker_scans_the_members_before_a_budget_stops_the_index() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.xmp", b"<x:xmpmeta/>")
        zf.writestr("b.txt", b"x")
        big = zipfile.ZipInfo("c.txt")
        big.comment = b"z" * 17_000
        zf.writestr(big, b"x")

    out = list(ArchiveWalker(Limits()).expand(FileLocation("m.zip"), buf, ContentType.ZIP))

    assert [o.location.display for o in out if isinstance(o, Member)] == [
        "m.zip!/a.xmp",
        "m.zip!/b.txt",
    ]
    assert [o for o in out if isinstance(o, Problem)] == [
        Problem(
            FileLocation("m.zip"),
            ProblemReason.ARCHIVE_ENTRIES,
            "lists 3 members; the first 2 were read (entry 3 declares 17,005 bytes of name, "
            "extra field and comment, more than 16,384)",
        )
    ]
