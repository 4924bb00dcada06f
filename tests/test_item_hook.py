"""The item hook is an interface the worker owns, not a face-search special case: a
test-only hook (tests/item_hooks.py) runs in real worker processes after the detectors,
its answers come back in memory beside each result and never into it, a failing hook is the
item's problem, and `needs_look` decides what the state may reuse."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import astronaut, encode, no_face
from item_hooks import Broken, Digest

from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.model import ItemResult, Location, ProblemReason
from scanner.state.store import StateDB


@pytest.fixture(autouse=True)
def _importable_by_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hook's class must be importable where the workers start (an installed module)."""
    here = str(Path(__file__).parent)
    inherited = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (here, inherited) if p))


def _tree(root: Path) -> Path:
    (root / "people").mkdir(parents=True)
    (root / "people" / "face.png").write_bytes(encode(astronaut(), "PNG"))
    (root / "coffee.jpg").write_bytes(encode(no_face(), "JPEG"))
    return root


def _collect() -> tuple[dict[Location, object], Callable[[ItemResult, object], None]]:
    answers: dict[Location, object] = {}

    def keep(result: ItemResult, answer: object) -> None:
        answers[result.location] = answer

    return answers, keep


def test_a_hook_runs_in_the_workers_on_items_with_evidence(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    answers, keep = _collect()
    result = run_scan(ScanConfig(targets=(root,), workers=2), hook=Digest(), on_extra=keep)
    (face,) = [r for r in result.items if r.location.display.endswith("face.png")]
    assert set(answers) == {face.location}  # the photo without a face has no evidence
    size, kinds, pid = answers[face.location]  # type: ignore[misc,has-type]
    assert size == face.size and kinds == ("face_image",) and pid != os.getpid()
    assert "digest" not in repr(result)  # answers are never part of the result


def test_a_failing_hook_is_the_items_problem(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    answers, keep = _collect()
    result = run_scan(ScanConfig(targets=(root,), workers=2), hook=Broken(), on_extra=keep)
    assert answers == {}
    (problem,) = [p for p in result.problems if p.location.display.endswith("face.png")]
    assert problem.reason is ProblemReason.DETECTOR_ERROR
    assert problem.detail == "digest hook failed (RuntimeError)"  # no message: it may quote values
    assert any(r.location.display.endswith("face.png") for r in result.items)  # still found


def test_needs_look_decides_what_the_state_reuses(tmp_path: Path) -> None:
    root = _tree(tmp_path / "tree")
    config = ScanConfig(targets=(root,), workers=2)
    # Scans a minute later: the files are not "racy" (changed just before a scan).
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    with StateDB(tmp_path / "state.db") as state:
        run_scan(config, state=state, clock=lambda: later)  # the state knows every item
        again, keep = _collect()
        hook = Digest(look_again=True)
        run_scan(config, state=state, clock=lambda: later, hook=hook, on_extra=keep)
        reused, keep_reused = _collect()
        hook = Digest(look_again=False)
        run_scan(config, state=state, clock=lambda: later, hook=hook, on_extra=keep_reused)
    assert len(again) == 1  # the photo with a face was looked at again, answered again
    assert reused == {}  # unchanged and not asked for: reused from the state, no answer
