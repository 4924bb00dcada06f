"""Third-party detectors through the `faceaudit.detectors` entry-point group, end to end.

Each test installs a real distribution into a temporary site directory (`*.dist-info` with
METADATA and entry_points.txt, the module beside it) and puts that directory on the path of
this process and of the processes it starts (workers, the CLI). The plug-in is
tests/plugins/faceaudit_pdf_marker.py: a detector for PDF files, a content type faceaudit
sniffs but no built-in detector reads. Adding it touched no file of the engine: its module,
its entry point, its tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_site import Site, installed_site

from scanner import demo_documents as documents
from scanner.config import ScanConfig
from scanner.detectors import (
    DEFAULT_DETECTORS,
    PluginError,
    build,
    default_detectors,
    detector_ids,
    registry,
)
from scanner.engine import model_versions, run_scan, scan_config_key
from scanner.model import ContentType, EvidenceKind

PLUGIN = Path(__file__).parents[1] / "plugins" / "faceaudit_pdf_marker.py"
MODULE = "faceaudit_pdf_marker"
DIST = "faceaudit-test-pdf-marker"
TARGET = f"{MODULE}:PdfMarkerDetector"
ROOT = Path(__file__).parents[2]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    yield from installed_site(tmp_path, monkeypatch, {MODULE: PLUGIN.read_text()})


def pdf(*markers: int) -> bytes:
    """A valid PDF whose one page's text holds the marker once for each of `markers`
    (faceaudit opens PDFs for their pictures: a malformed one would be a problem)."""
    return documents.pdf([documents.Page(text=" ".join("/FaceauditTestFace" for _ in markers))])


# -- discovery -----------------------------------------------------------------------------


def test_the_quick_look_for_plugins_agrees_with_importlib_metadata(site: Site) -> None:
    """`_may_declare` reads only the entry-point files (start-up): it must never say "none"
    when importlib.metadata finds one, and it says "none" here, where there is none."""
    from importlib.metadata import entry_points

    from scanner.detectors import ENTRY_POINT_GROUP, _may_declare

    assert _may_declare(ENTRY_POINT_GROUP) is bool(entry_points(group=ENTRY_POINT_GROUP))
    assert not _may_declare(ENTRY_POINT_GROUP)
    site.install("acme-other", {"acme.other": "acme:Other"}, {}, group="acme.group")
    assert not _may_declare(ENTRY_POINT_GROUP) and _may_declare("acme.group")
    site.install(DIST, {"test.pdf-marker": TARGET})
    assert _may_declare(ENTRY_POINT_GROUP) and bool(entry_points(group=ENTRY_POINT_GROUP))
    assert "test.pdf-marker" in detector_ids()


def test_an_installed_plugin_is_known_marked_and_on_by_default(site: Site) -> None:
    assert "test.pdf-marker" not in detector_ids()
    site.install(DIST, {"test.pdf-marker": TARGET})
    known = registry()
    assert known.ids()[-1] == "test.pdf-marker"  # after every built-in
    origin = known.origin("test.pdf-marker")
    assert origin is not None
    assert (origin.entry_point, origin.target, origin.distribution) == (
        "test.pdf-marker",
        TARGET,
        f"{DIST} 0.1",
    )
    assert known.origin("face.yunet") is None
    assert default_detectors() == (*DEFAULT_DETECTORS, "test.pdf-marker")
    assert "test.pdf-marker" not in DEFAULT_DETECTORS  # the constant is the built-ins'
    assert [d.id for d in build(("test.pdf-marker", "face.yunet"))] == [
        "test.pdf-marker",  # cost 10: before face.yunet (50)
        "face.yunet",
    ]
    assert ContentType.PDF in known.content_types(("test.pdf-marker",))
    assert [m.name for m in known.models(("test.pdf-marker",))] == ["test.marker-table"]


def test_a_plugin_that_cannot_be_imported_is_an_error_naming_it(site: Site) -> None:
    site.install("acme-broken", {"acme.broken": "acme_missing_module:Detector"})
    with pytest.raises(PluginError) as caught:
        registry()
    message = str(caught.value)
    assert "detector plug-in 'acme.broken'" in message
    assert "acme_missing_module:Detector, from acme-broken 0.1" in message
    assert "ModuleNotFoundError" in message


def test_a_plugin_that_is_not_a_detector_is_an_error_saying_why(site: Site) -> None:
    site.install(DIST, {"test.half": f"{MODULE}:NotADetector"})
    with pytest.raises(PluginError, match=r"'test.half' .* is not a detector: `id` must be"):
        registry()


def test_a_plugin_cannot_take_a_built_in_id(site: Site) -> None:
    impostor = (
        f"from {MODULE} import PdfMarkerDetector\n\n"
        "class Impostor(PdfMarkerDetector):\n    id = 'face.yunet'\n"
    )
    site.install(
        "acme-impostor",
        {"acme.impostor": "acme_impostor:Impostor"},
        {MODULE: PLUGIN.read_text(), "acme_impostor": impostor},
    )
    with pytest.raises(
        PluginError,
        match=r"declares the id 'face.yunet', already taken by the built-in detector "
        r"scanner.detectors.face_yunet.YuNetFaceDetector$",
    ):
        registry()


def test_two_plugins_cannot_share_an_id(site: Site) -> None:
    site.install(DIST, {"test.pdf-marker": TARGET})
    site.install("acme-copy", {"acme.copy": TARGET}, {})
    with pytest.raises(PluginError) as caught:
        registry()
    assert str(caught.value) == (
        f"detector plug-in 'test.pdf-marker' ({TARGET}, from {DIST} 0.1) declares the id "
        f"'test.pdf-marker', already taken by detector plug-in 'acme.copy' ({TARGET}, from "
        "acme-copy 0.1)"
    )


def test_a_plugin_model_cannot_reuse_a_built_in_model_name(site: Site) -> None:
    source = PLUGIN.read_text().replace('"test.marker-table"', '"yunet"')
    site.install(DIST, {"test.pdf-marker": TARGET}, {MODULE: source})
    with pytest.raises(PluginError, match="two different models are named 'yunet'"):
        registry()


# -- the command line ------------------------------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_detectors_command_lists_and_marks_plugins(site: Site, tmp_path: Path) -> None:
    site.install(DIST, {"test.pdf-marker": TARGET})
    proc = cli("detectors", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("test.pdf-marker")
    assert lines[-1].endswith(f"[plug-in: {DIST} 0.1] (default)")
    assert not any("plug-in" in line for line in lines[:-1])


def test_the_detectors_command_names_a_broken_plugin(site: Site, tmp_path: Path) -> None:
    site.install("acme-broken", {"acme.broken": "acme_missing_module:Detector"})
    proc = cli("detectors", cwd=tmp_path)
    assert proc.returncode == 2
    assert "faceaudit: error: detector plug-in 'acme.broken'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_cli_scan_runs_a_chosen_plugin(site: Site, tmp_path: Path) -> None:
    site.install(DIST, {"test.pdf-marker": TARGET})
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "badge.pdf").write_bytes(pdf(1, 2))
    proc = cli(
        "scan", "tree", "-d", "test.pdf-marker", "-j", "1", "-f", "json", "--no-state",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # face data found
    document = json.loads(proc.stdout)
    [item] = document["items"]
    assert item["path"] == "tree/badge.pdf"
    assert [(e["detector"], e["faces"]) for e in item["evidence"]] == [("test.pdf-marker", 2)]
    assert document["models"] == {DIST: "0.1"}


# -- a real scan, in worker processes ---------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    for n in range(4):
        (root / f"badge-{n}.pdf").write_bytes(pdf(*range(n + 1)))
    (root / "plain.pdf").write_bytes(pdf())
    (root / "scan.jpg").write_bytes(pdf(7))  # named as an image, but a PDF
    return root


def test_a_scan_examines_what_a_chosen_plugin_reads(site: Site, tree: Path) -> None:
    site.install(DIST, {"test.pdf-marker": TARGET})
    chosen = (*DEFAULT_DETECTORS, "test.pdf-marker")
    result = run_scan(ScanConfig(targets=(tree,), detectors=chosen, workers=2))
    found = {i.location.display.removeprefix(f"{tree}/"): i for i in result.items}
    assert sorted(found) == ["badge-0.pdf", "badge-1.pdf", "badge-2.pdf", "badge-3.pdf", "scan.jpg"]
    for name, n in (("badge-0.pdf", 1), ("badge-3.pdf", 4), ("scan.jpg", 1)):
        [evidence] = found[name].evidence
        assert (evidence.detector, evidence.kind, evidence.faces) == (
            "test.pdf-marker",
            EvidenceKind.FACE_TAGGED,
            n,
        )
    # its model was loaded lazily, once in each worker process that used it
    loads = {
        e.detail("worker_pid"): e.detail("model_loads") for i in result.items for e in i.evidence
    }
    assert set(loads.values()) == {1}
    assert os.getpid() not in loads
    assert result.problems == ()  # the PDF named scan.jpg was examined: nothing disguised
    assert dict(result.stats.by_content_type)["pdf"] == 6
    assert dict(result.models)[DIST] == "0.1"
    assert model_versions(chosen)[:-1] == model_versions()  # the built-ins' unchanged
    config = ScanConfig(targets=(tree,), detectors=chosen)
    assert scan_config_key(config) != scan_config_key(
        ScanConfig(targets=(tree,), detectors=DEFAULT_DETECTORS)
    )


def test_without_the_plugin_chosen_pdfs_are_counted_not_read(site: Site, tree: Path) -> None:
    site.install(DIST, {"test.pdf-marker": TARGET})
    result = run_scan(ScanConfig(targets=(tree,), detectors=DEFAULT_DETECTORS, workers=0))
    assert result.items == ()
    assert dict(result.stats.by_content_type)["pdf"] == 6
    assert result.stats.bytes_read == 0  # sniffed only
    assert result.problems == ()  # a PDF named .jpg is a format a known detector reads


def test_without_the_plugin_installed_a_pdf_named_as_an_image_is_opened_as_a_pdf(
    tree: Path,
) -> None:
    # built-in: a PDF is opened for its pictures whatever its name (these have none), so the
    # one named .jpg is not disguised content
    result = run_scan(ScanConfig(targets=(tree,), detectors=DEFAULT_DETECTORS, workers=0))
    assert result.problems == ()
    assert dict(result.stats.by_content_type)["pdf"] == 6
    assert (result.stats.pages_examined, result.stats.pages_total) == (6, 6)
