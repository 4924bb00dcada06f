"""The `.npy` reader: headers as numpy writes them (every version and layout), headers it must
refuse, and files that lie about their size — read without np.load and without allocating
what a header claims. Arrays are written by numpy itself at test time."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from embedding_samples import dlib_descriptors, model_like
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.detectors.base import LoadedItem
from scanner.embeddings import npy
from scanner.embeddings.vecsets import SAMPLE_ROWS, sample_rows
from scanner.model import ContentType, FileLocation, ProblemReason
from scanner.sources.filesystem import FileRef


def saved(array: np.ndarray, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False, **kwargs)  # type: ignore[arg-type]
    return buf.getvalue()


def item(data: bytes) -> LoadedItem:
    return LoadedItem(FileLocation("t.npy"), ContentType.NPY, data)


def header_bytes(text: str, version: int = 1, length: int | None = None) -> bytes:
    body = text.encode("latin-1")
    size = len(body) if length is None else length
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", size) + body
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", size) + body


# -- headers numpy writes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "version"),
    [
        (np.zeros((3, 128), "<f4"), (1, 0)),
        (np.zeros((3, 128), ">f8"), (2, 0)),
        (np.zeros((2, 512), "<f2"), (3, 0)),
        (np.zeros((5,), "<i8"), None),
        (np.zeros((), "<f8"), None),
        (np.zeros((0, 128), "<f4"), None),
        (np.zeros((4, 3, 128), "<f4", order="F"), None),
        (np.zeros((2,), dtype=[("name", "<U10"), ("emb", "<f4", (128,))]), None),
    ],
)
def test_headers_numpy_writes(array: np.ndarray, version: tuple[int, int] | None) -> None:
    data = saved(array, version=version) if version else saved(array)
    header = npy.read_header(data[: npy.MAX_HEADER + 12])
    assert header.shape == array.shape
    assert header.dtype == array.dtype
    assert header.fortran_order == (array.ndim > 1 and array.flags.f_contiguous and not
                                    array.flags.c_contiguous)  # fmt: skip
    assert header.data_offset + header.data_bytes == len(data)


def test_python2_long_integers_in_shape() -> None:
    data = header_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 128L), }\n")
    assert npy.read_header(data).shape == (2, 128)


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"\x93NUMPZ\x01\x00", "bad magic"),
        (b"\x93NUMPY\x04\x00\x10\x00", "unknown .npy format version"),
        (header_bytes("{}", version=2, length=2**31), "exceeds the 10000 byte limit"),
        (header_bytes("x" * 10_001, version=2), "exceeds the 10000 byte limit"),
        (header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,", length=80),
         "truncated header"),
        (header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,)"), "ends early"),
        (header_bytes("['descr']"), "must be a dict"),
        (header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': 1}"),
         "exactly"),
        (header_bytes("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}"), "not a boolean"),
        (header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (-3,)}"),
         "non-negative"),
        (header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (True,)}"),
         "non-negative"),
        (header_bytes("{'descr': __import__('os').system('id'), 'fortran_order': False, "
                      "'shape': (3,)}"), "unexpected text"),
        (header_bytes("{'descr': '<f4' + '', 'fortran_order': False, 'shape': (3,)}"),
         "unexpected text"),
        (header_bytes("{'descr': 'float32', 'fortran_order': False, 'shape': (3,)}"),
         "unsupported dtype"),
        (header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 20 + ")" * 20
                      + "}"), "nested too deeply"),
        (header_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1," * 40 + ")}"),
         "dimensions"),
    ],
)  # fmt: skip
def test_headers_refused(head: bytes, reason: str) -> None:
    with pytest.raises(npy.NpyError, match=reason):
        npy.read_header(head)


@pytest.mark.parametrize(
    "descr",
    ["'|O'", "'O'", "[('a', '<f4', (128,)), ('b', '|O')]", "[('a', [('x', '|O')])]"],
)
def test_object_dtypes_refused(descr: str) -> None:
    head = header_bytes(f"{{'descr': {descr}, 'fortran_order': False, 'shape': (2,), }}\n")
    with pytest.raises(npy.ObjectArray):
        npy.read_header(head)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_literal_parser_never_fails_otherwise(text: str) -> None:
    """Whatever the header text, the parser answers or raises NpyError, nothing else."""
    with contextlib.suppress(npy.NpyError):
        npy.parse_literal(text)


# -- the rows -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["<f4", "<f8", ">f4", "<f2"])
def test_rows_of_real_descriptors(dtype: str) -> None:
    vectors = dlib_descriptors()
    found = npy.analyse(item(saved(vectors.astype(dtype))), ("enc.npy",), "enc")
    (vs,) = found.sets
    assert (vs.count, vs.dims, vs.where) == (len(vectors), 128, "enc")
    same = bool(np.allclose(vs.sample, vectors, atol=1e-2))
    assert same, "sampled rows differ from the stored ones"
    assert found.problems == []


def test_fortran_order_and_squeezed_axes() -> None:
    vectors = model_like(10, 512, 5)
    fortran = npy.analyse(item(saved(np.asfortranarray(vectors))), (), "a").sets[0]
    same = bool(np.allclose(fortran.sample, vectors))
    assert same, "column-major rows were not reassembled"
    per_person = npy.analyse(item(saved(vectors[:, None, :])), (), "a").sets[0]
    assert (per_person.count, per_person.dims) == (10, 512)
    one = npy.analyse(item(saved(vectors[:1])), (), "a").sets[0]
    assert (one.count, one.dims) == (1, 512)


def test_structured_records_give_a_labelled_set() -> None:
    vectors = dlib_descriptors()[:6]
    records = np.zeros(6, dtype=[("name", "<U10"), ("encoding", "<f8", (128,))])
    records["name"] = [f"p{i}" for i in range(6)]
    records["encoding"] = vectors
    (vs,) = npy.analyse(item(saved(records)), ("r.npy",), "r").sets
    assert (vs.where, vs.count, vs.labels, vs.dims) == ("r[encoding]", 6, 6, 128)


@pytest.mark.parametrize(
    ("array", "why"),
    [
        (np.array(["a", "b"]), "not numbers"),
        (np.zeros((100, 3)), "no axis of vector length"),
        (np.zeros((0, 128)), "no complete row"),
        (np.zeros((4, 2), dtype=[("x", "<f4"), ("y", "<f4")]), "no vector field"),
    ],
)
def test_arrays_without_vectors(array: np.ndarray, why: str) -> None:
    found = npy.analyse(item(saved(array)), (), "a")
    assert found.sets == [] and found.problems == []
    assert dict(found.notes)["npy_vectors"] == why


def test_large_array_sampled_in_bounded_blocks() -> None:
    data = saved(model_like(3 * SAMPLE_ROWS, 128, 9).astype(np.float32))
    reads: list[int] = []

    class Counting:
        full_size = len(data)

        def read_at(self, offset: int, n: int) -> bytes:
            reads.append(n)
            return data[offset : offset + n]

    (vs,) = npy.analyse(Counting(), (), "a").sets
    assert vs.count == 3 * SAMPLE_ROWS and len(vs.sample) <= sample_rows(128)
    assert max(reads) <= npy.BLOCK_BYTES and sum(reads) < len(data) / 2


# -- files that lie ------------------------------------------------------------------------


def test_shape_claiming_8_terabytes_is_never_allocated() -> None:
    """A header declaring 2^41 float32 rows x 1024 over 20 real rows: sampled, reported."""
    body = model_like(20, 1024, 3).astype("<f4").tobytes()
    text = "{'descr': '<f4', 'fortran_order': False, 'shape': (2147483648, 1024), }"
    lying = header_bytes(text.ljust(117) + "\n") + body
    assert npy.read_header(lying).data_bytes == 2**31 * 1024 * 4  # 8 TiB declared
    tracemalloc.start()
    started = time.monotonic()
    found = npy.analyse(item(lying), (), "a")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - started < 2 and peak < 64 * 1024 * 1024
    assert found.sets[0].count == 20  # the rows that exist, not the rows claimed
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.DECODE_ERROR and "8796093022208 bytes of data" in detail


def test_truncated_body_and_trailing_data_reported() -> None:
    data = saved(dlib_descriptors()[:10])
    cut = npy.analyse(item(data[:-500]), (), "a")
    assert cut.sets[0].count == 9 and "truncated or lying header" in cut.problems[0][1]
    extra = npy.analyse(item(data + b"\x00" * 64), (), "a")
    assert extra.sets[0].count == 10 and "64 bytes after its last array" in extra.problems[0][1]
    fortran = saved(np.asfortranarray(dlib_descriptors()[:10]))
    assert npy.analyse(item(fortran[:-8]), (), "a").sets == []


def test_arrays_saved_one_after_another() -> None:
    """np.save twice on one open file: encodings, then names; then a third, cut short."""
    vectors = dlib_descriptors()
    data = saved(vectors) + saved(np.array([f"p{i}" for i in range(len(vectors))]))
    data += saved(vectors[:4].astype(np.float32))[:-100]
    found = npy.analyse(item(data), ("enc.npy",), "enc")
    assert [(s.where, s.count) for s in found.sets] == [("enc", len(vectors)), ("enc#3", 3)]
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.DECODE_ERROR and "truncated" in detail


def test_object_array_with_pickle_payload_never_runs(tmp_path: Path) -> None:
    """An object array whose pickle would create a file: refused from its header alone."""
    canary = tmp_path / "canary"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {canary}",))

    header = header_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }" + " " * 60
                          + "\n")  # fmt: skip
    data = header + pickle.dumps([Payload()])
    assert b"system" in data
    found = npy.analyse(item(data), ("evil.npy",), "evil")
    assert found.sets == []
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.UNSUPPORTED_CONTAINER and "pickle" in detail
    assert not canary.exists()
    with pytest.raises(ValueError, match="allow_pickle"):  # numpy agrees, and refuses too
        np.load(io.BytesIO(data), allow_pickle=False)
    assert not canary.exists()


@pytest.mark.parametrize("version", [1, 2, 3])
def test_object_body_is_the_pickle_after_the_header(version: int) -> None:
    body = pickle.dumps(["a", 1])
    text = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }" + " " * 9 + "\n"
    data = header_bytes(text, version) + body
    assert npy.object_body(item(data)) == body
    assert npy.object_body(item(saved(np.zeros((3, 128), "<f4")))) is None  # not an object array
    assert npy.object_body(item(b"\x93NUMPY\x09\x00garbage")) is None  # not a .npy at all


def test_head_only_item_reads_the_rest_from_the_file(tmp_path: Path) -> None:
    """A large file arrives with its first bytes only; rows beyond are read from the file."""
    vectors = model_like(4000, 512, 4).astype(np.float32)
    path = tmp_path / "big.npy"
    np.save(path, vectors)
    st = path.stat()
    ref = FileRef(FileLocation(str(path)), str(path), st.st_dev, st.st_ino, st.st_size,
                  st.st_mtime_ns, st.st_blocks * 512)  # fmt: skip
    head = path.read_bytes()[: 1 << 20]
    reader = ref.open()
    try:
        loaded = LoadedItem(
            FileLocation(str(path)), ContentType.NPY, head, size=st.st_size, reader=reader
        )
        assert not loaded.complete
        (vs,) = npy.analyse(loaded, (), "big").sets
    finally:
        reader.close()
    assert vs.count == 4000 and len(vs.sample) == sample_rows(512)
    last = bool(np.allclose(vs.sample[-1], vectors[-1]))
    assert last, "the last block should come from beyond the head, read from the file"
