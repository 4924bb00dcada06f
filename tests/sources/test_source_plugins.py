"""A new source is one module and one registration: the test-only memory source
(tests/plugins/faceaudit_memory_source.py) is installed as a real distribution with a
`faceaudit.sources` entry point and scanned end to end by the real engine and its workers —
images, an archive, a SQLite database and a pickle among its items — without a line of
faceaudit edited for it."""

from __future__ import annotations

import importlib
import io
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import astronaut, encode, no_face
from plugin_site import installed_site

from scanner import ScanConfig, scan
from scanner.errors import ConfigError
from scanner.model import EvidenceKind, ObjectLocation
from scanner.sources import ENTRY_POINT_GROUP, display, is_source_uri

PLUGIN = Path(__file__).parents[1] / "plugins" / "faceaudit_memory_source.py"
MODULE = "faceaudit_memory_source"


@pytest.fixture
def memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The memory source installed as a distribution with a `faceaudit.sources` entry point."""
    for site in installed_site(tmp_path, monkeypatch, {MODULE: PLUGIN.read_text()}):
        site.install("faceaudit-test-memory-source", {"memory": MODULE}, group=ENTRY_POINT_GROUP)
        yield importlib.import_module(MODULE)


def _sqlite_image() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "kiosk.db"
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE visitors (id INTEGER PRIMARY KEY, photo BLOB)")
        conn.execute("INSERT INTO visitors (photo) VALUES (?)", (encode(astronaut(), "JPEG"),))
        conn.commit()
        conn.close()
        return path.read_bytes()


def test_a_source_plugin_is_scanned_end_to_end(memory: object) -> None:
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("badges/face.png", encode(astronaut(), "PNG"))
    memory.STORES["share"] = {  # type: ignore[attr-defined]
        "people/face.jpg": encode(astronaut(), "JPEG"),
        "things/coffee.jpg": encode(no_face(), "JPEG"),
        "old.zip": zipped.getvalue(),
        "kiosk.db": _sqlite_image(),
    }
    assert is_source_uri("memory://share") and display("memory://share") == "memory://share"
    result = scan(ScanConfig(targets=["memory://share"], workers=2))
    found = {i.location.display: {e.kind for e in i.evidence} for i in result.items}
    assert found == {
        "memory://share/people/face.jpg": {EvidenceKind.FACE_IMAGE},
        "memory://share/old.zip!/badges/face.png": {EvidenceKind.FACE_IMAGE},
        "memory://share/kiosk.db#visitors.photo": {EvidenceKind.FACE_IMAGE},
    }
    face = next(i for i in result.items if i.location.display.endswith("people/face.jpg"))
    assert face.location == ObjectLocation("memory://share", "people/face.jpg")
    assert result.targets == ("memory://share",)
    assert not result.incomplete and result.stats.archive_members == 1


def test_without_the_plugin_the_scheme_is_a_configuration_error() -> None:
    assert not is_source_uri("memory://share")
    with pytest.raises(ConfigError, match="no source reads memory://"):
        scan(ScanConfig(targets=["memory://share"]))
