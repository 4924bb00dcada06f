"""The six embedding-file detectors through the real engine: positives in every layout, hard
negatives, hostile files, missing optional libraries, and the development set.

Vectors are computed at test time (real dlib descriptors of real photos; model-like vectors
of the other face-model sizes) and written into temporary folders; nothing is kept. Failure
messages name files, layouts and confidences, never values.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from embedding_samples import (
    LAYOUTS,
    NEGATIVE_KINDS,
    classifier_gaps,
    hard_negatives,
    positives,
    write,
)
from helpers import snapshot

from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, LoadedItem, ModelCache
from scanner.detectors.embedding_hdf5 import EmbeddingHdf5Detector
from scanner.detectors.embedding_table import EmbeddingTableDetector
from scanner.model import EvidenceKind, FileLocation, ProblemReason, ScanResult
from scanner.sniff import sniff

pytestmark = pytest.mark.filterwarnings("ignore:Feather V1 files are deprecated")

Scan = Callable[..., ScanResult]
THRESHOLD = DetectionSettings().embedding_threshold
DETECTOR_OF = {
    "npy": {"embedding.npy"},
    "json": {"embedding.json"},
    "csv": {"embedding.csv", "embedding.text"},  # quoted JSON lists defeat the CSV sniffer
    "tsv": {"embedding.csv"},
    "yaml": {"embedding.text"},
    "yml": {"embedding.text"},
    "sql": {"embedding.text", "embedding.csv"},  # some dumps sniff as CSV: both search text
    "parquet": {"embedding.parquet"},
    "arrow": {"embedding.parquet"},
    "feather": {"embedding.parquet"},
    "h5": {"embedding.hdf5"},
    "npz": {"embedding.npy"},
    "jsonl": {"embedding.json"},
}


def embeddings(result: ScanResult) -> dict[str, list[tuple[str, float, int, int]]]:
    """Per file (archive members folded into their file): (detector, confidence, count, dims)."""
    out: dict[str, list[tuple[str, float, int, int]]] = {}
    for item in result.items:
        for e in item.evidence:
            if e.kind is EvidenceKind.FACE_EMBEDDING:
                row = (e.detector, e.confidence, int(e.detail("count") or 0),
                       int(e.detail("dims") or 0))  # fmt: skip
                out.setdefault(item.location.path, []).append(row)
    return out


@pytest.fixture(scope="module")
def positive_sets() -> dict[str, np.ndarray]:
    return positives()


@pytest.fixture(scope="module")
def negative_sets() -> dict[str, np.ndarray]:
    sets = hard_negatives()
    assert tuple(sets) == NEGATIVE_KINDS
    return sets


# -- positives ------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    "kind", ["dlib_128", "dlib_128_one", "arcface_512", "vggface_2622", "vggface_4096"]
)
def test_positive(
    kind: str, layout: str, positive_sets: dict[str, np.ndarray], tmp_path: Path, scan: Scan
) -> None:
    array = positive_sets[kind]
    path = write(layout, array, tmp_path)
    before = snapshot(tmp_path)
    result = scan(tmp_path)
    assert snapshot(tmp_path) == before
    found = embeddings(result).get(str(path), [])
    assert found, f"{kind} as {layout}: not found ({[p.detail for p in result.problems]})"
    detector, confidence, count, dims = max(found, key=lambda f: f[1])
    assert detector in DETECTOR_OF[path.suffix.lstrip(".")]
    assert confidence >= THRESHOLD and dims == array.shape[1]
    assert count == len(array), f"{kind} as {layout}: count {count} for {len(array)} vectors"


def test_recall_and_no_values_in_the_report(
    positive_sets: dict[str, np.ndarray], tmp_path: Path, scan: Scan
) -> None:
    """Every positive in every layout in one tree, through the worker pool; the result
    carries counts and shapes but not one value of any vector."""
    written = {
        (kind, layout): write(layout, array, (tmp_path / kind / layout).resolve())
        for kind, array in positive_sets.items()
        for layout in LAYOUTS
        if (tmp_path / kind / layout).mkdir(parents=True) is None
    }
    result = scan(tmp_path, workers=2)
    found = embeddings(result)
    missed = sorted(f"{k}/{lay}" for (k, lay), p in written.items() if str(p) not in found)
    recall = 1 - len(missed) / len(written)
    print(f"\nembedding files, positives: recall {recall:.3f} ({len(written) - len(missed)}"
          f"/{len(written)}); missed: {missed}")  # fmt: skip
    assert recall == 1.0, missed
    text = repr(result)
    leaked = [
        kind
        for kind, array in positive_sets.items()
        for value in array[:3, :4].ravel()
        if f"{value:.6f}"[:-1] in text
    ]
    assert leaked == [], f"vector values of {sorted(set(leaked))} appear in the scan result"


# -- hard negatives -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_hard_negative(
    kind: str, negative_sets: dict[str, np.ndarray], tmp_path: Path, scan: Scan
) -> None:
    """One kind of non-face vectors in every layout: nothing reaches the threshold."""
    for layout in LAYOUTS:
        (tmp_path / layout).mkdir()
        write(layout, negative_sets[kind], tmp_path / layout)
    found = embeddings(scan(tmp_path))
    flagged = {Path(p).parent.name: max(c for _, c, _, _ in f) for p, f in found.items()}
    assert flagged == {}, f"{kind} flagged as face templates in layouts {flagged}"


@pytest.mark.parametrize("kind", list(classifier_gaps()))
def test_small_noise_sets(kind: str, tmp_path: Path, scan: Scan) -> None:
    """Small sets of noise (fewer than 20 vectors, or normalised 512-d): once missed by the
    classifier, now told apart by its scaled shared-direction and variance-spread tests."""
    for layout in LAYOUTS:
        (tmp_path / layout).mkdir()
        write(layout, classifier_gaps()[kind], tmp_path / layout)
    flagged = sorted(Path(p).parent.name for p in embeddings(scan(tmp_path)))
    assert flagged == [], f"{kind} flagged in {len(flagged)} layouts"


def test_false_positive_rate(tmp_path: Path, scan: Scan) -> None:
    """A second random draw of every hard negative (small noise sets included), in every
    layout, through the pool: at most 2% may be reported as face templates."""
    files = []
    for kind, array in {**hard_negatives(seed=8), **classifier_gaps(seed=8)}.items():
        for layout in LAYOUTS:
            folder = tmp_path / kind / layout
            folder.mkdir(parents=True)
            files.append(write(layout, array, folder))
    found = embeddings(scan(tmp_path, workers=2))
    flagged = sorted(str(Path(p).relative_to(tmp_path).parent) for p in found)
    rate = len(flagged) / len(files)
    print(f"\nembedding files, hard negatives: {len(flagged)}/{len(files)} flagged "
          f"(false-positive rate {rate:.4f}): {flagged}")  # fmt: skip
    assert rate <= 0.02, flagged


# -- hostile files through the engine -------------------------------------------------------


def npy_header(text: str) -> bytes:
    body = (text.ljust(117) + "\n").encode("latin-1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def test_hostile_files(tmp_path: Path, scan: Scan, positive_sets: dict[str, np.ndarray]) -> None:
    root = tmp_path / "scan"
    root.mkdir()
    canary = tmp_path / "canary"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {canary}",))

    v = positive_sets["dlib_128"]
    descr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }"
    (root / "lying.npy").write_bytes(npy_header(descr % "2147483648, 1024") + b"\0" * 4096)
    (root / "truncated.npy").write_bytes(npy_header(descr % "30, 128") + b"\0" * 1000)
    (root / "huge_header.npy").write_bytes(b"\x93NUMPY\x02\x00" + (2**31).to_bytes(4, "little"))
    objects = npy_header("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }")
    (root / "objects.npy").write_bytes(objects + pickle.dumps([Payload()]))
    (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "bigint.json").write_text('{"n": ' + "7" * 5000 + "}")
    (root / "nan.json").write_text('{"v": [NaN, Infinity, -Infinity]}')
    (root / "field.csv").write_text("a,b\n1,2\n3,4\n" + "x" * 10_000_000 + "\n5,6\n")
    (root / "wide.csv").write_text("a,b\n1,2\n3,4\n" + ",".join(["0.5"] * 2_500_000) + "\n")
    (root / "one_line.txt").write_text(",".join(["0.5"] * 2_500_000))
    parquet = write("parquet_list", v, tmp_path)
    (root / "cut.parquet").write_bytes(parquet.read_bytes()[:-30])
    (root / "cut.h5").write_bytes(write("hdf5_2d", v, tmp_path).read_bytes()[:900])
    before = snapshot(root)
    started = time.monotonic()
    result = scan(root)
    elapsed = time.monotonic() - started
    assert snapshot(root) == before
    assert not canary.exists()
    assert elapsed < 60, f"{elapsed:.0f}s"
    problems = {Path(p.location.path).name: p for p in result.problems}
    expected = {
        "lying.npy": (ProblemReason.DECODE_ERROR, "8796093022208 bytes of data"),
        "truncated.npy": (ProblemReason.DECODE_ERROR, "truncated or lying header"),
        "huge_header.npy": (ProblemReason.DECODE_ERROR, "header length 2147483648"),
        "objects.npy": (ProblemReason.UNSUPPORTED_CONTAINER, "allow_pickle=False"),
        "deep.json": (ProblemReason.DECODE_ERROR, "nested 100000 levels deep"),
        "bigint.json": (ProblemReason.DECODE_ERROR, "5000 digits"),
        "nan.json": (ProblemReason.DECODE_ERROR, "NaN is not JSON"),
        "field.csv": (ProblemReason.DECODE_ERROR, "field larger than field limit"),
        "cut.parquet": (ProblemReason.DECODE_ERROR, "Parquet unreadable"),
        "cut.h5": (ProblemReason.DECODE_ERROR, "HDF5 unreadable"),
    }
    for name, (reason, words) in expected.items():
        assert name in problems, f"{name}: no problem reported"
        assert problems[name].reason is reason and words in problems[name].detail, name
    assert result.incomplete and embeddings(result) == {}
    # The object array's body is judged like any pickle: it would run os.system when loaded.
    (code,) = [
        e for i in result.items if i.location.path.endswith("objects.npy") for e in i.evidence
    ]
    assert code.kind is EvidenceKind.EXECUTABLE_CODE and code.detector == "security.pickle"
    assert "posix.system" in str(code.detail("code_execution"))
    assert code.detail("container") == "body of this object array"


def test_npz_zip_bomb_stopped_by_archive_limits(tmp_path: Path, scan: Scan) -> None:
    """A .npz whose member holds 1 GiB of float32 zeros in ~1 MiB of deflate."""
    header = npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (2097152, 128), }")
    zeros = bytes(1 << 24)
    with (
        zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("arr_0.npy", "w", force_zip64=True) as member,
    ):
        member.write(header)
        for _ in range(64):
            member.write(zeros)
    assert (tmp_path / "bomb.npz").stat().st_size < 2 << 20
    before = snapshot(tmp_path)
    started = time.monotonic()
    result = scan(tmp_path)
    assert time.monotonic() - started < 20
    assert snapshot(tmp_path) == before
    (problem,) = result.problems
    assert problem.reason is ProblemReason.ARCHIVE_RATIO and problem.location.members
    assert result.incomplete and embeddings(result) == {}


def test_hdf5_external_data_through_the_engine(
    tmp_path: Path, scan: Scan, positive_sets: dict[str, np.ndarray]
) -> None:
    import h5py

    root, outside = tmp_path / "scan", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    canary = outside / "canary.h5"
    with h5py.File(canary, "w") as f:
        f["embeddings"] = positive_sets["dlib_128"]
    content = canary.read_bytes()
    st = canary.stat()
    os.utime(canary, ns=(st.st_mtime_ns - 864_000 * 10**9, st.st_mtime_ns))
    atime = canary.stat().st_atime_ns
    with h5py.File(root / "index.h5", "w") as f:
        f["faces"] = h5py.ExternalLink(str(canary), "/embeddings")
        f.create_dataset("raw", shape=(4, 128), dtype="<f8",
                         external=[(str(canary), 0, h5py.h5f.UNLIMITED)])  # fmt: skip
    before = snapshot(root)
    result = scan(root)
    assert snapshot(root) == before
    assert canary.stat().st_atime_ns == atime and canary.read_bytes() == content
    problems = sorted((p.detail, p.reason) for p in result.problems)
    assert len(problems) == 2 and all(str(canary) in d for d, _ in problems)
    (raw, raw_reason), (link, link_reason) = problems
    assert "external file(s)" in raw and raw_reason is ProblemReason.UNSUPPORTED_CONTAINER
    assert "external link /faces" in link and link_reason is ProblemReason.SYMLINK_NOT_FOLLOWED
    assert embeddings(result) == {} and result.incomplete  # the raw storage was not read


@pytest.mark.parametrize("layout", ["npy32", "parquet_fixed", "arrow_ipc", "hdf5_2d"])
def test_large_files_are_sampled_from_the_file(layout: str, tmp_path: Path, scan: Scan) -> None:
    """Over the size limit these formats are sent head-only (16 MiB) and sampled in place:
    the footer or the rows beyond the head are read from the file, bounded."""
    from embedding_samples import model_like

    array = model_like(10_000, 512, 11).astype(np.float32)
    path = write(layout, array, tmp_path)
    assert path.stat().st_size > 17 << 20  # beyond the 16 MiB head
    before = snapshot(tmp_path)
    result = scan(tmp_path, limits=Limits(max_file_bytes=1 << 20))
    assert snapshot(tmp_path) == before
    found = embeddings(result)[str(path)]
    assert max(f[1] for f in found) >= THRESHOLD
    assert (10_000, 512) in [f[2:] for f in found] and result.problems == ()


def test_application_named_from_the_path(
    tmp_path: Path, scan: Scan, positive_sets: dict[str, np.ndarray]
) -> None:
    folder = tmp_path / "frigate" / "clips" / "faces" / "ada"
    folder.mkdir(parents=True)
    np.save(folder / "vectors.npy", positive_sets["dlib_128"])
    (item,) = scan(tmp_path).items
    assert item.primary is not None and item.primary.detail("app") == "Frigate"


# -- optional libraries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "detector", "modules", "extra"),
    [
        ("parquet_list", EmbeddingTableDetector(), ("pyarrow", "pyarrow.parquet"), "parquet"),
        ("arrow_ipc", EmbeddingTableDetector(), ("pyarrow", "pyarrow.ipc"), "parquet"),
        ("hdf5_2d", EmbeddingHdf5Detector(), ("h5py",), "hdf5"),
    ],
)
def test_missing_library_is_reported_not_skipped(
    layout: str,
    detector: EmbeddingTableDetector | EmbeddingHdf5Detector,
    modules: tuple[str, ...],
    extra: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    positive_sets: dict[str, np.ndarray],
) -> None:
    path = write(layout, positive_sets["dlib_128"], tmp_path)
    data = path.read_bytes()
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # `import` now fails as if absent
    item = LoadedItem(FileLocation(str(path)), sniff(data[:4096]), data)
    out = detector.detect(item, DetectContext(DetectionSettings(), Limits(), ModelCache()))
    ((reason, detail),) = out.problems
    assert reason is ProblemReason.DETECTOR_UNAVAILABLE
    assert f"pip install 'faceaudit[{extra}]'" in detail and out.evidence == ()


# -- the development set --------------------------------------------------------------------


EMBEDDING_DETECTORS = (
    "embedding.npy", "embedding.json", "embedding.csv", "embedding.text",
    "embedding.parquet", "embedding.hdf5",
)  # fmt: skip


def test_development_set(devset: Path, scan: Scan) -> None:
    """The non-pickle embedding files of the manifest are found; nothing else is flagged."""
    import csv

    with open(devset / "manifest.csv", newline="") as fh:
        wanted = {
            r["path"]
            for r in csv.DictReader(fh)
            if r["kind"] == "embedding_file" and not r["path"].endswith((".pkl", ".pickle"))
        }
    result = scan(devset, workers=2, detectors=EMBEDDING_DETECTORS)
    found = {
        i.location.path.removeprefix(str(devset) + "/"): i
        for i in result.items
        if any(e.kind is EvidenceKind.FACE_EMBEDDING for e in i.evidence)
    }
    for path in sorted(found):
        for e in found[path].evidence:
            print(f"\n{path}: {e.detector} confidence {e.confidence} count {e.detail('count')} "
                  f"dims {e.detail('dims')} where {e.detail('where')}\n  reasons: "
                  + "; ".join(e.reasons))  # fmt: skip
    assert wanted <= set(found), sorted(wanted - set(found))
    assert set(found) == wanted, sorted(set(found) - wanted)
    assert all(p.reason is not ProblemReason.DETECTOR_ERROR for p in result.problems)
