"""The archive walker on archives built by the test, in memory and on disk.

Formats and member locations, what is kept and what is only counted, every limit (depth,
entries, total size, expansion ratio, member size), zip bombs of both kinds, encrypted and
link members, hostile names, corrupt input. The last tests go through the engine.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import io
import lzma
import os
import resource
import signal
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

import pytest
from helpers import (
    astronaut,
    bz2_repeated,
    encode,
    snapshot,
    tar_with_pax_comments,
    walk_in_subprocess,
)
from PIL import Image

from scanner.config import Limits
from scanner.model import (
    ContentType,
    EvidenceKind,
    ExitCode,
    FileLocation,
    Location,
    MemberLocation,
    Problem,
    ProblemReason,
    ScanResult,
)
from scanner.sniff import HEAD_BYTES, sniff
from scanner.sources.archive import ArchiveWalker, Member

GiB = 1 << 30
MiB = 1 << 20
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>\n'
    b'<?xpacket end="r"?>'
)


class Overran(Exception):  # not an OSError (TimeoutError is), which the walkers catch
    """A bounded block ran out of time."""


# -- building archives --------------------------------------------------------------------------


@functools.cache
def small_jpeg(shade: int = 0) -> bytes:
    return encode(Image.new("RGB", (16, 16), (shade, 90, 60)), "JPEG")


def zip_bytes(members: Mapping[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(
    members: Mapping[str, bytes], mode: str = "w", extra: tuple[tarfile.TarInfo, ...] = ()
) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tf.addfile(info, io.BytesIO(data))
        for info in extra:
            tf.addfile(info)
    return buf.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def deflate_repeated(head: bytes, unit: bytes, count: int) -> tuple[bytes, int, int]:
    """Raw deflate of `head + unit * count`, plus its CRC-32 and length, without compressing
    `count` units: after a full flush the compressor starts afresh, so every repetition
    compresses to the same bytes. A 1 GiB bomb takes milliseconds to build this way."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(unit) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(unit) + c.flush(zlib.Z_FULL_FLUSH) == block
    end = c.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(count):
        crc = zlib.crc32(unit, crc)
    return start + block * count + end, crc, len(head) + len(unit) * count


def zip_of_raw(name: str, raw: bytes, crc: int, size: int, method: int = 8) -> bytes:
    """A one-member zip around already-compressed bytes (zipfile cannot take them)."""
    encoded = name.encode()
    local = struct.pack(
        "<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(raw), size, len(encoded), 0
    )
    central = struct.pack(
        "<4s6H3I5H2I",
        *(b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(raw), size, len(encoded)),
        *(0, 0, 0, 0, 0, 0),
    )
    body = local + encoded + raw
    cd = central + encoded
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), len(body), 0)
    return body + cd + end


def zip_lzma_raw(data: bytes) -> bytes:
    """`data` as a zip member's LZMA data: version, properties, then raw LZMA1 (APPNOTE 5.8)."""
    lzma1 = {"id": lzma.FILTER_LZMA1, "preset": 0, "dict_size": MiB, "lc": 3, "lp": 0, "pb": 2}
    packed = lzma.compress(data, lzma.FORMAT_RAW, filters=[lzma1])
    props = bytes([(2 * 5 + 0) * 9 + 3]) + MiB.to_bytes(4, "little")
    return struct.pack("<2BH", 9, 20, len(props)) + props + packed


def gzip_of_raw(raw: bytes, crc: int, size: int) -> bytes:
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", crc, size % 2**32)


def central_records(data: bytes) -> list[int]:
    """Offsets of the central-directory records of a (non-zip64, no comment) zip."""
    count, _size, offset = struct.unpack("<2xH2I", data[-22:][8:20])
    out = []
    for _ in range(count):
        out.append(offset)
        n, m, k = struct.unpack("<3H", data[offset + 28 : offset + 34])
        offset += 46 + n + m + k
    return out


# -- running the walker -------------------------------------------------------------------------


@dataclass
class Expanded:
    members: list[Member] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    others: list[tuple[Location, ContentType]] = field(default_factory=list)
    seen: int = 0
    elapsed: float = 0.0

    def displays(self) -> list[str]:
        return [m.location.display for m in self.members]

    def reasons(self) -> list[tuple[str, ProblemReason]]:
        return [(p.location.display, p.reason) for p in self.problems]


@contextlib.contextmanager
def bounded(seconds: float, memory: int) -> Iterator[None]:
    """Fail, instead of taking minutes or the machine's memory, if a regression makes the
    walker read what it must skip: SIGALRM ends the Python loop, and an address-space limit
    of what is mapped now plus `memory` turns a giant allocation into MemoryError."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Overran(f"still running after {seconds} s")

    with open("/proc/self/statm") as fh:
        mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    cap = mapped + memory if hard == resource.RLIM_INFINITY else min(mapped + memory, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def expand_stream(stream: IO[bytes], path: str, limits: Limits | None = None) -> Expanded:
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    out = Expanded()
    walker = ArchiveWalker(
        limits or Limits(), on_other=lambda loc, ct: out.others.append((loc, ct))
    )
    started = time.monotonic()
    for entry in walker.expand(FileLocation(path), stream, sniff(head)):
        if isinstance(entry, Problem):
            out.problems.append(entry)
        else:
            out.members.append(entry)
    out.elapsed = time.monotonic() - started
    out.seen = walker.members_seen
    return out


def expand(data: bytes, path: str, limits: Limits | None = None) -> Expanded:
    return expand_stream(io.BytesIO(data), path, limits)


def expand_file(file: Path, limits: Limits | None = None) -> Expanded:
    """Open as the engine does: without moving the access time."""
    fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
    with os.fdopen(fd, "rb") as fh:
        return expand_stream(fh, str(file), limits)


# -- formats and locations ----------------------------------------------------------------------

CONTENT = {
    "dir/member.jpg": small_jpeg(),
    "notes.txt": b"\x00\x01 binary notes, not an image\x00",  # binary: not text either
    "meta.xmp": XMP,
}
FORMATS: list[tuple[str, Callable[[Mapping[str, bytes]], bytes], ContentType]] = [
    ("archive.zip", zip_bytes, ContentType.ZIP),
    ("archive.zip", lambda m: zip_bytes(m, zipfile.ZIP_DEFLATED), ContentType.ZIP),
    ("archive.zip", lambda m: zip_bytes(m, zipfile.ZIP_BZIP2), ContentType.ZIP),
    ("archive.zip", lambda m: zip_bytes(m, zipfile.ZIP_LZMA), ContentType.ZIP),
    ("archive.tar", tar_bytes, ContentType.TAR),
    ("archive.tar.gz", lambda m: tar_bytes(m, "w:gz"), ContentType.GZIP),
    ("archive.tar.bz2", lambda m: tar_bytes(m, "w:bz2"), ContentType.BZIP2),
    ("archive.tar.xz", lambda m: tar_bytes(m, "w:xz"), ContentType.XZ),
]


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "disk"])
@pytest.mark.parametrize(("name", "build", "content_type"), FORMATS)
def test_formats_yield_images_and_xmp_and_count_the_rest(
    tmp_path: Path,
    name: str,
    build: Callable[[Mapping[str, bytes]], bytes],
    content_type: ContentType,
    on_disk: bool,
) -> None:
    data = build(CONTENT)
    assert sniff(data[:HEAD_BYTES]) is content_type
    if on_disk:
        file = tmp_path / name
        file.write_bytes(data)
        out, path = expand_file(file), str(file)
    else:
        out, path = expand(data, name), name

    assert out.problems == []
    assert out.displays() == [f"{path}!/dir/member.jpg", f"{path}!/meta.xmp"]
    jpg, xmp = out.members
    assert (jpg.data, jpg.content_type) == (small_jpeg(), ContentType.JPEG)
    assert (xmp.data, xmp.content_type) == (XMP, ContentType.XMP)
    assert jpg.location == MemberLocation(FileLocation(path), ("dir/member.jpg",))
    assert out.others == [(MemberLocation(FileLocation(path), ("notes.txt",)), ContentType.UNKNOWN)]
    assert out.seen == 3
    if content_type is not ContentType.ZIP:
        assert jpg.mtime_ns == 1_600_000_000 * 10**9


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [
        (".gz", gzip_bytes),
        (".bz2", bz2.compress),
        (".xz", lzma.compress),
    ],
)
def test_single_compressed_stream(suffix: str, compress: Callable[[bytes], bytes]) -> None:
    out = expand(compress(small_jpeg()), f"photo.jpg{suffix}")
    assert out.problems == []
    assert out.displays() == [f"photo.jpg{suffix}!/photo.jpg"]
    assert out.members[0].data == small_jpeg()


def gzip_with_field(flag: int, field: bytes, data: bytes) -> bytes:
    """A gzip member whose header carries a name (flag 0x08) or a comment (0x10)."""
    return b"\x1f\x8b\x08" + bytes([flag]) + bytes(6) + field + b"\x00" + gzip_bytes(data)[10:]


def test_a_gzip_member_name_and_comment_are_read() -> None:
    data = gzip_with_field(0x08, b"photo.jpg", small_jpeg())
    assert gzip.decompress(gzip_with_field(0x10, b"c" * 60_000, b"x")) == b"x"
    out = expand(data + gzip_with_field(0x10, b"c" * 60_000, b""), "photo.jpg.gz")
    assert out.problems == []
    assert out.displays() == ["photo.jpg.gz!/photo.jpg"]
    assert out.members[0].data == small_jpeg()


@pytest.mark.parametrize(
    "build",
    [
        lambda field: gzip_with_field(0x08, field, small_jpeg()),
        lambda field: gzip_with_field(0x10, field, small_jpeg()),
        lambda field: gzip_bytes(small_jpeg()) + gzip_with_field(0x08, field, b""),
    ],
    ids=["name", "comment", "second-member"],
)
def test_a_gzip_header_field_that_never_ends_is_refused(build: Callable[[bytes], bytes]) -> None:
    """gzip reads a name or comment a byte at a time until a NUL: 2 MiB took 0.4 s here, a
    20 MB one 6.5 s, gigabytes would stall the scan for hours (it runs outside the workers)."""
    out = expand(build(b"A" * (2 * MiB)), "photo.jpg.gz")
    assert out.elapsed < 0.3
    assert out.members == []
    assert out.problems == [
        Problem(
            FileLocation("photo.jpg.gz"),
            ProblemReason.ARCHIVE_CORRUPT,
            "BadGzipFile: a header field (a name or comment) runs past 65,536 bytes",
        )
    ]


def test_a_corrupt_gzip_header_inside_a_zip_spares_the_others() -> None:
    outer = zip_bytes(
        {"a.jpg.gz": gzip_with_field(0x08, b"A" * MiB, small_jpeg()), "b.jpg": small_jpeg(1)}
    )
    out = expand(outer, "outer.zip")
    assert out.reasons() == [("outer.zip!/a.jpg.gz", ProblemReason.ARCHIVE_CORRUPT)]
    assert out.displays() == ["outer.zip!/b.jpg"]


def test_nested_locations() -> None:
    inner = tar_bytes({"x.jpg": small_jpeg(), "deeper.zip": zip_bytes({"y.jpg": small_jpeg(1)})})
    outer = zip_bytes({"inner.tar": inner, "sub/z.jpg.gz": gzip_bytes(small_jpeg(2))})

    out = expand(outer, "outer.zip")

    assert out.problems == []
    assert out.displays() == [
        "outer.zip!/inner.tar!/x.jpg",
        "outer.zip!/inner.tar!/deeper.zip!/y.jpg",
        "outer.zip!/sub/z.jpg.gz!/z.jpg",
    ]
    assert out.members[1].location == MemberLocation(
        FileLocation("outer.zip"), ("inner.tar", "deeper.zip", "y.jpg")
    )
    assert out.members[1].data == small_jpeg(1)


# -- limits -------------------------------------------------------------------------------------


def nested_zips(levels: int) -> bytes:
    """level1.zip!/level2.zip!/.../photo.jpg with `levels` archives in total."""
    data = zip_bytes({"photo.jpg": small_jpeg()})
    for level in range(levels, 1, -1):
        data = zip_bytes({f"level{level}.zip": data})
    return data


def test_depth_limit() -> None:
    limits = Limits(archive_max_depth=2)
    two = expand(nested_zips(2), "level1.zip", limits)
    assert two.problems == []
    assert two.displays() == ["level1.zip!/level2.zip!/photo.jpg"]

    three = expand(nested_zips(3), "level1.zip", limits)
    assert three.members == []
    [problem] = three.problems
    assert problem.location.display == "level1.zip!/level2.zip!/level3.zip"
    assert problem.reason is ProblemReason.ARCHIVE_DEPTH
    assert "deeper than 2 levels" in problem.detail
    assert problem.incomplete


def test_entry_limit() -> None:
    members = {f"{i:02}.jpg": small_jpeg(i) for i in range(6)}
    out = expand(zip_bytes(members), "many.zip", Limits(archive_max_entries=3))
    assert out.displays() == ["many.zip!/00.jpg", "many.zip!/01.jpg", "many.zip!/02.jpg"]
    assert out.problems == [
        Problem(
            FileLocation("many.zip"),
            ProblemReason.ARCHIVE_ENTRIES,
            "lists 6 members; the first 3 were read",
        )
    ]


def test_entry_limit_is_shared_with_nested_archives() -> None:
    inner = zip_bytes({f"{i}.jpg": small_jpeg(i) for i in range(3)})
    out = expand(
        zip_bytes({"a.jpg": small_jpeg(), "inner.zip": inner}),
        "outer.zip",
        Limits(archive_max_entries=3),
    )
    assert out.displays() == ["outer.zip!/a.jpg", "outer.zip!/inner.zip!/0.jpg"]
    assert out.reasons() == [("outer.zip", ProblemReason.ARCHIVE_ENTRIES)]
    # the inner index was read within the one entry left, and says so
    assert out.problems[0].detail == "'inner.zip' (nested) lists 3 members; the first 1 were read"


def test_entry_limit_counts_entries_that_are_not_read() -> None:
    """Links (or directories, or encrypted members) are entries too: a tar of a million
    symlinks must not flood the report with a million problems."""
    links = []
    for i in range(50):
        info = tarfile.TarInfo(f"link{i}.jpg")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        links.append(info)
    out = expand(tar_bytes({}, extra=tuple(links)), "links.tar", Limits(archive_max_entries=10))
    assert out.reasons()[-1] == ("links.tar", ProblemReason.ARCHIVE_ENTRIES)
    assert len(out.problems) == 11  # ten links reported, then the limit


def test_total_size_limit() -> None:
    members = {f"{i}.jpg": JPEG_HEAD + os.urandom(40_000) for i in range(3)}
    out = expand(zip_bytes(members), "big.zip", Limits(archive_max_total_bytes=100_000))
    assert out.displays() == ["big.zip!/0.jpg", "big.zip!/1.jpg"]
    [problem] = out.problems
    assert problem.location == FileLocation("big.zip")
    assert problem.reason is ProblemReason.ARCHIVE_SIZE
    assert "more than 100000 bytes decompressed" in problem.detail


def test_total_size_is_shared_with_nested_archives() -> None:
    part = JPEG_HEAD + os.urandom(40_000)
    inner = zip_bytes({"b.jpg": part, "c.jpg": part})
    out = expand(
        zip_bytes({"a.jpg": part, "inner.zip": inner}),
        "outer.zip",
        Limits(archive_max_total_bytes=150_000),
    )
    # a.jpg (40 kB) + inner.zip read whole (80 kB) + b.jpg (40 kB) passes 150 kB
    assert out.displays() == ["outer.zip!/a.jpg"]
    assert out.reasons() == [("outer.zip", ProblemReason.ARCHIVE_SIZE)]


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("big.zip", zip_bytes),
        ("big.tar", tar_bytes),
        ("big.tar.gz", lambda m: tar_bytes(m, "w:gz")),
    ],
)
def test_member_larger_than_max_file_bytes(
    name: str, build: Callable[[Mapping[str, bytes]], bytes]
) -> None:
    detail = "5000 bytes > 1000 limit"  # the declared size decides; nothing is read
    out = expand(
        build({"huge.jpg": JPEG_HEAD + bytes(4989), "ok.jpg": small_jpeg()}),
        name,
        Limits(max_file_bytes=1000),
    )
    assert out.problems == [
        Problem(MemberLocation(FileLocation(name), ("huge.jpg",)), ProblemReason.OVERSIZE, detail)
    ]
    assert out.problems[0].incomplete
    assert out.displays() == [f"{name}!/ok.jpg"]  # the next member is still read


def test_single_stream_larger_than_max_file_bytes() -> None:
    """A gzip stream declares no size: the cap applies while reading."""
    out = expand(
        gzip_bytes(JPEG_HEAD + os.urandom(5000)), "huge.jpg.gz", Limits(max_file_bytes=1000)
    )
    assert out.problems == [
        Problem(
            MemberLocation(FileLocation("huge.jpg.gz"), ("huge.jpg",)),
            ProblemReason.OVERSIZE,
            "more than 1000 bytes",
        )
    ]
    assert out.members == []


# -- bombs --------------------------------------------------------------------------------------


def test_zip_ratio_bomb_is_refused_unread() -> None:
    raw, crc, size = deflate_repeated(JPEG_HEAD, bytes(MiB), 1024)  # 1 GiB of zeros
    bomb = zip_of_raw("bomb.jpg", raw, crc, size)
    assert len(bomb) < 2 * MiB
    [info] = zipfile.ZipFile(io.BytesIO(bomb)).infolist()  # a well-formed zip
    assert (info.file_size, info.CRC) == (GiB + len(JPEG_HEAD), crc)

    out = expand(bomb, "bomb.zip")

    assert out.elapsed < 2
    assert out.members == []
    [problem] = out.problems
    assert problem.location == MemberLocation(FileLocation("bomb.zip"), ("bomb.jpg",))
    assert problem.reason is ProblemReason.ARCHIVE_RATIO
    assert problem.detail.startswith(f"declares {size} bytes from {len(raw)}")
    assert problem.incomplete


@pytest.mark.parametrize(
    ("method", "build"),
    [
        (zipfile.ZIP_BZIP2, lambda: bz2_repeated(JPEG_HEAD + bytes(4 * MiB), 100)),
        (zipfile.ZIP_LZMA, lambda: zip_lzma_raw(JPEG_HEAD + bytes(96 * MiB))),
    ],
    ids=["bzip2", "lzma"],
)
def test_a_bzip2_or_lzma_member_expands_a_little_at_a_time(
    tmp_path: Path, method: int, build: Callable[[], bytes]
) -> None:
    """zipfile decompresses bzip2 and LZMA without an output limit, all the compressed bytes
    a read brings at once: this 4 KB member declaring 1,000 bytes (no ratio refusal) made
    400 MB in one call (a 1.6 KB one, 4 GiB: 4.1 GiB peak, 18 s). It is fed 32 bytes (LZMA:
    256) at a time, and stops when the declared size is reached."""
    raw = build()
    assert len(raw) < 100_000
    file = tmp_path / "bomb.zip"
    file.write_bytes(zip_of_raw("bomb.jpg", raw, 0, 1000, method))

    run = walk_in_subprocess(file, ContentType.ZIP)

    [[where, reason, detail]] = run["problems"]
    assert (where, reason) == ("bomb.zip!/bomb.jpg", "archive_corrupt")
    assert "Bad CRC-32" in detail
    assert run["peak_kib"] - run["before_kib"] < 24 * 1024, run
    assert run["elapsed"] < 2, run


def test_gzip_bomb_is_stopped_early(tmp_path: Path) -> None:
    raw, crc, size = deflate_repeated(JPEG_HEAD, bytes(MiB), 1024)
    file = tmp_path / "bomb.jpg.gz"
    file.write_bytes(gzip_of_raw(raw, crc, size))

    out = expand_file(file)

    assert out.elapsed < 2
    assert out.members == []
    assert out.problems == [
        Problem(
            FileLocation(str(file)),
            ProblemReason.ARCHIVE_RATIO,
            "expands more than 100:1; not read further",
        )
    ]


@pytest.mark.parametrize(
    ("member", "content", "expected"),
    [
        # an image member: too big to read, then the data tarfile skips trips the guard
        ("bomb.jpg", JPEG_HEAD, [("bomb.tar.gz!/bomb.jpg", ProblemReason.OVERSIZE)]),
        # zeros nobody wants are still decompressed to be skipped: the guard stops that too
        ("bomb.bin", b"", []),
    ],
)
def test_tar_gz_bomb_is_stopped_early(
    tmp_path: Path, member: str, content: bytes, expected: list[tuple[str, ProblemReason]]
) -> None:
    header = tarfile.TarInfo(member)
    header.size = GiB
    head = header.tobuf(format=tarfile.GNU_FORMAT) + content
    raw, crc, size = deflate_repeated(head, bytes(MiB), 1024)  # the rest: zeros and padding
    file = tmp_path / "bomb.tar.gz"
    file.write_bytes(gzip_of_raw(raw, crc, size))

    out = expand_file(file)

    assert out.elapsed < 2
    assert out.members == []
    shown = [(p.location.display.replace(f"{tmp_path}/", ""), p.reason) for p in out.problems]
    assert shown == [*expected, ("bomb.tar.gz", ProblemReason.ARCHIVE_RATIO)]


@pytest.mark.parametrize(
    ("name", "compress"), [("bomb.jpg.bz2", bz2.compress), ("bomb.jpg.xz", lzma.compress)]
)
def test_bz2_and_xz_bombs_are_stopped_early(name: str, compress: Callable[[bytes], bytes]) -> None:
    bomb = compress(JPEG_HEAD + bytes(32 * MiB))
    assert len(bomb) < 32 * MiB // 1000
    out = expand(bomb, name)
    assert out.elapsed < 2
    assert out.members == []
    assert out.problems == [
        Problem(
            FileLocation(name),
            ProblemReason.ARCHIVE_RATIO,
            "expands more than 100:1; not read further",
        )
    ]


def test_a_bomb_inside_an_archive_stops_only_itself() -> None:
    raw, crc, size = deflate_repeated(JPEG_HEAD, bytes(MiB), 256)
    outer = zip_bytes(
        {"a.jpg": small_jpeg(), "bomb.jpg.gz": gzip_of_raw(raw, crc, size), "z.jpg": small_jpeg(1)}
    )
    out = expand(outer, "outer.zip")
    assert out.reasons() == [("outer.zip!/bomb.jpg.gz", ProblemReason.ARCHIVE_RATIO)]
    assert out.displays() == ["outer.zip!/a.jpg", "outer.zip!/z.jpg"]


def test_data_skipped_in_a_compressed_tar_counts_towards_the_total() -> None:
    """tarfile decompresses a member it skips: that is decompressed data too (it is also
    where a huge pax header would be buffered), so the total limit applies to it."""
    video = bytes(b % 16 for b in os.urandom(2_000_000))  # binary 2 MB, compresses about 2:1
    data = tar_bytes({"video.bin": video, "late.jpg": small_jpeg()}, "w:gz")

    out = expand(data, "backup.tar.gz", Limits(archive_max_total_bytes=MiB))

    assert out.members == []
    assert out.problems == [
        Problem(
            FileLocation("backup.tar.gz"),
            ProblemReason.ARCHIVE_SIZE,
            f"more than {MiB} bytes decompressed; the rest was not read",
        )
    ]
    # and without the limit, the member after it is reached
    assert expand(data, "backup.tar.gz").displays() == ["backup.tar.gz!/late.jpg"]


def test_overlapping_entries_are_refused() -> None:
    """Two central-directory entries share one local header: the construction behind
    non-recursive zip bombs (each entry decompresses the same data again)."""
    data = zip_bytes({"a.jpg": small_jpeg()})
    [record] = central_records(data)
    end = data.index(b"PK\x05\x06")
    cd = data[record:end]
    second = cd.replace(b"a.jpg", b"b.jpg")
    eocd = bytearray(data[end:])
    count, cd_size, cd_offset = 2, 2 * len(cd), record
    struct.pack_into("<2H2I", eocd, 8, count, count, cd_size, cd_offset)
    crafted = data[:end] + second + bytes(eocd)
    assert [i.filename for i in zipfile.ZipFile(io.BytesIO(crafted)).infolist()] == [
        "a.jpg",
        "b.jpg",
    ]

    out = expand(crafted, "overlap.zip")

    assert out.members == []
    [problem] = out.problems
    assert problem.location == FileLocation("overlap.zip")
    assert problem.reason is ProblemReason.ARCHIVE_OVERLAP
    assert "'a.jpg'" in problem.detail
    assert "'b.jpg'" in problem.detail
    assert problem.incomplete


def test_cp437_names_are_not_mistaken_for_overlap() -> None:
    """Windows zip tools store names in cp437 without the UTF-8 flag: `café.jpg` is 8 bytes,
    not the 9 of its UTF-8 form, and the next entry starts right after it."""
    data = zip_bytes({"cafX.jpg": small_jpeg(), "next.jpg": small_jpeg(1)})
    data = data.replace(b"cafX.jpg", b"caf\x82.jpg")  # 0x82 is é in cp437
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    assert [(i.filename, i.flag_bits & 0x800) for i in infos] == [("café.jpg", 0), ("next.jpg", 0)]

    out = expand(data, "windows.zip")

    assert out.problems == []
    assert out.displays() == ["windows.zip!/café.jpg", "windows.zip!/next.jpg"]


def test_encrypted_member() -> None:
    data = bytearray(zip_bytes({"secret.jpg": small_jpeg(), "plain.jpg": small_jpeg(1)}))
    local = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0].header_offset
    data[local + 6] |= 0x1  # general-purpose flags, bit 0: encrypted
    data[central_records(bytes(data))[0] + 8] |= 0x1

    out = expand(bytes(data), "locked.zip")

    assert out.problems == [
        Problem(
            MemberLocation(FileLocation("locked.zip"), ("secret.jpg",)),
            ProblemReason.ENCRYPTED_MEMBER,
            "encrypted; cannot be read",
        )
    ]
    assert out.problems[0].incomplete
    assert out.displays() == ["locked.zip!/plain.jpg"]


# -- names and links ----------------------------------------------------------------------------

EVIL_NAMES = ("../../evil.jpg", "/abs/evil.jpg", "dir/../../../up.jpg", "..\\win.jpg")


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("build", [zip_bytes, tar_bytes, lambda m: tar_bytes(m, "w:gz")])
def test_traversal_names_are_only_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: Callable[[Mapping[str, bytes]], bytes]
) -> None:
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    archive = work / "evil.archive"
    archive.write_bytes(build({name: small_jpeg(i) for i, name in enumerate(EVIL_NAMES)}))
    monkeypatch.chdir(work)  # where a naive extractor would write
    before, files_before = listing(tmp_path), snapshot(tmp_path)

    out = expand_file(archive)

    assert out.problems == []
    # reported verbatim, as names; the display shows where they came from
    assert [m.location.members for m in out.members] == [(name,) for name in EVIL_NAMES]
    assert out.members[0].location.display == f"{archive}!/../../evil.jpg"
    assert [m.data for m in out.members] == [small_jpeg(i) for i in range(len(EVIL_NAMES))]
    assert listing(tmp_path) == before
    assert snapshot(tmp_path) == files_before
    assert not Path("/abs/evil.jpg").exists()


def test_tar_links_and_special_entries_are_reported() -> None:
    symlink = tarfile.TarInfo("link.jpg")
    symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/shadow"
    hardlink = tarfile.TarInfo("hard.jpg")
    hardlink.type, hardlink.linkname = tarfile.LNKTYPE, "real.jpg"
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    device = tarfile.TarInfo("dev/sda")
    device.type, device.devmajor, device.devminor = tarfile.BLKTYPE, 8, 0
    data = tar_bytes({"real.jpg": small_jpeg()}, extra=(symlink, hardlink, fifo, device))

    out = expand(data, "links.tar")

    assert out.displays() == ["links.tar!/real.jpg"]
    assert out.problems == [
        Problem(
            MemberLocation(FileLocation("links.tar"), ("link.jpg",)),
            ProblemReason.ARCHIVE_LINK,
            "link to /etc/shadow; not followed",
        ),
        Problem(
            MemberLocation(FileLocation("links.tar"), ("hard.jpg",)),
            ProblemReason.ARCHIVE_LINK,
            "link to real.jpg; not followed",
        ),
        Problem(
            MemberLocation(FileLocation("links.tar"), ("pipe",)),
            ProblemReason.ARCHIVE_LINK,
            "special entry (device or FIFO); not read",
        ),
        Problem(
            MemberLocation(FileLocation("links.tar"), ("dev/sda",)),
            ProblemReason.ARCHIVE_LINK,
            "special entry (device or FIFO); not read",
        ),
    ]
    assert not any(p.incomplete for p in out.problems)


def test_zip_symlink_is_reported() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.jpg")
        info.external_attr = (0o120777) << 16  # S_IFLNK
        zf.writestr(info, "/etc/passwd")
        zf.writestr("real.jpg", small_jpeg())

    out = expand(buf.getvalue(), "links.zip")

    assert out.problems == [
        Problem(
            MemberLocation(FileLocation("links.zip"), ("link.jpg",)),
            ProblemReason.ARCHIVE_LINK,
            "symbolic link in archive; not followed",
        )
    ]
    assert out.displays() == ["links.zip!/real.jpg"]


# -- corrupt input ------------------------------------------------------------------------------


def test_truncated_zip() -> None:
    data = zip_bytes({"a.jpg": small_jpeg(), "b.jpg": small_jpeg(1)})
    out = expand(data[: len(data) // 2], "cut.zip")
    assert out.members == []
    [problem] = out.problems
    assert (problem.location, problem.reason) == (
        FileLocation("cut.zip"),
        ProblemReason.ARCHIVE_CORRUPT,
    )
    assert problem.detail.startswith("BadZipFile")
    assert problem.incomplete


def test_corrupt_zip_member_spares_the_others() -> None:
    data = bytearray(
        zip_bytes({"a.jpg": JPEG_HEAD + bytes(20_000), "b.jpg": small_jpeg()}, zipfile.ZIP_DEFLATED)
    )
    first = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    start = first.header_offset + 30 + len("a.jpg")
    data[start + 5 : start + 25] = b"\xff" * 20  # garble the deflate stream

    out = expand(bytes(data), "bad.zip")

    assert out.displays() == ["bad.zip!/b.jpg"]
    [problem] = out.problems
    assert (problem.location, problem.reason) == (
        MemberLocation(FileLocation("bad.zip"), ("a.jpg",)),
        ProblemReason.ARCHIVE_CORRUPT,
    )


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("cut.tar", tar_bytes),
        ("cut.tar.gz", lambda m: tar_bytes(m, "w:gz")),
        ("cut.tar.xz", lambda m: tar_bytes(m, "w:xz")),
    ],
)
def test_truncated_tar(name: str, build: Callable[[Mapping[str, bytes]], bytes]) -> None:
    big = JPEG_HEAD + os.urandom(50_000)
    data = build({"a.jpg": small_jpeg(), "big.jpg": big})
    out = expand(data[: len(data) * 2 // 3], name)
    assert out.displays() == [f"{name}!/a.jpg"]  # what came before the cut
    assert out.reasons() == [(name, ProblemReason.ARCHIVE_CORRUPT)]


def test_gzip_with_a_bad_checksum() -> None:
    data = bytearray(gzip_bytes(small_jpeg()))
    data[-8] ^= 0xFF  # CRC-32
    out = expand(bytes(data), "photo.jpg.gz")
    assert out.members == []
    [problem] = out.problems
    assert problem.reason is ProblemReason.ARCHIVE_CORRUPT
    assert "CRC" in problem.detail


def test_garbage_after_a_zip_signature() -> None:
    out = expand(b"PK\x03\x04" + os.urandom(2000), "junk.zip")
    assert out.reasons() == [("junk.zip", ProblemReason.ARCHIVE_CORRUPT)]


def test_sparse_tar_is_skipped_by_seeking(tmp_path: Path) -> None:
    """A 100 GiB member of holes: skipping it must seek, not read 100 GiB (minutes)."""
    header = tarfile.TarInfo("disk.img")
    header.size = 100 * GiB
    file = tmp_path / "sparse.tar"
    with open(file, "wb") as fh:
        fh.write(header.tobuf(format=tarfile.GNU_FORMAT))
        fh.seek(512 + 100 * GiB)
        fh.write(tar_bytes({"after.jpg": small_jpeg()}))  # a second member after the holes

    with bounded(seconds=20, memory=GiB):
        out = expand_file(file)

    assert out.elapsed < 5
    assert out.problems == []
    assert out.displays() == [f"{file}!/after.jpg"]


def test_huge_metadata_header_is_refused(tmp_path: Path) -> None:
    """A pax header declaring 100 GiB (sparse on disk): tarfile reads such a header in one
    read() and would try to hold all of it in memory."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = 100 * GiB
    file = tmp_path / "pax.tar"
    with open(file, "wb") as fh:
        fh.write(header.tobuf(format=tarfile.GNU_FORMAT))
    os.truncate(file, 512 + 100 * GiB + 1024)

    with bounded(seconds=20, memory=GiB):
        out = expand_file(file)

    assert out.elapsed < 5
    assert out.members == []
    assert out.reasons() == [(str(file), ProblemReason.ARCHIVE_SIZE)]


def test_tarfile_keeps_no_entry_it_has_returned(tmp_path: Path) -> None:
    """tarfile keeps every TarInfo it returns, pax records included: 24 entries after an
    8 MiB pax record each (a sparse file) held 192 MiB at the end of the listing, 20 after
    32 MiB each 738 MiB. The walker drops each entry; the peak is one record's worth."""
    file = tmp_path / "pax.tar"
    tar_with_pax_comments(file, 24, 8 * MiB)
    assert file.stat().st_size > 192 * MiB

    # an entry limit high enough that the header budget (4 KiB an entry) allows it all
    run = walk_in_subprocess(file, ContentType.TAR, archive_max_entries=100_000)

    assert run["problems"] == []
    assert run["seen"] == 24
    assert run["peak_kib"] - run["before_kib"] < 64 * 1024, run


def test_tar_headers_have_a_budget(tmp_path: Path) -> None:
    """Headers are what tarfile reads whole and keeps: 64 MiB in all (4 KiB an allowed
    entry when that is more). A read that would pass it is refused before it is made."""
    file = tmp_path / "pax.tar"
    tar_with_pax_comments(file, 6, 16 * MiB)

    with bounded(seconds=20, memory=GiB):
        out = expand_file(file)

    assert out.elapsed < 5
    assert out.seen == 3
    assert out.problems == [
        Problem(
            FileLocation(str(file)),
            ProblemReason.ARCHIVE_SIZE,
            "its headers (pax records, long names) pass 67,108,864 bytes; the rest was not read",
        )
    ]


def test_tar_headers_have_a_budget_in_a_compressed_stream(tmp_path: Path) -> None:
    """In a .tar.gz tarfile reads what it skips too: the walker reads a member's rest itself
    (as data), so only headers spend the budget; an 80 MiB pax record passes it."""
    body = len(b" comment=\n") + 80 * MiB
    record = body + len(str(body))  # the length counts its own digits (8 either way)
    pax = tarfile.TarInfo("././@PaxHeader")
    pax.type, pax.size = tarfile.XHDTYPE, record
    after = tar_bytes({"after.jpg": small_jpeg()})
    gz = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [gz.compress(pax.tobuf(format=tarfile.USTAR_FORMAT) + b"%d comment=" % record)]
    parts += [gz.compress(bytes(MiB)) for _ in range(80)]
    parts += [gz.compress(b"\n" + bytes(-record % 512) + after), gz.flush()]
    file = tmp_path / "pax.tar.gz"
    file.write_bytes(b"".join(parts))
    with tarfile.open(file) as tf:
        assert [m.name for m in tf.getmembers()] == ["after.jpg"]

    out = expand_file(file, Limits(archive_max_ratio=10_000))

    assert out.members == []
    assert out.reasons() == [(str(file), ProblemReason.ARCHIVE_SIZE)]
    assert out.problems[0].detail.startswith("its headers (pax records, long names) pass")
    # and within the budget, the member after it is read
    assert expand_file(
        file, Limits(archive_max_ratio=10_000, archive_max_entries=30_000)
    ).displays() == [f"{file}!/after.jpg"]


# -- through the engine (real detectors, in-process) ----------------------------------------------


def test_face_in_a_zip_is_found(scan: Callable[..., ScanResult], tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "backup.zip").write_bytes(
        zip_bytes({"photos/astronaut.jpg": encode(astronaut(), "JPEG"), "readme.txt": b"hi"})
    )

    result = scan(root)

    [item] = result.items
    assert item.location.display == f"{root}/backup.zip!/photos/astronaut.jpg"
    assert item.location.display.endswith("!/photos/astronaut.jpg")
    assert item.content_type is ContentType.JPEG
    assert item.primary is not None
    assert item.primary.kind is EvidenceKind.FACE_IMAGE
    assert result.stats.archive_members == 2
    assert result.problems == ()


@pytest.mark.parametrize(
    ("name", "magic", "label"),
    [
        ("backup.7z", b"7z\xbc\xaf\x27\x1c\x00\x04", "7z"),
        ("backup.rar", b"Rar!\x1a\x07\x01\x00", "rar"),
    ],
)
def test_unsupported_container_makes_the_scan_incomplete(
    scan: Callable[..., ScanResult], tmp_path: Path, name: str, magic: bytes, label: str
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / name).write_bytes(magic + os.urandom(200))

    result = scan(root)

    [problem] = result.problems
    assert problem.location == FileLocation(str(root / name))
    assert problem.reason is ProblemReason.UNSUPPORTED_CONTAINER
    assert problem.detail.startswith(f"{label} archives are not opened")
    assert result.incomplete
    assert result.exit_code is ExitCode.INCOMPLETE
