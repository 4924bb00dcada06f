"""`.npy` arrays (and `.npz` members), read without ever trusting the file.

`np.load` evaluates the header with `ast.literal_eval`, allocates whatever shape the header
declares (a header claiming 8 TB raises MemoryError) and, for object arrays, unpickles. Here
the header is parsed by a small strict parser that accepts only the literals a header holds
(dicts, tuples, lists, strings, integers, booleans), its length is capped at 10,000 bytes,
the declared size is checked against the file's, object dtypes are refused, and rows are read
with bounded reads at sampled offsets: nothing is allocated from what the header claims.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from scanner.embeddings.vecsets import (
    MAX_DIMS,
    MIN_DIMS,
    Findings,
    RandomAccess,
    as_rows,
    is_label_name,
    sample_rows,
)
from scanner.embeddings.vectors import VectorSet
from scanner.errors import FaceauditError
from scanner.model import ProblemReason

MAGIC = b"\x93NUMPY"
MAX_HEADER = 10_000  # bytes; numpy itself writes at most a few hundred
BLOCK_BYTES = 8 * 1024 * 1024  # one bounded read while sampling rows
BLOCKS = 8  # places in a large array that rows are sampled from

Literal = str | int | bool | None | tuple["Literal", ...] | list["Literal"] | dict[str, "Literal"]


class NpyError(FaceauditError, ValueError):
    """Not a well-formed `.npy`: a bad magic, header or dtype (the message says which)."""


class ObjectArray(NpyError):
    """An array of Python objects: its body is a pickle, which is never loaded."""


@dataclass(frozen=True)
class NpyHeader:
    version: int
    dtype: np.dtype
    fortran_order: bool
    shape: tuple[int, ...]
    data_offset: int

    @property
    def items(self) -> int:
        return math.prod(self.shape)

    @property
    def data_bytes(self) -> int:
        return self.items * self.dtype.itemsize


# -- the header ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<punct>[{}()\[\],:])|'(?P<s1>[^'\\]*)'|\"(?P<s2>[^\"\\]*)\""
    r"|(?P<int>-?\d{1,20})L?|(?P<word>True|False|None))"
)
_SIMPLE_DESCR = re.compile(r"[<>|=]?[biufcSUVmMO?]\d{0,6}(\[\w+\])?")


def _tokens(text: str) -> list[tuple[str, Literal]]:
    out: list[tuple[str, Literal]] = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise NpyError(f"header: unexpected text at offset {pos}")
        pos = m.end()
        if m["punct"]:
            out.append(("p", m["punct"]))
        elif m["s1"] is not None or m["s2"] is not None:
            out.append(("s", m["s1"] if m["s1"] is not None else m["s2"]))
        elif m["int"] is not None:
            out.append(("v", int(m["int"])))
        else:
            out.append(("v", {"True": True, "False": False, "None": None}[m["word"]]))
        if len(out) > 4_000:
            raise NpyError("header: too many tokens")
    return out


class _Parser:
    """Recursive descent over the literal grammar of a header (depth-limited)."""

    def __init__(self, tokens: list[tuple[str, Literal]]) -> None:
        self.tokens = tokens
        self.i = 0

    def _next(self) -> tuple[str, Literal]:
        if self.i >= len(self.tokens):
            raise NpyError("header: ends early")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _is(self, punct: str) -> bool:
        return self.i < len(self.tokens) and self.tokens[self.i] == ("p", punct)

    def value(self, depth: int = 0) -> Literal:
        if depth > 8:
            raise NpyError("header: nested too deeply")
        kind, val = self._next()
        if kind in ("s", "v"):
            return val
        if val == "{":
            out: dict[str, Literal] = {}
            while not self._is("}"):
                k_kind, key = self._next()
                if k_kind != "s" or not isinstance(key, str) or self._next() != ("p", ":"):
                    raise NpyError("header: malformed dictionary")
                out[key] = self.value(depth + 1)
                if not self._is("}") and self._next() != ("p", ","):
                    raise NpyError("header: expected ',' in dictionary")
            self.i += 1
            return out
        if val in ("(", "["):
            close = ")" if val == "(" else "]"
            items: list[Literal] = []
            while not self._is(close):
                items.append(self.value(depth + 1))
                if not self._is(close) and self._next() != ("p", ","):
                    raise NpyError("header: expected ',' in sequence")
            self.i += 1
            return tuple(items) if close == ")" else items
        raise NpyError(f"header: unexpected {val!r}")


def parse_literal(text: str) -> Literal:
    parser = _Parser(_tokens(text))
    value = parser.value()
    if parser.i != len(parser.tokens):
        raise NpyError("header: trailing text after the dictionary")
    return value


def read_header(head: bytes) -> NpyHeader:
    """The header of a `.npy` from its first bytes (at least MAX_HEADER + 12 when available)."""
    if not head.startswith(MAGIC) or len(head) < 10:
        raise NpyError("not a .npy file (bad magic)")
    major = head[6]
    if major == 1:
        length, start = int.from_bytes(head[8:10], "little"), 10
    elif major in (2, 3):
        length, start = int.from_bytes(head[8:12], "little"), 12
    else:
        raise NpyError(f"unknown .npy format version {major}.{head[7]}")
    if length > MAX_HEADER:
        raise NpyError(f"header length {length} exceeds the {MAX_HEADER} byte limit")
    raw = head[start : start + length]
    if len(raw) < length:
        raise NpyError("truncated header")
    try:
        text = raw.decode("utf-8" if major == 3 else "latin-1")
    except UnicodeDecodeError as exc:
        raise NpyError("header is not valid UTF-8") from exc
    meta = parse_literal(text)
    if not isinstance(meta, dict) or set(meta) != {"descr", "fortran_order", "shape"}:
        raise NpyError("header must be a dict of exactly descr, fortran_order and shape")
    shape, fortran = meta["shape"], meta["fortran_order"]
    if not isinstance(fortran, bool):
        raise NpyError("fortran_order is not a boolean")
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise NpyError("shape is not a tuple of non-negative integers")
    if len(shape) > 32:
        raise NpyError(f"{len(shape)} dimensions (numpy allows 32)")
    dtype = _dtype(meta["descr"])
    dims = tuple(n for n in shape if isinstance(n, int))
    return NpyHeader(major, dtype, fortran, dims, start + length)


MAX_PICKLE_BODY = 16 * 1024 * 1024  # of an object array's body, read for its imports only


def object_body(src: RandomAccess) -> bytes | None:
    """The first bytes of an object array's body, which is a pickle: for an analysis of what
    it would import (never loaded). None when the item is not an object array."""
    head = src.read_at(0, MAX_HEADER + 12)
    try:
        read_header(head)
        return None
    except ObjectArray:
        pass
    except NpyError:
        return None
    start = 10 if head[6] == 1 else 12
    offset = start + int.from_bytes(head[8:start], "little")
    return src.read_at(offset, max(0, min(MAX_PICKLE_BODY, src.full_size - offset)))


def _dtype(descr: Literal) -> np.dtype:
    """A numpy dtype from a descr that the strict parser accepted; objects are refused."""
    if isinstance(descr, str):
        if not _SIMPLE_DESCR.fullmatch(descr):
            raise NpyError(f"unsupported dtype {descr!r}")
        if "O" in descr:
            raise ObjectArray("object array: its elements are a pickle, never loaded here")
    elif isinstance(descr, list):
        for field in descr:
            if (
                not isinstance(field, tuple)
                or len(field) not in (2, 3)
                or not isinstance(field[0], str)
            ):
                raise NpyError("structured dtype: each field must be (name, descr[, shape])")
            _dtype(field[1])  # nested fields are checked the same way
    else:
        raise NpyError("descr is neither a dtype string nor a field list")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError) as exc:
        raise NpyError(f"invalid dtype: {exc}") from exc
    if dtype.hasobject:
        raise ObjectArray("object fields: their values are a pickle, never loaded here")
    if dtype.itemsize == 0:
        raise NpyError("zero-sized dtype")
    return dtype


# -- the rows ------------------------------------------------------------------------------


MAX_ARRAYS = 64  # arrays written one after another into one file (np.save on an open file)


class _Window:
    """The part of an item from `offset` on: the next of several concatenated arrays."""

    def __init__(self, src: RandomAccess, offset: int) -> None:
        self.src = src
        self.offset = offset
        self.full_size = src.full_size - offset

    def read_at(self, offset: int, n: int) -> bytes:
        return self.src.read_at(self.offset + offset, n)


def analyse(src: RandomAccess, names: tuple[str, ...], where: str) -> Findings:
    """Vector sets of a `.npy`: header first, sizes checked, rows sampled by bounded reads.

    `np.save` called twice on one open file writes two arrays back to back (encodings, then
    names): each is read in turn; bytes after the last array that are not one are reported.
    """
    found = Findings()
    offset = 0
    for k in range(MAX_ARRAYS):
        window = _Window(src, offset)
        used = _one(window, names, where if k == 0 else f"{where}#{k + 1}", found)
        if used is None:
            return found
        offset += used
        if src.read_at(offset, len(MAGIC)) != MAGIC:
            found.problem(
                ProblemReason.DECODE_ERROR,
                f".npy holds {src.full_size - offset} bytes after its last array: trailing data",
            )
            return found
    found.notes.append(("npy_arrays_not_read", "more than 64 arrays in one file"))
    return found


def _one(src: RandomAccess, names: tuple[str, ...], where: str, found: Findings) -> int | None:
    """One array; returns its length when more bytes follow it, else None."""
    try:
        header = read_header(src.read_at(0, MAX_HEADER + 12))
    except ObjectArray as exc:
        found.problem(ProblemReason.UNSUPPORTED_CONTAINER, f".npy {exc} (allow_pickle=False)")
        return None
    except NpyError as exc:
        found.problem(ProblemReason.DECODE_ERROR, f".npy {exc}")
        return None
    shape = "x".join(map(str, header.shape)) or "scalar"
    found.notes += [("npy_shape", shape), ("npy_dtype", header.dtype.str)]
    available = max(0, src.full_size - header.data_offset)
    if available < header.data_bytes:
        found.problem(
            ProblemReason.DECODE_ERROR,
            f".npy header declares {shape} {header.dtype.str} ({header.data_bytes} bytes of "
            f"data) but the file holds only {available}: truncated or lying header",
        )
    if header.dtype.names:
        _structured(src, header, available=available, names=names, where=where, found=found)
    else:
        _plain(src, header, available=available, names=names, where=where, found=found)
    return header.data_offset + header.data_bytes if available > header.data_bytes else None


def _plain(
    src: RandomAccess,
    header: NpyHeader,
    *,
    available: int,
    names: tuple[str, ...],
    where: str,
    found: Findings,
) -> None:
    dtype = header.dtype
    if dtype.kind not in "biuf":
        found.notes.append(("npy_vectors", "not numbers"))
        return
    dims = [n for n in header.shape if n != 1]  # (1, 128) and (N, 1, 128) are vectors too
    if not dims or dims[-1] < MIN_DIMS or dims[-1] > MAX_DIMS:
        found.notes.append(("npy_vectors", "no axis of vector length"))
        return
    d = dims[-1]
    declared = math.prod(dims[:-1])
    row_bytes = d * dtype.itemsize
    if header.fortran_order and len(dims) > 1:
        if available < header.data_bytes:
            return  # column-major and cut short: no row is whole
        rows = _fortran_rows(src, header, declared, d)
        present = declared
    else:
        present = min(declared, available // row_bytes)
        rows = _c_rows(src, header.data_offset, row_bytes, present, sample_rows(d))
    if present == 0:
        found.notes.append(("npy_vectors", "no complete row"))
        return
    values, integers = as_rows(np.frombuffer(rows, dtype=dtype).reshape(-1, d))
    found.sets.append(VectorSet(where, values, present, dtype.name, names, 0, integers))


def _c_rows(src: RandomAccess, offset: int, row_bytes: int, present: int, want: int) -> bytes:
    """Row bytes: all of them when few, else blocks from BLOCKS places spread over the array."""
    want = min(want, present)
    per_read = max(1, BLOCK_BYTES // row_bytes)
    if want == present:
        starts, block = [0], want
    else:
        block = max(1, min(per_read, math.ceil(want / BLOCKS)))
        count = max(1, want // block)
        starts = [i * (present - block) // max(count - 1, 1) for i in range(count)]
    out = []
    for start in starts:
        left = block
        row = start
        while left > 0:
            n = min(left, per_read)
            chunk = src.read_at(offset + row * row_bytes, n * row_bytes)
            whole = len(chunk) // row_bytes
            out.append(chunk[: whole * row_bytes])
            if whole < n:
                break
            left -= n
            row += n
    return b"".join(out)


def _fortran_rows(src: RandomAccess, header: NpyHeader, n: int, d: int) -> bytes:
    """The first rows of a column-major (n x d) array: one bounded read per column."""
    k = min(n, sample_rows(d))
    size = header.dtype.itemsize
    cols = [src.read_at(header.data_offset + j * n * size, k * size) for j in range(d)]
    matrix = np.stack([np.frombuffer(c, dtype=header.dtype) for c in cols], axis=1)
    return matrix.tobytes()


def _structured(
    src: RandomAccess,
    header: NpyHeader,
    *,
    available: int,
    names: tuple[str, ...],
    where: str,
    found: Findings,
) -> None:
    """Record arrays: every field holding a float sub-array is a vector set."""
    dtype = header.dtype
    present = min(header.items, available // dtype.itemsize)
    fields: dict[str, Any] = dict(dtype.fields or {})
    vector_fields = [
        (name, f[0])
        for name, f in fields.items()
        if f[0].subdtype is not None
        and f[0].base.kind in "biuf"
        and MIN_DIMS <= f[0].shape[-1] <= MAX_DIMS
    ]
    if not vector_fields or present == 0 or header.fortran_order:
        found.notes.append(("npy_vectors", "no vector field"))
        return
    labelled = any(f[0].kind in "US" and is_label_name(name) for name, f in fields.items() if name)
    widest = max(f.shape[-1] for _, f in vector_fields)
    raw = _c_rows(src, header.data_offset, dtype.itemsize, present, sample_rows(widest))
    records = np.frombuffer(raw, dtype=dtype)
    for name, fdt in vector_fields:
        values, integers = as_rows(records[name].reshape(-1, fdt.shape[-1]))
        count = present * math.prod(fdt.shape[:-1])
        labels = count if labelled and len(fdt.shape) == 1 else 0
        found.sets.append(
            VectorSet(
                f"{where}[{name}]", values, count, fdt.base.name, (name, *names), labels, integers
            )
        )
