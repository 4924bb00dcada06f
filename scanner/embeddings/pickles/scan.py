"""Read a pickle without unpickling it: a bounded opcode walker that rebuilds the data.

`pickle.load` runs whatever callables a pickle names, so a pickle found on a share is
code, not data. `pickletools.genops` only parses opcodes; this module replays them on a
simulated stack, memo and mark stack, and rebuilds what data pickles hold (numbers,
strings, lists, tuples, dicts, sets, numpy arrays from their raw bytes, joblib arrays whose
bytes follow the pickle) with our own code. A call of any other global becomes an opaque
placeholder that keeps its arguments reachable (`pickle_objects`). Nothing is imported or
called, ever.

Hostile input is expected (../shared/docs/HOSTILE.md): the walk is capped in opcodes; the
input is bytes in memory, so a length field of 2^62 reads only what is there; nesting is
handled without recursion; truncated, corrupt and concatenated pickles yield what was seen
before the failure — the globals first of all, which is what the security finding needs.
"""

from __future__ import annotations

import io
import math
import pickletools
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scanner.embeddings.pickles import objects as po
from scanner.errors import FaceauditError

DEFAULT_MAX_OPS = 1_000_000
MAX_NESTED = 4  # joblib object arrays are pickles inside the pickle


@dataclass(frozen=True)
class PickleImport:
    """A global the pickle names (first occurrence), as `module.name`."""

    module: str
    name: str
    offset: int

    @property
    def qualname(self) -> str:
        return f"{po.canonical_module(self.module)}.{self.name}"


@dataclass(repr=False)
class PickleAnalysis:
    """What the walk saw. `roots`: one value per complete pickle, then what an unfinished one
    left on its stack (closed as well as can be guessed), so partial data is still searched."""

    roots: list[Any] = field(default_factory=list)
    extras: list[Any] = field(default_factory=list)  # states BUILT onto plain containers
    imports: list[PickleImport] = field(default_factory=list)
    opcodes: int = 0
    pickles: int = 0  # complete pickles (STOP reached)
    protocol: int = 0
    error: str | None = None  # why the walk stopped before the end (truncated, corrupt)
    error_offset: int | None = None
    capped: bool = False  # the opcode cap stopped the walk
    trailing_bytes: int = 0  # bytes after the last pickle that are not a pickle
    external: int = 0  # arrays or objects whose data is outside this file
    unsupported_arrays: int = 0  # numpy arrays of a dtype not rebuilt (structured records)
    array_notes: Counter[str] = field(default_factory=Counter)

    @property
    def complete(self) -> bool:
        return self.error is None and not self.capped

    def __repr__(self) -> str:  # never the data: it may hold vectors
        return (
            f"PickleAnalysis(pickles={self.pickles}, opcodes={self.opcodes}, "
            f"imports={[i.qualname for i in self.imports][:20]}, error={self.error!r}, "
            f"capped={self.capped})"
        )


class _Corrupt(FaceauditError):
    """The pickle is malformed here (the real unpickler would fail too)."""


class _Capped(FaceauditError):
    pass


# Opcodes whose argument is the value they push.
_VALUE_OPS = (
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
    "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
)  # fmt: skip
_CODE2OP = {op.code: op for op in pickletools.opcodes}

# genops raises these on truncated or malformed input (it parses, it never executes).
_PARSE_ERRORS = (ValueError, EOFError, OverflowError, struct.error, UnicodeError)


class _Walk:
    """State shared by the pickles of one input (concatenated, or nested by joblib)."""

    def __init__(self, data: bytes, max_ops: int, out: PickleAnalysis) -> None:
        self.data = data
        self.view = memoryview(data)
        self.stream = io.BytesIO(data)
        self.max_ops = max_ops
        self.out = out
        self.pos = 0
        self.seen: set[tuple[str, str]] = set()

    def tick(self) -> None:
        self.out.opcodes += 1
        if self.out.opcodes > self.max_ops:
            self.out.opcodes = self.max_ops
            raise _Capped

    def record(self, module: str, name: str) -> po.GlobalRef:
        if (module, name) not in self.seen:
            self.seen.add((module, name))
            self.out.imports.append(PickleImport(module, name, self.pos))
        return po.GlobalRef(module, name)


class _Machine:
    """One pickle: stack, mark stack and memo, replayed opcode by opcode."""

    def __init__(self, walk: _Walk, depth: int = 0) -> None:
        self.walk = walk
        self.depth = depth
        self.stack: list[Any] = []
        self.meta: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.ops = 0

    def run(self) -> Any:
        walk = self.walk
        ops: Iterator[tuple[pickletools.OpcodeInfo, Any, int | None]]
        ops = pickletools.genops(walk.stream)
        while True:
            walk.pos = walk.stream.tell()
            op, arg, _ = next(ops)  # genops raises ValueError at the end of the data
            walk.tick()
            self.ops += 1
            if op.name == "STOP":
                return self.pop()
            handler = _DISPATCH.get(op.name)
            if handler is None:
                raise _Corrupt(f"opcode {op.name} at offset {walk.pos} is not supported")
            handler(self, arg)

    # -- stack primitives -----------------------------------------------------------------

    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise _Corrupt(f"stack underflow at offset {self.walk.pos}")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _Corrupt(f"stack underflow at offset {self.walk.pos}")
        return self.stack[-1]

    def mark(self, _arg: Any = None) -> None:
        self.meta.append(self.stack)
        self.stack = []

    def pop_mark(self) -> list[Any]:
        if not self.meta:
            raise _Corrupt(f"no MARK to pop at offset {self.walk.pos}")
        items, self.stack = self.stack, self.meta.pop()
        return items

    def leftovers(self) -> list[Any]:
        """Close the open marks (innermost first) the way the next opcode most likely would,
        so a truncated pickle still presents its containers with their items."""
        stack = self.stack
        for under in reversed(self.meta):
            po.close_mark(under, stack)
            stack = under
        self.meta, self.stack = [], stack
        return stack

    # -- opcodes (the dispatch table below the class maps each opcode to one of these) ------

    def _pop_op(self, _arg: Any) -> None:  # POP on an empty stack drops a mark
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def _pop_mark_op(self, _arg: Any) -> None:
        self.pop_mark()

    def _tuple(self, n: int) -> None:
        if len(self.stack) < n:
            raise _Corrupt(f"stack underflow at offset {self.walk.pos}")
        items = tuple(self.stack[-n:])
        del self.stack[-n:]
        self.push(items)

    def _dict(self, _arg: Any) -> None:
        target: dict[Any, Any] = {}
        po.absorb_pairs(target, _pairs(self.pop_mark()))
        self.push(target)

    def _extend(self, items: list[Any]) -> None:
        if not po.absorb_items(self.top(), items):
            raise _Corrupt(f"APPEND to a value that is not a list at offset {self.walk.pos}")

    def _setitem(self, _arg: Any) -> None:
        value = self.pop()
        key = self.pop()
        self._setitems([(key, value)])

    def _setitems(self, pairs: list[tuple[Any, Any]]) -> None:
        if not po.absorb_pairs(self.top(), pairs):
            raise _Corrupt(f"SETITEM on a value that is not a dict at offset {self.walk.pos}")

    def _get(self, key: Any) -> None:
        if key not in self.memo:
            raise _Corrupt(f"memo key {int(key)} read before it was written at {self.walk.pos}")
        self.push(self.memo[key])

    def _put(self, key: Any) -> None:
        self.memo[key] = self.top()

    def _global(self, arg: Any) -> None:
        module, _, name = str(arg).partition(" ")
        self.push(self.walk.record(module, name))

    def _stack_global(self, _arg: Any) -> None:
        name = self.pop()
        module = self.pop()
        if isinstance(module, str) and isinstance(name, str):
            self.push(self.walk.record(module, name))
        else:  # computed at load time: cannot be named, so it is reported as such
            self.push(self.walk.record("<computed>", "<computed>"))

    def _inst(self, arg: Any) -> None:
        module, _, name = str(arg).partition(" ")
        cls = self.walk.record(module, name)
        self.push(po.new_object(cls, tuple(self.pop_mark())))

    def _obj(self, _arg: Any) -> None:
        items = self.pop_mark()
        if not items:
            raise _Corrupt(f"OBJ without a class at offset {self.walk.pos}")
        self.push(po.new_object(items[0], tuple(items[1:])))

    def _newobj(self, _arg: Any) -> None:
        args = self.pop()
        self.push(po.new_object(self.pop(), args))

    def _newobj_ex(self, _arg: Any) -> None:
        kwargs = self.pop()
        args = self.pop()
        self.push(po.new_object(self.pop(), (args, kwargs)))

    def _reduce(self, _arg: Any) -> None:
        args = self.pop()
        result = po.call(self.pop(), args)
        if isinstance(result, po.Opaque):
            self._account(result)
        self.push(result)

    def _build(self, _arg: Any) -> None:
        state = self.pop()
        target = self.top()
        if not isinstance(target, po.Opaque):
            self.walk.out.extras.append(state)  # e.g. an OrderedDict subclass's attributes
            return
        if target.cls == "numpy.ndarray":
            po.build_reconstructed(target, state)
        elif target.cls in po.JOBLIB_WRAPPERS:
            target.state = state
            self._joblib_array(target)
        elif target.cls in po.JOBLIB_EXTERNAL:
            target.state = state
            target.external = True
        else:
            target.state = state if target.state is None else (target.state, state)
        self._account(target)

    def _account(self, obj: po.Opaque) -> None:
        if obj.note:
            self.walk.out.array_notes[obj.note] += 1
        if obj.unsupported:
            self.walk.out.unsupported_arrays += 1
        if obj.external:
            self.walk.out.external += 1

    def _persistent(self, pid: Any) -> None:
        self.push(po.Opaque(cls="<persistent id>", args=pid, external=True))
        self.walk.out.external += 1

    def _ext(self, code: Any) -> None:
        self.push(self.walk.record("<extension registry>", str(code)))

    def _proto(self, arg: Any) -> None:
        self.walk.out.protocol = max(self.walk.out.protocol, int(arg))

    # -- joblib ---------------------------------------------------------------------------

    def _joblib_array(self, wrapper: po.Opaque) -> None:
        """joblib writes an array's bytes right after the wrapper's BUILD, outside any opcode
        (object arrays: a whole pickle). Read them and move the stream past them."""
        state = wrapper.state if isinstance(wrapper.state, dict) else {}
        dtype = po.dtype_of(state.get("dtype"))
        shape = po.valid_shape(state.get("shape"))
        if dtype is None or shape is None:
            raise _Corrupt(
                f"a joblib array of unsupported dtype or shape at offset {self.walk.pos}: "
                "the bytes that follow it cannot be skipped"
            )
        if dtype.kind == "O":
            if self.depth >= MAX_NESTED:
                raise _Corrupt(f"joblib object arrays nested too deep at {self.walk.pos}")
            inner = _Machine(self.walk, self.depth + 1).run()
            wrapper.items = inner.items if isinstance(inner, po.Opaque) else [inner]
            wrapper.shape = shape
            return
        stream = self.walk.stream
        if type(state.get("numpy_array_alignment_bytes")) is int:
            pad = stream.read(1)
            if not pad:
                raise _Corrupt(f"joblib array truncated at offset {stream.tell()}")
            stream.seek(pad[0], io.SEEK_CUR)
        start = stream.tell()
        need = math.prod(shape) * dtype.itemsize
        if start + need > len(self.walk.data):
            raise _Corrupt(
                f"joblib array data truncated: {need} bytes needed at offset {start}, "
                f"{max(0, len(self.walk.data) - start)} remain"
            )
        if dtype.kind in po.SHAPE_ONLY_KINDS:
            wrapper.shape = shape
        else:
            view = self.walk.view[start : start + need]
            po.fill_array(wrapper, dtype, shape, view, state.get("order") == "F")
        stream.seek(start + need)


_M = _Machine
_DISPATCH: dict[str, Callable[[_Machine, Any], None]] = {
    **dict.fromkeys(_VALUE_OPS, lambda m, a: m.push(a)),
    **dict.fromkeys(("GET", "BINGET", "LONG_BINGET"), _M._get),
    **dict.fromkeys(("PUT", "BINPUT", "LONG_BINPUT"), _M._put),
    **dict.fromkeys(("EXT1", "EXT2", "EXT4"), _M._ext),
    **dict.fromkeys(("READONLY_BUFFER", "FRAME"), lambda m, _: None),
    "NONE": lambda m, _: m.push(None),
    "NEWTRUE": lambda m, _: m.push(True),
    "NEWFALSE": lambda m, _: m.push(False),
    "BYTEARRAY8": lambda m, a: m.push(bytes(a)),
    "EMPTY_LIST": lambda m, _: m.push([]),
    "EMPTY_SET": lambda m, _: m.push([]),
    "EMPTY_DICT": lambda m, _: m.push({}),
    "EMPTY_TUPLE": lambda m, _: m.push(()),
    "MARK": _M.mark,
    "POP": _M._pop_op,
    "POP_MARK": _M._pop_mark_op,
    "DUP": lambda m, _: m.push(m.top()),
    "LIST": lambda m, _: m.push(list(m.pop_mark())),
    "FROZENSET": lambda m, _: m.push(list(m.pop_mark())),
    "TUPLE": lambda m, _: m.push(tuple(m.pop_mark())),
    "TUPLE1": lambda m, _: m._tuple(1),
    "TUPLE2": lambda m, _: m._tuple(2),
    "TUPLE3": lambda m, _: m._tuple(3),
    "DICT": _M._dict,
    "APPEND": lambda m, _: m._extend([m.pop()]),
    "APPENDS": lambda m, _: m._extend(m.pop_mark()),
    "ADDITEMS": lambda m, _: m._extend(m.pop_mark()),
    "SETITEM": _M._setitem,
    "SETITEMS": lambda m, _: m._setitems(_pairs(m.pop_mark())),
    "MEMOIZE": lambda m, _: m._put(len(m.memo)),
    "GLOBAL": _M._global,
    "STACK_GLOBAL": _M._stack_global,
    "INST": _M._inst,
    "OBJ": _M._obj,
    "NEWOBJ": _M._newobj,
    "NEWOBJ_EX": _M._newobj_ex,
    "REDUCE": _M._reduce,
    "BUILD": _M._build,
    "PERSID": _M._persistent,
    "BINPERSID": lambda m, _: m._persistent(m.pop()),
    "NEXT_BUFFER": lambda m, _: m.push(po.Opaque(cls="<out-of-band buffer>", external=True)),
    "PROTO": _M._proto,
}


def _pairs(items: list[Any]) -> list[tuple[Any, Any]]:
    if len(items) % 2:
        raise _Corrupt("an odd number of items for a dict")
    return list(zip(items[::2], items[1::2], strict=True))


def _describe(exc: BaseException, data: bytes, pos: int) -> str:
    """A message that names the place and never quotes the data."""
    if isinstance(exc, _Corrupt):
        return str(exc)
    text = str(exc)
    hints = ("exhausted", "remain", "expected", "not enough data", "no newline found")
    if any(h in text for h in hints) or pos >= len(data):
        return f"truncated: the data ends inside the pickle (opcode at offset {pos})"
    op = _CODE2OP.get(chr(data[pos]))
    if op is None:
        return f"corrupt: unknown opcode byte 0x{data[pos]:02x} at offset {pos}"
    return f"corrupt: malformed {op.name} opcode at offset {pos}"


def analyse(data: bytes, *, max_ops: int = DEFAULT_MAX_OPS) -> PickleAnalysis:
    """Walk every pickle in `data` (concatenated ones too) without executing anything."""
    out = PickleAnalysis()
    walk = _Walk(bytes(data), max_ops, out)
    while walk.stream.tell() < len(walk.data):
        start = walk.stream.tell()
        machine = _Machine(walk)
        try:
            out.roots.append(machine.run())
            out.pickles += 1
        except _Capped:
            out.capped = True
            out.error_offset = walk.pos
            out.roots.extend(machine.leftovers())
            break
        except (_Corrupt, *_PARSE_ERRORS) as exc:
            if out.pickles and machine.ops == 0:
                out.trailing_bytes = len(walk.data) - start  # not a pickle: padding, a tail
            else:
                out.error = _describe(exc, walk.data, walk.pos)
                out.error_offset = walk.pos
                out.roots.extend(machine.leftovers())
            break
    return out
