"""`face.column-images`: face images stored in a database column (CompreFace `img.content`,
DeepFace `embeddings.face`, thumbnails in BLOBs).

Sampled values that sniff as images (or are images in base64 / data URIs) go through the
real face detector, `face.yunet`, one `LoadedItem` per value. DeepFace stores its crops as
raw float32 pixel arrays (`face` bytea beside a `face_shape` column), so a BLOB of 3-channel
pixels whose rows correlate like an image's is turned into an image too, the width found as
the divisor of the pixel count that makes neighbouring rows most alike. At most
MAX_IMAGES values are examined, within a time budget well inside the 30 s item budget.
The evidence says how many sampled rows were images, how many showed a face, and the
estimated number of rows with faces — never a pixel.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import time
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from PIL import Image

from scanner.detectors.base import DetectContext, DetectorOutput, LoadedItem, ModelSpec
from scanner.detectors.embedding_column import place_details, timestamp_details
from scanner.detectors.face_yunet import YuNetFaceDetector
from scanner.faces.imaging import ImageProblem
from scanner.model import ContentType, Evidence, EvidenceKind, ScalarValue
from scanner.sniff import HEAD_BYTES, sniff

if TYPE_CHECKING:
    from scanner.sources.database import ColumnSample, Value

MAX_IMAGES = 24
TIME_BUDGET_S = 18.0
MIN_SIDE, MAX_SIDE = 32, 4096
ROW_CORRELATION = 0.8  # neighbouring pixel rows of a photo correlate far above this
_DATA_URI = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)
_B64_IMAGE_HEADS = ("/9j/", "iVBORw0KGgo", "R0lGOD", "UklGR")  # JPEG, PNG, GIF, WebP


class FaceColumnDetector:
    id: ClassVar[str] = "face.column-images"
    cost: ClassVar[int] = 60
    kind: ClassVar[EvidenceKind] = EvidenceKind.FACE_IMAGE
    content_types: ClassVar[frozenset[ContentType]] = frozenset({ContentType.DB_COLUMN})
    description: ClassVar[str] = (
        "Face images stored as database BLOBs (sampled rows through the face detector)"
    )
    default: ClassVar[bool] = True
    # The values that are images go through face.yunet: its models, its versions.
    models: ClassVar[tuple[ModelSpec, ...]] = YuNetFaceDetector.models
    distributions: ClassVar[tuple[str, ...]] = YuNetFaceDetector.distributions

    def detect(self, item: LoadedItem, ctx: DetectContext) -> DetectorOutput:
        column = item.column
        if column is None:
            return DetectorOutput()
        images = column_images(column.values)
        if not images:
            return DetectorOutput()
        yunet = YuNetFaceDetector()
        started = time.monotonic()
        examined = with_faces = faces = undecodable = 0
        best = 0.0
        for content_type, data in images[:MAX_IMAGES]:
            if time.monotonic() - started > TIME_BUDGET_S:
                break
            examined += 1
            loaded = LoadedItem(item.location, content_type, data)
            try:
                out = yunet.detect(loaded, ctx)
            except ImageProblem:
                undecodable += 1
                continue
            hits = [e for e in out.evidence if e.faces]
            if hits:
                with_faces += 1
                faces += max(e.faces for e in hits)
                best = max(best, *(e.confidence for e in hits))
        notes: tuple[tuple[str, ScalarValue], ...] = (
            (f"{self.id}.images_sampled", len(images)),
            (f"{self.id}.images_examined", examined),
            (f"{self.id}.images_undecodable", undecodable),
        )
        if not with_faces:
            return DetectorOutput(notes=notes)
        evidence = Evidence(
            kind=EvidenceKind.FACE_IMAGE,
            detector=self.id,
            confidence=round(best, 3),
            faces=faces,
            details=_details(column, len(images), examined, with_faces),
        )
        return DetectorOutput((evidence,), notes)


def _details(
    column: ColumnSample, images: int, examined: int, with_faces: int
) -> tuple[tuple[str, ScalarValue], ...]:
    fetched = max(len(column.values), 1)
    base = column.non_null if column.non_null is not None else column.rows
    share = (images / fetched) * (with_faces / max(examined, 1))
    estimate = round((base if base is not None else fetched) * share)
    out: list[tuple[str, ScalarValue]] = [
        ("where", f"{column.table}.{column.column}"),
        ("table", column.table),
        ("column", column.column),
        ("rows_sampled", column.sampled_rows),
        ("images_sampled", images),
        ("images_examined", examined),
        ("images_with_faces", with_faces),
        ("estimated_rows_with_faces", max(estimate, with_faces)),
        ("count_is_lower_bound", True),
    ]
    if column.rows is not None:
        out += [("rows", column.rows), ("rows_estimated", column.rows_estimated)]
    out += timestamp_details(column)
    out += place_details(column)
    if column.app:
        out.append(("app", column.app))
    if column.linked_store:
        out.append(("linked_store", column.linked_store))
    return tuple(out)


def column_images(values: tuple[Value, ...]) -> list[tuple[ContentType, bytes]]:
    """The sampled values that are images: encoded (raw bytes, base64, data URIs), or raw
    pixel arrays (tried on at most MAX_IMAGES values: the search for a width costs time)."""
    return [(ct, data) for _, ct, data in indexed_images(values)]


def indexed_images(values: tuple[Value, ...]) -> list[tuple[int, ContentType, bytes]]:
    """column_images, each with the index of the value it came from (its row)."""
    images: list[tuple[int, ContentType, bytes]] = []
    tries = 0
    for index, value in enumerate(values):
        data = value if isinstance(value, bytes) else None
        if isinstance(value, str):
            data = _b64_image(value.strip())
        if not data:
            continue
        ct = sniff(data[:HEAD_BYTES])
        if ct.is_image:
            images.append((index, ct, data))
            continue
        if tries >= MAX_IMAGES:
            continue
        tries += 1
        pixels = raw_pixels(data)
        if pixels is not None:
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, "PNG", compress_level=1)
            images.append((index, ContentType.PNG, buf.getvalue()))
    return images


def _b64_image(text: str) -> bytes | None:
    m = _DATA_URI.match(text)
    if m:
        text = text[m.end() :]
    elif not text.startswith(_B64_IMAGE_HEADS):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def raw_pixels(blob: bytes) -> np.ndarray | None:
    """An RGB image stored as raw pixels (uint8, or float32/float64 in 0..1 or 0..255), its
    width being the divisor of the pixel count whose rows correlate most; None otherwise."""
    for dtype, width in (("<f4", 4), ("<f8", 8), ("u1", 1)):
        if len(blob) % (3 * width):
            continue
        pixels = len(blob) // (3 * width)
        if not MIN_SIDE * MIN_SIDE <= pixels <= MAX_SIDE * MAX_SIDE:
            continue
        with np.errstate(all="ignore"):
            arr = np.frombuffer(blob, dtype=dtype).astype(np.float32)
            if not np.isfinite(arr).all():
                continue
            low, high = float(arr.min()), float(arr.max())
        if low < 0 or high > 255 or high <= 0:
            continue
        if dtype != "u1" and high <= 1.0:
            arr = arr * 255.0
        shaped = _best_shape(arr, pixels)
        if shaped is not None:
            out: np.ndarray = np.clip(shaped, 0, 255).astype(np.uint8)
            return out
    return None


def _best_shape(arr: np.ndarray, pixels: int) -> np.ndarray | None:
    gray = arr.reshape(-1, 3).mean(axis=1)
    best: tuple[float, int] | None = None
    lo = max(MIN_SIDE, math.ceil(math.sqrt(pixels / 3)))
    hi = min(MAX_SIDE, math.isqrt(pixels * 3))
    for width in range(lo, hi + 1):
        if pixels % width:
            continue
        height = pixels // width
        rows = gray.reshape(height, width)
        step = max(1, height // 64)
        a, b = rows[:-1:step].ravel(), rows[1::step][: len(rows[:-1:step])].ravel()
        if a.std() == 0 or b.std() == 0:
            continue
        corr = float(np.corrcoef(a, b)[0, 1])
        if best is None or corr > best[0]:
            best = (corr, width)
    if best is None or best[0] < ROW_CORRELATION:
        return None
    width = best[1]
    return arr.reshape(pixels // width, width, 3)
