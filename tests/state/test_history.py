"""`faceaudit history` on real scans: filtered by target however it was typed, its template
column counting templates (not the stores holding them), and `--show` naming what was new
and what went, bounded in a table and complete in JSON."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from embedding_samples import model_like, write
from helpers import astronaut, encode
from typer.testing import CliRunner

from scanner.cli import app
from scanner.config import ScanConfig
from scanner.engine import run_scan
from scanner.model import ScanResult
from scanner.state.store import StateDB

FACE = encode(astronaut(), "JPEG")


def scan(target: str | Path, state: Path) -> ScanResult:
    with StateDB(state) as db:
        return run_scan(ScanConfig(targets=(str(target),), workers=0), state=db)


def history(state: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["history", "--state", str(state), *args])
    assert result.exit_code == 0, result.output
    return result.output


def rows(output: str) -> list[list[str]]:
    """The table's rows (after its header), split into columns."""
    lines = output.splitlines()
    return [line.split() for line in lines[1:] if line[:4].strip().isdigit()]


def test_history_is_filtered_by_target_however_it_is_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.db"
    for name in ("hr", "sales"):
        (tmp_path / "shares" / name).mkdir(parents=True)
        (tmp_path / "shares" / name / "badge.jpg").write_bytes(FACE)
    monkeypatch.chdir(tmp_path / "shares")
    scan("hr", state)  # typed relative, from the shares folder
    scan(tmp_path / "shares" / "sales", state)  # typed absolute
    scan("./hr/", state)

    def scans(*targets: str) -> list[str]:
        args = [a for t in targets for a in ("--target", t)]
        return [r[0] for r in rows(history(state, *args))]

    assert scans() == ["1", "2", "3"]  # no filter: every target
    assert scans("hr") == ["1", "3"]
    assert scans(str(tmp_path / "shares" / "hr") + "/") == ["1", "3"]
    assert scans("sales") == ["2"]
    assert scans("hr", "sales") == ["1", "2", "3"]
    assert scans(str(tmp_path / "shares")) == ["1", "2", "3"]  # places inside it
    assert scans(str(tmp_path / "shares" / "hr" / "badge.jpg")) == []  # not a scan of it
    monkeypatch.chdir(tmp_path)
    assert scans("shares/sales") == ["2"]  # from elsewhere, another spelling
    assert history(state, "--target", "nowhere") == "no recorded scans of these targets\n"
    out = json.loads(history(state, "--target", "shares/hr", "-f", "json"))
    assert [r["roots"] for r in out] == [[str(tmp_path / "shares" / "hr")]] * 2


def test_the_template_column_counts_templates_not_stores(tmp_path: Path) -> None:
    share, state = tmp_path / "models", tmp_path / "state.db"
    share.mkdir()
    write("npy32", model_like(40, 512, 1), share, "face_encodings")
    write("npy32", model_like(24, 2622, 2), share, "vgg_faces")
    result = scan(share, state)
    assert len(result.items) == 2  # two stores, 64 templates
    header, *_ = history(state).splitlines()
    assert "templates" in header.split() and "templ" not in header.split()
    ((number, _finished, exit_code, items, faces, templates, *_rest),) = rows(history(state))
    assert (number, exit_code, items, faces, templates) == ("1", "1", "2", "0", "64")
    (record,) = json.loads(history(state, "-f", "json"))
    assert (record["templates"], record["embeddings"]) == (64, 2)  # templates, their stores
    assert record["templates_estimated"] is False


def test_show_names_what_was_new_and_what_went(tmp_path: Path) -> None:
    share, state = tmp_path / "share", tmp_path / "state.db"
    share.mkdir()
    for name in ("ada", "bob"):
        (share / f"{name}.jpg").write_bytes(FACE)
    time.sleep(2.1)  # past the racy window
    scan(share, state)
    (share / "ada.jpg").unlink()
    (share / "cy.jpg").write_bytes(FACE)
    scan(share, state)
    table = history(state)
    assert [r[-6:-3] for r in rows(table)] == [["2", "2", "0"], ["2", "1", "1"]]
    assert "`faceaudit history --show #` lists what was new and what went" in table

    shown = history(state, "--show", "2")
    assert "1 new, 1 gone since scan #1" in shown
    new, gone = shown.split("\nnew:\n")[1].split("\ngone:\n")
    assert new.strip().split() == ["high", "face_image", f"{share}/cy.jpg"]
    assert gone.strip().split() == ["high", "face_image", f"{share}/ada.jpg"]
    first = history(state, "--show", "1")
    assert "2 new, 0 gone (the first scan of its targets)" in first and "gone:" not in first

    doc = json.loads(history(state, "--show", "2", "-f", "json"))
    assert doc["compared_with"] == 1 and doc["scan"]["id"] == 2
    assert [f["location"] for f in doc["new"]] == [f"{share}/cy.jpg"]
    assert [f["location"] for f in doc["resolved"]] == [f"{share}/ada.jpg"]
    assert set(doc["resolved"][0]) == {"fingerprint", "rule_id", "severity", "location", "store"}

    missing = CliRunner().invoke(app, ["history", "--state", str(state), "--show", "9"])
    assert missing.exit_code == 2 and "no scan #9" in missing.output


def test_show_is_bounded_in_a_table_and_complete_in_json(tmp_path: Path) -> None:
    from scanner.cli.history import SHOW_ROWS

    state = tmp_path / "state.db"
    many = SHOW_ROWS + 7
    record = {
        "started_at": "2026-06-01T02:30:00+00:00",
        "finished_at": "2026-06-01T02:31:00+00:00",
        "targets": json.dumps(["/srv/share"]),
        "policy": "org",
        "exit_code": 1,
        "incomplete": False,
        "items_with_evidence": many,
        "faces": many,
        "embeddings": 0,
        "by_kind": {},
        "by_severity": {},
        "by_store": {},
    }
    with StateDB(state) as db:
        db.record_scan(
            record, [(f"fp{n}", "R-1", "high", f"/srv/share/{n:02}.jpg", "hr") for n in range(many)]
        )
        db.record_scan(record, [])
    shown = history(state, "--show", "2")
    assert f"0 new, {many} gone since scan #1" in shown
    listed = [line for line in shown.splitlines() if "/srv/share/" in line]
    assert len(listed) == SHOW_ROWS and listed[0].split()[-2:] == ["/srv/share/00.jpg", "[hr]"]
    assert "… and 7 more (--format json lists them all)" in shown
    doc = json.loads(history(state, "--show", "2", "-f", "json"))
    assert len(doc["resolved"]) == many and doc["new"] == []
