"""Applications' databases, end to end through the real engine (and the CLI once per engine):
every finding names the application and where it keeps the linked face images; the
negative controls give no face evidence."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import app_fixtures
import pytest

from scanner.config import SampleLimits, ScanConfig
from scanner.engine import run_scan
from scanner.model import Evidence, EvidenceKind, ScanResult

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")


def scan_db(*uris: str, targets: tuple[Path, ...] = ()) -> ScanResult:
    config = ScanConfig(
        targets=(*targets, *uris),
        workers=0,
        sampling=SampleLimits(statement_timeout_s=10),
    )
    return run_scan(config)


def findings(result: ScanResult) -> dict[str, list[Evidence]]:
    """column location (after '#') -> its evidence; checks every finding names its app."""
    out: dict[str, list[Evidence]] = {}
    for item in result.items:
        for e in item.evidence:
            assert e.detail("app"), (item.location, e)
            assert e.detail("linked_store"), (item.location, e)
            assert not any(isinstance(v, bytes) for _, v in e.details)
        out[item.location.display.rsplit("#", 1)[-1]] = list(item.evidence)
    return out


def one(evidence: list[Evidence], kind: EvidenceKind) -> Evidence:
    (e,) = [e for e in evidence if e.kind is kind]
    return e


def test_digikam_recognition_db(tmp_path: Path) -> None:
    db = app_fixtures.digikam(tmp_path / "recognition.db")
    found = findings(scan_db(f"sqlite://{db}"))
    assert list(found) == ["FaceMatrices.vecdata"]
    e = one(found["FaceMatrices.vecdata"], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "digiKam" and e.detail("dims") == 128
    assert e.detail("family") == "dlib/face_recognition" and e.confidence >= 0.9
    assert e.detail("count") == 24 and e.detail("count_estimated") is False


def test_double_take_storage(tmp_path: Path) -> None:
    app_fixtures.double_take(tmp_path)
    result = scan_db(targets=(tmp_path,))
    found = findings(result)
    assert list(found) == [".storage/matches/0.jpg"] or all(
        k.endswith("matches/0.jpg") for k in found
    )
    (evidence,) = found.values()
    face = one(evidence, EvidenceKind.FACE_IMAGE)
    assert face.detail("app") == "Double Take"
    assert not any(p.incomplete for p in result.problems)


def test_compreface_templates_and_face_images(pg_uri: str) -> None:
    app_fixtures.compreface(pg_uri)
    found = findings(scan_db(pg_uri))
    e = one(found["public.embedding.embedding"], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "CompreFace" and e.detail("dims") == 128
    assert e.detail("count") == 20 and e.detail("oldest") is not None
    img = one(found["public.img.content"], EvidenceKind.FACE_IMAGE)
    assert img.detail("images_sampled") == 20 and img.detail("images_with_faces") == 10
    assert img.detail("estimated_rows_with_faces") == 10
    assert "img.content" in str(img.detail("linked_store"))


def test_deepface_table_and_its_face_crops(pg_uri: str) -> None:
    app_fixtures.deepface(pg_uri)
    found = findings(scan_db(pg_uri))
    e = one(found["public.embeddings.embedding"], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "DeepFace" and e.detail("dims") == 512 and e.confidence >= 0.9
    crops = one(found["public.embeddings.face"], EvidenceKind.FACE_IMAGE)
    assert crops.detail("images_with_faces") == crops.detail("images_examined") == 12


def test_librephotos_hex_encodings(pg_uri: str) -> None:
    app_fixtures.librephotos(pg_uri)
    found = findings(scan_db(pg_uri))
    e = one(found["public.api_face.encoding"], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "LibrePhotos" and e.detail("dtype") == "hex float64"
    assert e.detail("dims") == 128 and "faces/" in str(e.detail("linked_store"))


def test_immich_before_pgvector_real_arrays(pg_uri: str) -> None:
    app_fixtures.immich(pg_uri, vector=False)
    found = findings(scan_db(pg_uri))
    assert list(found) == ["public.asset_faces.embedding"]
    e = one(found["public.asset_faces.embedding"], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "Immich" and e.detail("dims") == 512
    assert e.detail("dtype") == "float32" and "thumbnailPath" in str(e.detail("linked_store"))


def test_immich_pgvector(pgvector_uri: str) -> None:
    app_fixtures.immich(pgvector_uri, vector=True)
    found = findings(scan_db(pgvector_uri))
    assert list(found) == ["public.face_search.embedding"]
    e = one(found["public.face_search.embedding"], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "Immich" and e.detail("dims") == 512
    assert e.detail("declared_type") == "public.vector(512)" and e.detail("dtype") == "pgvector"
    assert e.detail("count") == 20


def test_deepface_pgvector_table(pgvector_uri: str) -> None:
    app_fixtures.deepface_pgvector(pgvector_uri)
    found = findings(scan_db(pgvector_uri))
    key = "public.embeddings_facenet512_mtcnn_aligned_norm.embedding"
    e = one(found[key], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "DeepFace" and e.detail("dims") == 512


def test_photoprism_faces_and_markers(mysql_uri: str) -> None:
    app_fixtures.photoprism(mysql_uri)
    found = findings(scan_db(mysql_uri))
    assert set(found) == {"faces.embedding_json", "markers.embeddings_json"}
    for key in found:
        e = one(found[key], EvidenceKind.FACE_EMBEDDING)
        assert e.detail("app") == "PhotoPrism" and e.detail("dims") == 512
        assert e.detail("dtype") == "json" and "markers.thumb" in str(e.detail("linked_store"))


def test_nextcloud_recognize_detections(mysql_uri: str) -> None:
    app_fixtures.nextcloud_recognize(mysql_uri)
    found = findings(scan_db(mysql_uri))
    assert set(found) == {"oc_recognize_face_detections.vector"}
    e = one(found["oc_recognize_face_detections.vector"], EvidenceKind.FACE_EMBEDDING)
    assert e.detail("app") == "Nextcloud Recognize" and e.detail("dims") == 128
    assert e.detail("count") == 24 and e.detail("dtype") == "json"


def test_negative_controls_give_no_face_evidence(tmp_path: Path, pg_uri: str) -> None:
    db = app_fixtures.control_sqlite(tmp_path / "documents.db")
    app_fixtures.control_postgres(pg_uri)
    result = scan_db(f"sqlite://{db}", pg_uri)
    assert result.items == ()
    assert not any(p.incomplete for p in result.problems)


# -- the CLI, once per engine ------------------------------------------------------------


def cli(*args: str) -> tuple[int, dict[str, object]]:
    proc = subprocess.run(
        [FACEAUDIT, "scan", *args, "--format", "json", "--workers", "1"],
        capture_output=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, json.loads(proc.stdout)


def _apps(document: dict[str, object]) -> set[str]:
    items = document["items"]
    assert isinstance(items, list)
    return {str(i["app"]) for i in items}


@pytest.mark.parametrize("engine", ["sqlite", "postgresql", "mysql"])
def test_cli_end_to_end(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if engine == "sqlite":
        uri = f"sqlite://{app_fixtures.digikam(tmp_path / 'recognition.db')}"
        app = "digiKam"
    elif engine == "postgresql":
        uri = request.getfixturevalue("pg_uri")
        app_fixtures.compreface(uri, rows=12)
        app = "CompreFace"
    else:
        uri = request.getfixturevalue("mysql_uri")
        app_fixtures.photoprism(uri, faces=12)
        app = "PhotoPrism"
    code, document = cli(uri)
    assert code == 1, document  # findings
    assert _apps(document) == {app}


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_cli_unreachable_server_exits_3_without_the_password(scheme: str) -> None:
    secret = "pw-never-printed-4711"
    proc = subprocess.run(
        [FACEAUDIT, "scan", f"{scheme}://root:{secret}@127.0.0.1:1/nowhere", "--format", "json"],
        capture_output=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 3
    assert secret.encode() not in proc.stdout + proc.stderr
    (problem,) = json.loads(proc.stdout)["problems"]
    assert problem["reason"] == "database_unreadable"
