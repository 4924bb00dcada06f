"""The hostile corpus: every case of ../shared/docs/HOSTILE.md and more, built at test time.

Each `Case` builds its input under `env.data` (or in a throwaway database), names what the
scan must report (problem reasons, evidence kinds, the exit code) and is run end to end by
tests/hostile/test_corpus.py through the real CLI with two worker processes. Nothing here is a
binary blob: every file is assembled from code, and payloads that would run code if anything
executed them all try to create `env.canary`.

Database cases are in corpus_db.py; this module holds the files, archives and policies.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import os
import socket
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from helpers import (
    astronaut,
    bz2_repeated,
    encode,
    no_face,
    tar_with_pax_comments,
    zip_listing,
    zip_with_empty_name,
)
from PIL import Image

MiB = 1024 * 1024


@dataclass
class Env:
    """Where one case lives. `canary` is in a world-writable folder (a database server writes
    files as its own user), so a payload that ran could create it."""

    data: Path  # the scanned tree (snapshotted before and after)
    outside: Path  # beside the tree: links point here; it must stay untouched too
    canary: Path
    stack: contextlib.ExitStack
    db_state: list[Callable[[], object]] = field(default_factory=list)  # compared after


@dataclass(frozen=True)
class Expect:
    """A problem (or evidence) the report must hold: its path ends with `where`."""

    where: str
    reason: str  # a problem reason, or `evidence:<kind>`
    words: str = ""  # in the detail (problems) or the reasons (evidence)


@dataclass(frozen=True)
class Case:
    """`build` makes the input and returns the CLI's targets (paths, database URIs); the
    case is scanned with `options`, together with the other cases of its `group` (one
    command per group) unless it is a usage error, which always runs alone."""

    id: str
    area: str
    build: Callable[[Env], tuple[str, ...]]
    expect: tuple[Expect, ...]
    exit_code: int  # what scanning this case alone exits with
    options: tuple[str, ...] = ()
    group: str = "files"
    needs_root: bool = False  # mknod
    without_dac: bool = False  # run without CAP_DAC_OVERRIDE: permission bits apply to root
    secret: str = ""  # a password in the arguments: it must appear in no output
    command: tuple[str, ...] = ("scan",)  # ("policy", "validate") for policy files


# -- small builders ------------------------------------------------------------------------


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def jpeg(im: Image.Image | None = None) -> bytes:
    return encode(im or no_face("coffee.png").resize((160, 120)), "JPEG", quality=80)


def truncated_jpeg() -> bytes:
    return jpeg(no_face("coffee.png"))[:1500]


def png_chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def central_offsets(data: bytes) -> list[int]:
    out, at = [], data.find(b"PK\x01\x02")
    while at >= 0:
        out.append(at)
        at = data.find(b"PK\x01\x02", at + 4)
    return out


def call_pickle(module: str, name: str, arg: str, protocol: int = 0) -> bytes:
    """`module.name(arg)` as a pickle, assembled by hand (never loaded, anywhere)."""
    if protocol == 0:
        return f"c{module}\n{name}\n(V{arg}\ntR.".encode()

    def short(text: str) -> bytes:
        raw = text.encode()
        return b"\x8c" + bytes([len(raw)]) + raw

    body = short(module) + short(name) + b"\x93" + short(arg) + b"\x85R."
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def system_pickle(command: str, protocol: int = 0) -> bytes:
    return call_pickle("posix", "system", command, protocol)


def npy_header(header: str) -> bytes:
    text = header + " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin-1")


def vectors(n: int, d: int = 128, seed: int = 3) -> np.ndarray:
    """L2-normalised vectors with a shared mean and identity clusters (a face model's shape)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=d) * 0.6 + rng.normal(size=(4, d))[np.arange(n) % 4]
    x = x + rng.normal(scale=0.6, size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


# -- images --------------------------------------------------------------------------------


def img_pixel_bomb(env: Env) -> tuple[str, ...]:
    write(env.data / "bomb.png", png_header_only(100_000, 100_000))
    return (str(env.data),)


def img_truncated(env: Env) -> tuple[str, ...]:
    write(env.data / "cut.jpg", truncated_jpeg())
    return (str(env.data),)


def img_eps_as_jpeg(env: Env) -> tuple[str, ...]:
    ps = f"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n({env.canary}) (w) file closefile\n"
    write(env.data / "photo.jpg", ps.encode())
    return (str(env.data),)


def img_text_chunk_bomb(env: Env) -> tuple[str, ...]:
    png = encode(no_face("coffee.png").resize((64, 48)), "PNG")
    bomb = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (4 * MiB), 9))
    write(env.data / "text-bomb.png", png[:33] + bomb + png[33:])
    return (str(env.data),)


def img_many_pages(env: Env) -> tuple[str, ...]:
    pages = [Image.new("RGB", (16, 16), (i * 10, 0, 0)) for i in range(3)]
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    write(env.data / "pages.tif", buf.getvalue())
    return (str(env.data),)


def img_empty_and_random(env: Env) -> tuple[str, ...]:
    write(env.data / "empty.jpg", b"")
    write(env.data / "noise.png", np.random.default_rng(1).bytes(5000))
    return (str(env.data),)


def img_slow_decoder(env: Env) -> tuple[str, ...]:
    """A 150-megapixel PNG (within --max-pixels): seconds to decode, against a 0.5 s budget."""
    im = Image.new("L", (15_000, 10_000))
    write(env.data / "slow.png", encode(im, "PNG", compress_level=1))
    write(env.data / "after.jpg", jpeg(astronaut()))  # the scan goes on after the timeout
    return (str(env.data),)


def img_xmp_entities(env: Env) -> tuple[str, ...]:
    lol = "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};&l{i - 1};&l{i - 1};">' for i in range(1, 9))
    xmp = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY l0 "lol">{lol}'
        f'<!ENTITY ext SYSTEM "file://{env.outside}/secret.txt">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        '22-rdf-syntax-ns#"><rdf:Description>&l8;&ext;</rdf:Description></rdf:RDF></x:xmpmeta>'
    )
    write(env.outside / "secret.txt", b"never read\n")
    write(env.data / "photo.jpg", jpeg())
    write(env.data / "photo.xmp", xmp.encode())
    return (str(env.data),)


# -- archives ------------------------------------------------------------------------------


def arc_zip_ratio_bomb(env: Env) -> tuple[str, ...]:
    write(env.data / "bomb.zip", zip_bytes({"zeros.png": b"\x89PNG" + bytes(8 * MiB)}))
    return (str(env.data),)


def arc_zip_overlap(env: Env) -> tuple[str, ...]:
    data = bytearray(zip_bytes({"a.jpg": jpeg(), "b.jpg": jpeg()}))
    second = central_offsets(bytes(data))[1]
    data[second + 42 : second + 46] = struct.pack("<I", 0)  # b's local header is a's
    write(env.data / "overlap.zip", bytes(data))
    return (str(env.data),)


def arc_zip_depth(env: Env) -> tuple[str, ...]:
    inner = jpeg(astronaut())
    for level in range(8):
        inner = zip_bytes({f"level{level}.{'zip' if level else 'jpg'}": inner})
    write(env.data / "nested.zip", inner)
    return (str(env.data),)


def arc_zip_entries(env: Env) -> tuple[str, ...]:
    write(env.data / "many.zip", zip_bytes({f"f{i}.txt": b"x" for i in range(300)}))
    return (str(env.data),)


def arc_zip_encrypted(env: Env) -> tuple[str, ...]:
    data = bytearray(zip_bytes({"secret.jpg": jpeg()}, zipfile.ZIP_STORED))
    data[6] |= 0x1  # local header flags: encrypted
    data[central_offsets(bytes(data))[0] + 8] |= 0x1
    write(env.data / "locked.zip", bytes(data))
    return (str(env.data),)


def arc_zip_traversal(env: Env) -> tuple[str, ...]:
    members = {"../../escape.jpg": truncated_jpeg(), "/etc/cron.d/evil.jpg": truncated_jpeg()}
    write(env.data / "sub" / "evil.zip", zip_bytes(members))
    return (str(env.data),)


def arc_zip_empty_name(env: Env) -> tuple[str, ...]:
    """Found by fuzzing: a member with an empty name made zipfile raise IndexError, and the
    whole scan ended with an internal error and no report."""
    write(env.data / "noname.zip", zip_with_empty_name(jpeg(astronaut())))
    write(env.data / "later.jpg", jpeg(astronaut()))
    return (str(env.data),)


def arc_zip_truncated(env: Env) -> tuple[str, ...]:
    data = zip_bytes({"a.jpg": jpeg(), "b.jpg": jpeg()})
    write(env.data / "cut.zip", data[: len(data) // 2])
    return (str(env.data),)


def arc_zip_index_millions(env: Env) -> tuple[str, ...]:
    """A central directory of 2,000,000 records (110 MB): zipfile listed all of them before
    the entry limit applied (922 MiB and 13 s in the scanning process)."""
    zip_listing(env.data / "millions.zip", 2_000_000)
    return (str(env.data),)


def arc_zip_index_lies(env: Env) -> tuple[str, ...]:
    """End records that lie: 2**64-1 entries (ZIP64), a directory past the end of the file."""
    data = zip_bytes({"a.jpg": jpeg()}, zipfile.ZIP_STORED)
    body, end = data[:-22], bytearray(data[-22:])
    size, offset = struct.unpack_from("<2I", end, 12)
    count = 2**64 - 1
    write(
        env.data / "count.zip",
        body
        + struct.pack("<4sQ2H2I4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, size, offset)
        + struct.pack("<4sIQI", b"PK\x06\x07", 0, len(body), 1)
        + struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, *(0xFFFF,) * 2, *(0xFFFFFFFF,) * 2, 0),
    )
    struct.pack_into("<I", end, 16, 2**31)  # the directory's offset
    write(env.data / "offset.zip", body + bytes(end))
    return (str(env.data),)


def arc_zip_bzip2_member(env: Env) -> tuple[str, ...]:
    """A 4 KB bzip2 member declaring 1,000 bytes that expands to 400 MB: zipfile decompressed
    it in one call (a 1.6 KB one made 4 GiB)."""
    raw = bz2_repeated(b"\xff\xd8\xff\xe0" + bytes(4 * MiB), 100)
    name = b"bomb.jpg"
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 46, 0, 12, 0, 0x21, 0, len(raw), 1000, 8, 0)
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 46, 46, 0, 12, 0, 0x21, 0, len(raw),
                          1000, 8, 0, 0, 0, 0, 0, 0)  # fmt: skip
    body, cd = local + name + raw, central + name
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), len(body), 0)
    write(env.data / "bzip2.zip", body + cd + end)
    return (str(env.data),)


def arc_gzip_endless_name(env: Env) -> tuple[str, ...]:
    """A gzip header whose name runs for 4 MiB: gzip reads it a byte at a time (a few
    gigabytes would stall the scan for hours)."""
    body = gzip.compress(jpeg(astronaut()), mtime=0)
    name = b"A" * (4 * MiB) + b"\x00"
    write(env.data / "name.jpg.gz", body[:3] + b"\x08" + body[4:10] + name + body[10:])
    return (str(env.data),)


def arc_gzip_bomb(env: Env) -> tuple[str, ...]:
    write(env.data / "photo.png.gz", gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(8 * MiB), 9))
    return (str(env.data),)


def arc_bz2_bomb_in_tar(env: Env) -> tuple[str, ...]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        body = b"\x89PNG\r\n\x1a\n" + bytes(8 * MiB)
        info = tarfile.TarInfo("big.png")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    write(env.data / "backup.tar.bz2", bz2.compress(buf.getvalue(), 9))
    return (str(env.data),)


def arc_tar_links_and_devices(env: Env) -> tuple[str, ...]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, target in (
            ("passwd", tarfile.SYMTYPE, "/etc/passwd"),
            ("hard", tarfile.LNKTYPE, "../../etc/shadow"),
            ("null", tarfile.CHRTYPE, ""),
            ("pipe", tarfile.FIFOTYPE, ""),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tf.addfile(info)
    write(env.data / "links.tar", buf.getvalue())
    return (str(env.data),)


def arc_tar_pax_headers(env: Env) -> tuple[str, ...]:
    """12 pax records of 16 MiB of zeros (holes: 192 MiB that take kilobytes): tarfile read
    each whole and kept them all with their members."""
    tar_with_pax_comments(env.data / "headers.tar", 12, 16 * MiB)
    return (str(env.data),)


def arc_seven_zip(env: Env) -> tuple[str, ...]:
    write(env.data / "photos.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(64))
    return (str(env.data),)


# -- pickles and arrays --------------------------------------------------------------------


def pkl_system_as_jpeg(env: Env) -> tuple[str, ...]:
    write(env.data / "holiday.jpg", system_pickle(f"touch {env.canary}"))
    return (str(env.data),)


def pkl_truncated_popen(env: Env) -> tuple[str, ...]:
    whole = call_pickle("subprocess", "Popen", f"touch {env.canary}", protocol=4)
    write(env.data / "model.pkl", whole[:-3])  # cut before the call: the import is seen
    return (str(env.data),)


def pkl_huge_length(env: Env) -> tuple[str, ...]:
    write(env.data / "faces.pkl", b"\x80\x04\x8d" + (2**62).to_bytes(8, "little") + b"abc")
    return (str(env.data),)


def pkl_joblib_zlib(env: Env) -> tuple[str, ...]:
    write(env.data / "encodings.joblib", zlib.compress(system_pickle(f"touch {env.canary}", 4)))
    return (str(env.data),)


def pkl_opcode_flood(env: Env) -> tuple[str, ...]:
    write(env.data / "flood.pkl", b"\x80\x02" + b"N0" * 600_000 + b"N.")
    return (str(env.data),)


def npy_object_payload(env: Env) -> tuple[str, ...]:
    header = npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }")
    write(env.data / "faces.npy", header + system_pickle(f"touch {env.canary}", 4))
    return (str(env.data),)


def npy_lying_header(env: Env) -> tuple[str, ...]:
    header = npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 1024), }")
    write(env.data / "huge.npy", header + bytes(4096))
    return (str(env.data),)


def npy_long_header(env: Env) -> tuple[str, ...]:
    write(env.data / "long.npy", b"\x93NUMPY\x02\x00" + (2**31).to_bytes(4, "little") + b"{}")
    return (str(env.data),)


def npz_pickled_member(env: Env) -> tuple[str, ...]:
    header = npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }")
    members = {"encodings.npy": header + system_pickle(f"touch {env.canary}", 4)}
    write(env.data / "faces.npz", zip_bytes(members))
    return (str(env.data),)


def npz_bomb(env: Env) -> tuple[str, ...]:
    header = npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2097152, 1), }")
    write(env.data / "bomb.npz", zip_bytes({"x.npy": header + bytes(8 * MiB)}))
    return (str(env.data),)


def h5_links_outside(env: Env) -> tuple[str, ...]:
    import h5py

    target = env.outside / "other.h5"
    with h5py.File(target, "w") as f:
        f["embeddings"] = vectors(20)
    raw = write(env.outside / "raw.bin", vectors(4).astype("<f8").tobytes())
    with h5py.File(env.data / "index.h5", "w") as f:
        f["faces"] = h5py.ExternalLink(str(target), "/embeddings")
        f.create_dataset("raw", shape=(4, 128), dtype="<f8",
                         external=[(str(raw), 0, h5py.h5f.UNLIMITED)])  # fmt: skip
    return (str(env.data),)


def h5_truncated(env: Env) -> tuple[str, ...]:
    import h5py

    whole = env.outside / "whole.h5"
    with h5py.File(whole, "w") as f:
        f["faces"] = vectors(40)
    write(env.data / "cut.h5", whole.read_bytes()[:1500])
    return (str(env.data),)


# -- JSON, CSV, text -----------------------------------------------------------------------


def json_deep(env: Env) -> tuple[str, ...]:
    write(env.data / "deep.json", b"[" * 200_000 + b"]" * 200_000)
    return (str(env.data),)


def json_huge_int(env: Env) -> tuple[str, ...]:
    write(env.data / "int.json", b'{"n": ' + b"7" * 5000 + b"}")
    return (str(env.data),)


def json_nan(env: Env) -> tuple[str, ...]:
    write(env.data / "nan.json", b'{"face": [NaN, Infinity, -Infinity, 1, 2, 3, 4, 5, 6]}')
    return (str(env.data),)


def json_not_utf8(env: Env) -> tuple[str, ...]:
    write(env.data / "latin.json", b'{"name": "caf\xe9", "v": [' + b"0.1, " * 127 + b"0.1]}")
    return (str(env.data),)


def csv_giant_field(env: Env) -> tuple[str, ...]:
    write(env.data / "field.csv", b"a,b\n1,2\n3,4\n" + b"x" * (4 * MiB) + b"\n5,6\n")
    return (str(env.data),)


def text_quoted_empty_key(env: Env) -> tuple[str, ...]:
    """Found by fuzzing: `''` before a run of numbers made the text parser raise IndexError
    (a detector error, and the face templates after it were never classified)."""
    rows = vectors(8).round(5)
    body = "".join(f"'' = [{', '.join(map(str, row))}]\n" for row in rows)
    write(env.data / "dump.txt", body.encode())
    return (str(env.data),)


def csv_first_row_not_numeric(env: Env) -> tuple[str, ...]:
    """Found by fuzzing: a first data row with a non-number in a numeric column raised
    ValueError in the CSV parser (detector error)."""
    rows = [",".join(map(str, v)) for v in vectors(30).round(5)]
    rows[0] = rows[0].replace(",", ",n/a\t?,", 1)
    write(env.data / "templates.csv", "\n".join(rows).encode())
    return (str(env.data),)


# -- the filesystem ------------------------------------------------------------------------


def fs_links(env: Env) -> tuple[str, ...]:
    write(env.outside / "face.jpg", jpeg(astronaut()))
    os.symlink(env.outside / "face.jpg", env.data / "out.jpg")
    os.symlink("/etc/shadow", env.data / "shadow.jpg")
    os.symlink("loop", env.data / "loop")
    os.symlink("..", env.data / "parent")
    return (str(env.data),)


def fs_fifo_socket(env: Env) -> tuple[str, ...]:
    os.mkfifo(env.data / "pipe.jpg")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(env.data / "sock.jpg"))
    return (str(env.data),)


def fs_devices(env: Env) -> tuple[str, ...]:
    os.mknod(env.data / "zero.jpg", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero
    os.mknod(env.data / "disk.png", stat.S_IFBLK | 0o600, os.makedev(7, 0))  # loop0
    return (str(env.data),)


def fs_sparse(env: Env) -> tuple[str, ...]:
    with open(env.data / "huge.jpg", "wb") as fh:
        fh.write(jpeg()[:64])
        fh.truncate(100 * 1024**3)
    return (str(env.data),)


def fs_permissions(env: Env) -> tuple[str, ...]:
    write(env.data / "locked" / "face.jpg", jpeg(astronaut()))
    write(env.data / "secret.jpg", jpeg(astronaut()))
    os.chmod(env.data / "locked", 0)
    os.chmod(env.data / "secret.jpg", 0)
    env.stack.callback(os.chmod, env.data / "locked", 0o755)  # so the tree can be removed
    return (str(env.data),)


def fs_hostile_names(env: Env) -> tuple[str, ...]:
    base = os.fsencode(env.data)
    names = (b"new\nline.jpg", b"\x1b[2J\x1b[31mred.jpg", b"caf\xe9.jpg", b"\xe2\x80\xaegpj.exe",
             b"-rf.jpg", b"--output=x.jpg")  # fmt: skip
    for name in names:
        with open(os.path.join(base, name), "wb") as fh:
            fh.write(truncated_jpeg())
    return (str(env.data),)


def fs_deep_tree(env: Env) -> tuple[str, ...]:
    path = env.data
    for _ in range(300):
        path = path / "d"
    write(path / "cut.jpg", truncated_jpeg())
    return (str(env.data),)


def fs_oversize(env: Env) -> tuple[str, ...]:
    """Over the default 100 MiB and not sparse: reported from its size, never read."""
    write(env.data / "big.png", encode(no_face("coffee.png"), "PNG") + bytes(101 * MiB))
    return (str(env.data),)


def fs_odd_times(env: Env) -> tuple[str, ...]:
    face = write(env.data / "future.jpg", jpeg(astronaut()))
    old = write(env.data / "old.jpg", jpeg(astronaut()))
    os.utime(face, ns=(0, 32_503_680_000 * 10**9))  # year 3000
    os.utime(old, ns=(0, -2_000_000_000 * 10**9))  # 1906
    return (str(env.data),)


# -- policies ------------------------------------------------------------------------------


def _policy(env: Env, body: str) -> tuple[str, ...]:
    return (str(write(env.data / "policy.yaml", body.encode())),)


def pol_python_tag(env: Env) -> tuple[str, ...]:
    body = f'schema_version: 1\nname: !!python/object/apply:os.system ["touch {env.canary}"]\n'
    return _policy(env, body)


def pol_billion_laughs(env: Env) -> tuple[str, ...]:
    lines = ["schema_version: 1", "name: lol", "a0: &a0 [lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    return _policy(env, "\n".join(lines) + "\n")


def pol_deep(env: Env) -> tuple[str, ...]:
    return _policy(env, "schema_version: 1\nname: deep\ntitle: " + "[" * 50_000 + "\n")


def pol_control_characters(env: Env) -> tuple[str, ...]:
    return _policy(env, "schema_version: 1\nname: \x02\x1b[31m\n")


def pol_extends_device(env: Env) -> tuple[str, ...]:
    return _policy(env, "schema_version: 1\nname: z\nextends: [/dev/zero, /dev/urandom]\n")


def pol_extends_fifo(env: Env) -> tuple[str, ...]:
    os.mkfifo(env.data / "pipe.yaml")
    return _policy(env, "schema_version: 1\nname: f\nextends: [pipe.yaml]\n")


def pol_waivers_tag(env: Env) -> tuple[str, ...]:
    write(env.data / "tree" / "a.txt", b"nothing\n")
    waivers = f'waivers: !!python/object/apply:os.system ["touch {env.canary}"]\n'
    write(env.data / "waivers.yaml", waivers.encode())
    return (str(env.data / "tree"), "--policy", "gdpr", "--waivers", str(env.data / "waivers.yaml"))


# -- the table -----------------------------------------------------------------------------

E = Expect
INCOMPLETE, FOUND, CLEAN, USAGE = 3, 1, 0, 2
VALIDATE = ("policy", "validate")
AREAS = {
    "img": "images", "arc": "archives", "pkl": "pickles", "npy": "npy", "npz": "npy",
    "h5": "hdf5", "json": "json-csv", "csv": "json-csv", "text": "json-csv",
    "fs": "filesystem", "pol": "policies", "sqlite": "sqlite", "pg": "postgresql",
    "my": "mariadb",
}  # fmt: skip


def case(
    case_id: str,
    build: Callable[[Env], tuple[str, ...]],
    exit_code: int,
    *expect: Expect,
    **options: Any,
) -> Case:
    return Case(
        case_id, AREAS[case_id.split("-", maxsplit=1)[0]], build, expect, exit_code, **options
    )


FILE_CASES: tuple[Case, ...] = (
    case("img-pixel-bomb", img_pixel_bomb, INCOMPLETE, E("bomb.png", "pixel_limit")),
    case("img-truncated-jpeg", img_truncated, INCOMPLETE, E("cut.jpg", "decode_error")),
    case("img-eps-named-jpeg", img_eps_as_jpeg, INCOMPLETE,
         E("photo.jpg", "disguised_content", "postscript")),
    case("img-png-text-bomb", img_text_chunk_bomb, INCOMPLETE, E("text-bomb.png", "decode_error")),
    case("img-tiff-pages", img_many_pages, INCOMPLETE,
         E("pages.tif", "page_limit"), options=("--max-pages", "2")),
    case("img-empty-and-noise", img_empty_and_random, INCOMPLETE,
         E("empty.jpg", "decode_error", "empty"), E("noise.png", "decode_error")),
    case("img-slow-decoder-timeout", img_slow_decoder, INCOMPLETE,
         E("slow.png", "timeout"), E("after.jpg", "evidence:face_image"),
         options=("--timeout", "0.5"), group="timeout"),
    case("img-xmp-entities", img_xmp_entities, INCOMPLETE, E("photo.xmp", "decode_error")),
    case("arc-zip-ratio-bomb", arc_zip_ratio_bomb, INCOMPLETE,
         E("bomb.zip!/zeros.png", "archive_ratio")),
    case("arc-zip-overlap", arc_zip_overlap, INCOMPLETE, E("overlap.zip", "archive_overlap")),
    case("arc-zip-depth", arc_zip_depth, INCOMPLETE, E(".zip", "archive_depth")),
    case("arc-zip-entries", arc_zip_entries, INCOMPLETE,
         E("many.zip", "archive_entries"), options=("--archive-entries", "100")),
    case("arc-zip-encrypted", arc_zip_encrypted, INCOMPLETE,
         E("locked.zip!/secret.jpg", "encrypted_member")),
    case("arc-zip-traversal-names", arc_zip_traversal, INCOMPLETE,
         E("evil.zip!/../../escape.jpg", "decode_error"),
         E("evil.zip!//etc/cron.d/evil.jpg", "decode_error")),
    case("arc-zip-empty-member-name", arc_zip_empty_name, FOUND,
         E("noname.zip!/", "evidence:face_image"), E("later.jpg", "evidence:face_image")),
    case("arc-zip-truncated", arc_zip_truncated, INCOMPLETE, E("cut.zip", "archive_corrupt")),
    case("arc-zip-index-2m-members", arc_zip_index_millions, INCOMPLETE,
         E("millions.zip", "archive_entries", "lists 2,000,000 members; the first")),
    case("arc-zip-index-lies", arc_zip_index_lies, INCOMPLETE,
         E("count.zip", "archive_corrupt", "declares 18,446,744,073,709,551,615 entries"),
         E("offset.zip", "archive_corrupt", "past the end of the directory")),
    case("arc-zip-bzip2-member-400mb", arc_zip_bzip2_member, INCOMPLETE,
         E("bzip2.zip!/bomb.jpg", "archive_corrupt", "CRC")),
    case("arc-gzip-endless-name", arc_gzip_endless_name, INCOMPLETE,
         E("name.jpg.gz", "archive_corrupt", "header field")),
    case("arc-gzip-bomb", arc_gzip_bomb, INCOMPLETE, E("photo.png.gz", "archive_ratio")),
    case("arc-tar-bz2-bomb", arc_bz2_bomb_in_tar, INCOMPLETE, E("backup.tar.bz2", "archive_ratio")),
    case("arc-tar-links-devices", arc_tar_links_and_devices, CLEAN,
         E("links.tar!/passwd", "archive_link", "/etc/passwd"),
         E("links.tar!/hard", "archive_link"), E("links.tar!/null", "archive_link"),
         E("links.tar!/pipe", "archive_link")),
    case("arc-tar-pax-headers-192mib", arc_tar_pax_headers, INCOMPLETE,
         E("headers.tar", "archive_size", "headers (pax records, long names) pass")),
    case("arc-7z-not-opened", arc_seven_zip, INCOMPLETE, E("photos.7z", "unsupported_container")),
    case("pkl-system-named-jpeg", pkl_system_as_jpeg, FOUND,
         E("holiday.jpg", "evidence:executable_code", "posix.system")),
    case("pkl-truncated-popen", pkl_truncated_popen, INCOMPLETE,
         E("model.pkl", "evidence:executable_code", "subprocess.Popen"),
         E("model.pkl", "decode_error", "truncated")),
    case("pkl-length-2-62", pkl_huge_length, INCOMPLETE, E("faces.pkl", "decode_error")),
    case("pkl-joblib-zlib-system", pkl_joblib_zlib, FOUND,
         E("encodings.joblib!/encodings", "evidence:executable_code", "posix.system")),
    case("pkl-opcode-flood", pkl_opcode_flood, INCOMPLETE, E("flood.pkl", "oversize", "opcodes")),
    case("npy-object-array-payload", npy_object_payload, INCOMPLETE,
         E("faces.npy", "unsupported_container", "allow_pickle=False"),
         E("faces.npy", "evidence:executable_code", "posix.system")),
    case("npy-header-claims-8tb", npy_lying_header, INCOMPLETE,
         E("huge.npy", "decode_error", "lying header")),
    case("npy-header-length-2-31", npy_long_header, INCOMPLETE,
         E("long.npy", "decode_error", "header length")),
    case("npz-pickled-member", npz_pickled_member, INCOMPLETE,
         E("faces.npz!/encodings.npy", "unsupported_container"),
         E("faces.npz!/encodings.npy", "evidence:executable_code", "posix.system")),
    case("npz-zip-bomb", npz_bomb, INCOMPLETE, E("bomb.npz!/x.npy", "archive_ratio")),
    case("h5-links-outside-the-tree", h5_links_outside, INCOMPLETE,
         E("index.h5", "symlink_not_followed", "external link"),
         E("index.h5", "unsupported_container", "external file")),
    case("h5-truncated", h5_truncated, INCOMPLETE, E("cut.h5", "decode_error")),
    case("json-depth-200000", json_deep, INCOMPLETE, E("deep.json", "decode_error", "nested")),
    case("json-5000-digit-int", json_huge_int, INCOMPLETE, E("int.json", "decode_error", "digits")),
    case("json-nan-infinity", json_nan, INCOMPLETE, E("nan.json", "decode_error", "NaN")),
    case("json-not-utf8", json_not_utf8, INCOMPLETE, E("latin.json", "decode_error", "not UTF-8")),
    case("csv-4mib-field", csv_giant_field, INCOMPLETE,
         E("field.csv", "decode_error", "field limit")),
    case("text-quoted-empty-key", text_quoted_empty_key, FOUND,
         E("dump.txt", "evidence:face_embedding")),
    case("csv-first-row-not-numeric", csv_first_row_not_numeric, FOUND,
         E("templates.csv", "evidence:face_embedding")),
    case("fs-symlinks-out-and-loops", fs_links, CLEAN,
         E("out.jpg", "symlink_not_followed", "outside"), E("shadow.jpg", "symlink_not_followed"),
         E("loop", "symlink_not_followed"), E("parent", "symlink_not_followed")),
    case("fs-fifo-and-socket", fs_fifo_socket, CLEAN,
         E("pipe.jpg", "special_file", "FIFO"), E("sock.jpg", "special_file", "socket")),
    case("fs-devices", fs_devices, CLEAN,
         E("zero.jpg", "special_file", "character device"),
         E("disk.png", "special_file", "block device"), needs_root=True),
    case("fs-sparse-100gib", fs_sparse, INCOMPLETE, E("huge.jpg", "oversize", "sparse")),
    case("fs-permissions", fs_permissions, INCOMPLETE,
         E("locked", "unreadable_directory"), E("secret.jpg", "unreadable_file"),
         group="permissions", without_dac=True),
    case("fs-hostile-names", fs_hostile_names, INCOMPLETE,
         E("new\nline.jpg", "decode_error"), E("\x1b[2J\x1b[31mred.jpg", "decode_error"),
         E("caf\\xe9.jpg", "decode_error"), E("\u202egpj.exe", "decode_error"),
         E("/-rf.jpg", "decode_error"), E("/--output=x.jpg", "decode_error")),
    case("fs-300-levels-deep", fs_deep_tree, INCOMPLETE, E("d/cut.jpg", "decode_error")),
    case("fs-over-max-file-size", fs_oversize, INCOMPLETE, E("big.png", "oversize")),
    case("fs-mtimes-1906-and-3000", fs_odd_times, FOUND,
         E("future.jpg", "evidence:face_image"), E("old.jpg", "evidence:face_image")),
    case("pol-python-object-tag", pol_python_tag, USAGE,
         E("policy.yaml", "usage", "tag"), command=VALIDATE),
    case("pol-billion-laughs", pol_billion_laughs, USAGE,
         E("policy.yaml", "usage", "aliases"), command=VALIDATE),
    case("pol-nested-50000", pol_deep, USAGE,
         E("policy.yaml", "usage", "nested too deeply"), command=VALIDATE),
    case("pol-control-characters", pol_control_characters, USAGE,
         E("policy.yaml", "usage", "invalid YAML"), command=VALIDATE),
    case("pol-extends-dev-zero", pol_extends_device, USAGE,
         E("/dev/zero", "usage", "not a regular file"), E("/dev/urandom", "usage", "not a regular"),
         command=VALIDATE),
    case("pol-extends-fifo", pol_extends_fifo, USAGE,
         E("pipe.yaml", "usage", "not a regular file"), command=VALIDATE),
    case("pol-waivers-object-tag", pol_waivers_tag, USAGE, E("waivers.yaml", "usage", "tag")),
)  # fmt: skip
