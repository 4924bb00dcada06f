"""The pickle walker: data rebuilt from opcodes without executing anything, the vector search
over it, and the import judge — on pickles made by `pickle`, numpy and joblib at test time,
and on hostile pickles assembled byte by byte.

Nothing here unpickles: fixtures are built with `pickle.dumps`/`joblib.dump` and only ever
read back through `pickle_scan.analyse`. Comparisons of vectors are reduced to booleans
before they are asserted, so a failure never prints a vector.
"""

from __future__ import annotations

import argparse
import collections
import io
import pickle
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scanner.embeddings.pickles import imports as pi
from scanner.embeddings.pickles import objects as po
from scanner.embeddings.pickles.scan import DEFAULT_MAX_OPS, PickleAnalysis, analyse
from scanner.embeddings.pickles.search import MAX_SAMPLE, VectorSearch
from scanner.embeddings.vectors import VectorSet

joblib = pytest.importorskip("joblib")

PROTOCOLS = tuple(range(pickle.HIGHEST_PROTOCOL + 1))


def face_like(n: int, dims: int = 128, norm: float = 1.4, seed: int = 0) -> np.ndarray:
    """Vectors shaped like a face model's output: a shared direction, unequal variances."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=dims) * 0.6 + rng.normal(size=(n, dims)) * rng.uniform(0.2, 1.6, dims)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x * norm


def same(a: Any, b: np.ndarray) -> bool:
    """Equal arrays (shape, dtype, values) as a plain bool: nothing to print on failure."""
    return (
        isinstance(a, np.ndarray)
        and a.shape == b.shape
        and a.dtype == b.dtype
        and bool(np.array_equal(a, b))
    )


def sets_of(data: bytes, context: tuple[str, ...] = ()) -> list[VectorSet]:
    out = analyse(data)
    return list(VectorSearch([*out.roots, *out.extras], context).sets())


def places(found: list[VectorSet]) -> list[tuple[str, int]]:
    """What a failure message may show: where and how many, never the vectors."""
    return [(vs.where, vs.count) for vs in found]


def count_sets(out: PickleAnalysis) -> int:
    return sum(1 for _ in VectorSearch([*out.roots, *out.extras]).sets())


def imports(out: PickleAnalysis) -> set[str]:
    return {i.qualname for i in out.imports}


# -- byte-level assembly of hand-made pickles ------------------------------------------------


def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def ndarray_pickle(shape: tuple[int, ...], raw: bytes, spec: str = "f8") -> bytes:
    """A protocol-2 numpy array pickle with whatever shape and data we choose."""
    dims = b"".join(b"\x8a\x09" + n.to_bytes(9, "little", signed=True) for n in shape)  # LONG1
    return (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"K\x00\x85C\x01b\x87R"  # _reconstruct(ndarray, (0,), b"b")
        b"(K\x01(" + dims + b"tcnumpy\ndtype\n" + sbu(spec) + b"\x89\x88\x87R"
        b"(K\x03" + sbu("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        b"\x89B" + len(raw).to_bytes(4, "little") + raw + b"tb."
    )


# -- plain data ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_data_is_rebuilt(protocol: int) -> None:
    value = {
        "none": None,
        "flags": [True, False],
        "ints": [-7, 255, 65_536, 2**80],
        "float": 1.5,
        "text": "é ✓",
        "raw": b"\x00\xff",
        "nested": {"k": [1, [2, (3, "x")]]},
        "set": {3},
        "frozen": frozenset({4}),
        "ordered": collections.OrderedDict(a=1, b=2),
        "counter": collections.Counter("aab"),
        "deque": collections.deque([1, 2]),
        "bytearray": bytearray(b"ab"),
    }
    out = analyse(pickle.dumps(value, protocol))
    assert out.complete and out.pickles == 1 and out.protocol == (protocol if protocol > 1 else 0)
    root = out.roots[0]
    assert root["none"] is None and root["flags"] == [True, False]
    assert root["ints"] == [-7, 255, 65_536, 2**80] and root["float"] == 1.5
    assert root["text"] == "é ✓" and root["raw"] == b"\x00\xff"
    assert root["nested"] == {"k": [1, [2, (3, "x")]]}
    assert root["set"] == [3] and root["frozen"] == [4]
    assert root["ordered"] == {"a": 1, "b": 2} and root["counter"] == {"a": 2, "b": 1}
    assert root["deque"] == [1, 2] and root["bytearray"] == b"ab"
    assert all(pi.judge_import(i.module, i.name) is None for i in out.imports)


ARRAYS: dict[str, Callable[[], np.ndarray]] = {
    "float64-2d": lambda: face_like(5),
    "float32-1d": lambda: face_like(1, 512, 1.0)[0].astype(np.float32),
    "float16": lambda: face_like(3, 64).astype(np.float16),
    "int32": lambda: np.arange(-20, 20, dtype=np.int32).reshape(4, 10),
    "big-endian": lambda: face_like(2).astype(">f8"),
    "fortran": lambda: np.asfortranarray(face_like(6, 16)),
    "3-d": lambda: face_like(8, 32).reshape(2, 4, 32),
    "empty": lambda: np.zeros((0, 128)),
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case", sorted(ARRAYS))
def test_numpy_arrays_are_rebuilt_from_their_bytes(case: str, protocol: int) -> None:
    array = ARRAYS[case]()
    out = analyse(pickle.dumps({"a": array}, protocol))
    assert out.complete
    rebuilt = out.roots[0]["a"]
    assert isinstance(rebuilt, po.Opaque) and rebuilt.note is None
    assert same(rebuilt.array, array), f"{case}: rebuilt array differs"
    assert imports(out) <= pi.SAFE_GLOBALS


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_numpy_scalars_objects_and_strings(protocol: int) -> None:
    objects = np.empty(3, dtype=object)
    for n in range(3):
        objects[n] = face_like(1, 16, seed=n)[0]
    value = {
        "f32": np.float32(0.5),
        "f64": np.float64(-2.25),
        "i64": np.int64(7),
        "objects": objects,
        "names": np.array(["alice", "bob"]),
    }
    root = analyse(pickle.dumps(value, protocol)).roots[0]
    assert root["f32"] == 0.5 and root["f64"] == -2.25 and root["i64"] == 7
    assert root["objects"].shape == (3,) and len(root["objects"].items) == 3
    assert all(same(root["objects"].items[n].array, objects[n]) for n in range(3))
    assert root["names"].shape == (2,) and root["names"].array is None


def test_protocol_5_out_of_band_buffers_are_reported_as_external() -> None:
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(face_like(4), protocol=5, buffer_callback=buffers.append)
    assert buffers, "numpy did not use an out-of-band buffer"
    out = analyse(data)
    assert out.complete and out.external == 1
    assert out.roots[0].array is None and out.roots[0].external and not out.array_notes


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_dates_are_skipped_and_structured_records_counted_not_corrupt(protocol: int) -> None:
    records = np.zeros(3, dtype=[("name", "U8"), ("embedding", "<f4", (128,))])
    value = {"when": np.array(["2024-01-01"], dtype="M8[ns]"), "records": records}
    out = analyse(pickle.dumps(value, protocol))
    assert out.complete and not out.array_notes
    assert out.roots[0]["when"].shape == (1,) and out.unsupported_arrays == 1


@pytest.mark.parametrize(
    ("shape", "raw"),
    [((2**62,), b"\x00" * 16), ((4, 2**61), b"\x00" * 16), ((3,), b"\x00" * 16), ((-1,), b"")],
    ids=["2^62-elements", "product-overflows-int64", "too-few-elements", "negative"],
)
def test_a_lying_shape_is_reported_not_trusted(shape: tuple[int, ...], raw: bytes) -> None:
    started = time.monotonic()
    out = analyse(ndarray_pickle(shape, raw))
    assert time.monotonic() - started < 1.0
    assert out.complete
    rebuilt = out.roots[0]
    assert rebuilt.array is None and rebuilt.note
    assert sum(out.array_notes.values()) == 1


def test_the_hand_assembled_array_matches_numpy() -> None:
    """The assembler above is right: a truthful shape rebuilds the array."""
    array = face_like(2, 8)
    rebuilt = analyse(ndarray_pickle((2, 8), array.tobytes())).roots[0]
    assert same(rebuilt.array, array)


# -- joblib ----------------------------------------------------------------------------------


def joblib_bytes(value: object, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    joblib.dump(value, buf, **kwargs)
    return buf.getvalue()


def joblib_value() -> dict[str, Any]:
    objects = np.empty(2, dtype=object)
    objects[0], objects[1] = face_like(1, 32)[0], "x"
    return {
        "embeddings": face_like(7, 512, 1.0).astype(np.float32),
        "fortran": np.asfortranarray(face_like(5, 16)),
        "objects": objects,
        "labels": np.array(["a", "b", "c"]),
        "names": ["p"] * 7,
    }


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "zlib"])
def test_joblib_arrays_stored_after_the_pickle(compressed: bool) -> None:
    value = joblib_value()
    data = joblib_bytes(value, compress=3 if compressed else 0)
    if compressed:
        assert data[:1] == b"x"  # a raw zlib stream: the archive walker expands it
        data = zlib.decompress(data)
    out = analyse(data)
    assert out.complete and out.pickles == 1, out.error
    root = out.roots[0]
    assert same(root["embeddings"].array, value["embeddings"])
    assert same(root["fortran"].array, value["fortran"])
    assert same(root["objects"].items[0].array, value["objects"][0])
    assert root["objects"].items[1] == "x" and root["labels"].shape == (3,)
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in imports(out)
    assert all(pi.judge_import(i.module, i.name) is None for i in out.imports)


def test_a_truncated_joblib_array_is_a_clear_error() -> None:
    data = joblib_bytes({"embeddings": face_like(50, 512, 1.0)})
    out = analyse(data[: len(data) // 2])
    assert not out.complete and "joblib array data truncated" in str(out.error)


def test_old_joblib_arrays_in_separate_files_are_external() -> None:
    from joblib.numpy_pickle_compat import NDArrayWrapper

    out = analyse(pickle.dumps({"embeddings": NDArrayWrapper("store.pkl_01.npy", np.ndarray)}))
    assert out.complete and out.external == 1


# -- the vector search -----------------------------------------------------------------------

VEC = face_like(40)
PEOPLE = [f"person {n}" for n in range(40)]


def namespace(**kwargs: Any) -> argparse.Namespace:
    return argparse.Namespace(**kwargs)


def objects(items: Any) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for n, item in enumerate(items):
        out[n] = item
    return out


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# name -> (value, where, count, dims, labels, dtype, names that must be present)
SEARCH_CASES: dict[str, tuple[Any, str, int, int, int, str, tuple[str, ...]]] = {
    "2-d array": ({"data": VEC}, "data", 40, 128, 0, "float64", ("data",)),
    "face_recognition": (
        {"encodings": list(VEC[:12]), "names": PEOPLE[:12]},
        "encodings",
        12,
        128,
        12,
        "float64",
        ("encodings", "names"),
    ),
    "names as a numpy array": (
        {"known_encodings": VEC[:5], "known_names": np.array(PEOPLE[:5])},
        "known_encodings",
        5,
        128,
        5,
        "float64",
        ("known_encodings", "known_names"),
    ),
    "float lists": ([v.tolist() for v in VEC[:6]], "(root)", 6, 128, 0, "python-float", ()),
    "people to lists": (
        {"alice": [v.tolist() for v in VEC[:2]], "bob": [VEC[2].tolist()]},
        "{*}",
        3,
        128,
        3,
        "python-float",
        (),
    ),
    "people to vectors": ({"alice": VEC[0], "bob": VEC[1]}, "{*}", 2, 128, 2, "float64", ()),
    "DeepFace records": (
        [
            {"identity": f"db/{n}.jpg", "hash": "h", "embedding": VEC[n].tolist(), "target_x": 1}
            for n in range(9)
        ],
        "[*].embedding",
        9,
        128,
        9,
        "python-float",
        ("embedding", "identity"),
    ),
    "old DeepFace pairs": (
        [[f"db/{n}.jpg", VEC[n].astype(np.float32)] for n in range(7)],
        "[*][1]",
        7,
        128,
        7,
        "float32",
        (),
    ),
    "vector first pairs": ([(VEC[n], "x") for n in range(4)], "[*][0]", 4, 128, 4, "float64", ()),
    "object records": (
        [namespace(name=PEOPLE[n], embedding=VEC[n]) for n in range(5)],
        "[*].embedding",
        5,
        128,
        5,
        "float64",
        ("embedding", "name", "Namespace"),
    ),
    "object array": (
        {"faces": objects(VEC[:3])},
        "faces",
        3,
        128,
        0,
        "float64",
        ("faces",),
    ),
    "3-d array": ({"faces": VEC[:8].reshape(2, 4, 128)}, "faces", 8, 128, 0, "float64", ()),
    "inside an object": (
        namespace(model="m", gallery=VEC[:10]),
        "gallery",
        10,
        128,
        0,
        "float64",
        ("gallery", "Namespace"),
    ),
    "npy bytes in a pickle": (
        {"faces.npy": npy_bytes(VEC[:6].astype(np.float32))},
        "faces.npy",
        6,
        128,
        0,
        "float32",
        ("faces.npy",),
    ),
    "a truncated last element": (
        {"encodings": [*VEC[:5], "?"]},
        "encodings",
        5,
        128,
        0,
        "float64",
        ("encodings",),
    ),
}


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("case", sorted(SEARCH_CASES))
def test_vector_sets_are_found(case: str, protocol: int) -> None:
    value, where, count, dims, labels, dtype, names = SEARCH_CASES[case]
    found = sets_of(pickle.dumps(value, protocol))
    assert places(found) == [(where, count)]
    (vs,) = found
    assert (vs.where, vs.count, vs.dims, vs.labels, vs.dtype) == (where, count, dims, labels, dtype)
    assert set(names) <= set(vs.names), vs.names
    assert vs.sample.shape == (min(count, MAX_SAMPLE), dims)


def test_gallery_keys_are_people_and_never_names_or_where() -> None:
    (vs,) = sets_of(pickle.dumps({"Jane Doe": VEC[0], "John Roe": VEC[1]}))
    assert "Jane" not in vs.where + " ".join(vs.names)


def test_the_sample_is_bounded_and_spread_but_the_count_is_complete() -> None:
    many = np.repeat(face_like(50, seed=3), 200, axis=0).astype(np.float32)  # 10,000 x 128
    (vs,) = sets_of(pickle.dumps({"embeddings": many}, 4))
    assert vs.count == 10_000 and vs.sample.shape == (MAX_SAMPLE, 128)
    assert vs.sample.dtype == np.float64 and vs.dtype == "float32"


@pytest.mark.parametrize(
    "value",
    [
        {"alice": "bob", "carol": "dave"},
        {"lr": 0.01, "epochs": 10, "layers": [64, 64], "name": "run-3", "dropout": None},
        [[10, 20, 30, 40]] * 50,  # boxes: four numbers are not an embedding
        [],
        b"\x00" * 1024,
        np.zeros((0, 128)),
        np.array([True, False] * 64),
    ],
    ids=["strings", "config", "boxes", "empty", "bytes", "no-rows", "bools"],
)
def test_no_vector_set_where_there_is_none(value: object) -> None:
    assert places(sets_of(pickle.dumps(value, 4))) == []


def test_concatenated_pickles_are_all_searched() -> None:
    data = pickle.dumps({"encodings": VEC[:3]}) + pickle.dumps({"encodings": VEC[3:8]})
    assert places(sets_of(data)) == [("#1.encodings", 3), ("#2.encodings", 5)]


# -- hostile pickles -------------------------------------------------------------------------


def payloads(command: str) -> dict[str, tuple[bytes, str]]:
    """Code-execution pickles as attackers write them, by hand; name -> (bytes, import)."""
    cmd = command.encode()
    quoted = b"S'" + cmd + b"'\n"
    return {
        "protocol-0 GLOBAL posix.system": (b"cposix\nsystem\n(" + quoted + b"tR.", "posix.system"),
        "protocol-0 nt.system": (b"cnt\nsystem\n(" + quoted + b"tR.", "nt.system"),
        "protocol-2 os.system": (
            b"\x80\x02cos\nsystem\nq\x00" + sbu(command) + b"\x85q\x01R.",
            "os.system",
        ),
        "protocol-4 STACK_GLOBAL": (
            b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
            + sbu("os")
            + b"\x94"
            + sbu("system")
            + b"\x94\x93\x94"
            + sbu(command)
            + b"\x94\x85\x94R\x94.",
            "os.system",
        ),
        "protocol-4 STACK_GLOBAL from the memo": (
            b"\x80\x04" + sbu("posix") + b"\x940" + sbu("system") + b"\x940"  # MEMOIZE, POP
            b"h\x00h\x01\x93" + sbu(command) + b"\x85R.",
            "posix.system",
        ),
        "INST": (b"(" + quoted + b"ios\nsystem\n.", "os.system"),
        "OBJ": (b"(cos\nsystem\n" + quoted + b"o.", "os.system"),
        "subprocess": (
            b"\x80\x04"
            + sbu("subprocess")
            + sbu("check_call")
            + b"\x93("
            + sbu("sh")
            + sbu("-c")
            + sbu(command)
            + b"l\x85R.",
            "subprocess.check_call",
        ),
        "builtins.eval": (
            b'c__builtin__\neval\n(S\'__import__("os").system("' + cmd + b"\")'\ntR.",
            "builtins.eval",
        ),
        "getattr chain": (
            b"\x80\x04cbuiltins\ngetattr\ncbuiltins\n__import__\n"
            + sbu("os")
            + b"\x85R"
            + sbu("system")
            + b"\x86R"
            + sbu(command)
            + b"\x85R.",
            "builtins.getattr",
        ),
        "computed STACK_GLOBAL": (
            b"\x80\x04ccopyreg\n_reconstructor\ncbuiltins\nstr\ncbuiltins\nstr\n"
            + sbu("posix")
            + b"\x87R"
            + sbu("system")
            + b"\x93"
            + sbu(command)
            + b"\x85R.",
            "<computed>.<computed>",
        ),
        "runpy": (b"crunpy\n_run_code\n(S'import os'\n}tR.", "runpy._run_code"),
        "nested pickle.loads": (
            b"\x80\x04c_pickle\nloads\nC\x05\x80\x04N.." + b"\x85R.",
            "_pickle.loads",
        ),
    }


PAYLOAD_NAMES = sorted(payloads("true"))


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_code_execution_payloads_are_named_and_never_run(name: str, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    data, wanted = payloads(f"touch {canary}")[name]
    out = analyse(data)
    count_sets(out)
    assert not canary.exists()
    assert out.complete, out.error
    assert wanted in imports(out)
    judged = pi.judge_import(*wanted.rsplit(".", 1))
    assert judged is not None and judged.known_dangerous


@pytest.mark.parametrize(
    ("module", "name", "verdict"),
    [
        ("posix", "system", "dangerous"),
        ("os", "system", "dangerous"),
        ("nt", "system", "dangerous"),
        ("subprocess", "Popen", "dangerous"),
        ("builtins", "eval", "dangerous"),
        ("__builtin__", "exec", "dangerous"),
        ("builtins", "getattr", "dangerous"),
        ("builtins", "__import__", "dangerous"),
        ("builtins", "open", "dangerous"),
        ("builtins", "compile", "dangerous"),
        ("runpy", "run_path", "dangerous"),
        ("importlib", "import_module", "dangerous"),
        ("pickle", "loads", "dangerous"),
        ("marshal", "loads", "dangerous"),
        ("socket", "create_connection", "dangerous"),
        ("numpy.testing._private.utils", "runstring", "dangerous"),
        ("sklearn.linear_model._logistic", "LogisticRegression", "unknown"),
        ("builtins", "str", "unknown"),
        ("numpy.core.multiarray", "_reconstruct", "safe"),
        ("numpy._core.multiarray", "_reconstruct", "safe"),
        ("numpy", "dtype", "safe"),
        ("collections", "OrderedDict", "safe"),
        ("__builtin__", "set", "safe"),
        ("copy_reg", "_reconstructor", "safe"),
        ("_codecs", "encode", "safe"),
        ("datetime", "datetime", "safe"),
        ("decimal", "Decimal", "safe"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper", "safe"),
    ],
)
def test_the_import_judge(module: str, name: str, verdict: str) -> None:
    judged = pi.judge_import(module, name)
    if verdict == "safe":
        assert judged is None
    else:
        assert judged is not None and judged.reason
        assert judged.known_dangerous is (verdict == "dangerous")


def test_truncation_anywhere_never_raises_and_keeps_the_globals() -> None:
    data = payloads("true")["protocol-4 STACK_GLOBAL"][0] + pickle.dumps([VEC[0]], 4)
    global_at = data.index(b"\x93")
    for cut in range(1, len(data)):
        out = analyse(data[:cut])
        if cut <= global_at:
            assert "os.system" not in imports(out)
        else:
            assert "os.system" in imports(out), cut
        if cut < data.index(b".") + 1:
            assert out.error is not None and out.error_offset is not None


def test_a_truncated_store_still_yields_the_vectors_before_the_cut() -> None:
    records = [{"identity": f"{n}.jpg", "embedding": VEC[n].tolist()} for n in range(20)]
    data = pickle.dumps(records, 4)
    out = analyse(data[: int(len(data) * 0.6)])
    assert out.error is not None and "truncated" in out.error
    (vs,) = VectorSearch(out.roots).sets()
    assert vs.where == "[*].embedding" and 8 <= vs.count < 20 and vs.labels == vs.count


def test_concatenated_pickles_and_a_tail() -> None:
    data = pickle.dumps([1]) + pickle.dumps({"a": 2}, 0) + pickle.dumps("x", 5) + b"\n\x00\x00"
    out = analyse(data)
    assert out.pickles == 3 and out.roots == [[1], {"a": 2}, "x"]
    assert out.trailing_bytes == 3 and out.error is None


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x04\x8e" + (2**62).to_bytes(8, "little") + b"abc",  # BINBYTES8
        b"\x80\x04\x8d" + (2**62).to_bytes(8, "little") + b"abc",  # BINUNICODE8
        b"\x80\x05\x96" + (2**62).to_bytes(8, "little") + b"abc",  # BYTEARRAY8
        b"\x80\x04\x8e" + (2**64 - 1).to_bytes(8, "little"),
        b"\x80\x03B" + (2**32 - 1).to_bytes(4, "little") + b"abc",  # BINBYTES
        b"\x80\x02\x8b" + (2**31 - 1).to_bytes(4, "little") + b"\x01",  # LONG4
    ],
    ids=["bytes8-2^62", "unicode8-2^62", "bytearray8-2^62", "bytes8-max", "bytes-4G", "long4"],
)
def test_hostile_length_fields_allocate_nothing(data: bytes, tmp_path: Path) -> None:
    path = tmp_path / "hostile.pkl"
    path.write_bytes(data)
    started = time.monotonic()
    out = analyse(path.read_bytes())  # bytes in memory: a read past the end returns what is there
    assert time.monotonic() - started < 1.0
    assert out.error is not None and "offset 2" in out.error


def test_the_opcode_cap_bounds_the_walk() -> None:
    data = b"\x80\x04" + b"N0" * 1_000_000 + b"N."  # 2,000,002 opcodes
    started = time.monotonic()
    out = analyse(data)
    elapsed = time.monotonic() - started
    assert out.capped and not out.complete and out.opcodes == DEFAULT_MAX_OPS
    assert out.error_offset is not None and out.error_offset < len(data)
    assert elapsed < 10, f"{elapsed:.1f}s"
    small = analyse(pickle.dumps(list(range(1000))), max_ops=100)
    assert small.capped and small.opcodes == 100


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b".",  # EMPTY_LIST ... APPEND
        b"(" * 100_000 + b"l" * 100_000 + b".",  # MARK ... LIST
        b"\x80\x02}" + b"K\x01}" * 99_999 + b"s" * 99_999 + b".",  # dicts in dicts
        b"\x80\x02}N" + b"\x85" * 200_000 + b"Ns.",  # a 200,000-deep tuple used as a dict key
    ],
    ids=["lists-append", "lists-mark", "dicts", "deep-tuple-key"],
)
def test_deep_nesting_needs_no_recursion(data: bytes) -> None:
    out = analyse(data)
    assert out.complete, out.error
    assert count_sets(out) == 0
    assert out.opcodes >= 100_000


def test_a_vector_referenced_many_times_is_inspected_once() -> None:
    vector = pickle.dumps(VEC[0].tolist(), 4)[2:-1]  # its opcodes (memo 0), no PROTO/STOP
    data = b"\x80\x04]" + vector + b"a(" + b"h\x00" * 50_000 + b"e."
    out = analyse(data)
    assert out.complete, out.error
    started = time.monotonic()
    (vs,) = VectorSearch(out.roots).sets()
    assert time.monotonic() - started < 5
    assert vs.count == 50_001 and vs.dims == 128


def test_memo_cycles_end() -> None:
    out = analyse(b"\x80\x02]q\x00h\x00a}q\x01U\x01kh\x01sa.")  # L = [L, D]; D = {k: D}
    assert out.complete
    assert count_sets(out) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x02h\x05.", "memo key 5 read before it was written"),
        (b"\x80\x02\xff.", "unknown opcode byte 0xff"),
        (b"\x80\x02a.", "stack underflow"),
        (b"\x80\x02K\x01K\x02a.", "not a list"),
        (b"\x80\x02(K\x01d.", "odd number"),
        (b"\x80\x02N\x85t.", "no MARK"),
        (b"Fsecret-value-not-a-float\n.", "malformed FLOAT"),
        (b"\x80\x02", "truncated"),
        (b"\x80\x02.", "stack underflow"),
    ],
)
def test_corrupt_pickles_say_where_and_never_quote_the_data(data: bytes, message: str) -> None:
    out = analyse(data)
    assert out.error is not None and message in out.error
    assert "secret" not in out.error and out.error_offset is not None


def test_opaque_values_never_show_their_arguments() -> None:
    root = analyse(pickle.dumps({"a": VEC[:2]})).roots[0]
    assert repr(root["a"]) == "Opaque(numpy.ndarray)"
