"""Application fingerprints: each layout from STORES.md is recognised, near misses are not."""

from __future__ import annotations

import pytest

from scanner.reference import apps

IMMICH = {
    "public.person": ["id", "name", "thumbnailPath", "birthDate"],
    "public.asset_face": ["id", "assetId", "personId", "boundingBoxX1", "boundingBoxY1"],
    "public.face_search": ["faceId", "embedding"],
}
PHOTOPRISM = {
    "faces": ["id", "face_src", "subj_uid", "samples", "embedding_json"],
    "markers": ["marker_uid", "marker_type", "embeddings_json", "landmarks_json", "thumb"],
    "subjects": ["subj_uid", "subj_name"],
}
DIGIKAM = {
    "Identities": ["id"],
    "IdentityAttributes": ["id", "attribute", "value"],
    "FaceMatrices": ["id", "identity", "embedding"],
}
COMPREFACE = {
    "embedding": ["id", "subject_id", "embedding", "calculator", "img_id"],
    "img": ["id", "content"],
    "subject": ["id", "subject_name"],
}
DEEPFACE_PG = {"embeddings": ["id", "img_name", "face", "face_shape", "model_name", "embedding"]}
DEEPFACE_PGVECTOR = {"embeddings_facenet_mtcnn_aligned": ["id", "img_name", "embedding"]}
LIBREPHOTOS = {"api_face": ["id", "image", "person_id", "encoding", "location_top"]}
NEXTCLOUD = {"oc_recognize_face_detections": ["id", "user_id", "file_id", "x", "y", "vector"]}
DOUBLE_TAKE = {"file": ["id", "key"], "train": ["id", "name", "meta"], "match": ["id", "response"]}


@pytest.mark.parametrize(
    ("tables", "app", "face_column"),
    [
        (IMMICH, "Immich", ("face_search", "embedding")),
        (PHOTOPRISM, "PhotoPrism", ("faces", "embedding_json")),
        (DIGIKAM, "digiKam", ("FaceMatrices", "embedding")),
        (COMPREFACE, "CompreFace", ("img", "content")),
        (DEEPFACE_PG, "DeepFace", ("embeddings", "face")),
        (DEEPFACE_PGVECTOR, "DeepFace", None),
        (LIBREPHOTOS, "LibrePhotos", ("api_face", "encoding")),
        (NEXTCLOUD, "Nextcloud Recognize", ("oc_recognize_face_detections", "vector")),
        (DOUBLE_TAKE, "Double Take", None),
    ],
)
def test_schemas_are_recognised(
    tables: dict[str, list[str]], app: str, face_column: tuple[str, str] | None
) -> None:
    match = apps.identify_schema(tables)
    assert match is not None and match.app == app
    assert match.linked_store  # every finding names where the linked images are
    if face_column:
        assert apps.is_face_column(match, *face_column)
    assert not apps.is_face_column(match, "person", "name")


@pytest.mark.parametrize(
    "tables",
    [
        {"person": ["id", "name"], "asset_face": ["id"]},  # no thumbnails, no boxes
        {"faces": ["id", "embedding"]},  # generic names: the classifier decides, not a print
        {"embedding": ["id", "embedding"]},  # CompreFace needs img.content too
        {"users": ["id", "email"], "orders": ["id", "total"]},
        {},
    ],
)
def test_near_misses_are_not_an_application(tables: dict[str, list[str]]) -> None:
    assert apps.identify_schema(tables) is None


@pytest.mark.parametrize(
    ("path", "app"),
    [
        (
            "/srv/db/ds_model_facenet_detector_mtcnn_aligned_normalization_base_expand_0.pkl",
            "DeepFace",
        ),
        ("dataset/representations_vgg_face.pkl", "DeepFace"),
        ("/opt/double-take/.storage/matches/abc.jpg", "Double Take"),
        ("/media/frigate/clips/faces/alice/1.webp", "Frigate"),
        ("/home/u/.local/share/digikam/recognition.db", "digiKam"),
        ("photos/faces/alice.jpg", None),
        ("representations.pkl", None),
        ("clips/facesheet.png", None),
    ],
)
def test_paths(path: str, app: str | None) -> None:
    match = apps.identify_path(path)
    assert (match.app if match else None) == app


def test_face_recognition_tutorial_keys() -> None:
    assert apps.gallery_keys(["encodings", "names"]) is not None
    assert apps.gallery_keys(["known_encodings", "known_names"]) is not None
    assert apps.gallery_keys(["encodings", "labels_v2"]) is None
