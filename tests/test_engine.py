"""The engine end to end on real trees: what it finds, what it reports, what it never does."""

from __future__ import annotations

import json
import os
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import astronaut, encode, no_face, snapshot

from scanner.config import ScanConfig
from scanner.engine import Progress, run_scan
from scanner.model import EvidenceKind, ExitCode, ProblemReason, ScanResult
from scanner.reporters import json_report

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/'
    b'2008-02-29/"><Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Jane Example</rdf:li></rdf:Bag>'
    b"</Iptc4xmpExt:PersonInImage></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def build_tree(root: Path) -> Path:
    (root / "people").mkdir(parents=True)
    (root / "things" / "deep").mkdir(parents=True)
    (root / "people" / "a.jpg").write_bytes(encode(astronaut(), "JPEG", quality=90))
    (root / "people" / "b").write_bytes(encode(astronaut(), "PNG"))  # no extension
    (root / "things" / "cat.png").write_bytes(encode(no_face("chelsea.png"), "PNG"))
    (root / "things" / "deep" / "rocket.jpg").write_bytes(encode(no_face("rocket.jpg"), "JPEG"))
    (root / "things" / "notes.txt").write_text("nothing to see\n")
    (root / "things" / "tagged.jpg").write_bytes(encode(no_face(), "JPEG", xmp=XMP))
    with zipfile.ZipFile(root / "things" / "old.zip", "w") as zf:
        zf.writestr("badges/x.jpg", encode(astronaut(), "JPEG"))
        zf.writestr("readme.txt", "hello")
    os.symlink("/etc/passwd", root / "things" / "link")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def pooled(tree: Path) -> ScanResult:
    return run_scan(ScanConfig(targets=(tree,), workers=2))


def test_finds_every_face_and_tag(tree: Path, pooled: ScanResult) -> None:
    found = {i.location.display.replace(str(tree), ""): i.primary for i in pooled.items}
    assert set(found) == {
        "/people/a.jpg",
        "/people/b",
        "/things/old.zip!/badges/x.jpg",
        "/things/tagged.jpg",
    }
    assert found["/things/tagged.jpg"].kind is EvidenceKind.FACE_TAGGED  # type: ignore[union-attr]
    assert found["/people/a.jpg"].kind is EvidenceKind.FACE_IMAGE  # type: ignore[union-attr]
    assert pooled.exit_code is ExitCode.FINDINGS
    assert not pooled.incomplete
    assert [p.reason for p in pooled.problems] == [ProblemReason.SYMLINK_NOT_FOLLOWED]
    stats = pooled.stats
    assert stats.archive_members == 2 and stats.directories == 4
    assert dict(stats.by_content_type)["zip"] == 1


def test_inline_and_pooled_agree(
    tree: Path, pooled: ScanResult, scan: Callable[..., ScanResult]
) -> None:
    inline = scan(tree)
    assert [(i.location, i.sha256, i.evidence) for i in inline.items] == [
        (i.location, i.sha256, i.evidence) for i in pooled.items
    ]


def test_a_scan_changes_nothing(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "t")
    before = snapshot(tree)
    result = run_scan(ScanConfig(targets=(tree,), workers=2))
    assert result.items
    assert snapshot(tree) == before  # content, size, mtime and atime; no new entries
    assert result.stats.atime_preserved


def test_report_holds_no_pixels_or_vectors(pooled: ScanResult) -> None:
    doc = json_report.to_document(pooled)

    def walk(node: object) -> None:
        if isinstance(node, list):
            assert not (len(node) > 4 and all(isinstance(x, float) for x in node)), node[:5]
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, str):
            assert len(node) < 2000, "a long string in a report: an encoded payload?"

    walk(doc)
    assert "Jane Example" not in json.dumps(doc)  # names are hashed, never copied


def test_hard_links_are_reported_under_every_name(
    tmp_path: Path, scan: Callable[..., ScanResult]
) -> None:
    (tmp_path / "a.jpg").write_bytes(encode(astronaut(), "JPEG"))
    os.link(tmp_path / "a.jpg", tmp_path / "b.jpg")
    result = scan(tmp_path)
    assert [i.location.display for i in result.items] == [
        str(tmp_path / "a.jpg"),
        str(tmp_path / "b.jpg"),
    ]
    assert result.stats.hardlinks == 1


def test_a_target_named_twice_is_scanned_once(tmp_path: Path) -> None:
    """`scan D D`, `scan D D/sub`, `scan D/sub D`, a database named twice: every item once,
    faces not doubled."""
    tree = build_tree(tmp_path / "t")
    once = run_scan(ScanConfig(targets=(tree,), workers=0))
    for targets in [(tree, tree), (tree, tree / "people"), (tree / "people", tree)]:
        again = run_scan(ScanConfig(targets=targets, workers=0))
        assert sorted(i.location for i in again.items) == sorted(i.location for i in once.items)
        assert (again.faces, again.stats.hardlinks) == (once.faces, 0), targets
    db = tmp_path / "faces.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (embedding BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(512),)] * 5)
    conn.commit()
    conn.close()
    uri = f"sqlite://{db}"
    one = run_scan(ScanConfig(targets=(uri,), workers=0))
    two = run_scan(ScanConfig(targets=(uri, uri), workers=0))
    assert one.stats.items_scanned == two.stats.items_scanned == 1
    assert two.targets == (uri,)


def test_include_and_exclude(tree: Path, scan: Callable[..., ScanResult]) -> None:
    only_png = scan(tree, include=("*.png",))
    assert [i.location.display for i in only_png.items] == []  # b has no extension
    no_people = scan(tree, exclude=("people",))
    assert all("/people/" not in i.location.display for i in no_people.items)
    assert no_people.stats.excluded == 1


def test_a_file_deleted_during_the_scan_is_reported(tmp_path: Path) -> None:
    first, second = tmp_path / "1.jpg", tmp_path / "2.jpg"
    first.write_bytes(encode(astronaut(), "JPEG"))
    second.write_bytes(encode(astronaut(), "JPEG"))

    def delete_the_next_file(progress: Progress) -> None:
        if progress.done == 1:
            second.unlink()

    result = run_scan(ScanConfig(targets=(tmp_path,), workers=0), progress=delete_the_next_file)
    assert [(p.location.display, p.reason) for p in result.problems] == [
        (str(second), ProblemReason.UNREADABLE_FILE)
    ]
    assert result.exit_code is ExitCode.INCOMPLETE


def test_an_interrupted_scan_returns_a_partial_report(tmp_path: Path) -> None:
    for n in range(8):
        (tmp_path / f"{n}.jpg").write_bytes(encode(astronaut(), "JPEG"))

    def interrupt(progress: Progress) -> None:
        if progress.done == 2:
            raise KeyboardInterrupt

    result = run_scan(ScanConfig(targets=(tmp_path,), workers=2), progress=interrupt)
    assert result.interrupted
    assert result.exit_code is ExitCode.INCOMPLETE
    assert 1 <= len(result.items) < 8
    assert any(p.reason is ProblemReason.INTERRUPTED for p in result.problems)


def test_unknown_detector_fails_before_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        run_scan(ScanConfig(targets=(tmp_path,), detectors=("face.nope",)))
