"""Shared test helpers: real images, real trees, snapshots that prove nothing was touched."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from PIL import Image

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEVSET = SHARED / "data" / "faces-dev"
SARIF_SCHEMA = SHARED / "data" / "schemas" / "sarif-schema-2.1.0.json"


def skimage_data() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data"


def astronaut() -> Image.Image:
    """A real photograph with one face (Eileen Collins, NASA), 512x512 RGB."""
    return Image.open(skimage_data() / "astronaut.png").convert("RGB")


def no_face(name: str = "coffee.png") -> Image.Image:
    """A real photograph without a face (coffee, chelsea = a cat, rocket.jpg, brick ...)."""
    return Image.open(skimage_data() / name).convert("RGB")


def encode(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def snapshot(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """Every entry under root: (sha256 | link target | 'dir', size, mtime_ns, atime_ns).

    Directories are listed and files read with O_NOATIME (we own them, or are root), so
    taking the snapshot does not itself change the access times it records.
    """
    noatime = getattr(os, "O_NOATIME", 0)
    out: dict[str, tuple[str, int, int, int]] = {}

    def visit(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | noatime)
        try:
            names = sorted(os.listdir(fd))
        finally:
            os.close(fd)
        for name in names:
            path = directory / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link:" + os.readlink(path), st.st_size, st.st_mtime_ns, 0)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", 0, st.st_mtime_ns, st.st_atime_ns)
                visit(path)
            elif stat.S_ISREG(st.st_mode):
                out[rel] = (_sha256(path, noatime), st.st_size, st.st_mtime_ns, st.st_atime_ns)
            else:
                out[rel] = ("special", 0, st.st_mtime_ns, st.st_atime_ns)

    visit(root)
    return out


def _sha256(path: Path, flags: int) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | flags)
    try:
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def zip_with_empty_name(data: bytes) -> bytes:
    """A zip with one stored member whose name is zero bytes long, written header by header
    (zipfile will not write one; such a member once crashed the archive walker)."""
    crc, n = zlib.crc32(data), len(data)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, n, n, 0, 0) + data
    central = struct.pack(
        "<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 0, 0, 0x21, crc, n, n, 0, 0, 0, 0, 0, 0, 0
    )
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)
    return local + central + end


def zip_listing(
    target: Path | BinaryIO, listed: int, *, real: int = 10_000, zip64: bool = True
) -> None:
    """A zip whose central directory lists `listed` members, written record by record in
    well under a second. The first `real` are empty stored files, each with its own local
    header (a valid layout; under ZIP64 their header offsets sit in a ZIP64 extra field);
    every later record repeats the first one, so it overlaps it: only a reader that went
    past the first `real` entries would notice. Without ZIP64 the entry count is stored
    modulo 65,536, as writers without ZIP64 did."""
    local_header, central = struct.Struct("<4s5H3I2H"), struct.Struct("<4s6H3I5H2I")
    records, offset = [], 0
    with open(target, "wb") if isinstance(target, Path) else contextlib.nullcontext(target) as fh:
        for i in range(real):
            name = b"%07d.txt" % i
            fh.write(local_header.pack(b"PK\x03\x04", 45, 0, 0, 0, 0x21, 0, 0, 0, len(name), 0))
            fh.write(name)
            extra = struct.pack("<2HQ", 0x0001, 8, offset) if zip64 else b""
            at = 0xFFFFFFFF if zip64 else offset
            records.append(
                central.pack(b"PK\x01\x02", 45, 45, 0, 0, 0, 0x21, 0, 0, 0,
                             len(name), len(extra), 0, 0, 0, 0, at) + name + extra
            )  # fmt: skip
            offset += local_header.size + len(name)
        fh.write(b"".join(records))
        for start in range(real, listed, 100_000):
            fh.write(records[0] * min(100_000, listed - start))
        size = sum(map(len, records)) + len(records[0]) * max(0, listed - real)
        if zip64:
            fh.write(struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, listed, listed,
                                 size, offset))  # fmt: skip
            fh.write(struct.pack("<4sIQI", b"PK\x06\x07", 0, offset + size, 1))
            fh.write(
                struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, *(0xFFFF,) * 2, *(0xFFFFFFFF,) * 2, 0)
            )
        else:
            count = listed % 65_536
            fh.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, size, offset, 0))
