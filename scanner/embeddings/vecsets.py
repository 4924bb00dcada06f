"""Turning what a parser found into bounded `VectorSet`s: shared by the npy, text and table
readers.

Parsers see vectors one at a time (a JSON list, a CSV row) or in blocks (an HDF5 dataset);
each comes with a *path* inside the item. A `Collector` groups them by the shape of that path
(list indices starred: `$.people[*].embedding`) and by length, keeps a bounded sample of each
group and counts the rest. A group of dictionary keys that differ only in one place
(`{"alice": [...], "bob": [...]}`, `/people/alice`, `/people/bob`) is one gallery whose keys
are the labels: those keys are people, so they are never put in a name or a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from scanner.embeddings.vectors import VectorSet
from scanner.model import ProblemReason, ScalarValue, VectorRef

MIN_DIMS = 8  # shorter runs of numbers are coordinates, colours, boxes: not embeddings
MAX_DIMS = 65_536  # longer rows are images or signals; never sampled as vectors
SAMPLE_ROWS = 2_048  # vectors kept per set for the classifier
SAMPLE_VALUES = 2_000_000  # and at most this many numbers (16 MB as float64)
MAX_SETS = 256  # vector sets per item; more are counted, not classified
MAX_GROUPS = 20_000  # places (paths) a collector tells apart before galleries are merged
COLLECTOR_VALUES = 8 * SAMPLE_VALUES  # numbers one collector keeps over all its places

Path = tuple[str | int, ...]

# Column and key names that hold who or what a vector belongs to (a person, an image path).
_LABEL_WORDS = re.compile(
    r"name|person|people|identity|label|subject|user|who|celeb|actor|path|file|image|img"
    r"|photo|picture",
    re.IGNORECASE,
)
# Keys that name a kind of data rather than a person: never merged into a gallery.
_FIELD_WORDS = re.compile(
    r"embed|encod|vector|feature|descriptor|face|templ|repr|signature|text|audio|image"
    r"|\bemb|\bvec|data|values|weights|mean|std|centroid",
    re.IGNORECASE,
)


def is_label_name(name: str) -> bool:
    """Whether a column/key name says it holds a label: a person's name or an image path."""
    return bool(_LABEL_WORDS.search(name))


def sample_rows(dims: int) -> int:
    """How many vectors of this length a set keeps (bounded in rows and in numbers)."""
    return max(1, min(SAMPLE_ROWS, SAMPLE_VALUES // max(dims, 1)))


class RandomAccess(Protocol):
    """Bounded reads of an item (scanner.detectors.base.LoadedItem provides this)."""

    @property
    def full_size(self) -> int: ...

    def read_at(self, offset: int, n: int) -> bytes: ...


@dataclass
class Findings:
    """What one parser found in one item: vector sets, problems and facts about the parse."""

    sets: list[VectorSet] = field(default_factory=list)
    problems: list[tuple[ProblemReason, str]] = field(default_factory=list)
    notes: list[tuple[str, ScalarValue]] = field(default_factory=list)

    def problem(self, reason: ProblemReason, detail: str) -> None:
        self.problems.append((reason, detail))

    def extend(self, other: Findings) -> None:
        self.sets.extend(other.sets)
        self.problems.extend(other.problems)
        self.notes.extend(other.notes)


def as_rows(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """float64 rows of a numeric array, and whether it was stored as integers."""
    integers = values.dtype.kind in "biu"
    with np.errstate(all="ignore"):
        rows = np.asarray(values, dtype=np.float64)
    return rows, integers


@dataclass
class _Group:
    pattern: tuple[str, ...]
    dims: int
    dtype: str
    count: int = 0
    labels: int = 0
    integers: bool = True
    parts: list[np.ndarray] = field(default_factory=list)
    kept: int = 0
    refs: list[VectorRef] = field(default_factory=list)  # one per kept row

    def take(
        self,
        rows: np.ndarray,
        count: int,
        labels: int,
        integers: bool,
        room: int,
        *,
        refs: Sequence[VectorRef] = (),
    ) -> int:
        """Count the vectors, keep up to `room` of them; returns how many were kept."""
        self.count += count
        self.labels += labels
        self.integers &= integers
        room = min(room, sample_rows(self.dims) - self.kept)
        if room <= 0 or not len(rows):
            return 0
        part = rows[:room]
        self.parts.append(part)
        self.kept += len(part)
        given = list(refs[: len(part)])
        self.refs += given + [VectorRef()] * (len(part) - len(given))
        return len(part)


def _pattern(path: Path) -> tuple[str, ...]:
    return tuple("[*]" if isinstance(p, int) else p for p in path)


class Collector:
    """Groups vectors by where they sit (indices starred) and their length; bounded."""

    def __init__(self, names: Sequence[str], root: str = "$") -> None:
        self.names = tuple(names)
        self.root = root
        self._groups: dict[tuple[tuple[str, ...], int], _Group] = {}
        self.values_left = COLLECTOR_VALUES
        self.overflow = 0  # vectors in places beyond MAX_GROUPS (not counted in any set)

    def add(
        self,
        path: Path,
        rows: np.ndarray,
        *,
        count: int | None = None,
        dtype: str,
        labels: int = 0,
        integers: bool = False,
        refs: Sequence[VectorRef] = (),
    ) -> None:
        """Vectors found at `path`: `rows` is (k x D), `count` how many there are in all;
        `refs` says which stored vector each row is (its label, its path), when known."""
        if rows.ndim != 2 or not MIN_DIMS <= rows.shape[1] <= MAX_DIMS:
            return
        key = (_pattern(path), int(rows.shape[1]))
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= MAX_GROUPS:
                self.overflow += len(rows) if count is None else count
                return
            group = self._groups[key] = _Group(key[0], key[1], dtype)
        room = self.values_left // key[1]
        total = len(rows) if count is None else count
        kept = group.take(rows, total, labels, integers, room, refs=refs)
        self.values_left -= kept * key[1]

    def vector_sets(self) -> list[VectorSet]:
        groups = _merge_galleries(list(self._groups.values()))
        out = []
        for g in groups:
            if not g.parts:
                continue
            sample = np.concatenate(g.parts) if len(g.parts) > 1 else g.parts[0]
            fixed = [p for p in g.pattern if p not in ("[*]", "*") and not p.startswith("[")]
            out.append(
                VectorSet(
                    where=_display(self.root, g.pattern),
                    sample=sample,
                    count=g.count,
                    dtype=g.dtype,
                    names=(*fixed, *self.names),
                    labels=min(g.labels, g.count),
                    integers=g.integers,
                    refs=tuple(g.refs) if any(r != VectorRef() for r in g.refs) else (),
                )
            )
        return out


def path_text(root: str, path: Path) -> str:
    """One vector's own path: `$.people[3].embedding`, `/faces/alice`."""
    if root == "/":
        return "/" + "/".join(str(p) for p in path)
    return root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _display(root: str, pattern: tuple[str, ...]) -> str:
    if root == "/":
        return "/" + "/".join(pattern)
    text = root
    for part in pattern:
        text += part if part.startswith("[") else f".{part}"
    return text


def _merge_galleries(groups: list[_Group]) -> list[_Group]:
    """Merge groups whose paths differ in exactly one key that names no kind of data.

    `{"alice": [[...]], "bob": [[...]]}` gives `$.alice[*]` and `$.bob[*]`: one gallery
    `$.*[*]` with one label (the key) per vector.
    """
    clusters: dict[tuple[int, tuple[str, ...], int], list[_Group]] = {}
    for g in groups:
        for i, part in enumerate(g.pattern):
            if part == "[*]" or _FIELD_WORDS.search(part):
                continue
            starred = (*g.pattern[:i], "*", *g.pattern[i + 1 :])
            clusters.setdefault((g.dims, starred, i), []).append(g)
    merged: list[_Group] = []
    used: set[int] = set()
    for (dims, starred, _), cluster in sorted(clusters.items(), key=lambda kv: -len(kv[1])):
        members = [m for m in cluster if id(m) not in used]
        if len(members) < 2:
            continue
        target = _Group(starred, dims, members[0].dtype)
        for m in members:
            used.add(id(m))
            target.count += m.count
            target.labels += m.count  # every vector carries its key as its label
            target.integers &= m.integers
            at = 0
            for block in m.parts:
                room = sample_rows(dims) - target.kept
                if room > 0:
                    target.parts.append(block[:room])
                    target.kept += len(block[:room])
                    target.refs += m.refs[at : at + len(block[:room])]
                at += len(block)
        merged.append(target)
    return merged + [g for g in groups if id(g) not in used]


def stem_runs(header: Sequence[str] | None, numeric: Sequence[bool]) -> list[tuple[list[int], str]]:
    """Runs of consecutive numeric columns, split where the header's stem changes:
    `id, v0 … v127, score` gives one run of 128 columns with the stem `v`."""
    runs: list[tuple[list[int], str]] = []
    current: list[int] = []
    stem = ""
    for j, is_num in enumerate([*numeric, False]):
        this = re.sub(r"\d+", "", header[j]).strip().lower() if header and is_num else ""
        if is_num and (not current or this == stem):
            current.append(j)
            stem = this
            continue
        if len(current) >= MIN_DIMS:
            runs.append((current, stem))
        current, stem = ([j], this) if is_num else ([], "")
    return runs


def limited(sets: Iterable[VectorSet]) -> tuple[list[VectorSet], int]:
    """At most MAX_SETS sets (the largest first), and how many were left out."""
    ordered = sorted(sets, key=lambda s: -s.count)
    return ordered[:MAX_SETS], max(0, len(ordered) - MAX_SETS)
