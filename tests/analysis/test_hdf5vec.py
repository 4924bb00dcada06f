"""The HDF5 reader: dataset layouts that hold vectors (2-D, per person, records), bounded
sampling, broken files, and links and storage that point at other files — reported from
metadata, never followed (canaries outside, their content and access time unchanged)."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
from embedding_samples import dlib_descriptors

from scanner.analysis import hdf5vec
from scanner.analysis.vecsets import Findings
from scanner.analysis.vectors import VectorSet
from scanner.detectors.base import LoadedItem
from scanner.model import ContentType, Location, ProblemReason


def h5_item(path: Path) -> LoadedItem:
    return LoadedItem(Location(str(path)), ContentType.HDF5, path.read_bytes())


def by_where(found: Findings) -> dict[str, VectorSet]:
    return {s.where: s for s in found.sets}


def test_hdf5_layouts(tmp_path: Path) -> None:
    vs = dlib_descriptors()
    path = tmp_path / "t.h5"
    records = np.zeros(len(vs), dtype=[("name", "S8"), ("descriptor", "<f4", (128,))])
    records["descriptor"] = vs
    with h5py.File(path, "w") as f:
        f.create_dataset("encodings", data=vs, chunks=(4, 128), compression="gzip")
        f["names"] = np.array([b"p%d" % i for i in range(len(vs))])
        gallery = f.create_group("people")
        for k in range(4):
            gallery.create_group(f"person{k}")["embedding"] = vs[k::4]
        f["records"] = records
        f["stacked"] = vs[:6, None, :]
        f["image"] = np.zeros((64, 64, 3), np.uint8)
        f["loop"] = gallery  # a hard link: the same group twice
        f["alias"] = h5py.SoftLink("/encodings")
    found = hdf5vec.analyse_hdf5(h5_item(path), ("t.h5",))
    sets = by_where(found)
    assert sorted(sets) == ["/encodings", "/loop/*/embedding", "/records/descriptor", "/stacked"]
    n = len(vs)
    assert (sets["/encodings"].count, sets["/encodings"].labels) == (n, n)
    assert (sets["/loop/*/embedding"].count, sets["/loop/*/embedding"].labels) == (n, n)
    assert (sets["/records/descriptor"].labels, sets["/stacked"].count) == (n, 6)
    assert ("hdf5_soft_link", "/alias") in found.notes and found.problems == []


def test_hdf5_huge_chunks_not_sampled(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("v", shape=(100_000, 512), dtype="f4", chunks=(40_000, 512))
    found = hdf5vec.analyse_hdf5(h5_item(path), ())
    ((reason, detail),) = found.problems
    assert reason is ProblemReason.OVERSIZE and "too large to sample" in detail


def test_hdf5_garbage_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f["v"] = dlib_descriptors()
    data = path.read_bytes()
    for broken in (data[:600], data[:8] + b"\x00" * 200):
        path.write_bytes(broken)
        found = hdf5vec.analyse_hdf5(h5_item(path), ())
        assert found.problems and found.problems[0][0] is ProblemReason.DECODE_ERROR


def aged(path: Path) -> int:
    """Set the access time far back (so a read would move it even under relatime)."""
    st = path.stat()
    old = st.st_mtime_ns - 10 * 86_400 * 10**9
    os.utime(path, ns=(old, st.st_mtime_ns))
    return old


def atime_is_tracked(tmp_path: Path) -> bool:
    control = tmp_path / "control"
    control.write_bytes(b"x" * 100)
    before = aged(control)
    control.read_bytes()
    return control.stat().st_atime_ns != before


def test_hdf5_links_and_storage_elsewhere_reported_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    canary_h5 = outside / "canary.h5"
    with h5py.File(canary_h5, "w") as f:
        f["data"] = dlib_descriptors()
    canary_raw = outside / "canary.raw"
    canary_raw.write_bytes(dlib_descriptors()[:4].astype("<f8").tobytes())
    path = tmp_path / "scan" / "t.h5"
    path.parent.mkdir()
    with h5py.File(path, "w") as f:
        f["linked"] = h5py.ExternalLink(str(canary_h5), "/data")
        f.create_dataset("external", shape=(4, 128), dtype="<f8",
                         external=[(str(canary_raw), 0, h5py.h5f.UNLIMITED)])  # fmt: skip
        layout = h5py.VirtualLayout(shape=(len(dlib_descriptors()), 128), dtype="f8")
        layout[:] = h5py.VirtualSource(str(canary_h5), "data", shape=layout.shape)
        f.create_virtual_dataset("virtual", layout)
        f["own"] = dlib_descriptors()
    tracked = atime_is_tracked(tmp_path)
    contents = {p: p.read_bytes() for p in (canary_h5, canary_raw)}
    atimes = {p: aged(p) for p in contents}
    found = hdf5vec.analyse_hdf5(h5_item(path), ("t.h5",))
    if tracked:
        for p, atime in atimes.items():
            assert p.stat().st_atime_ns == atime, f"{p.name} was read"
    assert all(p.read_bytes() == content for p, content in contents.items())
    assert [s.where for s in found.sets] == ["/own"]
    problems = sorted((d, r) for r, d in found.problems)
    assert len(problems) == 3
    (raw, raw_reason), (link, link_reason), (vds, vds_reason) = problems
    # the raw bytes have no header: no scan would recognise them, so the scan is incomplete
    assert raw_reason is ProblemReason.UNSUPPORTED_CONTAINER
    assert "external file(s)" in raw and str(canary_raw) in raw
    # links to other HDF5 files: like symbolic links, reported and not followed
    assert link_reason is vds_reason is ProblemReason.SYMLINK_NOT_FOLLOWED
    assert "external link /linked" in link and str(canary_h5) in link
    assert "virtual dataset /virtual" in vds and str(canary_h5) in vds


def test_hdf5_virtual_dataset_within_the_file_is_a_note(tmp_path: Path) -> None:
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        f["own"] = dlib_descriptors()
        layout = h5py.VirtualLayout(shape=(4, 128), dtype="f8")
        layout[:] = h5py.VirtualSource(".", "own", shape=f["own"].shape)[:4]
        f.create_virtual_dataset("view", layout)
    found = hdf5vec.analyse_hdf5(h5_item(path), ())
    assert [s.where for s in found.sets] == ["/own"] and found.problems == []
    assert ("hdf5_virtual_dataset", "/view") in found.notes
