"""Test-only item hooks (scanner.work.ItemHook): picklable, importable by worker processes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scanner.detectors.base import DetectContext, LoadedItem
from scanner.detectors.models import ModelSpec
from scanner.embeddings.vectors import VectorSet
from scanner.model import Evidence, ItemResult


@dataclass(frozen=True)
class Digest:
    """Answers each item with evidence: its size as read, the kinds found and the pid."""

    look_again: bool = True
    name = "digest hook"

    @property
    def models(self) -> tuple[ModelSpec, ...]:
        return ()

    @property
    def keep_vectors(self) -> bool:
        return False

    def after(
        self,
        item: LoadedItem,
        evidence: Sequence[Evidence],
        vectors: Sequence[VectorSet],
        ctx: DetectContext,
    ) -> tuple[int, tuple[str, ...], int]:
        import os

        return len(item.data), tuple(sorted({e.kind.value for e in evidence})), os.getpid()

    def needs_look(self, result: ItemResult) -> bool:
        return self.look_again


@dataclass(frozen=True)
class Broken(Digest):
    """Fails on every item, with a message that must not reach the report."""

    def after(
        self,
        item: LoadedItem,
        evidence: Sequence[Evidence],
        vectors: Sequence[VectorSet],
        ctx: DetectContext,
    ) -> tuple[int, tuple[str, ...], int]:
        raise RuntimeError("secret value 0.1234")
