"""Values the pickle walker rebuilds, and the data constructors it knows, never calling any.

A pickle names callables (globals) and asks the unpickler to call them. The walker in
`pickle_scan` never does: a global becomes a `GlobalRef`, and a call of it becomes either a
value rebuilt here by our own code (a numpy array from its raw bytes, a set, an
OrderedDict, bytes from `_codecs.encode`) or an `Opaque` placeholder that keeps its
arguments and state reachable, so face templates inside an unknown object are still found.

The allow-list of data constructors that decides the security finding is in
`pickle_imports`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# Python 2 module names that pickle's compatibility layer maps to Python 3 ones.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg", "exceptions": "builtins"}


@dataclass(frozen=True, eq=False)
class GlobalRef:
    """A global the pickle names (GLOBAL, STACK_GLOBAL, INST): recorded, never imported."""

    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{canonical_module(self.module)}.{self.name}"


@dataclass(eq=False, repr=False)
class Opaque:
    """The result of a call the walker did not make. Hashable by identity.

    `array` is set when the object is a numeric numpy array rebuilt from its bytes; `items`
    holds the elements of a numpy object array (or anything APPENDed to the object);
    `shape` is kept for arrays of strings (label columns); `note` says why an array that
    should have been rebuilt was not (a corrupt or lying one); `unsupported` marks an array of
    a dtype not rebuilt by design (structured records).
    """

    cls: str
    args: Any = None
    state: Any = None
    items: list[Any] = field(default_factory=list)
    setitems: list[tuple[Any, Any]] = field(default_factory=list)
    array: np.ndarray | None = None
    shape: tuple[int, ...] | None = None
    note: str | None = None
    unsupported: bool = False
    external: bool = False  # the data lives outside this pickle (a file, an out-of-band buffer)

    def __repr__(self) -> str:  # never the arguments: they may be vectors
        return f"Opaque({self.cls})"


@dataclass(frozen=True, eq=False, repr=False)
class UnhashableKey:
    """A dict key that is a container: kept by identity (hashing a deep tuple recurses in C)."""

    value: Any


def canonical_module(module: str) -> str:
    return _PY2_MODULES.get(module, module)


def safe_key(key: Any) -> Any:
    """A key usable in a dict without ever hashing a container (hostile nesting is deep)."""
    if key is None or type(key) in (str, bytes, int, float, bool):
        return key
    if isinstance(key, (GlobalRef, Opaque, UnhashableKey)):
        return key
    if type(key) is tuple and all(k is None or type(k) in (str, bytes, int, float) for k in key):
        return key
    return UnhashableKey(key)


# -- containers ---------------------------------------------------------------------------


def absorb_items(target: Any, items: list[Any]) -> bool:
    """APPEND(S)/ADDITEMS: lists take items; unknown objects keep them; anything else refuses."""
    if isinstance(target, list):
        target.extend(items)
    elif isinstance(target, Opaque):
        target.items.extend(items)
    else:
        return False
    return True


def absorb_pairs(target: Any, pairs: list[tuple[Any, Any]]) -> bool:
    """SETITEM(S): dicts take pairs (keys made safe); unknown objects keep them."""
    if isinstance(target, dict):
        for key, value in pairs:
            target[safe_key(key)] = value
    elif isinstance(target, Opaque):
        target.setitems.extend(pairs)
    else:
        return False
    return True


def close_mark(under: list[Any], items: list[Any]) -> None:
    """Close a mark a truncated pickle left open, as the next opcode most likely would have:
    APPENDS into a list, SETITEMS into a dict, else a tuple of the items."""
    target = under[-1] if under else None
    if isinstance(target, dict) and len(items) % 2 == 0:
        absorb_pairs(target, list(zip(items[::2], items[1::2], strict=True)))
    elif not (isinstance(target, (list, Opaque)) and absorb_items(target, items)):
        under.append(tuple(items))


# -- numpy ------------------------------------------------------------------------------

RECONSTRUCT = frozenset(
    {"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"}
)
FROMBUFFER = frozenset({"numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer"})
SCALAR = frozenset({"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"})
DTYPE = "numpy.dtype"
JOBLIB_WRAPPERS = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)
JOBLIB_EXTERNAL = frozenset(
    {
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle_compat.NDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle_compat.ZNDArrayWrapper",
    }
)
# Dtype strings the walker builds itself: fixed-size numbers, strings (labels), objects.
_DTYPE_SPEC = re.compile(r"^(?:[fiuc]\d{1,2}|b1|[US]\d{1,6}|O\d?|[mM]8(?:\[\w{1,5}\])?)$")
SHAPE_ONLY_KINDS = "USmM"  # strings (labels) and dates: never vectors, only their length
_NUMERIC_KINDS = "fiucb"
MAX_NDIM = 32
_ByteOrder = Literal["<", ">", "|", "="]


def dtype_of(value: Any) -> np.dtype[Any] | None:
    """The dtype a pickled `numpy.dtype(spec, …)` call plus BUILD state describes."""
    if not isinstance(value, Opaque) or value.cls != DTYPE:
        return None
    args = value.args
    if not isinstance(args, tuple) or not args or not isinstance(args[0], str):
        return None
    spec = args[0]
    if not _DTYPE_SPEC.match(spec):
        return None
    order: _ByteOrder = "="
    state = value.state
    if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
        order = state[1]
    try:
        dtype = np.dtype(spec)
    except TypeError:
        return None  # e.g. "f3": a size numpy does not have
    return dtype.newbyteorder(order) if dtype.kind in _NUMERIC_KINDS else dtype


def as_raw(value: Any) -> bytes | None:
    """Array bytes as pickled: bytes, or a latin-1 str (Python 2 and protocol 0/1 pickles)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return None
    return None


def valid_shape(shape: Any) -> tuple[int, ...] | None:
    if not isinstance(shape, tuple) or len(shape) > MAX_NDIM:
        return None
    if not all(type(n) is int and n >= 0 for n in shape):
        return None
    return shape


def fill_array(
    target: Opaque,
    dtype: np.dtype[Any],
    shape: tuple[int, ...],
    raw: bytes | memoryview,
    fortran: bool,
) -> None:
    """Set target.array from raw bytes, or target.note when the shape lies about the size."""
    count = math.prod(shape)
    need = count * dtype.itemsize
    if need != len(raw):
        target.note = (
            f"an array whose shape needs {need} bytes holds {len(raw)}: not trusted, not read"
        )
        return
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    target.array = flat.reshape(shape, order="F" if fortran else "C")


def build_reconstructed(target: Opaque, state: Any) -> None:
    """BUILD of `_reconstruct(ndarray, …)`: state (version, shape, dtype, fortran, data)."""
    target.state = state
    if not isinstance(state, tuple) or len(state) != 5:
        target.note = "a numpy array with an unknown state layout: not read"
        return
    _version, shape, dtype_obj, fortran, data = state
    shape = valid_shape(shape)
    dtype = dtype_of(dtype_obj)
    if shape is None:
        target.note = "a numpy array with an invalid shape: not read"
        return
    if dtype is None:
        target.unsupported = True  # structured records, or a dtype spelled in a way we skip
        return
    if dtype.kind == "O":
        target.items = data if isinstance(data, list) else []
        target.shape = shape
    elif dtype.kind in SHAPE_ONLY_KINDS:
        target.shape = shape
    else:
        raw = as_raw(data)
        if raw is None:
            target.note = "a numpy array whose data is not bytes: not read"
            return
        fill_array(target, dtype, shape, raw, bool(fortran))


def from_buffer(args: Any) -> Opaque:
    """numpy's protocol-5 form: `_frombuffer(buffer, dtype, shape, order)`."""
    result = Opaque(cls="numpy.ndarray", args=args)
    if not isinstance(args, tuple) or len(args) != 4:
        result.note = "a numpy buffer array with unknown arguments: not read"
        return result
    buf, dtype_obj, shape, order = args
    if isinstance(buf, Opaque) and buf.external:
        result.external = True  # an out-of-band buffer: the data is not in this file
        return result
    dtype, shape, raw = dtype_of(dtype_obj), valid_shape(shape), as_raw(buf)
    if shape is None or raw is None:
        result.note = "a numpy buffer array with an invalid shape or buffer: not read"
        return result
    if dtype is None or dtype.kind not in _NUMERIC_KINDS + SHAPE_ONLY_KINDS:
        result.unsupported = True
        return result
    if dtype.kind in SHAPE_ONLY_KINDS:
        result.shape = shape
        return result
    fill_array(result, dtype, shape, raw, order == "F")
    return result


def numpy_scalar(args: Any) -> Any:
    """`scalar(dtype, bytes)`: a number (np.float32(0.5) pickled) — a Python float or int."""
    if isinstance(args, tuple) and len(args) == 2:
        dtype, raw = dtype_of(args[0]), as_raw(args[1])
        ok = dtype is not None and raw is not None and dtype.kind in "fiu"
        if ok and dtype is not None and raw is not None and len(raw) == dtype.itemsize:
            return np.frombuffer(raw, dtype=dtype)[0].item()
    return Opaque(cls="numpy.scalar", args=args)


NPY_MAGIC = b"\x93NUMPY"
_NPY_HEADER = re.compile(
    r"\{'descr':\s*'([<>|=]?)(\w{1,8})',\s*'fortran_order':\s*(True|False),"
    r"\s*'shape':\s*\(([\d,\s]{0,200})\),?\s*\}"
)


def npy_array(raw: bytes) -> np.ndarray | None:
    """The bytes of a `.npy` file kept inside a pickle: header read by a pattern (never
    evaluated), data taken only when its size matches the header's shape."""
    if not raw.startswith(NPY_MAGIC) or len(raw) < 12:
        return None
    wide = raw[6] >= 2
    size = int.from_bytes(raw[8:12] if wide else raw[8:10], "little")
    start = (12 if wide else 10) + size
    found = _NPY_HEADER.search(raw[(12 if wide else 10) : start].decode("latin-1"))
    if found is None:
        return None
    order, spec, fortran, dims = found.groups()
    shape = tuple(int(n) for n in dims.replace(",", " ").split())
    fake = Opaque(cls=DTYPE, args=(spec,), state=(3, order or "|"))
    dtype = dtype_of(fake)
    if dtype is None or dtype.kind not in _NUMERIC_KINDS or valid_shape(shape) is None:
        return None
    target = Opaque(cls="numpy.ndarray")
    fill_array(target, dtype, shape, memoryview(raw)[start:], fortran == "True")
    return target.array


# -- other data constructors ------------------------------------------------------------


def _codecs_encode(args: Any) -> Any:
    """bytes in protocols 0-2: `_codecs.encode(text, "latin1")`."""
    if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str):
        latin1 = str(args[1]).lower().replace("-", "") in ("latin1", "iso88591")
        raw = as_raw(args[0]) if latin1 else None
        if raw is not None:
            return raw
    return Opaque(cls="_codecs.encode", args=args)


def _bytes(args: Any) -> Any:
    """`bytes()` (empty bytes in protocols 0-2) and `bytes(text, "latin-1")`."""
    if args == ():
        return b""
    if isinstance(args, tuple) and args and isinstance(args[0], (bytes, str)):
        return as_raw(args[0]) or b""
    return Opaque(cls="builtins.bytes", args=args)


def _first_list(args: Any) -> list[Any]:
    if isinstance(args, tuple) and args and isinstance(args[0], (list, tuple)):
        return list(args[0])
    return []


def _mapping(args: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    if isinstance(args, tuple) and args and isinstance(args[0], dict):
        out.update(args[0])
    elif isinstance(args, tuple) and args and isinstance(args[0], list):
        for pair in args[0]:
            if isinstance(pair, (list, tuple)) and len(pair) == 2:
                out[safe_key(pair[0])] = pair[1]
    return out


def _reconstructor(args: Any) -> Any:
    """copyreg._reconstructor(cls, base, state): an object of cls; list/dict bases stay data."""
    if isinstance(args, tuple) and len(args) == 3:
        cls, base, state = args
        name = cls.qualname if isinstance(cls, GlobalRef) else "<dynamic>"
        base_name = base.qualname if isinstance(base, GlobalRef) else ""
        if base_name == "builtins.dict":
            return Opaque(cls=name, args=state, setitems=list(_mapping((state,)).items()))
        if base_name == "builtins.list":
            return Opaque(cls=name, args=state, items=_first_list((state,)))
        return Opaque(cls=name, args=state)
    return Opaque(cls="copyreg._reconstructor", args=args)


_CALLS: dict[str, Callable[[Any], Any]] = {
    "_codecs.encode": _codecs_encode,
    "builtins.bytes": _bytes,
    "builtins.set": _first_list,
    "builtins.frozenset": _first_list,
    "builtins.list": _first_list,
    "builtins.tuple": lambda a: tuple(_first_list(a)),
    "builtins.dict": _mapping,
    "builtins.bytearray": lambda a: (as_raw(a[0]) if isinstance(a, tuple) and a else None) or b"",
    "collections.OrderedDict": _mapping,
    "collections.Counter": _mapping,
    "collections.defaultdict": lambda a: {},
    "collections.deque": _first_list,
    "copyreg._reconstructor": _reconstructor,
}
_EMPTY_NEW = {
    "builtins.set": list,
    "builtins.frozenset": list,
    "builtins.list": list,
    "builtins.dict": dict,
    "collections.OrderedDict": dict,
    "collections.Counter": dict,
    "collections.defaultdict": dict,
    "collections.deque": list,
}


def call(func: Any, args: Any) -> Any:
    """REDUCE: what `func(*args)` pickled means, rebuilt by our code or left opaque."""
    name = func.qualname if isinstance(func, GlobalRef) else "<dynamic>"
    if name in RECONSTRUCT:
        return Opaque(cls="numpy.ndarray", args=args)
    if name in FROMBUFFER:
        return from_buffer(args)
    if name in SCALAR:
        return numpy_scalar(args)
    rebuild = _CALLS.get(name)
    if rebuild is not None:
        return rebuild(args)
    return Opaque(cls=name, args=args)


def new_object(cls: Any, args: Any) -> Any:
    """NEWOBJ / NEWOBJ_EX / OBJ / INST: `cls.__new__(cls, *args)`, never run."""
    name = cls.qualname if isinstance(cls, GlobalRef) else "<dynamic>"
    empty = _EMPTY_NEW.get(name)
    if empty is not None:
        return empty()
    return Opaque(cls=name, args=args)
