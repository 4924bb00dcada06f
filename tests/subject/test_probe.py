"""Probe photos and descriptors: one clear face is described in memory; anything else is
refused with a message naming the photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import astronaut, encode, no_face
from PIL import Image

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, LoadedItem, ModelCache
from scanner.detectors.face_yunet import YuNetFaceDetector
from scanner.model import ContentType, FaceBox, FileLocation
from scanner.subject.compare import FaceSearch
from scanner.subject.descriptors import describe_boxes
from scanner.subject.probe import ProbeError, Probes, load_probes


def test_a_probe_is_one_128_d_descriptor_with_dlib_norms(probes: Probes) -> None:
    assert probes.descriptors.shape == (1, 128)
    assert probes.photos == 1 and probes.faces_per_photo == (1,)
    assert 1.15 < float(np.linalg.norm(probes.descriptors[0])) < 1.85


def test_reprs_withhold_the_vectors(probes: Probes) -> None:
    search = FaceSearch(probes.descriptors)
    for text in (repr(probes), repr(search), str(search)):
        assert "withheld" in text
        assert f"{probes.descriptors[0][0]:.4f}"[:6] not in text


def test_the_same_face_in_another_format_size_and_turn_is_near(
    tmp_path: Path, probe_vector: np.ndarray
) -> None:
    im = astronaut()
    variants = {
        "small.png": encode(im.resize((256, 256)), "PNG"),
        "big.webp": encode(im.resize((1024, 1024)), "WEBP", quality=90),
        "turned.jpg": encode(im.rotate(90, expand=True), "JPEG", quality=90),
    }
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        other = load_probes([tmp_path / name]).descriptors[0]
        assert float(np.linalg.norm(other - probe_vector)) < 0.3, name


def test_several_photos_give_one_descriptor_each(tmp_path: Path, probe_photo: Path) -> None:
    (tmp_path / "b.png").write_bytes(encode(astronaut().resize((300, 300)), "PNG"))
    probes = load_probes([probe_photo, tmp_path / "b.png"])
    assert probes.descriptors.shape == (2, 128) and probes.photos == 2


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("coffee.jpg", encode(no_face(), "JPEG"), "no face found"),
        ("notes.txt", b"hello, this is not a photo\n", "not an image"),
        ("broken.jpg", encode(astronaut(), "JPEG")[:300], "cannot decode"),
    ],
)
def test_unusable_probes_are_refused_naming_the_photo(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ProbeError, match=message) as info:
        load_probes([tmp_path / name])
    assert name in str(info.value)


def test_two_faces_of_similar_size_are_ambiguous(tmp_path: Path) -> None:
    face = astronaut().crop((120, 0, 380, 260))
    pair = Image.new("RGB", (560, 300), (200, 200, 200))
    pair.paste(face, (10, 20))
    pair.paste(face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (290, 20))
    (tmp_path / "two.jpg").write_bytes(encode(pair, "JPEG", quality=92))
    with pytest.raises(ProbeError, match="faces of similar size"):
        load_probes([tmp_path / "two.jpg"])


def test_a_missing_probe_and_no_probe_at_all(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="cannot read"):
        load_probes([tmp_path / "absent.jpg"])
    with pytest.raises(ProbeError, match="at least one"):
        load_probes([])


def test_a_box_too_small_gives_no_descriptor() -> None:
    data = encode(no_face(), "PNG")
    item = LoadedItem(FileLocation("x.png"), ContentType.PNG, data)
    tiny = FaceBox(x=0.5, y=0.5, w=0.001, h=0.001, confidence=0.9, method="yunet")
    described, failed = describe_boxes(item, [tiny], ModelCache(), Limits().max_pixels)
    assert described == [] and failed == 1


def test_descriptors_of_the_detectors_boxes_match_the_probe(probe_vector: np.ndarray) -> None:
    data = encode(astronaut(), "JPEG", quality=92)
    item = LoadedItem(FileLocation("a.jpg"), ContentType.JPEG, data)
    ctx = DetectContext(DetectionSettings(), Limits(), ModelCache())
    boxes = [b for e in YuNetFaceDetector().detect(item, ctx).evidence for b in e.boxes]
    described, failed = describe_boxes(item, boxes, ctx.models, Limits().max_pixels)
    assert failed == 0 and len(described) == 1
    assert described[0].aligned_by in ("dlib-hog", "mapped")
    assert float(np.linalg.norm(described[0].vector - probe_vector)) < 0.05
