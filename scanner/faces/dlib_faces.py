"""dlib with face_recognition's own models, without the `face_recognition` distribution.

`face_recognition` needs the `dlib` sdist (a long cmake build that fails for many users) and
its model package imports `pkg_resources`, which current setuptools no longer ships. Here the
prebuilt `dlib-bin` wheel does the work and the weights are located in the installed
`face_recognition_models` package *without importing it*.

The functions mirror face_recognition's API (same arguments, same results for the same image
and parameters; a test compares them when face_recognition is importable) but take the loaded
models explicitly instead of holding them in module globals.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from scanner.errors import FaceauditError
from scanner.faces.imaging import PIL_FORMATS

Css = tuple[int, int, int, int]  # (top, right, bottom, left), face_recognition's order

MODEL_FILES = {
    "pose68": "shape_predictor_68_face_landmarks.dat",
    "pose5": "shape_predictor_5_face_landmarks.dat",
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}


class ModelsUnavailable(FaceauditError, RuntimeError):
    """dlib or the face_recognition_models weights are not installed."""


def models_dir() -> Path:
    """The weights folder of the installed face_recognition_models, found without import."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelsUnavailable("face-recognition-models is not installed")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    missing = [name for name in MODEL_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise ModelsUnavailable(f"face-recognition-models is missing {', '.join(missing)}")
    return folder


def models_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("face_recognition_models")
    except PackageNotFoundError:
        return "unknown"


@dataclass
class DlibModels:
    """dlib's detectors and face_recognition's weights, each loaded on first use."""

    folder: Path | None = None
    _dlib: Any = field(default=None, init=False, repr=False)

    @property
    def dlib(self) -> Any:
        if self._dlib is None:
            try:
                import dlib
            except ImportError as exc:  # pragma: no cover - a declared dependency
                raise ModelsUnavailable("dlib (dlib-bin) is not installed") from exc
            self._dlib = dlib
        return self._dlib

    def _path(self, key: str) -> str:
        return str((self.folder or models_dir()) / MODEL_FILES[key])

    @cached_property
    def hog(self) -> Any:
        return self.dlib.get_frontal_face_detector()

    @cached_property
    def cnn(self) -> Any:
        return self.dlib.cnn_face_detection_model_v1(self._path("cnn"))

    @cached_property
    def pose68(self) -> Any:
        return self.dlib.shape_predictor(self._path("pose68"))

    @cached_property
    def pose5(self) -> Any:
        return self.dlib.shape_predictor(self._path("pose5"))

    @cached_property
    def encoder(self) -> Any:
        return self.dlib.face_recognition_model_v1(self._path("encoder"))


def load_image_file(file: str | Path | BinaryIO, mode: str = "RGB") -> np.ndarray:
    """face_recognition.load_image_file: the whole image, converted, as an array.

    Raster formats only: an EPS or PDF never reaches Ghostscript, whatever its name says."""
    Image.init()
    formats = sorted({f for fs in PIL_FORMATS.values() for f in fs if f in Image.OPEN})
    im: Image.Image = Image.open(file, formats=formats)
    if mode:
        im = im.convert(mode)
    return np.array(im)


def _rect_to_css(rect: Any) -> Css:
    return rect.top(), rect.right(), rect.bottom(), rect.left()


def _css_to_rect(models: DlibModels, css: Css) -> Any:
    return models.dlib.rectangle(css[3], css[0], css[1], css[2])


def _trim_css_to_bounds(css: Css, shape: tuple[int, ...]) -> Css:
    return max(css[0], 0), min(css[1], shape[1]), min(css[2], shape[0]), max(css[3], 0)


def raw_face_locations(
    models: DlibModels, img: np.ndarray, number_of_times_to_upsample: int = 1, model: str = "hog"
) -> list[Any]:
    if model == "cnn":
        return list(models.cnn(img, number_of_times_to_upsample))
    return list(models.hog(img, number_of_times_to_upsample))


def face_locations(
    models: DlibModels, img: np.ndarray, number_of_times_to_upsample: int = 1, model: str = "hog"
) -> list[Css]:
    """face_recognition.face_locations: boxes in (top, right, bottom, left) order."""
    raw = raw_face_locations(models, img, number_of_times_to_upsample, model)
    if model == "cnn":
        return [_trim_css_to_bounds(_rect_to_css(face.rect), img.shape) for face in raw]
    return [_trim_css_to_bounds(_rect_to_css(face), img.shape) for face in raw]


def _raw_face_landmarks(
    models: DlibModels,
    face_image: np.ndarray,
    face_locations_: list[Css] | None = None,
    model: str = "large",
) -> list[Any]:
    if face_locations_ is None:
        rects = raw_face_locations(models, face_image)
    else:
        rects = [_css_to_rect(models, css) for css in face_locations_]
    predictor = models.pose5 if model == "small" else models.pose68
    return [predictor(face_image, rect) for rect in rects]


def face_landmarks(
    models: DlibModels,
    face_image: np.ndarray,
    face_locations_: list[Css] | None = None,
    model: str = "large",
) -> list[dict[str, list[tuple[int, int]]]]:
    """face_recognition.face_landmarks: named groups of landmark points per face."""
    shapes = _raw_face_landmarks(models, face_image, face_locations_, model)
    points = [[(p.x, p.y) for p in shape.parts()] for shape in shapes]
    if model == "large":
        return [
            {
                "chin": pts[0:17],
                "left_eyebrow": pts[17:22],
                "right_eyebrow": pts[22:27],
                "nose_bridge": pts[27:31],
                "nose_tip": pts[31:36],
                "left_eye": pts[36:42],
                "right_eye": pts[42:48],
                "top_lip": [*pts[48:55], pts[64], pts[63], pts[62], pts[61], pts[60]],
                "bottom_lip": [*pts[54:60], pts[48], pts[60], pts[67], pts[66], pts[65], pts[64]],
            }
            for pts in points
        ]
    if model == "small":
        return [
            {"nose_tip": [pts[4]], "left_eye": pts[2:4], "right_eye": pts[0:2]} for pts in points
        ]
    raise ValueError("Invalid landmarks model type. Supported models are ['small', 'large'].")


def face_encodings(
    models: DlibModels,
    face_image: np.ndarray,
    known_face_locations: list[Css] | None = None,
    num_jitters: int = 1,
    model: str = "small",
) -> list[np.ndarray]:
    """face_recognition.face_encodings: one 128-d descriptor per face (kept in memory only)."""
    shapes = _raw_face_landmarks(models, face_image, known_face_locations, model)
    return [
        np.array(models.encoder.compute_face_descriptor(face_image, shape, num_jitters))
        for shape in shapes
    ]


def face_distance(
    face_encodings_: list[np.ndarray] | np.ndarray, face_to_compare: np.ndarray
) -> np.ndarray:
    """face_recognition.face_distance: Euclidean distances."""
    if len(face_encodings_) == 0:
        return np.empty(0)
    return np.asarray(np.linalg.norm(np.asarray(face_encodings_) - face_to_compare, axis=1))


def compare_faces(
    known_face_encodings: list[np.ndarray] | np.ndarray,
    face_encoding_to_check: np.ndarray,
    tolerance: float = 0.6,
) -> list[bool]:
    """face_recognition.compare_faces: distance within tolerance (0.6 by default)."""
    return [
        bool(d <= tolerance) for d in face_distance(known_face_encodings, face_encoding_to_check)
    ]
