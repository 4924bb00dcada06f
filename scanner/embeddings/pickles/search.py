"""Find sets of vectors in the data a pickle walk rebuilt, with the names around them.

Face-template stores pickle a handful of shapes (../shared/docs/STORES.md): a 2-D float
array; a list of equal-length vectors (face_recognition's `{"encodings": [...], "names":
[...]}`); a dict of person -> vector(s); a list of records where one key holds the vector
(DeepFace's `embedding`, with `identity` beside it); a list of [path, vector] pairs (old
DeepFace caches). Each place becomes a `VectorSet` for `vectors.classify`: a bounded,
evenly spread sample, the full count, the dtype as stored, the keys on the way (`names`)
and how many labels (people, image paths) line up one-to-one with the vectors.

The walk is iterative with a visited set (memo references make the data a graph, possibly
cyclic) and a work budget; per-object results are cached, so a list referenced a million
times is inspected once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from scanner.embeddings.pickles.objects import NPY_MAGIC, Opaque, UnhashableKey, npy_array
from scanner.embeddings.vectors import VectorSet
from scanner.errors import FaceauditError
from scanner.model import VectorRef, cut

MAX_SAMPLE = 256
MIN_DIMS = 8
MAX_DIMS = 65_536
WORK_BUDGET = 20_000_000  # elements inspected per item
MAX_WHERE = 160  # characters of a path kept (the end: the keys nearest the vectors)
MAX_NAMES = 12  # names on the way kept (the nearest)
QUORUM = 0.9  # share of a collection's elements that must agree (a truncated tail, a None)
LABEL_KEYS = ("identity", "name", "label", "person", "subject", "path", "img", "image", "file")

# Keys that name a kind of data rather than a person: such a dict is a record, not a gallery.
_FIELD_WORDS = re.compile(
    r"embed|encod|vector|feature|descriptor|face|templ|repr|signature|weight|bias|coef|mean"
    r"|std|var|data|value|param|layer|matrix|centroid|compon|array",
    re.IGNORECASE,
)

# An element's shape: ("v", dims) | ("m", dims) | ("r", key, dims) | ("p", index, dims) | ("x",)
_Sig = tuple[Any, ...]
# Label columns beside a place, by length: the key, and its strings when they can be read
_Hint = dict[int, tuple[str, Sequence[str] | None]]
# A place to visit: value, where, names on the way, label columns beside it
_Task = tuple[Any, str, tuple[str, ...], _Hint]


@dataclass
class _Block:
    value: Any  # one vector (list of numbers, 1-D array) or rows (2-D array)
    rows: int
    label: str | None = None  # the label of every row (an element's name, a gallery's key)
    labels: Sequence[str] | None = None  # one per row (a sibling list of names)


def _labelled(blocks: list[_Block], label: Any) -> list[_Block]:
    """The blocks of one element, all labelled with the element's label (a text)."""
    if not isinstance(label, str):
        return blocks
    return [replace(b, label=label) for b in blocks]


def _aligned(blocks: list[_Block], labels: Sequence[str] | None) -> list[_Block]:
    """Blocks whose rows line up one-to-one with a sibling list of labels."""
    if labels is None:
        return blocks
    out, at = [], 0
    for b in blocks:
        out.append(replace(b, labels=labels[at : at + b.rows]))
        at += b.rows
    return out


class _Budget(FaceauditError):
    pass


def _array(v: Any) -> np.ndarray | None:
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, Opaque):
        return v.array
    if isinstance(v, bytes) and v.startswith(NPY_MAGIC):
        return npy_array(v)  # a .npy file's bytes kept in the pickle
    return None


def _seq(v: Any) -> Sequence[Any] | None:
    """A list, a tuple, or the elements of a numpy object array."""
    if isinstance(v, (list, tuple)):
        return v
    if isinstance(v, Opaque) and v.array is None and v.shape is not None and v.items:
        return v.items
    return None


def _numeric(a: np.ndarray) -> bool:
    return a.dtype.kind in "fiu" and a.size > 0


def _is_field(key: Any) -> bool:
    return isinstance(key, str) and bool(_FIELD_WORDS.search(key))


def _container(v: Any) -> bool:
    """What may hold vectors: containers, arrays, objects, and `.npy` bytes."""
    if isinstance(v, (list, tuple, dict, Opaque, np.ndarray)):
        return True
    return isinstance(v, bytes) and v.startswith(NPY_MAGIC)


def _at(where: str, part: str) -> str:
    """A path one step deeper, kept short: hostile nesting is 100,000 levels deep."""
    out = where + part
    return out if len(out) <= MAX_WHERE else "…" + out[-(MAX_WHERE - 1) :]


def _record(v: Any) -> dict[Any, Any] | None:
    """A dict, or an object's attribute dict (its BUILD state, alone or before its slots)."""
    if isinstance(v, dict):
        return v
    if isinstance(v, Opaque) and v.array is None:
        state = v.state
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            state = state[0]
        return state if isinstance(state, dict) else None
    return None


def _key_text(key: Any) -> str | None:
    if isinstance(key, UnhashableKey):
        return None
    if isinstance(key, str):
        return key[:64]
    if type(key) is int:
        return str(key)
    return None


class VectorSearch:
    """Iterate over the vector sets in rebuilt pickle data. `exhausted` tells whether the
    work budget stopped the search; `places` counts the sets yielded."""

    def __init__(self, roots: Sequence[Any], context: tuple[str, ...] = ()) -> None:
        self.roots = roots
        self.context = context
        self.work = 0
        self.places = 0
        self.exhausted = False
        self._vec: dict[int, int | None] = {}
        self._mat: dict[int, int | None] = {}

    def sets(self) -> Iterator[VectorSet]:
        many = len(self.roots) > 1
        todo: list[_Task] = [
            (root, f"#{n}" if many else "", (), {}) for n, root in enumerate(self.roots, 1)
        ]
        todo.reverse()
        seen: set[int] = set()
        try:
            while todo:
                value, where, names, hint = todo.pop()
                if isinstance(value, (list, tuple, dict, Opaque, np.ndarray)):
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                found, children = self._visit(value, where, names, hint)
                for vs in found:
                    self.places += 1
                    yield vs
                todo.extend(reversed(children))
        except _Budget:
            self.exhausted = True

    # -- one node ---------------------------------------------------------------------------

    def _visit(
        self, value: Any, where: str, names: tuple[str, ...], hint: _Hint
    ) -> tuple[list[VectorSet], list[_Task]]:
        if self._matrix(value) or self._vector(value):
            block = self._blocks(value)
            count = sum(b.rows for b in block)
            labels, label_names = self._hinted(hint, count)
            block = _aligned(block, self._hint_values(hint, count))
            return [self._make(block, where, (*names, *label_names), labels)], []
        seq = _seq(value)
        if seq is not None:
            found = self._collection(list(seq), where, names, hint, keyed=False)
            if found is not None:
                return [found], []
            self._spend(len(seq))
            return [], [
                (v, _at(where, f"[{i}]"), names, {}) for i, v in enumerate(seq) if _container(v)
            ]
        if isinstance(value, dict):
            return self._visit_dict(list(value.items()), where, names)
        if isinstance(value, Opaque):
            return self._visit_opaque(value, where, names)
        return [], []

    def _visit_dict(
        self, pairs: list[tuple[Any, Any]], where: str, names: tuple[str, ...]
    ) -> tuple[list[VectorSet], list[_Task]]:
        if len(pairs) >= 2 and not any(_is_field(k) for k, _ in pairs):
            keys = [_key_text(k) for k, _ in pairs]
            keyed = self._collection([v for _, v in pairs], where, names, {}, keyed=True, keys=keys)
            if keyed is not None:
                return [keyed], []
        hint = self._label_columns(pairs)
        children = []
        for key, v in pairs:
            if not _container(v):
                continue
            text = _key_text(key)
            child_where = _at(where, (f".{text}" if where else text) if text else "[?]")
            child_names = (*names[-MAX_NAMES:], text) if text else names
            children.append((v, child_where, child_names, hint))
        return [], children

    def _visit_opaque(
        self, obj: Opaque, where: str, names: tuple[str, ...]
    ) -> tuple[list[VectorSet], list[_Task]]:
        short = obj.cls.rsplit(".", 1)[-1]
        names = (*names[-MAX_NAMES:], short) if short.isidentifier() else names
        found, children = self._visit_dict(obj.setitems, where, names) if obj.setitems else ([], [])
        if obj.items:
            children.append((obj.items, where, names, {}))
        if obj.state is not None:
            children.append((obj.state, where, names, {}))
        if obj.args is not None:
            children.append((obj.args, _at(where, "()"), names, {}))
        return found, children

    # -- shapes -----------------------------------------------------------------------------

    def _spend(self, n: int) -> None:
        self.work += n
        if self.work > WORK_BUDGET:
            raise _Budget

    def _vector(self, v: Any) -> int | None:
        """Dims when v is one vector: a 1-D numeric array or a list of numbers."""
        a = _array(v)
        if a is not None:
            ok = a.ndim == 1 and _numeric(a) and MIN_DIMS <= a.shape[0] <= MAX_DIMS
            return int(a.shape[0]) if ok else None
        if not isinstance(v, (list, tuple)) or not MIN_DIMS <= len(v) <= MAX_DIMS:
            return None
        key = id(v)
        if key not in self._vec:
            self._spend(len(v))
            numbers = all(type(x) is float or type(x) is int for x in v)
            self._vec[key] = len(v) if numbers else None
        return self._vec[key]

    def _matrix(self, v: Any) -> int | None:
        """Dims when v holds several vectors: an N-D array (rows = all but the last axis) or a
        list of vectors of one length."""
        a = _array(v)
        if a is not None:
            ok = a.ndim >= 2 and _numeric(a) and MIN_DIMS <= a.shape[-1] <= MAX_DIMS
            return int(a.shape[-1]) if ok else None
        seq = _seq(v)
        if not seq:
            return None
        key = id(v)
        if key not in self._mat:
            self._spend(1)
            self._mat[key] = None
            dims = {self._vector(e) for e in seq}
            if len(dims) == 1:
                self._mat[key] = dims.pop()
        return self._mat[key]

    def _signature(self, e: Any) -> _Sig | None:
        if e is None:
            return None
        if not _container(e):
            return ("x",)
        dims = self._vector(e)
        if dims:
            return ("v", dims)
        dims = self._matrix(e)
        if dims:
            return ("m", dims)
        record = _record(e)
        if record is not None:
            self._spend(len(record))
            for key, value in record.items():
                dims = self._vector(value) or self._matrix(value)
                if dims and isinstance(key, str):
                    return ("r", key, dims)
        seq = _seq(e)
        if seq is not None and 2 <= len(seq) <= 16:
            self._spend(len(seq))
            at = [i for i, x in enumerate(seq) if self._vector(x) or self._matrix(x)]
            if len(at) == 1 and any(isinstance(x, str) for x in seq):
                return ("p", at[0], self._vector(seq[at[0]]) or self._matrix(seq[at[0]]))
        return ("x",)

    # -- collections ------------------------------------------------------------------------

    def _collection(
        self,
        elems: list[Any],
        where: str,
        names: tuple[str, ...],
        hint: _Hint,
        keyed: bool,
        *,
        keys: Sequence[str | None] | None = None,
    ) -> VectorSet | None:
        """A set when (nearly) all elements are vectors, blocks of vectors, records with a
        vector under one key, or [label, vector] pairs — all of one length."""
        self._spend(len(elems))
        sigs = [self._signature(e) for e in elems]
        present = [s for s in sigs if s is not None]
        if not present:
            return None
        counts: dict[_Sig, int] = {}
        for s in present:
            counts[s] = counts.get(s, 0) + 1
        sig, n = max(counts.items(), key=lambda kv: kv[1])
        # All but the last may agree: a truncated pickle leaves its last element unfinished.
        tail_only = n == len(present) - 1 and sigs[-1] != sig
        if sig[0] == "x" or (n < QUORUM * len(present) and not tail_only):
            return None
        labelled = list(keys) if keys is not None else [None] * len(elems)
        members = [e for e, s in zip(elems, sigs, strict=True) if s == sig]
        member_keys = [k for k, s in zip(labelled, sigs, strict=True) if s == sig]
        kind = sig[0]
        star = "{*}" if keyed else "[*]"
        if kind in ("v", "m"):
            blocks = [
                b for e, k in zip(members, member_keys, strict=True)
                for b in _labelled(self._blocks(e), k)
            ]  # fmt: skip
            count = sum(b.rows for b in blocks)
            at = where if kind == "v" and not keyed else where + star
            if keyed:  # the keys label the vectors; they are people: never names
                return self._make(blocks, at, names, count)
            labels, label_names = self._hinted(hint, count)
            blocks = _aligned(blocks, self._hint_values(hint, count))
            return self._make(blocks, at, (*names, *label_names), labels)
        if kind == "r":
            return self._records(members, sig[1], where + star, names, keyed)
        return self._pairs(members, sig[1], where + star, names, keyed)

    def _records(
        self, members: list[Any], key: str, where: str, names: tuple[str, ...], keyed: bool
    ) -> VectorSet:
        records = [r for r in map(_record, members) if r is not None]
        label_key = self._label_key(records[0], key)
        blocks: list[_Block] = []
        labels = 0
        for record in records:
            got = self._blocks(record[key])
            if label_key is not None:
                got = _labelled(got, record.get(label_key))
            blocks.extend(got)
            if keyed or (label_key is not None and isinstance(record.get(label_key), str)):
                labels += sum(b.rows for b in got)
        extra = (key,) if label_key is None else (key, label_key)
        if isinstance(members[0], Opaque):  # objects: their class names the record
            extra = (*extra, members[0].cls.rsplit(".", 1)[-1])
        return self._make(blocks, f"{where}.{key[:64]}", (*names, *extra), labels)

    def _pairs(
        self, members: list[Any], index: int, where: str, names: tuple[str, ...], keyed: bool
    ) -> VectorSet:
        blocks: list[_Block] = []
        labels = 0
        for pair in members:
            seq = _seq(pair) or ()
            got = self._blocks(seq[index])
            got = _labelled(got, next((x for x in seq if isinstance(x, str)), None))
            blocks.extend(got)
            if keyed or any(isinstance(x, str) for x in seq):
                labels += sum(b.rows for b in got)
        return self._make(blocks, f"{where}[{index}]", names, labels)

    @staticmethod
    def _label_key(record: dict[Any, Any], vector_key: str) -> str | None:
        texts = [k for k, v in record.items() if isinstance(k, str) and isinstance(v, str)]
        for wanted in LABEL_KEYS:
            for k in texts:
                if k != vector_key and wanted in k.lower():
                    return k
        return texts[0] if texts else None

    def _label_columns(self, pairs: list[tuple[Any, Any]]) -> _Hint:
        """Sibling lists of strings, by length: names or paths aligned with a vector list
        (with the strings, unless a numpy array keeps them out of reach)."""
        out: _Hint = {}
        for key, v in pairs:
            text = _key_text(key)
            if text is None:
                continue
            strings = isinstance(v, Opaque) and v.array is None and not v.items
            if strings and v.shape and len(v.shape) == 1:
                out.setdefault(v.shape[0], (text, None))  # a numpy array of strings
                continue
            seq = _seq(v)
            if seq:
                self._spend(len(seq))
                if all(isinstance(x, str) for x in seq):
                    out.setdefault(len(seq), (text, seq))
        return out

    @staticmethod
    def _hinted(hint: _Hint, count: int) -> tuple[int, tuple[str, ...]]:
        found = hint.get(count)
        return (count, (found[0],)) if found else (0, ())

    @staticmethod
    def _hint_values(hint: _Hint, count: int) -> Sequence[str] | None:
        found = hint.get(count)
        return found[1] if found else None

    # -- building the set -------------------------------------------------------------------

    def _blocks(self, v: Any) -> list[_Block]:
        """The vectors of a value, in blocks (unlabelled: callers label them)."""
        a = _array(v)
        if a is not None:
            if a.ndim == 1:
                return [_Block(a, 1)]
            rows = a.reshape(-1, a.shape[-1])
            return [_Block(rows, int(rows.shape[0]))]
        if self._vector(v):
            return [_Block(v, 1)]
        return [b for e in _seq(v) or () for b in self._blocks(e)]

    def _make(
        self, blocks: list[_Block], where: str, names: tuple[str, ...], labels: int
    ) -> VectorSet:
        count = sum(b.rows for b in blocks)
        picks = np.unique(np.linspace(0, count - 1, min(count, MAX_SAMPLE)).astype(np.int64))
        starts = np.cumsum([0] + [b.rows for b in blocks[:-1]])
        rows = [_row(blocks, starts, int(i)) for i in picks]
        sample = np.vstack(rows) if rows else np.empty((0, 0))
        refs = tuple(_ref(blocks, starts, int(i), where or "(root)") for i in picks)
        first = blocks[0].value
        a = _array(first)
        if a is not None:
            dtype, integers = a.dtype.name, a.dtype.kind in "iu"
        else:
            floats = any(type(x) is float for b in blocks[:MAX_SAMPLE] for x in _flat(b.value))
            dtype, integers = ("python-float", False) if floats else ("python-int", True)
        return VectorSet(
            where=where or "(root)",
            sample=sample,
            count=count,
            dtype=dtype,
            names=(*names, *self.context),
            labels=labels,
            integers=integers,
            refs=refs,
        )


def _ref(blocks: list[_Block], starts: np.ndarray, index: int, where: str) -> VectorRef:
    """Which stored vector number `index` is: the label kept beside it, and its place."""
    b = int(np.searchsorted(starts, index, side="right")) - 1
    block = blocks[b]
    label = block.labels[index - int(starts[b])] if block.labels is not None else block.label
    text = cut(label) if isinstance(label, str) else None
    return VectorRef(label=text, path=cut(f"{where} #{index}"))  # the set's vector #index


def _flat(value: Any) -> Sequence[Any]:
    return value if isinstance(value, (list, tuple)) else ()


def _row(blocks: list[_Block], starts: np.ndarray, index: int) -> np.ndarray:
    """Vector number `index` across the blocks, as float64 (non-numbers become NaN)."""
    b = int(np.searchsorted(starts, index, side="right")) - 1
    block = blocks[b]
    a = _array(block.value)
    if a is not None:
        vec = a if a.ndim == 1 else a[index - int(starts[b])]
        with np.errstate(all="ignore"):
            return vec.astype(np.float64)[None, :]
    try:
        return np.asarray(block.value, dtype=np.float64)[None, :]
    except (OverflowError, ValueError, TypeError):
        return np.full((1, len(block.value)), np.nan)
