"""The benchmark's bookkeeping (bench/bench_images.py, bench/peers.py): never timed here.

What it counts must be right: which photos face_recognition's command reported, recall, false
positives and per-tier recall on the corpus's truth, and the frontier verdict of target 5.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    try:
        import bench_images
        import peers
        import photo_corpus

        yield bench_images, peers, photo_corpus
    finally:
        sys.path.remove(str(BENCH))


def _corpus(photo_corpus, tmp_path: Path):  # type: ignore[no-untyped-def]
    main = [photo_corpus.Photo(tmp_path / f"face_{i}.jpg", 1, 0) for i in range(4)]
    main += [photo_corpus.Photo(tmp_path / f"noface_{i}.jpg", 0, 0) for i in range(2)]
    small = [
        photo_corpus.Photo(tmp_path / "small" / f"t{t:03d}_{i}.jpg", 1, t)
        for t in photo_corpus.SMALL_TIERS
        for i in range(2)
    ]
    return photo_corpus.Corpus(
        tuple(main), tuple(small), tmp_path, tmp_path / "small", tmp_path, "test"
    )


def test_face_detection_output_names_the_photos_with_a_face(bench, tmp_path: Path) -> None:
    _, peers, _ = bench
    out = (
        f"{tmp_path}/a,b.jpg,10,40,50,5\n"  # a comma in the name
        f"{tmp_path}/a,b.jpg,100,140,150,105\n"  # a second face in the same photo
        f"{tmp_path}/c.jpg,1,2,3,4\n"
        "WARNING: something else on stdout\n"
    )
    assert peers.parse_face_detection(out) == {
        (tmp_path / "a,b.jpg").resolve(),
        (tmp_path / "c.jpg").resolve(),
    }


def test_recall_false_positives_and_tiers_follow_the_truth(bench, tmp_path: Path) -> None:
    bench_images, _, photo_corpus = bench
    corpus = _corpus(photo_corpus, tmp_path)
    low, mid, high = photo_corpus.SMALL_TIERS
    found = {tmp_path / "face_0.jpg", tmp_path / "face_1.jpg", tmp_path / "face_2.jpg"}
    found |= {tmp_path / "noface_1.jpg", tmp_path / "small" / f"t{high:03d}_0.jpg"}
    found |= {tmp_path / "small" / f"t{high:03d}_1.jpg", tmp_path / "small" / f"t{mid:03d}_1.jpg"}
    run = bench_images.Run("x", 2.0, {p.resolve() for p in found}, 0)
    r = bench_images.rates(run, corpus)
    assert (r.hits, r.faces, r.recall) == (3, 4, 0.75)
    assert (r.false_pos, r.empty) == (1, 2)
    assert r.tiers == {low: 0.0, mid: 0.5, high: 1.0}
    assert r.small_recall == pytest.approx(0.5)
    assert r.ips == 3.0  # six main photos in two seconds


def test_faceaudit_is_ahead_only_when_no_worse_on_every_axis(bench) -> None:
    bench_images, _, _ = bench

    def rates(ips: float, recall: float, fps: int, small: float):  # type: ignore[no-untyped-def]
        return bench_images.Rates(ips, recall, 0, 32, fps, 16, {}, small)

    fa = rates(10.0, 0.9, 0, 0.5)
    assert bench_images.ahead(fa, rates(1.0, 0.9, 0, 0.5)) == "ahead"
    verdict = bench_images.ahead(fa, rates(1.0, 0.97, 0, 0.5))
    assert verdict.startswith("NOT ahead") and "lower recall" in verdict
    assert "lower small-face recall" in bench_images.ahead(fa, rates(1.0, 0.5, 0, 0.9))
    assert "slower" in bench_images.ahead(fa, rates(20.0, 0.5, 0, 0.1))
    assert "more false positives" in bench_images.ahead(rates(10.0, 1, 2, 1), rates(1, 1, 1, 1))


def test_a_peer_that_could_not_run_leaves_target_5_not_measured(bench) -> None:
    bench_images, _, _ = bench
    assert bench_images.frontier_mark(["ahead", "ahead"], ()) == "MET"
    assert bench_images.frontier_mark(["ahead"], ("CenterFace",)) == "NOT MEASURED"
    assert bench_images.frontier_mark(["ahead", "NOT ahead: slower"], ("Haar",)) == "SHORT"


def test_the_floor_measures_the_products_decode_and_fine_pass(devset: Path, tmp_path: Path) -> None:
    """bench_detect.py --floor runs the product's own decode and fine pass on a 12 MP photo:
    a 4000x3000 JPEG is decoded at 1/4 of its DCT scale (1000x750, ~FINE_TARGET wide), and
    both parts take time."""
    from PIL import Image

    from scanner.detectors.face_yunet import FINE_TARGET

    sys.path.insert(0, str(BENCH))
    try:
        import bench_detect
    finally:
        sys.path.remove(str(BENCH))
    source = devset / "actor_recognition/dataset/actors/spiderman/00000000.jpg"
    photo = tmp_path / "noface.jpg"
    with Image.open(source) as im:
        im.convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC).save(photo, quality=90)
    got = bench_detect.floor([photo], repeat=1)
    assert got["photos"] == 1
    assert got["fine_mpx"] == pytest.approx(0.75)
    assert abs(1000 - FINE_TARGET) / FINE_TARGET < 0.05
    assert got["decode_ms"] > 0 and got["fine_ms"] > 0
    assert got["yunet_ms_per_mpx"] == pytest.approx(got["fine_ms"] / got["fine_mpx"])
