"""Vectors written as text: cells (JSON lists, hex, base64), CSV/TSV rows and columns, and
runs of numbers anywhere in YAML, SQL dumps and source files.

Applications store templates as text in a handful of ways (../shared/docs/STORES.md): JSON
arrays (PhotoPrism), hex of float64 bytes (LibrePhotos: 2,048 characters for 128
dimensions), base64, pgvector/array literals (`[0.1,…]`, `{0.1,…}`), CSV rows. Every reader
here is linear in the input: regular expressions without nested ambiguity, bounded samples.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import collections
import csv
import dataclasses
import io
import re
import sys
from collections.abc import Iterator

import numpy as np

from scanner.embeddings.vecsets import (
    MAX_DIMS,
    MIN_DIMS,
    SAMPLE_ROWS,
    Findings,
    is_label_name,
    sample_rows,
    stem_runs,
)
from scanner.embeddings.vectors import FACE_DIMS, OTHER_FACE_DIMS, VectorSet, recognise_bytes
from scanner.model import ProblemReason

NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER = re.compile(NUM)
_NUM_LIST = re.compile(rf"{NUM}(?:(?:[ \t]*[,;][ \t\r\n]*|[ \t\r\n]+){NUM})*")
_HEX = re.compile(r"(?:\\{1,2}x|0x)?([0-9a-fA-F]+)")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_BRACKETS = {"[": "]", "{": "}", "(": ")"}
MAX_CELL = 1_000_000  # characters: a cell longer than this is not one vector


def parse_number_list(text: str) -> tuple[np.ndarray, bool] | None:
    """`[0.1, -0.2, …]`, `{…}`, `(…)` or bare comma/space-separated numbers: (values,
    integers). None when the text is anything else."""
    inner = text.strip()
    if inner[:1] in _BRACKETS:
        if inner[-1:] != _BRACKETS[inner[0]]:
            return None
        inner = inner[1:-1].strip()
    if len(inner) < 2 * MIN_DIMS - 1 or not _NUM_LIST.fullmatch(inner):
        return None
    tokens = _NUMBER.findall(inner)
    if not MIN_DIMS <= len(tokens) <= MAX_DIMS:
        return None
    with np.errstate(all="ignore"):
        values = np.array(tokens, dtype=np.float64)
    return values, not any(c in inner for c in ".eE")


def cell_vector(text: str) -> tuple[np.ndarray, str, bool] | None:
    """One vector held in one text value: (values, how it is stored, integers)."""
    text = text.strip()
    if len(text) < 2 * MIN_DIMS - 1 or len(text) > MAX_CELL:
        return None
    listed = parse_number_list(text)
    if listed is not None:
        return listed[0], "text", listed[1]
    hexed = _HEX.fullmatch(text)
    if hexed and len(hexed[1]) % 2 == 0:
        found = recognise_bytes(bytes.fromhex(hexed[1]))
        return (found[0], f"{found[1]} (hex)", False) if found else None
    if len(text) % 4 == 0 and _B64.fullmatch(text):
        try:
            blob = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
        found = recognise_bytes(blob)
        if found:
            return found[0], f"{found[1]} (base64)", False
    return None


# -- runs of numbers in any text ------------------------------------------------------------

# Numbers separated by commas (a flow list, an SQL array literal), blanks, or YAML block
# items ("\n  - 0.1"). Linear time: a cheap character-class scan finds stretches that could
# hold 64 numbers, and within them one possessive match consumes each maximal run once (a
# `{63,}` pattern would restart inside every shorter run: quadratic on hostile text).
_SEP = r"(?:[ \t]*,[ \t\r\n]*|[ \t]*\r?\n[ \t]*-[ \t]+|[ \t]+)"
_STRETCH = re.compile(r"[-+\d.eE,\s]{127,}")
if sys.version_info >= (3, 11):
    _RUN = re.compile(rf"(?<![\w.\-+])(?>{NUM})(?>{_SEP}(?>{NUM}))*+")
else:  # pragma: no cover - no atomic groups before 3.11 (greedy, still one pass per run)
    _RUN = re.compile(rf"(?<![\w.\-+]){NUM}(?:{_SEP}{NUM})*")
MIN_RUN = 64  # numbers: shorter runs are coordinates, tables, not stored templates
_MAX_RUN_CHARS = MAX_DIMS * 32
# Hex (512+ characters: 64 float64s) and base64 (340+: 64 float32s) in one pass; the
# look-behind keeps a search from restarting inside a shorter token (quadratic otherwise).
_BLOB_RUN = re.compile(r"(?<![0-9A-Za-z+/=\\])(?:\\{1,2}x|0x)?([A-Za-z0-9+/]{340,}={0,2})")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_GAP = re.compile(r"[\s,;\[\](){}'\"]*")
_WORD = re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"|[A-Za-z_][\w.]*")
_STOP = frozenset(
    (
        *("values", "insert", "into", "array", "vector", "float", "real", "double", "precision"),
        *("cast", "as", "null", "true", "false", "select", "from", "where", "and", "or", "np"),
        *("numpy", "torch", "tensor", "list", "tuple", "dtype", "float32", "float64", "e"),
        *("copy", "stdin", "set", "update"),
    )
)
_VECTOR_COLUMN = re.compile(r"embed|encod|vector|\bvec|descriptor|feature|templ", re.IGNORECASE)
_SQL_HINT = re.compile(r"INSERT\s+INTO|COPY\s", re.IGNORECASE)
# SQL dumps (pg_dump, mysqldump) start statements at the beginning of a line: anchoring
# there makes the search ~10x cheaper than trying every word boundary.
_STATEMENT = re.compile(
    r"^[ \t]*(?:(?P<verb>INSERT\s+INTO|COPY)\s+(?P<table>(?:[\w\"`]+\.)*[\w\"`]+)"
    r"\s*(?:\((?P<cols>[^()]{0,4000})\))?|(?:CREATE|ALTER|DROP|UPDATE|DELETE|SELECT)\b)",
    re.IGNORECASE | re.MULTILINE,
)


def _nearest_name(text: str, start: int) -> str | None:
    """The identifier (or quoted key) closest before a run: its YAML key, variable, column."""
    window = text[max(0, start - 256) : start]
    best = None
    for m in _WORD.finditer(window):
        word = m[0]
        if word[0] in "'\"":
            after = window[m.end() : m.end() + 3].lstrip()
            if not after.startswith((":", "=")):
                continue  # a quoted value (a person's name, an id), not a key
            word = word[1:-1]
        if word and word.lower() not in _STOP and not word[0].isdigit():  # `''` is no name
            best = word
    return best


class _Statements:
    """Where SQL statements start, to put a run inside its INSERT/COPY (table, columns)."""

    def __init__(self, text: str) -> None:
        self.starts: list[int] = []
        self.context: list[tuple[str, ...] | None] = []
        if not _SQL_HINT.search(text):
            return
        for m in _STATEMENT.finditer(text):
            self.starts.append(m.start())
            if m["verb"]:
                cols = [c.strip().strip("\"`'") for c in (m["cols"] or "").split(",")]
                table = m["table"].replace('"', "").replace("`", "")
                self.context.append((table, *[c for c in cols if c][:32]))
            else:
                self.context.append(None)

    def at(self, pos: int) -> tuple[str, ...] | None:
        i = bisect.bisect_right(self.starts, pos) - 1
        return self.context[i] if i >= 0 else None


def analyse_text(text: str, names: tuple[str, ...]) -> Findings:
    """Arrays written anywhere in text (YAML, SQL INSERT/COPY, source code, logs)."""
    found = Findings()
    statements = _Statements(text)
    groups: dict[tuple[tuple[str, ...] | None, int, str], list[tuple[np.ndarray, str | None]]]
    groups = collections.defaultdict(list)
    runs = 0
    last_end, last_name = -1, None
    for m in _runs(text):
        tokens = _NUMBER.findall(m[0])
        if not MIN_RUN <= len(tokens) <= MAX_DIMS:
            continue
        runs += 1
        with np.errstate(all="ignore"):
            vec = np.array(tokens, dtype=np.float64)
        key = (statements.at(m.start()), len(tokens), "text")
        # `[[…], […]]`: a run right after another (only brackets between) shares its name.
        follows = 0 <= m.start() - last_end <= 64 and _GAP.fullmatch(text, last_end, m.start())
        name = last_name if follows else _nearest_name(text, m.start())
        groups[key].append((vec, name))
        last_end, last_name = m.end(), name
    for m in _BLOB_RUN.finditer(text):
        kind = "hex" if _HEX_DIGITS.issuperset(m[1]) else "base64"
        blob = _decode(m[1], kind)
        hit = recognise_bytes(blob) if blob else None
        if hit is None:
            continue
        runs += 1
        key = (statements.at(m.start()), len(hit[0]), f"{hit[1]} ({kind})")
        groups[key].append((hit[0], _nearest_name(text, m.start())))
    found.notes.append(("number_runs", runs))
    for (context, dims, dtype), members in groups.items():
        found.sets.append(_text_set(context, dims, dtype, members, names))
    return found


def _runs(text: str) -> Iterator[re.Match[str]]:
    for stretch in _STRETCH.finditer(text):
        for m in _RUN.finditer(text, stretch.start(), stretch.end()):
            if 2 * MIN_RUN - 1 <= m.end() - m.start() <= _MAX_RUN_CHARS:
                yield m


_BLOB_SIZES = frozenset(w * d for w in (4, 8) for d in (*FACE_DIMS, *OTHER_FACE_DIMS))


def _decode(token: str, kind: str) -> bytes | None:
    """The bytes of a hex/base64 token, only when their length is a float vector's."""
    if kind == "hex":
        size = len(token) // 2 if len(token) % 2 == 0 else -1
    else:
        size = (
            len(token) * 3 // 4 - len(token) + len(token.rstrip("=")) if len(token) % 4 == 0 else -1
        )
    if size not in _BLOB_SIZES:
        return None
    try:
        return bytes.fromhex(token) if kind == "hex" else base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None


def _text_set(
    context: tuple[str, ...] | None,
    dims: int,
    dtype: str,
    members: list[tuple[np.ndarray, str | None]],
    names: tuple[str, ...],
) -> VectorSet:
    keys = collections.Counter(k for _, k in members if k)
    sample = np.stack([v for v, _ in members[: sample_rows(dims)]])
    if context:
        columns = [c for c in context[1:] if _VECTOR_COLUMN.search(c)]
        where = f"{context[0]}.{columns[0]}" if len(columns) == 1 else context[0]
        around = context
    else:
        common = keys.most_common(1)
        shared = bool(common) and common[0][1] * 2 >= len(members)
        where = common[0][0] if shared else f"{len(members)} arrays"
        around = tuple(k for k, _ in keys.most_common(16)) if shared else ()
    return VectorSet(where, sample, len(members), dtype, (*around, *names))


# -- CSV / TSV ------------------------------------------------------------------------------

_DELIMITERS = ("\t", ",", ";", "|")
MAX_COLUMNS = 2 * MAX_DIMS
_IS_NUMBER = re.compile(rf"\s*{NUM}\s*")
_NAME_CHARS = re.compile(r"[\w .'/\\-]{1,512}")  # a name or a path …
_LETTER = re.compile(r"[^\W\d_]")  # … with at least one letter


# The csv module's field limit is process-wide state that any library may raise (the
# geocoder sets it to sys.maxsize on import), so it is set here before every parse.
CSV_FIELD_LIMIT = 128 * 1024


def _delimiter(text: str) -> str:
    """The delimiter giving the most columns without cutting a bracketed list in pieces."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    lines = text[:65536].splitlines()[:20]
    best, width = ",", 1
    for d in _DELIMITERS:
        try:
            rows = [r for r in csv.reader(lines, delimiter=d) if r]
        except csv.Error:
            continue
        if rows and not _split_arrays(rows):
            common = collections.Counter(len(r) for r in rows).most_common(1)[0][0]
            if common > width:
                best, width = d, common
    return best


def analyse_csv(text: str, names: tuple[str, ...]) -> Findings:
    """Vectors as rows of numeric columns, or as one cell (JSON list, hex, base64)."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    found = Findings()
    sample: list[list[str]] = []
    total = 0
    wide = 0
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text)):
            if len(row) > MAX_COLUMNS:
                wide += 1  # a row wider than any vector: counted, never kept
            elif row:
                total += 1
                if len(sample) <= SAMPLE_ROWS:
                    sample.append(row)
    except csv.Error as exc:
        found.problem(
            ProblemReason.DECODE_ERROR, f"CSV unreadable after {total} rows ({exc}); not read"
        )
    if wide:
        found.notes.append(("csv_rows_too_wide", wide))
    if not sample:
        if wide:
            found.extend(analyse_text(text, names))
        return found
    width, regular = collections.Counter(len(r) for r in sample).most_common(1)[0]
    if regular < 0.8 * len(sample) or _split_arrays(sample):
        # Not a table (an SQL dump or a log that happened to sniff as CSV): search it as text.
        found.notes.append(("csv_searched_as_text", True))
        found.extend(analyse_text(text, names))
        return found
    _csv_sets(sample, width, total, names, found)
    if not found.sets:  # nothing in the columns: arrays may still be written in the text
        found.extend(analyse_text(text, names))
    return found


def _split_arrays(sample: list[list[str]]) -> bool:
    """Cells that open a bracket without closing it: an array split at its commas."""
    rows = sample[:16]
    split = sum(
        any(c.count("[") != c.count("]") or c.count("{") != c.count("}") for c in r) for r in rows
    )
    return split * 2 > len(rows)


def _csv_sets(
    sample: list[list[str]], width: int, total: int, names: tuple[str, ...], found: Findings
) -> None:
    rows = [r for r in sample if len(r) == width]
    body = rows[1:] if len(rows) > 1 else rows
    numeric = [
        all(_IS_NUMBER.fullmatch(r[j]) or not r[j].strip() for r in body) for j in range(width)
    ]
    header: list[str] | None = None
    if _is_header(rows, numeric):
        header, rows = rows[0], rows[1:]
    elif len(rows) > 1:  # the first row is data too: its cells must be numbers as well
        numeric = [
            n and bool(_IS_NUMBER.fullmatch(c) or not c.strip())
            for n, c in zip(numeric, rows[0], strict=True)
        ]
    count = total - (1 if header else 0)
    labels = count if _label_column(rows, header, numeric) else 0
    for cols, stem in _numeric_runs(rows, header, numeric):
        with np.errstate(all="ignore"):
            values = np.array(
                [[r[j].strip() or "nan" for j in cols] for r in rows], dtype=np.float64
            )
        finite = values[np.isfinite(values)]
        where = f"columns {cols[0] + 1}-{cols[-1] + 1}" + (f" ({stem}*)" if stem else "")
        found.sets.append(
            VectorSet(
                where,
                values[: sample_rows(len(cols))],
                count,
                "text",
                (stem, *names) if stem else names,
                labels,
                bool(np.all(finite == np.round(finite))),
            )
        )
    for j in range(width):
        if not numeric[j]:
            name = header[j] if header else f"column {j + 1}"
            vs = _cell_column(rows, j, name, count, names)
            if vs is not None:
                found.sets.append(dataclasses.replace(vs, labels=labels))


def _is_header(rows: list[list[str]], numeric: list[bool]) -> bool:
    """A first row of short non-numbers above numbers or long cells (vectors) is a header;
    so is pandas' default header of column numbers 0, 1, 2 … above non-integer rows."""
    if len(rows) < 2 or any(len(c) > 128 for c in rows[0]):
        return False
    first = [c.strip() for c in rows[0] if c.strip()]
    if len(first) >= MIN_DIMS and all(c.isdigit() for c in first):
        return [int(c) for c in first] == list(range(int(first[0]), int(first[0]) + len(first)))
    if any(_IS_NUMBER.fullmatch(c) for c in rows[0]):
        return False
    return any(numeric) or any(len(c) > 128 for c in rows[1])


def _label_column(rows: list[list[str]], header: list[str] | None, numeric: list[bool]) -> bool:
    for j, is_num in enumerate(numeric):
        if is_num or any(len(r[j]) > 512 for r in rows[:16]):
            continue
        values = [r[j] for r in rows]
        if header is not None and is_label_name(header[j]) and all(v.strip() for v in values):
            return True
        if header is None and all(_NAME_CHARS.fullmatch(v) and _LETTER.search(v) for v in values):
            return True
    return False


def _numeric_runs(
    rows: list[list[str]], header: list[str] | None, numeric: list[bool]
) -> list[tuple[list[int], str]]:
    """Runs of numeric columns (`v0..v127`), integer-valued id columns trimmed from their ends."""
    runs = [(_trim_ids(rows, cols), stem) for cols, stem in stem_runs(header, numeric)]
    return [(cols, s) for cols, s in runs if MIN_DIMS <= len(cols) <= MAX_DIMS]


def _trim_ids(rows: list[list[str]], cols: list[int]) -> list[int]:
    def integral(j: int) -> bool:
        return all(re.fullmatch(r"\s*[-+]?\d+\s*", r[j]) for r in rows[:64])

    if all(integral(j) for j in cols):
        return cols
    while cols and integral(cols[0]):
        cols = cols[1:]
    while cols and integral(cols[-1]):
        cols = cols[:-1]
    return cols


def _cell_column(
    rows: list[list[str]], j: int, header: str, count: int, names: tuple[str, ...]
) -> VectorSet | None:
    probe = [r[j] for r in rows if r[j].strip()][:16]
    if not probe:
        return None
    decoded = [cell_vector(c) for c in probe]
    if any(d is None for d in decoded):
        return None
    dims = {len(d[0]) for d in decoded if d}
    if len(dims) != 1:
        return None
    d = dims.pop()
    vecs = []
    for r in rows[: sample_rows(d)]:
        hit = cell_vector(r[j]) if r[j].strip() else None
        if hit is not None and len(hit[0]) == d:
            vecs.append(hit[0])
    first = decoded[0]
    assert first is not None
    return VectorSet(header, np.stack(vecs), count, first[1], (header, *names), 0, first[2])
