"""Byte-level mutations of seeds, shared by the hypothesis strategy and the long fuzzer.

`mutate(data, choose, ...)` takes its decisions from `choose(n) -> 0..n-1`: hypothesis draws
them (so a crash shrinks to a small sequence of edits), the long fuzzer takes them from a
seeded random.Random.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

SEEDS = Path(__file__).resolve().parent / "seeds"

Choose = Callable[[int], int]

_INTERESTING = (
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\xff\xff\xff\x7f",
    b"\x00\x00\x00\x80",
    (2**62).to_bytes(8, "little"),
    (2**64 - 1).to_bytes(8, "little"),
    (2**31).to_bytes(4, "big"),
)

# Tokens that mean something to one of the parsers: pickle opcodes, JSON/YAML structure,
# numbers that overflow, names that must never be imported.
TOKENS: dict[str, tuple[bytes, ...]] = {
    "pickle": (
        b"(", b")", b".", b"0", b"R", b"b", b"c", b"t", b"s", b"u", b"a", b"e", b"]", b"}",
        b"\x80\x05", b"\x93", b"\x94", b"\x95", b"\x81", b"\x92", b"h\x00", b"j\x00\x00\x00\x00",
        b"cposix\nsystem\n", b"cnumpy.core.multiarray\n_reconstruct\n", b"\x8c\x05numpy",
        b"\x8c\x07ndarray", b"\x8c\x0bjoblib_array", b"G\x7f\xf8\x00\x00\x00\x00\x00\x00",
    ),
    "npy": (
        b"'descr'", b"'<f4'", b"'|O'", b"'>f8'", b"'<U8'", b"'V0'", b"'fortran_order'",
        b"True", b"False", b"'shape'", b"(0,)", b"(1099511627776, 2048)", b"(-1,)", b"()",
        b"[('a', '<f4', (16,))]", b"{", b"}", b"(", b")", b"[", b"]", b",", b"\x93NUMPY\x01\x00",
    ),
    "json": (
        b"[", b"]", b"{", b"}", b'"', b"\\", b"\\u0000", b"\\ud800", b"NaN", b"-Infinity",
        b"1e999", b"9" * 120, b"-0.0", b":", b",", b"\n", b"null", b"\xef\xbb\xbf",
    ),
    "csv": (
        b",", b"\t", b";", b"|", b'"', b'""', b"\n", b"\r", b"\r\n", b"[", b"]", b"1e999", b"0x",
    ),
    "text": (
        b"INSERT INTO t (embedding) VALUES ('", b"COPY t (vector) FROM stdin;", b"\n  - ",
        b"0x", b"\\\\x", b"=", b"1e-400", b"-.5", b"+", b"[", b",", b" ",
    ),
    "sniff": (
        b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"WEBP", b"ftyp", b"heic", b"avif",
        b"BM", b"P6 ", b"<x:xmpmeta", b"\x80\x04", b"x\x9c", b"ustar", b"PK\x03\x04", b"BZh9",
    ),
    "archive": (
        b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"ustar\x00",
        b"../", b"\x1f\x8b\x08", b"BZh9", b"\xfd7zXZ\x00", b"x\x9c", b"\xa1\xff\xff\xff",
    ),
    "zip_index": (
        b"PK\x01\x02", b"PK\x03\x04", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07",
        b"\xff\xff", b"\xff\xff\xff\xff", b"\x01\x00\x08\x00", b"\x01\x00\x18\x00",
        b"\x00\x08", b"\x2d\x00", b"\x40\x00",
    ),
    "policy": (
        b"extends: [", b"gdpr", b"&a ", b"*a", b"!!python/object/apply:os.system ", b"!!binary ",
        b"<<: ", b"? ", b"- ", b"{", b"[", b"\n  ", b"rules:\n  - id: X-1\n    check: ", b"P30D",
        b"schema_version: 1\n", b"\t", b"%YAML 1.1\n", b"---\n", b"...\n", b"|\n", b">-\n",
    ),
    "pdf": (
        b"<<", b">>", b"[", b"]", b"0 R", b"1 0 R", b"obj", b"endobj", b"stream\n", b"endstream",
        b"/Width 99999", b"/Height 0", b"/Filter /FlateDecode", b"/Filter /DCTDecode",
        b"/Filter [/FlateDecode /DCTDecode]", b"/Predictor 15", b"/ColorSpace /DeviceCMYK",
        b"/ColorSpace [/Indexed /DeviceRGB 255 <00>]", b"/BitsPerComponent 1", b"/Subtype /Form",
        b"/Count 99999999", b"/Kids [3 0 R 3 0 R]", b"/Encrypt 1 0 R", b"xref", b"startxref",
    ),
}  # fmt: skip


def load_seeds(harness: str) -> list[bytes]:
    folder = SEEDS / harness
    return [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]


def mutate(
    data: bytes,
    choose: Choose,
    *,
    others: Sequence[bytes] = (),
    tokens: Sequence[bytes] = (),
    edits: int = 4,
) -> bytes:
    """Apply `edits` random edits (flip, set, insert, delete, repeat, truncate, splice, token)."""
    out = bytearray(data)
    for _ in range(edits):
        size = len(out)
        at = choose(size + 1)
        op = choose(9)
        if op == 0 and size:  # flip a bit
            pos = min(at, size - 1)
            out[pos] ^= 1 << choose(8)
        elif op == 1 and size:  # an interesting value over the bytes there
            value = _INTERESTING[choose(len(_INTERESTING))]
            out[at : at + len(value)] = value
        elif op == 2:  # insert random bytes
            out[at:at] = bytes(choose(256) for _ in range(1 + choose(8)))
        elif op == 3 and size:  # delete a range
            del out[at : at + 1 + choose(32)]
        elif op == 4 and size:  # repeat a chunk
            chunk = out[at : at + 1 + choose(16)]
            out[at:at] = chunk * (1 + choose(64))
        elif op == 5:  # truncate
            del out[at:]
        elif op == 6 and others:  # splice: the head of this, the tail of another seed
            other = others[choose(len(others))]
            out = out[:at] + other[choose(len(other) + 1) :]
        elif tokens:  # a token the parser cares about
            token = tokens[choose(len(tokens))]
            if choose(2):
                out[at:at] = token
            else:
                out[at : at + len(token)] = token
    return bytes(out)
