"""Databases laid out as real applications lay them out, built from the facts in
../shared/docs/STORES.md and the schemas under ../shared/data/faces-dev/*_schema (our own
CREATE statements, trimmed to the stable parts). Filled with real vectors (db_helpers)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import psycopg
from db_helpers import (
    arcface_like,
    dlib_descriptors,
    face_crop_float32,
    face_jpeg,
    mysql_connect,
    no_face_jpeg,
    sentence_like,
)


def digikam(path: Path, rows: int = 24) -> Path:
    """digiKam's recognition.db (dbconfig.xml: Identities, IdentityAttributes, FaceMatrices
    with the 128-d float32 vector in `vecdata`)."""
    vectors = dlib_descriptors()
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE Settings (keyword TEXT NOT NULL UNIQUE, value TEXT);
            CREATE TABLE Identities (id INTEGER PRIMARY KEY, type INTEGER);
            CREATE TABLE IdentityAttributes (id INTEGER, attribute TEXT, value TEXT);
            CREATE TABLE FaceMatrices (id INTEGER PRIMARY KEY, identity INTEGER, context TEXT,
                type INTEGER, rows INTEGER, cols INTEGER, data BLOB, vecdata BLOB);
            """
        )
        for n in range(rows):
            db.execute("INSERT INTO Identities VALUES (?, 0)", (n + 1,))
            db.execute("INSERT INTO IdentityAttributes VALUES (?, 'name', ?)", (n + 1, f"p{n}"))
            vec = vectors[n % len(vectors)].astype("<f4").tobytes()
            db.execute(
                "INSERT INTO FaceMatrices VALUES (NULL, ?, 'ctx', 5, 1, 128, NULL, ?)", (n + 1, vec)
            )
    db.close()
    return path


def double_take(root: Path) -> Path:
    """Double Take's .storage: database.db (file, train, match with JSON results) and the
    face images it keeps in .storage/matches/."""
    storage = root / ".storage"
    (storage / "matches").mkdir(parents=True)
    with sqlite3.connect(storage / "database.db") as db:
        db.executescript(
            """
            CREATE TABLE file (id INTEGER PRIMARY KEY, key TEXT, filename TEXT,
                meta JSON, isActive INTEGER, createdAt DATETIME);
            CREATE TABLE train (id INTEGER PRIMARY KEY, fileId INTEGER, name TEXT,
                filename TEXT, meta JSON, createdAt DATETIME);
            CREATE TABLE match (id INTEGER PRIMARY KEY, filename TEXT, event JSON,
                response JSON, isTrained INTEGER, createdAt DATETIME);
            """
        )
        for n in range(5):
            response = [
                {
                    "detector": "compreface",
                    "results": [
                        {
                            "name": "david",
                            "confidence": 97.5,
                            "match": True,
                            "box": {"top": 10, "left": 20, "width": 80, "height": 90},
                        }
                    ],
                }
            ]
            db.execute(
                "INSERT INTO match VALUES (NULL, ?, ?, ?, 0, ?)",
                (
                    f"{n}.jpg",
                    json.dumps({"camera": "door"}),
                    json.dumps(response),
                    f"2025-03-0{n + 1} 08:00:00",
                ),
            )
    db.close()
    (storage / "matches" / "0.jpg").write_bytes(face_jpeg())
    return storage / "database.db"


def control_sqlite(path: Path) -> Path:
    """No faces: numbers, text, non-face BLOBs and 384-d sentence vectors named `embedding`."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT, body TEXT, "
            "thumbnail BLOB, embedding BLOB, score REAL, created_at TEXT)"
        )
        for n, vec in enumerate(sentence_like(60)):
            db.execute(
                "INSERT INTO documents VALUES (NULL, ?, ?, ?, ?, ?, ?)",
                (
                    f"doc {n}",
                    "words " * 50,
                    no_face_jpeg(),
                    vec.astype("<f4").tobytes(),
                    n / 7,
                    "2025-01-01",
                ),
            )
    db.close()
    return path


def control_postgres(uri: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.documents (id serial PRIMARY KEY, title text, body text, "
            "thumbnail bytea, embedding float4[], score float8)"
        )
        for n, vec in enumerate(sentence_like(60)):
            conn.execute(
                "INSERT INTO public.documents (title, body, thumbnail, embedding, score) "
                "VALUES (%s, %s, %s, %s, %s)",
                (f"doc {n}", "words " * 50, no_face_jpeg("rocket.jpg"), vec.tolist(), n / 7),
            )


def compreface(uri: str, rows: int = 20, images: bool = True) -> None:
    """CompreFace's Liquibase changelog: subject, img (content bytea), embedding (float8[])."""
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE public.model (id uuid, api_key varchar(36));
            CREATE TABLE public.subject (id uuid PRIMARY KEY, api_key varchar(36),
                subject_name varchar(255));
            CREATE TABLE public.img (id uuid PRIMARY KEY, content bytea NOT NULL);
            CREATE TABLE public.embedding (id uuid PRIMARY KEY, subject_id uuid,
                embedding float8[] NOT NULL, calculator varchar(255) NOT NULL, img_id uuid,
                created_at timestamptz NOT NULL DEFAULT now());
            """
        )
        for n, vec in enumerate(dlib_descriptors()[:rows]):
            img = uuid.uuid4()
            if images:
                photo = face_jpeg() if n % 2 == 0 else no_face_jpeg()
                conn.execute("INSERT INTO public.img VALUES (%s, %s)", (img, photo))
            conn.execute(
                "INSERT INTO public.embedding VALUES (gen_random_uuid(), gen_random_uuid(), %s,"
                " 'Facenet2018', %s, %s)",
                (vec.tolist(), img if images else None, f"2025-0{n % 9 + 1}-01T00:00:00Z"),
            )


def deepface(uri: str, rows: int = 12) -> None:
    """DeepFace's postgres-init: embeddings (face bytea of float32 pixels, face_shape,
    embedding float8[])."""
    raw, shape = face_crop_float32()
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE public.embeddings (id SERIAL PRIMARY KEY, img_name TEXT NOT NULL,
                face BYTEA NOT NULL, face_shape INT[] NOT NULL, model_name TEXT NOT NULL,
                detector_backend TEXT NOT NULL, aligned BOOLEAN DEFAULT true,
                l2_normalized BOOLEAN DEFAULT false, embedding FLOAT8[] NOT NULL,
                created_at TIMESTAMPTZ DEFAULT now(), face_hash TEXT NOT NULL,
                embedding_hash TEXT NOT NULL, UNIQUE (face_hash, embedding_hash));
            """
        )
        for n, vec in enumerate(arcface_like(rows)):
            conn.execute(
                "INSERT INTO public.embeddings (img_name, face, face_shape, model_name, "
                "detector_backend, embedding, face_hash, embedding_hash) "
                "VALUES (%s, %s, %s, 'ArcFace', 'retinaface', %s, %s, %s)",
                (f"db/p{n}.jpg", raw, list(shape), vec.tolist(), f"fh{n}", f"eh{n}"),
            )


def deepface_pgvector(uri: str, rows: int = 16) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.embeddings_facenet512_mtcnn_aligned_norm (id SERIAL PRIMARY "
            "KEY, img_name TEXT NOT NULL, embedding vector(512) NOT NULL, face_hash TEXT)"
        )
        for n, vec in enumerate(arcface_like(rows, seed=11)):
            conn.execute(
                "INSERT INTO public.embeddings_facenet512_mtcnn_aligned_norm (img_name, "
                "embedding, face_hash) VALUES (%s, %s::vector, %s)",
                (f"db/p{n}.jpg", json.dumps(vec.tolist()), f"h{n}"),
            )


def immich(uri: str, vector: bool, rows: int = 20) -> None:
    """Immich: person (thumbnailPath), asset_face(s) boxes, and the 512-d embedding —
    `face_search.embedding vector(512)` now, `asset_faces.embedding real[]` before."""
    faces = "asset_face" if vector else "asset_faces"
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            f"""
            CREATE TABLE public.person (id uuid PRIMARY KEY, name varchar NOT NULL DEFAULT '',
                "thumbnailPath" varchar NOT NULL DEFAULT '', "birthDate" date);
            CREATE TABLE public.{faces} (id uuid PRIMARY KEY, "assetId" uuid, "personId" uuid,
                "imageWidth" int, "imageHeight" int, "boundingBoxX1" int, "boundingBoxY1" int,
                "boundingBoxX2" int, "boundingBoxY2" int, "deletedAt" timestamptz
                {"" if vector else ", embedding real[]"});
            """
        )
        if vector:
            conn.execute(
                'CREATE TABLE public.face_search ("faceId" uuid PRIMARY KEY, '
                "embedding vector(512) NOT NULL)"
            )
        for n, vec in enumerate(arcface_like(rows, seed=3)):
            person, face = uuid.uuid4(), uuid.uuid4()
            conn.execute(
                "INSERT INTO public.person VALUES (%s, %s, %s, NULL)",
                (person, f"person {n}", f"upload/thumbs/{person}.jpeg"),
            )
            values = [face, uuid.uuid4(), person, 4000, 3000, 10, 20, 200, 260, None]
            if vector:
                conn.execute(
                    f"INSERT INTO public.{faces} VALUES ({', '.join(['%s'] * 10)})", values
                )
                conn.execute(
                    "INSERT INTO public.face_search VALUES (%s, %s::vector)",
                    (face, json.dumps(vec.tolist())),
                )
            else:
                conn.execute(
                    f"INSERT INTO public.{faces} VALUES ({', '.join(['%s'] * 11)})",
                    [*values, vec.astype("float32").tolist()],
                )


def librephotos(uri: str, rows: int = 20) -> None:
    """LibrePhotos (Django): api_face.encoding is the hex of the float64 bytes."""
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.api_person (id serial PRIMARY KEY, name varchar(128));"
            "CREATE TABLE public.api_face (id serial PRIMARY KEY, image varchar(100), "
            "person_id int, encoding text NOT NULL, location_top int, location_bottom int, "
            "location_left int, location_right int, photo_id varchar(100))"
        )
        for n, vec in enumerate(dlib_descriptors()[:rows]):
            conn.execute(
                "INSERT INTO public.api_face (image, person_id, encoding, location_top) "
                "VALUES (%s, %s, %s, 5)",
                (f"faces/{n}.jpg", n % 4, vec.astype("<f8").tobytes().hex()),
            )


def photoprism(uri: str, faces: int = 30) -> None:
    """PhotoPrism's faces and markers (internal/entity/face.go, marker.go; mariadb.sql)."""
    conn = mysql_connect(uri)
    cur = conn.cursor()
    cur.execute(
        """CREATE TABLE faces (id varbinary(64) NOT NULL, face_src varbinary(8),
        face_kind int(11), face_hidden tinyint(1), subj_uid varbinary(42) DEFAULT '',
        samples int(11), sample_radius double, collisions int(11), collision_radius double,
        embedding_json mediumblob, matched_at datetime, created_at datetime,
        updated_at datetime, PRIMARY KEY (id))"""
    )
    cur.execute(
        """CREATE TABLE markers (marker_uid varbinary(42) NOT NULL, file_uid varbinary(42),
        marker_type varbinary(8) DEFAULT '', marker_name varchar(160), subj_uid varbinary(42),
        face_id varbinary(64), embeddings_json mediumblob, landmarks_json mediumblob,
        x float, y float, w float, h float, thumb varbinary(128) DEFAULT '',
        created_at datetime, PRIMARY KEY (marker_uid))"""
    )
    for n, vec in enumerate(arcface_like(faces)):
        cur.execute(
            "INSERT INTO faces VALUES (%s, 'manual', 0, 0, %s, 3, 0.3, 0, 0, %s, NULL, %s, %s)",
            (
                f"F{n:04d}",
                f"js{n}",
                json.dumps(vec.tolist()).encode(),
                f"2024-0{n % 9 + 1}-02 10:00:00",
                "2025-01-01",
            ),
        )
        cur.execute(
            "INSERT INTO markers VALUES (%s, %s, 'face', %s, %s, %s, %s, %s, 0.1, 0.2, 0.3, "
            "0.3, %s, %s)",
            (
                f"M{n:04d}",
                f"fi{n}",
                f"person {n % 6}",
                f"js{n}",
                f"F{n:04d}",
                json.dumps([vec.tolist()]).encode(),
                json.dumps([{"x": 0.1, "y": 0.2}] * 5).encode(),
                f"thumb{n:040d}",
                "2024-05-01",
            ),
        )
    conn.close()


def nextcloud_recognize(uri: str, rows: int = 24) -> None:
    """Nextcloud Recognize: oc_recognize_face_detections.vector is a JSON text array of the
    128-d descriptor, beside the box of the face in the user's file (file_id)."""
    conn = mysql_connect(uri)
    cur = conn.cursor()
    cur.execute(
        """CREATE TABLE oc_recognize_face_detections (id bigint NOT NULL AUTO_INCREMENT,
        user_id varchar(64), file_id bigint, x double, y double, height double, width double,
        vector longtext NOT NULL, cluster_id bigint, threshold double, PRIMARY KEY (id))"""
    )
    for n, vec in enumerate(dlib_descriptors()[:rows]):
        cur.execute(
            "INSERT INTO oc_recognize_face_detections (user_id, file_id, x, y, height, width, "
            "vector, cluster_id, threshold) VALUES ('alice', %s, 0.1, 0.2, 0.3, 0.3, %s, %s, 0.4)",
            (1000 + n, json.dumps(vec.tolist()), n % 5),
        )
    conn.close()
