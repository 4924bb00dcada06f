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
from dataclasses import dataclass, field

import numpy as np

from scanner.model import VectorRef

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


# Names are compared word by word (snake_case, camelCase, paths and punctuation split), so
# `surface` is not a face and `melanie` is not a mel spectrogram.
def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FACE_WORDS = _wordset(
    """face faces facial encoding encodings descriptor descriptors faceprint faceprints
    biometric biometrics template templates arcface facenet facenet512 insightface vggface
    openface sface deepid dlib recognition recognize recognise compreface"""
)
_FACE_PREFIXES = ("face", "vggface", "arcface")  # faceid, facevec, face_emb … (faceted: no)
_GENERIC_WORDS = _wordset(
    """embedding embeddings embed emb vector vectors vec feature features representation
    representations signature signatures"""
)
_PERSON_WORDS = _wordset(
    "person persons people subject subjects identity identities known name names label labels"
)
# No first names here (Ada, Bert, Mel, Doc …): keys of a gallery are often people's names.
_OTHER_WORDS = _wordset(
    """sift surf orb keypoint keypoints audio mfcc melspec logmel spectrogram spectro sentence
    sentences text texts token tokens word words document documents pixel pixels clip
    minilm openai product products item items"""
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
    # Which stored vector each sampled row is (a database row's key and date, a file's label
    # and path), one per row of `sample`; empty when the parser does not know. For a face
    # search's matches (scanner.subject.compare); never values.
    refs: tuple[VectorRef, ...] = field(default=(), repr=False)

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


def _words(names: Iterable[str]) -> set[str]:
    """The words of every name: `knownFaceEncodings` -> known, face, encodings."""
    words: set[str] = set()
    for name in names:
        spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
        words.update(w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w)
    return words


def _face_named(words: set[str]) -> bool:
    if words & _FACE_WORDS:
        return True
    return any(w.startswith(_FACE_PREFIXES) and not w.startswith("facet") for w in words)


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
    norms = np.linalg.norm(finite, axis=1)
    family, norm_reason = _norm_family(vs.dims, norms)
    if norm_reason:
        s.add(0.20, norm_reason)
    elif vs.dims == 128 and 6.0 <= float(norms.mean()) <= 20.0:
        # Only a weak hint: Gaussian noise has norms near 11 too.
        family = "FaceNet (unnormalised)"
        s.add(0.05, f"norms around {float(norms.mean()):.1f}, as FaceNet's raw output has")
    structure = _structure(finite)
    if structure is not None:
        s.add(*structure)
    _score_context(s, vs, app, beside_face_images)
    confidence = max(0.0, min(s.score, s.cap, 1.0))
    return Verdict(round(confidence, 3), tuple(s.reasons or ()), family)


def _score_dims(s: _Score, d: int) -> None:
    if d == 2622:  # no other common model emits this size
        s.add(0.45, "2622 dimensions: VGG-Face's (legacy) descriptor, specific to face models")
    elif d in FACE_DIMS:
        s.add(0.30, f"{d} dimensions: the size of {', '.join(FACE_DIMS[d])} embeddings")
    elif d in OTHER_FACE_DIMS and d not in TEXT_DIMS:
        s.add(0.10, f"{d} dimensions: used by some face models and reduced templates")
    elif d in TEXT_DIMS:
        s.add(-0.20, f"{d} dimensions: the size of text/sentence embeddings, not faces")
    else:
        s.add(0.0, f"{d} dimensions: not a known face-embedding size")


def _score_values(s: _Score, finite: np.ndarray, integers: bool) -> None:
    d = finite.shape[1]
    if integers or bool(np.all(finite == np.round(finite))):
        s.limit(0.3, "integer values: counts, codes or pixels, not a network's output")
    negative = float((finite < 0).mean())
    if negative == 0.0 and d in (2622, 4096):
        # VGG-Face/DeepFace descriptors taken after a ReLU are non-negative: names decide.
        s.add(-0.15, "no negative value: ReLU features (VGG-Face) or pixels/histograms")
    elif negative == 0.0:
        s.limit(0.3, "no negative value: pixels, histograms or SIFT-like descriptors")
    elif 0.25 <= negative <= 0.75:
        s.add(0.15, "signed values centred near zero, as embeddings are")
    lag1 = _neighbour_correlation(finite)
    if lag1 > 0.5:
        s.limit(0.3, f"neighbouring components correlate ({lag1:.2f}): a signal or image")


def _score_context(s: _Score, vs: VectorSet, app: str | None, beside_images: bool) -> None:
    words = _words((*vs.names, vs.where))
    face_named = _face_named(words)
    if face_named:
        s.add(0.30, "named like face templates (face/encoding/descriptor…)")
    elif words & _GENERIC_WORDS:
        s.add(0.10, "named like embeddings (embedding/vector/feature…)")
    if words & _OTHER_WORDS and not face_named:
        s.add(-0.30, "named like another kind of vector (text, audio, SIFT, pixels…)")
    if vs.labels and vs.labels == vs.count:
        s.add(0.15, f"one label per vector ({vs.labels}): a recognition gallery")
    elif words & _PERSON_WORDS:
        s.add(0.05, "stored beside people/identity names")
    if app:
        s.add(0.35, f"the layout of {app}, an application that stores face templates")
    if beside_images:
        s.add(0.10, "face images are stored beside them")


def _neighbour_correlation(x: np.ndarray) -> float:
    """Mean |correlation| between adjacent components: pixels, spectra and waves correlate
    (positively, or negatively when they oscillate fast); an embedding's do not (~0.07)."""
    rows = x[:64]
    a, b = rows[:, :-1], rows[:, 1:]
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    ok = den > 0
    if not ok.any():
        return 1.0  # constant vectors: certainly not embeddings
    return float(np.abs((a * b).sum(axis=1)[ok] / den[ok]).mean())


def _norm_family(d: int, norms: np.ndarray) -> tuple[str | None, str | None]:
    mean = float(norms.mean())
    spread = float(norms.std() / mean) if mean > 0 else math.inf
    if d == 128 and 1.15 <= mean <= 1.85 and spread < 0.12:
        return "dlib/face_recognition", (
            f"norms {mean:.2f} +/- {spread * 100:.0f}%: dlib's descriptors (face_recognition)"
        )
    if abs(mean - 1.0) < 0.01 and spread < 0.01:
        return None, "L2-normalised (norm 1), as most face models' outputs are"
    return None, None


def _structure(x: np.ndarray) -> tuple[float, str] | None:
    """Set-level evidence (from 4 vectors; in full from 8), scaled so noise scores ~1:

    - shared direction: |mean of the unit vectors| x sqrt(n) (noise ~1; dlib's >= 2.6 from
      8 vectors, because every face's descriptor shares a large common component);
    - unequal variances: the spread (CV) of per-dimension variances over what sampling
      alone gives, sqrt(2 / (n - 1)) (noise ~1; dlib's >= 1.5).
    """
    n = x.shape[0]
    if n < 4:
        return None
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    shared = float(np.linalg.norm(unit.mean(axis=0))) * math.sqrt(n)
    if n < 8:  # too few for variances: the shared direction alone, more cautiously
        if shared > 2.0:
            return 0.10, f"a shared direction ({shared:.1f}; noise gives ~1), as models give"
        if shared < 1.3:
            return -0.15, f"no shared direction ({shared:.1f}): like random noise"
        return None
    var = x.var(axis=0, ddof=1)
    mean_var = float(var.mean())
    spread = float(var.std() / mean_var) / math.sqrt(2 / (n - 1)) if mean_var > 0 else 0.0
    if shared > 2.2 or spread > 1.4:
        return 0.15, (
            f"structured like a trained model's output (shared direction {shared:.1f}, "
            f"variance spread {spread:.1f}; noise gives ~1)"
        )
    if shared < 1.5 and spread < 1.25:
        return -0.25, (
            f"isotropic (shared direction {shared:.1f}, variance spread {spread:.1f}): "
            "random noise, not a model's output"
        )
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
