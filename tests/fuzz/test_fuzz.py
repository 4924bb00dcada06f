"""Fuzzing in CI: every harness of harnesses.py under hypothesis, bounded and deterministic.

Inputs are seeds from tests/fuzz/seeds/ (see make_seeds.py) with a few byte-level edits
(mutate.py: flips, interesting values, inserts, deletes, repeats, truncation, splices, tokens
of the format), plus some raw bytes. `derandomize=True` and no example database: the same
examples every run, so CI is reproducible; a failure is shrunk to a small list of edits.
The budget below keeps the whole module near a minute on two cores; `make fuzz`
(bench/fuzz_long.py) runs the same harnesses for as long as one wants.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
from fuzz.harnesses import HARNESSES
from fuzz.mutate import TOKENS, load_seeds, mutate
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

# Examples per harness (hypothesis' own cost per example is a few ms): about 5-9 s each on
# the two-core CI machine, under a minute for the module.
EXAMPLES = {
    "pickle": 1000,
    "npy": 1200,
    "json": 1000,
    "csv": 1000,
    "text": 800,
    "sniff": 1500,
    "archive": 1200,
    "zip_index": 800,
    "policy": 600,
    "pdf": 600,
}
SEEDS = {name: load_seeds(name) for name in HARNESSES}


@st.composite
def inputs(draw: st.DrawFn, harness: str) -> bytes:
    seeds = SEEDS[harness]
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=4096))

    def choose(n: int) -> int:
        return draw(st.integers(0, n - 1)) if n > 1 else 0

    base = draw(st.sampled_from(seeds))
    edits = draw(st.integers(0, 8))
    return mutate(base, choose, others=seeds, tokens=TOKENS[harness], edits=edits)


def test_the_seed_files_are_the_ones_make_seeds_writes() -> None:
    """Names only: image encoders may differ by a byte between library versions (run
    `make_seeds.py --check` to compare contents)."""
    from fuzz.make_seeds import SEEDS as FOLDER
    from fuzz.make_seeds import generate

    written = {p.relative_to(FOLDER) for p in generate()}
    stored = {p.relative_to(FOLDER) for p in FOLDER.rglob("*") if p.is_file()}
    assert stored == written


def test_every_harness_has_seeds_and_a_budget() -> None:
    assert set(EXAMPLES) == set(HARNESSES)
    assert all(len(SEEDS[name]) >= 5 for name in HARNESSES), {n: len(s) for n, s in SEEDS.items()}


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_seeds_pass(harness: str) -> None:
    target = HARNESSES[harness]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy on inf/nan: not a crash
        for seed in SEEDS[harness]:
            target(seed)


@pytest.mark.parametrize("harness", sorted(HARNESSES))
def test_fuzz(harness: str) -> None:
    target: Callable[[bytes], None] = HARNESSES[harness]

    @settings(
        max_examples=EXAMPLES[harness],
        deadline=None,  # a slow input is reported by `make fuzz`, never a flaky CI failure
        derandomize=True,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    @given(inputs(harness))
    def run(data: bytes) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            target(data)

    run()
