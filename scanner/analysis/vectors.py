"""Is this set of vectors a store of face templates? A confidence, and the reasons.

Parsers (npy, pickle, JSON, CSV, databases …) turn what they find into a `VectorSet`: a
bounded sample of the vectors plus the names around them. `classify` scores it from
evidence that a demanding reviewer would accept, each item stated as a reason:

- the vector length is one that face models emit (FACE_DIMS, documented below);
- the values are finite, signed floats, as a network's output is (pixels, histograms and SIFT
  descriptors are non-negative; counts are integers; signals and images have strongly
  correlated neighbouring components, embeddings do not);
- the norms match a known model family (dlib's unnormalised descriptors sit in a narrow band
  around 1.4; many models L2-normalise to 1);
- a set of vectors has the structure of a trained model's output (unequal variance across
  dimensions, a shared mean direction), not of isotropic noise;
- the names of keys, columns, tables and files speak of faces or encodings; vectors come
  with one label (a person, an image path) each, as a recognition gallery does;
- an application that stores faces is recognised, or face images sit beside them.

Vectors never leave the process that reads them: evidence carries counts, dimensions,
dtypes, a model family and the reasons — never values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# Embedding sizes of face models (../shared/docs/STORES.md). dlib/face_recognition, FaceNet,
# OpenFace and SFace emit 128; DeepID 160; FaceNet512, ArcFace, InsightFace buffalo_l and
# GhostFaceNet 512; VGG-Face 2622 (legacy) and 4096 (VGG-Face, DeepFace).
FACE_DIMS: dict[int, tuple[str, ...]] = {
    128: ("dlib/face_recognition", "FaceNet", "OpenFace", "SFace"),
    160: ("DeepID",),
    512: ("ArcFace/InsightFace", "FaceNet512", "GhostFaceNet"),
    2622: ("VGG-Face (legacy)",),
    4096: ("VGG-Face", "DeepFace"),
}
# Sizes of other face models and of reduced face templates (PCA, quantised products).
OTHER_FACE_DIMS = frozenset({64, 96, 192, 256, 1024})
# Sizes that text-embedding models emit: strong evidence *against* a face template.
TEXT_DIMS = frozenset({300, 384, 768, 1024, 1536, 3072})

DEFAULT_THRESHOLD = 0.6

_FACE_WORDS = re.compile(
    r"face|encoding|descriptor|faceprint|biometric|template|arcface|facenet|insightface"
    r"|vggface|vgg_face|openface|sface|deepid|dlib|recogni[sz]e|compreface"
)
_GENERIC_WORDS = re.compile(r"embed|vector|feature|represent|signature|\bemb\b|_emb\b|\bvec\b")
_PERSON_WORDS = re.compile(r"person|people|subject|identity|identities|known|names?\b|label")
_OTHER_WORDS = re.compile(
    r"sift|surf|\borb\b|keypoint|audio|mfcc|mel|spectro|sentence|\btext|token|word|\bdoc"
    r"|pixel|clip\b|bert|minilm|openai|ada_002|product|item"
)


@dataclass(frozen=True)
class VectorSet:
    """Vectors found in one place of an item, with what surrounds them.

    `sample` is a bounded (rows x dims) float64 array; `count` is how many vectors the place
    holds in all (the sample may be smaller). The set never leaves the worker.
    """

    where: str  # inside the item: "known_encodings", "$.alice[0]", "arr_0", "faces.embedding"
    sample: np.ndarray
    count: int
    dtype: str  # as stored: float32, float64, float16, text, …
    names: tuple[str, ...] = ()  # keys, columns, tables, file names around the vectors
    labels: int = 0  # labels (people, image paths) aligned one-to-one with the vectors
    integers: bool = False  # stored as integers (even if sampled as floats)

    @property
    def dims(self) -> int:
        return int(self.sample.shape[1]) if self.sample.ndim == 2 else 0


@dataclass(frozen=True)
class Verdict:
    confidence: float
    reasons: tuple[str, ...]
    family: str | None  # a recognised model family, when the statistics say so

    def is_face(self, threshold: float = DEFAULT_THRESHOLD) -> bool:
        return self.confidence >= threshold


def _words(names: Iterable[str]) -> str:
    text = " ".join(names).lower()
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", text)


@dataclass
class _Score:
    score: float = 0.0
    cap: float = 1.0
    reasons: list[str] | None = None

    def add(self, delta: float, reason: str) -> None:
        self.score += delta
        assert self.reasons is not None
        self.reasons.append(reason)

    def limit(self, cap: float, reason: str) -> None:
        self.cap = min(self.cap, cap)
        assert self.reasons is not None
        self.reasons.append(reason)


def classify(vs: VectorSet, *, app: str | None = None, beside_face_images: bool = False) -> Verdict:
    """Score a vector set; see the module docstring for what counts and why."""
    if vs.dims < 8 or vs.sample.size == 0:
        return Verdict(0.0, ("fewer than 8 components: not an embedding",), None)
    s = _Score(reasons=[])
    _score_dims(s, vs.dims)
    finite = vs.sample[np.isfinite(vs.sample).all(axis=1)]
    if len(finite) < len(vs.sample):
        s.add(0.0, f"{len(vs.sample) - len(finite)} of {len(vs.sample)} vectors not finite")
    if len(finite) == 0:
        return Verdict(0.0, (*(s.reasons or ()), "no finite vector"), None)
    _score_values(s, finite, vs.integers)
    family, norm_reason = _norm_family(vs.dims, np.linalg.norm(finite, axis=1))
    if norm_reason:
        s.add(0.20, norm_reason)
    structure = _structure(finite)
    if structure is not None:
        s.add(*structure)
    _score_context(s, vs, app, beside_face_images)
    confidence = max(0.0, min(s.score, s.cap, 1.0))
    return Verdict(round(confidence, 3), tuple(s.reasons or ()), family)


def _score_dims(s: _Score, d: int) -> None:
    if d in FACE_DIMS:
        s.add(0.30, f"{d} dimensions: the size of {', '.join(FACE_DIMS[d])} embeddings")
    elif d in OTHER_FACE_DIMS and d not in TEXT_DIMS:
        s.add(0.10, f"{d} dimensions: used by some face models and reduced templates")
    elif d in TEXT_DIMS:
        s.add(-0.20, f"{d} dimensions: the size of text/sentence embeddings, not faces")
    else:
        s.add(0.0, f"{d} dimensions: not a known face-embedding size")


def _score_values(s: _Score, finite: np.ndarray, integers: bool) -> None:
    if integers or bool(np.all(finite == np.round(finite))):
        s.limit(0.3, "integer values: counts, codes or pixels, not a network's output")
    negative = float((finite < 0).mean())
    if negative == 0.0:
        s.limit(0.3, "no negative value: pixels, histograms or SIFT-like descriptors")
    elif 0.25 <= negative <= 0.75:
        s.add(0.15, "signed values centred near zero, as embeddings are")
    lag1 = _neighbour_correlation(finite)
    if lag1 > 0.5:
        s.limit(0.3, f"neighbouring components correlate ({lag1:.2f}): a signal or image")


def _score_context(s: _Score, vs: VectorSet, app: str | None, beside_images: bool) -> None:
    words = _words((*vs.names, vs.where))
    face_named = bool(_FACE_WORDS.search(words))
    if face_named:
        s.add(0.30, "named like face templates (face/encoding/descriptor…)")
    elif _GENERIC_WORDS.search(words):
        s.add(0.10, "named like embeddings (embedding/vector/feature…)")
    if _OTHER_WORDS.search(words) and not face_named:
        s.add(-0.30, "named like another kind of vector (text, audio, SIFT, pixels…)")
    if vs.labels and vs.labels == vs.count:
        s.add(0.15, f"one label per vector ({vs.labels}): a recognition gallery")
    elif _PERSON_WORDS.search(words):
        s.add(0.05, "stored beside people/identity names")
    if app:
        s.add(0.35, f"the layout of {app}, an application that stores face templates")
    if beside_images:
        s.add(0.10, "face images are stored beside them")


def _neighbour_correlation(x: np.ndarray) -> float:
    """Mean correlation between adjacent components (pixels/spectra high, embeddings ~0)."""
    rows = x[:64]
    a, b = rows[:, :-1], rows[:, 1:]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    ok = den > 0
    if not ok.any():
        return 1.0  # constant vectors: certainly not embeddings
    return float(((a * b).sum(axis=1)[ok] / den[ok]).mean())


def _norm_family(d: int, norms: np.ndarray) -> tuple[str | None, str | None]:
    mean = float(norms.mean())
    spread = float(norms.std() / mean) if mean > 0 else math.inf
    if d == 128 and 1.15 <= mean <= 1.85 and spread < 0.12:
        return "dlib/face_recognition", (
            f"norms {mean:.2f} +/- {spread * 100:.0f}%: dlib's descriptors (face_recognition)"
        )
    if abs(mean - 1.0) < 0.01 and spread < 0.01:
        return None, "L2-normalised (norm 1), as most face models' outputs are"
    if d == 128 and 6.0 <= mean <= 20.0 and spread < 0.35:
        return "FaceNet (unnormalised)", f"norms around {mean:.1f}: FaceNet's raw output"
    return None, None


def _structure(x: np.ndarray) -> tuple[float, str] | None:
    """Set-level evidence, from at least 8 vectors."""
    n = x.shape[0]
    if n < 8:
        return None
    var = x.var(axis=0)
    anisotropy = float(var.max() / max(var.min(), 1e-12))
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.maximum(norms[:, None], 1e-12)
    mean_dir = float(np.linalg.norm(unit.mean(axis=0)))
    random_dir = 3.0 / math.sqrt(n)  # what isotropic noise shows for n vectors
    # Isotropic noise: variance about equal in every dimension and no shared direction.
    expected_ratio = 1.0 + 6.0 / math.sqrt(n)
    if anisotropy > 2.0 * expected_ratio + 2.0 or mean_dir > max(0.3, 2 * random_dir):
        return 0.15, (
            f"structured like a trained model's output (variance ratio {anisotropy:.0f}, "
            f"shared direction {mean_dir:.2f})"
        )
    if n >= 20 and mean_dir < random_dir:
        return -0.25, "isotropic with no shared direction: random noise, not a model's output"
    return None


def recognise_bytes(
    blob: bytes, dims: Iterable[int] = (*FACE_DIMS, *sorted(OTHER_FACE_DIMS))
) -> tuple[np.ndarray, str] | None:
    """A BLOB that is exactly one little-endian float32 or float64 vector of a plausible size.

    Both readings are tried; a float64 vector read as float32 (or the reverse) gives wild
    magnitudes, so the reading whose values look like a network's output wins."""
    wanted = set(dims)
    for width, dtype in ((4, "<f4"), (8, "<f8")):
        if len(blob) % width or len(blob) // width not in wanted:
            continue
        with np.errstate(all="ignore"):
            vec = np.frombuffer(blob, dtype=dtype).astype(np.float64)
            if not np.isfinite(vec).all():
                continue
            magnitude = np.abs(vec)
            if float(magnitude.max(initial=0.0)) > 1e3 or float(np.median(magnitude)) < 1e-8:
                continue
        return vec, "float32" if width == 4 else "float64"
    return None
