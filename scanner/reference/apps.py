"""Fingerprints of applications that store faces, from a database schema or a file path.

Facts from each application's public source (../shared/docs/STORES.md). Face data is nearly
always two linked things — the vector and an image crop somewhere else — so every match
names the *linked store* as well: deletion is only verified when both are gone.
Matching uses the stable parts of a layout (table and column names, file-name patterns),
case-insensitively; schema prefixes (`public.`) and table prefixes (`oc_`) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class AppMatch:
    app: str
    linked_store: str | None  # where the app keeps the linked face images (or vectors)
    face_columns: tuple[str, ...] = ()  # "table.column" that hold face data in this layout


@dataclass(frozen=True)
class _SchemaPrint:
    app: str
    requires: tuple[tuple[str, tuple[str, ...]], ...]  # (table, columns it must have)
    face_columns: tuple[str, ...]
    linked_store: str


_SCHEMAS: tuple[_SchemaPrint, ...] = (
    _SchemaPrint(
        "Immich",
        (("person", ("thumbnailpath",)), ("asset_face", ("boundingboxx1",))),
        ("face_search.embedding", "asset_face.embedding"),
        "person.thumbnailPath: face crops on disk (upload/thumbs); asset_face boxes",
    ),
    _SchemaPrint(
        "Immich",
        (("person", ("thumbnailpath",)), ("asset_faces", ("boundingboxx1",))),
        ("asset_faces.embedding", "face_search.embedding"),
        "person.thumbnailPath: face crops on disk (upload/thumbs); asset_faces boxes",
    ),
    _SchemaPrint(
        "PhotoPrism",
        (("faces", ("embedding_json",)), ("markers", ("marker_type",))),
        ("faces.embedding_json", "markers.embeddings_json"),
        "markers.thumb: face crop thumbnails in the cache; the originals in storage",
    ),
    _SchemaPrint(
        "digiKam",
        (("identities", ("id",)), ("facematrices", ())),
        ("facematrices.embedding", "facematrices.vecdata", "facematrices.data"),
        "face regions on the photos (digikam4.db ImageTagProperties) and the photos themselves",
    ),
    _SchemaPrint(
        "CompreFace",
        (("embedding", ("embedding", "calculator")), ("img", ("content",))),
        ("embedding.embedding", "img.content"),
        "img.content: the original face images, in the same database",
    ),
    _SchemaPrint(
        "DeepFace",
        (("embeddings", ("face", "embedding")),),
        ("embeddings.embedding", "embeddings.face"),
        "embeddings.face: the face crops, in the same table",
    ),
    _SchemaPrint(
        "LibrePhotos",
        (("api_face", ("encoding", "person_id")),),
        ("api_face.encoding", "api_face.image"),
        "api_face.image: face crops under the media root's faces/ folder",
    ),
    _SchemaPrint(
        "Nextcloud Recognize",
        (("recognize_face_detections", ("vector", "file_id")),),
        ("recognize_face_detections.vector",),
        "the Nextcloud files referenced by file_id (the photos themselves)",
    ),
    _SchemaPrint(
        "Double Take",
        (("train", ()), ("match", ()), ("file", ())),
        ("match.response", "train.meta"),
        ".storage/matches/ and .storage/train/<name>/: the face images",
    ),
)

_DEEPFACE_TABLE = re.compile(r"^embeddings_[a-z0-9]+_[a-z0-9]+")  # pgvector tables per model

_PATH_PRINTS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"(^|/)ds_model_[^/]*_detector_[^/]*\.pkl$|(^|/)representations_[^/]+\.pkl$"),
        "DeepFace",
        "the images listed in the cache (its identity paths), in the same folder",
    ),
    (
        re.compile(r"(^|/)\.storage/(matches|train)/"),
        "Double Take",
        ".storage/database.db (match and train records)",
    ),
    (
        re.compile(r"(^|/)clips/faces/"),
        "Frigate",
        "Frigate's face library (clips/faces/<name>/ and clips/faces/train/)",
    ),
    (
        re.compile(r"(^|/)recognition\.db$"),
        "digiKam",
        "face regions in digikam4.db and the photos themselves",
    ),
)


def _bare(name: str) -> str:
    name = name.lower().rsplit(".", 1)[-1].strip('"`')
    return re.sub(r"^oc_", "", name)  # Nextcloud's default table prefix


def identify_schema(tables: Mapping[str, Sequence[str]]) -> AppMatch | None:
    """The application whose layout a database has (tables -> their column names)."""
    layout = {_bare(t): {c.lower() for c in cols} for t, cols in tables.items()}
    for fp in _SCHEMAS:
        if all(t in layout and set(cols) <= layout[t] for t, cols in fp.requires):
            return AppMatch(fp.app, fp.linked_store, fp.face_columns)
    if any(_DEEPFACE_TABLE.match(t) and "embedding" in cols for t, cols in layout.items()):
        return AppMatch("DeepFace", "the images the embeddings were computed from", ())
    return None


def identify_path(path: str) -> AppMatch | None:
    """The application whose file layout a path shows (DeepFace caches, Frigate faces …)."""
    normal = path.replace("\\", "/")
    for pattern, app, linked in _PATH_PRINTS:
        if pattern.search(normal):
            return AppMatch(app, linked)
    return None


def is_face_column(match: AppMatch | None, table: str, column: str) -> bool:
    """Whether the application's layout says this column holds face data."""
    if match is None:
        return False
    return f"{_bare(table)}.{column.lower()}" in {c.lower() for c in match.face_columns}


def gallery_keys(keys: Sequence[str]) -> AppMatch | None:
    """face_recognition tutorials pickle {"encodings": [...], "names": [...]}."""
    lowered = {k.lower() for k in keys}
    if {"encodings", "names"} <= lowered or {"known_encodings", "known_names"} <= lowered:
        return AppMatch(
            "face_recognition (tutorial layout)",
            "the images the encodings were computed from (one name per encoding)",
        )
    return None
