"""Fixtures of the subject-search tests: a probe photo of a real person (scikit-image's
astronaut), its descriptor computed once, and small trees of real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut, encode

from scanner.subject.probe import Probes, load_probes


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probe")
    (folder / "me.jpg").write_bytes(encode(astronaut(), "JPEG", quality=92))
    return folder


@pytest.fixture(scope="session")
def probe_photo(probe_dir: Path) -> Path:
    return probe_dir / "me.jpg"


@pytest.fixture(scope="session")
def probes(probe_photo: Path) -> Probes:
    return load_probes([probe_photo])


@pytest.fixture(scope="session")
def probe_vector(probes: Probes) -> np.ndarray:
    return np.asarray(probes.descriptors[0])
