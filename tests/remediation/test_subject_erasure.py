"""Subject erasure end to end, through the CLI and real detectors: `subject find` finds the
person (exit 1), `remediate plan --subject` plans the erasure of each photo, `apply --yes`
moves them into the vault, and the same search again finds the person nowhere (exit 0)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.remediation.conftest import entries, faceaudit

PROBE = "face_recognition_examples/tests/test_images/obama.jpg"
SAME = (
    "face_recognition_examples/tests/test_images/obama2.jpg",
    "face_recognition_examples/examples/obama_small.jpg",
)
OTHER = ("face_recognition_examples/tests/test_images/biden.jpg",)


def test_subject_erasure_then_found_nowhere(tmp_path: Path, shm: Path, devset: Path) -> None:
    share = tmp_path / "share"
    for rel in (*SAME, *OTHER):
        (share / Path(rel).parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(devset / rel, share / Path(rel).parent.name / Path(rel).name)
    search = ("subject", "find", str(share), "--probe", str(devset / PROBE), "--no-state", "-q")
    first = faceaudit(*search, "--format", "json", "-o", str(tmp_path / "found.json"), "-j", "1")
    assert first.returncode == 1, first.stderr
    found = json.loads((tmp_path / "found.json").read_text())
    assert {Path(m["path"]).name for m in found["matches"]} == {Path(p).name for p in SAME}
    plan = tmp_path / "erasure.json"
    planned = faceaudit(
        "remediate", "plan", "--subject", str(tmp_path / "found.json"), "-o", str(plan)
    )
    assert planned.returncode == 0, planned.stderr
    doc = json.loads(plan.read_text())
    assert doc["summary"]["delete"] == 2
    assert all(i["rule_ids"] == ["SUBJECT-ERASURE"] for i in doc["items"])
    vault = shm / "vault"
    applied = faceaudit("remediate", "apply", str(plan), "--vault", str(vault), "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(entries(vault, "quarantined")) == 2
    again = faceaudit(*search, "--format", "json", "-o", str(tmp_path / "again.json"), "-j", "1")
    assert again.returncode == 0, again.stderr  # found nowhere
    assert json.loads((tmp_path / "again.json").read_text())["verdict"]["found"] is False
    assert (share / "test_images" / "biden.jpg").exists()  # someone else's photo stays
    # purge finishes it once the 30 days have passed: key and data destroyed, a record each
    assert (
        faceaudit(
            "remediate", "purge", "--vault", str(vault), "--as-of", "2100-01-01", "--yes"
        ).returncode
        == 0
    )
    records = [json.loads(p.read_text()) for p in (vault / "erasures").iterdir()]
    assert len(records) == 2 and {r["plan"] for r in records} == {doc["plan_id"]}
    log = (vault / "audit.jsonl").read_text()
    assert "obama" not in log
