"""Vectors in JSON and JSON Lines, walked with their paths; hostile documents refused.

Python's `json` raises RecursionError on deep nesting, refuses integers over 4,300 digits only
after reading them, and accepts NaN/Infinity silently. Here a document is bounded before it is
parsed: at most MAX_BYTES, nesting measured without parsing (at most MAX_DEPTH), integers
over MAX_INT_DIGITS and the NaN/Infinity constants refused. A document refused for its size
or depth is still searched as text for arrays of numbers (a linear scan), and the refusal is
reported: the scan is then incomplete, never silently clean. So is a document refused for
anything else (invalid, NaN, a huge integer, not UTF-8).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from scanner.embeddings.textvec import analyse_text, cell_vector
from scanner.embeddings.vecsets import (
    MAX_DIMS,
    MIN_DIMS,
    Collector,
    Findings,
    Path,
    is_label_name,
    path_text,
)
from scanner.errors import FaceauditError
from scanner.model import ProblemReason, VectorRef, cut

MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 100
_CHUNK = 1 << 20
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_STEPS = np.zeros(256, dtype=np.int8)
_STEPS[[ord("["), ord("{")]] = 1
_STEPS[[ord("]"), ord("}")]] = -1


class _Refused(FaceauditError, ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON (NaN/Infinity refused)")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (limit {MAX_INT_DIGITS})")
    return int(text)


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects outside strings: linear, no parse.

    Vectorised over chunks (a regular expression for strings restarts at every quote of an
    unterminated one: quadratic on `"\\"\\"…`). A quote is a string delimiter unless an odd
    run of backslashes precedes it; brackets count only outside strings.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return min(MAX_DEPTH, text.count("[") + text.count("{"))
    data = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    level, deepest, inside, carried = 0, 0, 0, 0  # carried: backslashes ending the last chunk
    for start in range(0, len(data), _CHUNK):
        chunk = data[start : start + _CHUNK]
        index = np.arange(len(chunk))
        last_other = np.where(chunk != _BACKSLASH, index, -1)
        np.maximum.accumulate(last_other, out=last_other)
        before = np.concatenate(([-1], last_other[:-1]))  # last non-backslash before i
        run = index - 1 - before + np.where(before < 0, carried, 0)
        quotes = np.cumsum((chunk == _QUOTE) & (run % 2 == 0), dtype=np.int64) + inside
        steps = _STEPS[chunk] * (quotes % 2 == 0)
        running = np.cumsum(steps, dtype=np.int64) + level
        deepest = max(deepest, int(running.max()))
        level, inside = int(running[-1]), int(quotes[-1] % 2)
        tail = len(chunk) - 1 - int(last_other[-1])
        carried = tail + (carried if last_other[-1] < 0 else 0)
    return deepest


def analyse_json(data: bytes, names: tuple[str, ...]) -> Findings:
    """Every array of numbers (or vector-valued string) in a JSON or JSONL document."""
    found = Findings()
    if len(data) > MAX_BYTES:
        found.problem(
            ProblemReason.OVERSIZE,
            f"JSON of {len(data)} bytes exceeds the {MAX_BYTES} byte limit: not parsed, "
            "searched as text for arrays of numbers",
        )
        return _as_text(data, names, found)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _refused(f"JSON is not UTF-8 ({exc.reason})", data, names, found)
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        return _refused(f"JSON nested {depth} levels deep (limit {MAX_DEPTH})", data, names, found)
    collector = Collector(names)
    docs: list[Any] | None
    try:
        docs = [_loads(text)]
        found.notes.append(("json_documents", 1))
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            return _refused(f"invalid JSON ({exc})", data, names, found)
        docs = _lines(text, found)
        if docs is None:
            return _refused("invalid JSON (and not JSON Lines)", data, names, found)
    except _Refused as exc:
        return _refused(f"JSON refused: {exc}", data, names, found)
    except RecursionError:  # not reachable after nesting_depth; kept as a second guard
        return _refused("JSON nested too deeply for the parser", data, names, found)
    for i, doc in enumerate(docs):
        _walk(doc, () if len(docs) == 1 else (i,), collector, False, None)
    found.sets.extend(collector.vector_sets())
    if collector.overflow:
        found.notes.append(("vectors_not_grouped", collector.overflow))
    return found


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)


def _lines(text: str, found: Findings) -> list[Any] | None:
    """JSON Lines: one document per line; most lines must parse."""
    docs: list[Any] = []
    bad = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            docs.append(_loads(line))
        except (json.JSONDecodeError, _Refused):
            bad += 1
    if not docs or bad > len(docs):
        return None
    if bad:
        found.problem(ProblemReason.DECODE_ERROR, f"{bad} JSON Lines lines could not be parsed")
    found.notes.append(("json_documents", len(docs)))
    return docs


def _as_text(data: bytes, names: tuple[str, ...], found: Findings) -> Findings:
    found.extend(analyse_text(data.decode("utf-8", "replace"), names))
    return found


def _refused(why: str, data: bytes, names: tuple[str, ...], found: Findings) -> Findings:
    """A document that is not parsed is still searched as text (linear), and reported."""
    found.problem(ProblemReason.DECODE_ERROR, f"{why}: not parsed, searched as text")
    return _as_text(data, names, found)


def _numbers(node: list[Any]) -> np.ndarray | None:
    if not MIN_DIMS <= len(node) <= MAX_DIMS:
        return None
    for x in node:
        if type(x) is not float and type(x) is not int:
            return None
    with np.errstate(all="ignore"):
        return np.array(node, dtype=np.float64)


def _walk(node: Any, path: Path, out: Collector, labelled: bool, label: str | None) -> None:
    """Depth is bounded by nesting_depth before parsing, so recursion stays shallow. `label`
    is the one stored beside this node (a record's name, a parallel list's entry)."""
    if isinstance(node, list):
        vec = _numbers(node)
        if vec is not None:
            ints = all(type(x) is int for x in node)
            ref = _ref(label, path)
            out.add(path, vec[None, :], dtype="text", labels=int(labelled), integers=ints,
                    refs=(ref,))  # fmt: skip
            return
        for i, item in enumerate(node):
            _walk(item, (*path, i), out, labelled, label)
    elif isinstance(node, dict):
        own, parallel = _labels(node)
        for key, value in node.items():
            names = parallel.get(len(value)) if isinstance(value, list) else None
            if names is not None and not is_label_name(str(key)) and _numbers(value) is None:
                for i, item in enumerate(value):  # one label per element, beside the list
                    _walk(item, (*path, str(key), i), out, True, names[i])
                continue
            marked = labelled or own is not None or names is not None
            _walk(value, (*path, str(key)), out, marked, own or label)
    elif isinstance(node, str) and len(node) >= 2 * MIN_DIMS - 1:
        hit = cell_vector(node)
        if hit is not None:
            ref = _ref(label, path)
            out.add(path, hit[0][None, :], dtype=hit[1], labels=int(labelled), integers=hit[2],
                    refs=(ref,))  # fmt: skip


def _ref(label: str | None, path: Path) -> VectorRef:
    """Which vector: the label stored beside it, and its path in the document (both cut)."""
    return VectorRef(
        label=cut(label) if label is not None else None, path=cut(path_text("$", path))
    )


def _labels(record: dict[str, Any]) -> tuple[str | None, dict[int, list[str]]]:
    """A record's own label (`"name": "alice"`), and label lists beside vector lists by
    length (`{"encodings": [...], "names": [...]}`: one name per encoding)."""
    own: str | None = None
    lists: dict[int, list[str]] = {}
    for key, value in record.items():
        if not is_label_name(str(key)):
            continue
        if isinstance(value, str) and value:
            own = own if own is not None else value
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            lists.setdefault(len(value), value)
    return own, lists
