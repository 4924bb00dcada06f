"""A test-only source: items held in memory, claimed by `memory://NAME` targets.

The living template of a source (docs/extending.md): one module with `open_source` and
`display`, a picklable `Openable` its workers open, registered through the
`faceaudit.sources` entry-point group by the test suite. Nothing of faceaudit was edited for
it. A test fills `STORES[NAME]` (key -> bytes) before it scans `memory://NAME`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from scanner.model import ObjectLocation, Problem, ProblemReason
from scanner.sources.base import BytesReader, SourceContext, SourceItem, SourceStats

STORES: dict[str, dict[str, bytes]] = {}


@dataclass(frozen=True)
class MemoryRef:
    """What a worker opens: the bytes themselves (they travel with the item)."""

    data: bytes = field(repr=False)

    def open(self) -> BytesReader:
        return BytesReader(self.data)


class MemorySource:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = SourceStats()

    def items(self) -> Iterator[SourceItem | Problem]:
        store = STORES.get(self.name)
        where = ObjectLocation(f"memory://{self.name}", "")
        if store is None:
            yield Problem(where, ProblemReason.MISSING_TARGET, "no such store in memory")
            return
        for key in sorted(store):
            data = store[key]
            location = ObjectLocation(f"memory://{self.name}", key)
            yield SourceItem(location, len(data), None, ref=MemoryRef(data))


def open_source(target: str, ctx: SourceContext) -> MemorySource:
    return MemorySource(target.split("://", 1)[1])


def display(target: str) -> str:
    return target
