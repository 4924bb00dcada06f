"""Shared test helpers: real images, real trees, snapshots that prove nothing was touched."""

from __future__ import annotations

import bz2
import contextlib
import hashlib
import io
import json
import os
import stat
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

import scanner
from scanner.model import ContentType

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


_WALK = r"""
import json, os, resource, sys, time
from scanner.config import Limits
from scanner.model import ContentType, FileLocation, Problem
from scanner.sources.archive import ArchiveWalker

# Half a GiB more address space than now: a regression fails fast with MemoryError
# instead of taking the machine's memory.
with open("/proc/self/statm") as fh:
    mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
cap = mapped + (512 << 20)
if hard != resource.RLIM_INFINITY:
    cap = min(cap, hard)
resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def peak_kib():
    # VmHWM, this process's own peak RSS: ru_maxrss would also count the parent's at fork,
    # which Linux carries across execve.
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


before = peak_kib()
path, content_type, limits = sys.argv[1], ContentType(sys.argv[2]), json.loads(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
started = time.monotonic()
with os.fdopen(fd, "rb") as fh:
    walker = ArchiveWalker(Limits(**limits))
    out = list(walker.expand(FileLocation(os.path.basename(path)), fh, content_type))
print(json.dumps({
    "elapsed": time.monotonic() - started,
    "before_kib": before,
    "peak_kib": peak_kib(),
    "seen": walker.members_seen,
    "problems": [
        [p.location.display, p.reason.value, p.detail] for p in out if isinstance(p, Problem)
    ],
}))
"""


def walk_in_subprocess(file: Path, content_type: ContentType, **limits: int) -> dict[str, Any]:
    """Run the archive walker over `file` (opened as the engine does) in a fresh Python with
    half a GiB more address space than it starts with: elapsed seconds, peak RSS before and
    after (KiB), members seen, problems as [display, reason, detail]."""
    root = str(Path(scanner.__file__).resolve().parents[1])  # the scanner under test
    proc = subprocess.run(
        [sys.executable, "-c", _WALK, str(file), content_type.value, json.dumps(limits)],
        env=dict(os.environ, PYTHONPATH=root),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    run: dict[str, Any] = json.loads(proc.stdout)
    return run


def tar_with_pax_comments(path: Path, members: int, comment_bytes: int) -> None:
    """A tar of `members` empty files, each after a pax header whose `comment` record holds
    `comment_bytes` zero bytes: a hole in a sparse file, so gigabytes of headers take a few
    kilobytes on disk. tarfile reads each record whole and keeps it with the member."""
    import tarfile

    with open(path, "wb") as fh:
        for i in range(members):
            body = len(b" comment=\n") + comment_bytes
            record = body + len(str(body))
            record += len(str(record)) - len(str(body))  # the length counts its own digits
            pax = tarfile.TarInfo("././@PaxHeader")
            pax.type, pax.size = tarfile.XHDTYPE, record
            fh.write(pax.tobuf(format=tarfile.USTAR_FORMAT) + b"%d comment=" % record)
            fh.seek(comment_bytes, os.SEEK_CUR)
            fh.write(b"\n")
            fh.seek(-record % 512, os.SEEK_CUR)
            member = tarfile.TarInfo(f"f{i}.txt")
            fh.write(member.tobuf(format=tarfile.USTAR_FORMAT))
        fh.write(bytes(1024))


def bz2_repeated(data: bytes, blocks: int) -> bytes:
    """A bzip2 stream of `blocks` copies of the one block that holds `data`, assembled bit by
    bit (blocks are not byte-aligned; the stream's CRC combines theirs): 4 KB that expand to
    400 MB take milliseconds instead of seconds of compression."""
    one = bz2.compress(data, 9)
    bits = "".join(f"{b:08b}" for b in one[4:])
    block_magic, end_magic = f"{0x314159265359:048b}", f"{0x177245385090:048b}"
    assert bits.startswith(block_magic)
    end = bits.index(end_magic, len(block_magic))
    block, crc = bits[:end], int(bits[48:80], 2)
    combined = 0
    for _ in range(blocks):
        combined = (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ crc
    out = block * blocks + end_magic + f"{combined:032b}"
    out += "0" * (-len(out) % 8)
    return one[:4] + int(out, 2).to_bytes(len(out) // 8, "big")


FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")


def run_faceaudit(
    *args: str, cwd: Path | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """The installed `faceaudit` command, as a user runs it (no terminal on stdin)."""
    return subprocess.run(
        [FACEAUDIT, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ),
        check=False,
        stdin=subprocess.DEVNULL,
    )


_PROBE = """
import json, resource, sys
sys.argv = ["faceaudit", *json.loads(sys.argv[1])]
from {module} import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
children = resource.getrusage(resource.RUSAGE_CHILDREN)
report = {{
    "code": code,
    "modules": sorted(sys.modules),
    "children_maxrss": children.ru_maxrss,
    "children_cpu": children.ru_utime + children.ru_stime,
}}
print("\\nPROBE " + json.dumps(report))
"""


def probe_command(
    *args: str, module: str = "scanner.launcher", cwd: Path | None = None
) -> dict[str, Any]:
    """Run `faceaudit ARGS` through `module`'s main in a fresh interpreter and report what it
    did: its exit code, the modules it imported, the memory and CPU its child processes used,
    and its stdout (without the report's line) and stderr. Observed, never timed."""
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module), json.dumps(args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    out, _, line = proc.stdout.rpartition("\nPROBE ")
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(line)
    report["stdout"], report["stderr"] = out, proc.stderr
    return report
