"""The face_recognition-compatible API on dlib-bin, compared with face_recognition itself.

face_recognition (installed with --no-deps by `make test`) sets Pillow's
LOAD_TRUNCATED_IMAGES globally when imported, so it runs in a child process and only its
numbers come back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import DEVSET, skimage_data

from scanner.faces import dlib_faces

MODELS = dlib_faces.DlibModels()

REFERENCE = r"""
import json, sys
import face_recognition as fr
out = {}
for path in sys.argv[1:]:
    img = fr.load_image_file(path)
    hog = fr.face_locations(img)
    small = max(img.shape[:2]) <= 700  # the CNN costs seconds per megapixel here
    cnn = fr.face_locations(img, number_of_times_to_upsample=0, model="cnn") if small else None
    out[path] = {
        "hog": hog,
        "hog0": fr.face_locations(img, number_of_times_to_upsample=0),
        "cnn": cnn,
        "landmarks": fr.face_landmarks(img, hog),
        "landmarks_small": fr.face_landmarks(img, hog, model="small"),
        "encodings": [e.tolist() for e in fr.face_encodings(img, hog)],
        "encodings_large": [e.tolist() for e in fr.face_encodings(img, hog, model="large")],
    }
print(json.dumps(out))
"""


def _images() -> list[str]:
    paths = [str(skimage_data() / "astronaut.png")]
    for rel in (
        "face_recognition_examples/tests/test_images/obama.jpg",
        "face_recognition_examples/examples/two_people.jpg",
        "dlib_examples/faces/2008_001322.jpg",
    ):
        if (DEVSET / rel).is_file():
            paths.append(str(DEVSET / rel))
    return paths


def _reference(paths: list[str]) -> dict[str, dict[str, object]]:
    probe = subprocess.run(
        [sys.executable, "-c", "import face_recognition"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(
            "face_recognition is not importable (make test installs it with --no-deps): "
            + probe.stderr.strip().splitlines()[-1]
        )
    run = subprocess.run(
        [sys.executable, "-c", REFERENCE, *paths], capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)  # type: ignore[no-any-return]


def _tuples(value: object) -> object:
    return json.loads(json.dumps(value))


def test_results_identical_to_face_recognition() -> None:
    paths = _images()
    reference = _reference(paths)
    for path in paths:
        ref = reference[path]
        img = dlib_faces.load_image_file(path)
        hog = dlib_faces.face_locations(MODELS, img)
        assert _tuples(hog) == ref["hog"], path
        assert _tuples(dlib_faces.face_locations(MODELS, img, 0)) == ref["hog0"], path
        if ref["cnn"] is not None:
            cnn = dlib_faces.face_locations(MODELS, img, 0, model="cnn")
            assert _tuples(cnn) == ref["cnn"], path
        assert _tuples(dlib_faces.face_landmarks(MODELS, img, hog)) == ref["landmarks"]
        small = dlib_faces.face_landmarks(MODELS, img, hog, model="small")
        assert _tuples(small) == ref["landmarks_small"]
        ours = [e.tolist() for e in dlib_faces.face_encodings(MODELS, img, hog)]
        assert ours == ref["encodings"], path  # bit-identical: same dlib, same input
        large = [e.tolist() for e in dlib_faces.face_encodings(MODELS, img, hog, model="large")]
        assert large == ref["encodings_large"], path
    assert any(reference[p]["hog"] for p in paths), "no face found at all: the test proves nothing"


def test_models_found_without_importing_face_recognition_models() -> None:
    code = (
        "import sys; sys.modules['pkg_resources'] = None\n"  # as with setuptools >= 81
        "from scanner.faces import dlib_faces\n"
        "folder = dlib_faces.models_dir()\n"
        "assert 'face_recognition_models' not in sys.modules\n"
        "m = dlib_faces.DlibModels(); m.cnn; m.encoder; m.pose5\n"
        "print(folder)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip(), "mmod_human_face_detector.dat").is_file()


def test_distance_and_compare() -> None:
    img = dlib_faces.load_image_file(skimage_data() / "astronaut.png")
    enc = dlib_faces.face_encodings(MODELS, img, [(80, 290, 190, 180)])  # the face, by eye
    count, shape = len(enc), enc[0].shape  # never let an assertion print a descriptor
    assert count == 1 and shape == (128,)
    assert dlib_faces.face_distance(enc, enc[0])[0] == pytest.approx(0.0)
    other = enc[0] + 0.1
    assert dlib_faces.face_distance([other], enc[0])[0] == pytest.approx(np.sqrt(128 * 0.01))
    assert dlib_faces.compare_faces([enc[0], other], enc[0]) == [True, False]
    assert dlib_faces.face_distance([], enc[0]).shape == (0,)


def test_invalid_landmark_model() -> None:
    img = dlib_faces.load_image_file(skimage_data() / "astronaut.png")
    with pytest.raises(ValueError, match="Invalid landmarks model"):
        dlib_faces.face_landmarks(MODELS, img, [(50, 150, 150, 50)], model="medium")
