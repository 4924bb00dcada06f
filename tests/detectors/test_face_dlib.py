"""dlib's own detectors (not default): they find a frontal face and report dlib's boxes."""

from __future__ import annotations

import pytest
from helpers import astronaut, encode, no_face

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, LoadedItem, ModelCache
from scanner.detectors.face_dlib import DlibCnnFaceDetector, DlibHogFaceDetector
from scanner.model import FileLocation
from scanner.sniff import sniff

MODELS = ModelCache()


@pytest.mark.parametrize("detector", [DlibHogFaceDetector, DlibCnnFaceDetector])
@pytest.mark.parametrize(("image", "expected"), [("astronaut", 1), ("coffee", 0)])
def test_dlib_detectors(detector: type, image: str, expected: int) -> None:
    im = astronaut() if image == "astronaut" else no_face("coffee.png")
    data = encode(im, "JPEG", quality=92)
    item = LoadedItem(FileLocation(image), sniff(data), data)
    out = detector().detect(item, DetectContext(DetectionSettings(), Limits(), MODELS))
    found = out.evidence[0].faces if out.evidence else 0
    if not expected:
        assert found == 0
        return
    # HOG with one upsample (face_recognition's default) also fires on the suit, lower left
    # of this photo: one of the reasons it is not the default detector.
    assert found >= 1
    ev = out.evidence[0]
    assert ev.detector == detector.id
    box = max(ev.boxes, key=lambda b: b.confidence)
    assert 0.3 < box.x + box.w / 2 < 0.6 and 0.1 < box.y + box.h / 2 < 0.4
