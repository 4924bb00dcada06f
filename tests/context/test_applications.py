"""Context from location: evidence in an application's file layout names the application."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers import astronaut, encode

from scanner.model import ScanResult


def test_frigate_face_library_is_named(tmp_path: Path, scan: Callable[..., ScanResult]) -> None:
    library = tmp_path / "clips" / "faces" / "alice"
    library.mkdir(parents=True)
    (library / "1.jpg").write_bytes(encode(astronaut(), "JPEG"))
    (tmp_path / "elsewhere.jpg").write_bytes(encode(astronaut(), "JPEG"))
    result = scan(tmp_path)
    named = {i.location.display: i.primary.detail("app") for i in result.items if i.primary}
    assert named == {str(library / "1.jpg"): "Frigate", str(tmp_path / "elsewhere.jpg"): None}
    frigate = next(i for i in result.items if "clips" in i.location.display)
    assert frigate.primary is not None
    assert "clips/faces" in str(frigate.primary.detail("linked_store"))
    assert any("Frigate" in r for r in frigate.primary.reasons)
