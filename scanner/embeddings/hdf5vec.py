"""Vectors in HDF5 files (the `hdf5` extra: h5py), from the object tree's metadata first.

Every numeric dataset whose last axis has a vector's length is sampled by a hyperslab read
of its first rows. External links, external raw storage and virtual datasets read *other*
files: they are reported from their metadata and never followed, opened or read — the file
itself is opened through `BoundedReader` (h5py's file-object driver), so HDF5 never gets a
path of its own to resolve. Groups hard-linked into themselves are walked once.

A link to another HDF5 file (external link, virtual dataset) is reported like a symbolic link
that is not followed: the target is scanned under its own name when it is in the scanned
tree. External raw storage is different: its bytes have no header, so no scan would ever
recognise them; it is reported as an unsupported container and the scan is incomplete.

HDF5 loads a shared library for a filter a dataset names but the library lacks (a "filter
plugin"), from its plugin search path: a file would choose native code to run. The search
path is emptied before the first file is opened, so such a dataset is unreadable, never a
reason to load code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scanner.embeddings.tables import BoundedReader, optional, read_fault, short
from scanner.embeddings.vecsets import (
    MAX_DIMS,
    MIN_DIMS,
    Collector,
    Findings,
    RandomAccess,
    as_rows,
    is_label_name,
    sample_rows,
)
from scanner.model import ProblemReason

# -- HDF5 ----------------------------------------------------------------------------------

MAX_LINKS = 20_000
MAX_SAMPLED = 2_000  # datasets whose rows are read; the rest are counted from metadata
MAX_CHUNK_BYTES = 64 * 1024 * 1024


def _h5py() -> Any:
    """h5py, with HDF5's filter-plugin search path emptied (idempotent)."""
    h5py = optional("h5py", "hdf5")
    plugins = optional("h5py.h5pl", "hdf5")
    while plugins.size():
        plugins.remove(0)
    return h5py


def analyse_hdf5(src: RandomAccess, names: tuple[str, ...]) -> Findings:
    """Every numeric dataset whose last axis has a vector's length; links never followed."""
    h5py = _h5py()
    found = Findings()
    collector = Collector(names, root="/")
    try:
        with h5py.File(BoundedReader(src), "r") as f:
            walker = _Hdf5Walk(h5py, collector, found)
            walker.group(f, ())
            found.notes += [("hdf5_links", walker.links), ("hdf5_datasets", walker.datasets)]
            if walker.unsampled:
                found.notes.append(("hdf5_datasets_not_sampled", walker.unsampled))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        if read_fault(exc):
            raise
        found.problem(ProblemReason.DECODE_ERROR, f"HDF5 unreadable: {short(exc)}")
    found.sets.extend(collector.vector_sets())
    if collector.overflow:
        found.notes.append(("vectors_not_grouped", collector.overflow))
    return found


class _Hdf5Walk:
    def __init__(self, h5py: Any, out: Collector, found: Findings) -> None:
        self.h5py = h5py
        self.out = out
        self.found = found
        self.seen: set[Any] = set()
        self.links = 0
        self.datasets = 0
        self.sampled = 0
        self.unsampled = 0  # datasets beyond MAX_SAMPLED: counted from their shape only

    def group(self, group: Any, path: tuple[str, ...]) -> None:
        if len(path) > 32:
            return
        info = self.h5py.h5o.get_info(group.id)
        key = (info.fileno, info.addr)
        if key in self.seen:
            return  # a group hard-linked into itself, or twice
        self.seen.add(key)
        datasets: dict[str, Any] = {}
        for name in group:
            self.links += 1
            if self.links > MAX_LINKS:
                self.found.problem(
                    ProblemReason.DECODE_ERROR, f"more than {MAX_LINKS} HDF5 links; rest not read"
                )
                return
            where = "/" + "/".join((*path, name))
            link = group.get(name, getlink=True)
            if isinstance(link, self.h5py.ExternalLink):
                self.found.problem(
                    ProblemReason.SYMLINK_NOT_FOLLOWED,
                    f"HDF5 external link {where} -> {link.filename}:{link.path} "
                    "(another file; reported, not followed)",
                )
            elif isinstance(link, self.h5py.SoftLink):
                self.found.notes.append(("hdf5_soft_link", where))
            elif group.get(name, getclass=True) is self.h5py.Group:
                self.group(group[name], (*path, name))
            elif group.get(name, getclass=True) is self.h5py.Dataset:
                ds = self._open(group, name, where)
                if ds is not None:
                    datasets[name] = ds
        labels = {
            ds.shape[0]
            for n, ds in datasets.items()
            if ds.ndim == 1 and ds.dtype.kind in "SUO" and is_label_name(n)
        }
        for name, ds in datasets.items():
            self.dataset(ds, (*path, name), labels)

    def _open(self, group: Any, name: str, where: str) -> Any:
        """The dataset, unless its data lives in other files (then reported, never read)."""
        dsid = self.h5py.h5d.open(group.id, name.encode())
        dcpl = dsid.get_create_plist()
        if dcpl.get_layout() == self.h5py.h5d.VIRTUAL:
            files = {dcpl.get_virtual_filename(i) for i in range(dcpl.get_virtual_count())}
            if files == {"."}:  # mapped from datasets of this file, which are read as such
                self.found.notes.append(("hdf5_virtual_dataset", where))
                return None
            self.found.problem(
                ProblemReason.SYMLINK_NOT_FOLLOWED,
                f"HDF5 virtual dataset {where} maps {', '.join(sorted(files))[:200]} "
                "(reported, not read)",
            )
            return None
        if dcpl.get_external_count():
            stores = [
                dcpl.get_external(i)[0].decode(errors="replace")
                for i in range(dcpl.get_external_count())
            ]
            self.found.problem(
                ProblemReason.UNSUPPORTED_CONTAINER,
                f"HDF5 dataset {where} stores its data in external file(s) "
                f"{', '.join(stores)[:200]} (reported, not read)",
            )
            return None
        self.datasets += 1
        return self.h5py.Dataset(dsid)

    def dataset(self, ds: Any, path: tuple[str, ...], labels: set[int]) -> None:
        dtype = ds.dtype
        if dtype.names:
            self._compound(ds, path, labels)
            return
        shape = tuple(n for n in ds.shape if n != 1) if ds.shape else ()
        if dtype.kind not in "biuf" or not shape or not MIN_DIMS <= shape[-1] <= MAX_DIMS:
            return
        d = shape[-1]
        count = math.prod(shape[:-1])
        rows = self._sample(ds, d)
        if rows is None:
            return
        values, integers = as_rows(rows.reshape(-1, d))
        self.out.add(
            path,
            values,
            count=count,
            dtype=dtype.name,
            labels=count if count in labels else 0,
            integers=integers,
        )

    def _compound(self, ds: Any, path: tuple[str, ...], labels: set[int]) -> None:
        fields = [
            (n, f[0])
            for n, f in (ds.dtype.fields or {}).items()
            if f[0].subdtype is not None
            and f[0].base.kind in "biuf"
            and MIN_DIMS <= f[0].shape[-1] <= MAX_DIMS
        ]
        if not fields or ds.ndim != 1:
            return
        labelled = any(
            f[0].kind in "SUO" and is_label_name(n) for n, f in (ds.dtype.fields or {}).items()
        )
        rows = self._sample(ds, max(f.shape[-1] for _, f in fields))
        if rows is None:
            return
        for name, fdt in fields:
            values, integers = as_rows(rows[name].reshape(-1, fdt.shape[-1]))
            count = ds.shape[0] * math.prod(fdt.shape[:-1])
            self.out.add(
                (*path, name),
                values,
                count=count,
                dtype=fdt.base.name,
                labels=count if labelled else 0,
                integers=integers,
            )

    def _sample(self, ds: Any, d: int) -> np.ndarray | None:
        """The first vectors of a dataset, by a hyperslab read (never the whole dataset)."""
        itemsize = ds.dtype.itemsize
        if ds.chunks and math.prod(ds.chunks) * itemsize > MAX_CHUNK_BYTES:
            self.found.problem(
                ProblemReason.OVERSIZE,
                f"HDF5 dataset {ds.name}: chunks of {math.prod(ds.chunks) * itemsize} bytes "
                "are too large to sample",
            )
            return None
        if self.sampled >= MAX_SAMPLED:
            self.unsampled += 1
            return np.empty(0, dtype=ds.dtype)
        self.sampled += 1
        want = sample_rows(d)
        if ds.dtype.names or ds.ndim == 1:
            index: Any = slice(0, want) if ds.dtype.names else ()
        elif math.prod(ds.shape[1:]) * itemsize <= MAX_CHUNK_BYTES:  # whole first-axis slabs
            index = slice(0, max(1, math.ceil(want * d / math.prod(ds.shape[1:]))))
        else:  # a huge slab: vectors from the first page only
            index = (*([0] * (ds.ndim - 2)), slice(0, want))
        try:
            return np.asarray(ds[index])
        except (OSError, ValueError, TypeError) as exc:
            if read_fault(exc):
                raise
            self.found.problem(
                ProblemReason.DECODE_ERROR, f"HDF5 dataset {ds.name} unreadable: {short(exc)}"
            )
            return None
