"""Which detectors exist: the built-ins (one explicit list, scanner.detectors) and third-party
plug-ins, found through the `faceaudit.detectors` entry-point group.

A plug-in distribution names its detector class in its packaging metadata:

    [project.entry-points."faceaudit.detectors"]
    "acme.face-cards" = "acme_faceaudit.cards:FaceCardDetector"

Nothing registers itself by being imported. Plug-ins are loaded when a registry is asked for
(`Registry.discover`), in every process that needs one (the caller and each worker), and are
checked like the built-ins: a plug-in that cannot be imported, that does not declare the
detector contract, or whose id is already taken is a `PluginError` naming it — never skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING

from scanner.detectors.models import BUILTIN_MODELS, ModelSpec, with_requirements
from scanner.errors import FaceauditError
from scanner.model import ContentType, EvidenceKind

if TYPE_CHECKING:
    from scanner.detectors.base import Detector

ENTRY_POINT_GROUP = "faceaudit.detectors"
_ID = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


class PluginError(FaceauditError, ValueError):
    """A detector plug-in that cannot be used; the message names it and its distribution."""


@dataclass(frozen=True)
class Plugin:
    """Where a plug-in detector came from."""

    entry_point: str  # its name in the group
    target: str  # "module:Class"
    distribution: str  # "name version", or "unknown distribution"


@dataclass(frozen=True)
class Registry:
    """The detectors one process knows: the built-ins in their order, then the plug-ins."""

    detectors: tuple[type[Detector], ...]
    plugins: tuple[tuple[str, Plugin], ...] = ()  # (detector id, where it came from)
    _by_id: dict[str, type[Detector]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, type[Detector]] = {}
        for d in self.detectors:
            if d.id in by_id:
                raise ValueError(f"two detectors declare the id {d.id!r}")
            by_id[d.id] = d
        object.__setattr__(self, "_by_id", by_id)

    @classmethod
    def discover(
        cls, builtins: tuple[type[Detector], ...], found: Iterable[EntryPoint] | None = None
    ) -> Registry:
        """The built-ins plus every plug-in in `found` (default: the installed entry points
        of the `faceaudit.detectors` group)."""
        points = entry_points(group=ENTRY_POINT_GROUP) if found is None else found
        registry = cls(builtins)
        for point in sorted(points, key=lambda p: (p.name, p.value)):
            registry = registry.with_plugin(point)
        return registry

    def with_plugin(self, point: EntryPoint) -> Registry:
        """This registry and the detector an entry point names (checked: PluginError)."""
        plugin = Plugin(point.name, point.value, _distribution(point))
        try:
            loaded = point.load()
        except Exception as exc:
            raise PluginError(
                f"{_named(plugin)} could not be loaded: {type(exc).__name__}: {exc}"
            ) from exc
        problems = contract_problems(loaded)
        if problems:
            raise PluginError(f"{_named(plugin)} is not a detector: {'; '.join(problems)}")
        detector: type[Detector] = loaded
        taken = self._by_id.get(detector.id)
        if taken is not None:
            owner = self.origin(detector.id)
            whose = (
                _named(owner)
                if owner
                else f"the built-in detector {taken.__module__}.{taken.__qualname__}"
            )
            raise PluginError(
                f"{_named(plugin)} declares the id {detector.id!r}, already taken by {whose}"
            )
        try:
            with_requirements(
                (*BUILTIN_MODELS, *(m for d in self.detectors for m in d.models), *detector.models)
            )
        except ValueError as exc:
            raise PluginError(f"{_named(plugin)}: {exc}") from exc
        return Registry((*self.detectors, detector), (*self.plugins, (detector.id, plugin)))

    # -- questions about the known detectors -------------------------------------------------

    def ids(self) -> tuple[str, ...]:
        return tuple(self._by_id)

    def defaults(self) -> tuple[str, ...]:
        """The detectors that run when none is chosen (built-ins first, then plug-ins)."""
        return tuple(d.id for d in self.detectors if d.default)

    def origin(self, detector_id: str) -> Plugin | None:
        """The plug-in that provides this detector (None: a built-in)."""
        return dict(self.plugins).get(detector_id)

    def classes(self, ids: Iterable[str]) -> tuple[type[Detector], ...]:
        """The classes for these ids in registry order; unknown ids raise ValueError."""
        wanted = set(ids)
        unknown = sorted(wanted - set(self._by_id))
        if unknown:
            raise ValueError(
                f"unknown detector(s): {', '.join(unknown)} (known: {', '.join(self._by_id)})"
            )
        return tuple(d for d in self.detectors if d.id in wanted)

    def build(self, ids: Iterable[str]) -> tuple[Detector, ...]:
        """Instances for the given ids, cheapest first (ties: registry order)."""
        chosen = [d() for d in self.classes(ids)]
        return tuple(sorted(chosen, key=lambda d: d.cost))

    def content_types(self, ids: Iterable[str] | None = None) -> frozenset[ContentType]:
        """What these detectors read (None: every known detector)."""
        classes = self.detectors if ids is None else self.classes(ids)
        return frozenset(ct for d in classes for ct in d.content_types)

    def models(self, ids: Iterable[str]) -> tuple[ModelSpec, ...]:
        """The models these detectors declare (and what those require), each once."""
        return with_requirements(m for d in self.classes(ids) for m in d.models)

    def distributions(self, ids: Iterable[str]) -> tuple[str, ...]:
        """The distributions these detectors declare, each once, in registry order."""
        return tuple(dict.fromkeys(n for d in self.classes(ids) for n in d.distributions))


def contract_problems(candidate: object) -> list[str]:
    """What a class lacks to be a detector (empty: nothing); for plug-ins and tests."""
    if not isinstance(candidate, type):
        return [f"{candidate!r} is not a class"]
    checks: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
        ("id", str, "a lower-case dotted id such as 'acme.face-cards'"),
        ("cost", int, "a positive int (cheapest first)"),
        ("kind", EvidenceKind, "an EvidenceKind"),
        ("content_types", frozenset, "a non-empty frozenset of ContentType"),
        ("description", str, "a one-line description"),
        ("default", bool, "a bool (on when no detector is chosen)"),
        ("models", tuple, "a tuple of ModelSpec (may be empty)"),
        ("distributions", tuple, "a tuple of distribution names (may be empty)"),
    )
    problems = []
    for name, kind, wanted in checks:
        value = getattr(candidate, name, None)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(f"`{name}` must be {wanted}")
    if problems:
        return problems
    c: type[Detector] = candidate  # checked just above
    if not _ID.match(c.id):
        problems.append(f"`id` {c.id!r} must be {checks[0][2]}")
    if c.cost <= 0:
        problems.append("`cost` must be positive")
    if not c.content_types or not all(isinstance(t, ContentType) for t in c.content_types):
        problems.append("`content_types` must be a non-empty frozenset of ContentType")
    if not c.description.strip():
        problems.append("`description` must not be empty")
    if not all(isinstance(m, ModelSpec) for m in c.models):
        problems.append("`models` must hold ModelSpec objects")
    if not all(isinstance(n, str) and n for n in c.distributions):
        problems.append("`distributions` must hold distribution names")
    if not callable(getattr(c, "detect", None)):
        problems.append("it has no `detect(item, ctx)` method")
    return problems


def _distribution(point: EntryPoint) -> str:
    dist = point.dist
    return "unknown distribution" if dist is None else f"{dist.name} {dist.version}"


def _named(plugin: Plugin) -> str:
    return f"detector plug-in {plugin.entry_point!r} ({plugin.target}, from {plugin.distribution})"
