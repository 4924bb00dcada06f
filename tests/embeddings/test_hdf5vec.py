"""The HDF5 reader: dataset layouts that hold vectors (2-D, per person, records), bounded
sampling, broken files, and links and storage that point at other files — reported from
metadata, never followed (canaries outside, their content and access time unchanged)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from embedding_samples import dlib_descriptors

from scanner.detectors.base import LoadedItem
from scanner.embeddings import hdf5vec
from scanner.embeddings.vecsets import Findings
from scanner.embeddings.vectors import VectorSet
from scanner.model import ContentType, FileLocation, ProblemReason


def h5_item(path: Path) -> LoadedItem:
    return LoadedItem(FileLocation(str(path)), ContentType.HDF5, path.read_bytes())


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


# -- filter plugins: native code a file would choose ----------------------------------------

PLANTED_PLUGIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
__attribute__((constructor)) static void planted(void) {
    const char *p = getenv("FACEAUDIT_CANARY");
    if (p) { FILE *f = fopen(p, "w"); if (f) fclose(f); }
}
static size_t passthrough(unsigned flags, size_t n, const unsigned v[], size_t nbytes,
                          size_t *buf_size, void **buf) { return nbytes; }
static const struct { int version; int id; unsigned enc; unsigned dec; const char *name;
    void *can_apply; void *set_local; void *filter; } cls =
    {1, 32001, 1, 1, "planted", NULL, NULL, (void *)passthrough};
int H5PLget_plugin_type(void) { return 0; }
const void *H5PLget_plugin_info(void) { return &cls; }
"""


def test_a_filter_plugin_on_the_search_path_is_never_loaded(tmp_path: Path) -> None:
    """A dataset compressed with filter 32001, and a library for that filter on HDF5's plugin
    path whose loading creates a canary: plain h5py loads it (the control); a scan does not,
    and reports the dataset unreadable."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the planted filter plugin")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (tmp_path / "planted.c").write_text(PLANTED_PLUGIN)
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            str(plugins / "libplanted.so"),
            str(tmp_path / "planted.c"),
        ],
        check=True,
    )
    data = tmp_path / "data"
    data.mkdir()
    h5 = data / "encodings.h5"
    env = {**os.environ, "HDF5_PLUGIN_PATH": str(plugins)}
    write = (
        "import h5py, numpy as np, sys\n"
        "with h5py.File(sys.argv[1], 'w') as f:\n"
        "    f.create_dataset('enc', data=np.ones((8, 128), 'f4'), chunks=(4, 128),"
        " compression=32001)\n"
    )
    subprocess.run([sys.executable, "-c", write, str(h5)], check=True, env=env)
    canary = tmp_path / "canary"
    env["FACEAUDIT_CANARY"] = str(canary)
    read = "import h5py, sys\nh5py.File(sys.argv[1])['enc'][:1]\n"
    subprocess.run([sys.executable, "-c", read, str(h5)], check=True, env=env)
    assert canary.exists(), "control: plain h5py should have loaded the planted plugin"
    canary.unlink()
    faceaudit = Path(sys.executable).parent / "faceaudit"
    scan = subprocess.run(
        [str(faceaudit), "scan", str(data), "--no-state", "-j", "1", "-f", "json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert not canary.exists(), "the scan loaded a filter plugin named by the file"
    problems = {p["path"]: p for p in json.loads(scan.stdout)["problems"]}
    assert scan.returncode == 3, scan.stderr
    assert "plugin" in problems[str(h5)]["detail"], problems
