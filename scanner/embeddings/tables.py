"""Vectors in Parquet and Arrow/Feather files (HDF5: scanner.embeddings.hdf5vec): metadata
first, rows sampled.

These formats are random access: the schema (or the HDF5 object tree) says where vectors may
be before any row is read, and a sample of rows is enough to classify them. Files arrive
through `BoundedReader`, a file object over the item's bounded reads with a budget of bytes,
so a lying footer or a huge row group cannot make a reader pull in the whole file.

pyarrow and h5py are optional extras; when one is missing `MissingLibrary` says which extra
installs it (`BoundedReader` and `MissingLibrary` serve the HDF5 reader too).
"""

from __future__ import annotations

import collections
import importlib
import io
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from scanner.embeddings.textvec import cell_vector
from scanner.embeddings.vecsets import (
    MAX_DIMS,
    MIN_DIMS,
    Findings,
    RandomAccess,
    as_rows,
    is_label_name,
    sample_rows,
    stem_runs,
)
from scanner.embeddings.vectors import VectorSet, recognise_bytes
from scanner.errors import FaceauditError
from scanner.model import ProblemReason

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

READ_BUDGET = 256 * 1024 * 1024  # bytes a table reader may read from one file
_BLOCK = 256 * 1024
_CACHE_BLOCKS = 64


class MissingLibrary(FaceauditError, ImportError):
    """An optional library is not installed; `hint` says how to install it."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is not installed")
        self.hint = f"{module} is not installed: pip install 'faceaudit[{extra}]'"


def optional(module: str, extra: str) -> Any:
    """Import an optional library (typed Any: pyarrow and h5py ship no type information)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingLibrary(module.split(".", maxsplit=1)[0], extra) from exc


class BoundedReader(io.RawIOBase):
    """A read-only, seekable file over an item's bounded reads, with a total byte budget."""

    def __init__(self, src: RandomAccess, budget: int = READ_BUDGET) -> None:
        super().__init__()
        self.src = src
        self.size = src.full_size
        self.budget = budget
        self.spent = 0
        self.pos = 0
        self._blocks: collections.OrderedDict[int, bytes] = collections.OrderedDict()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self.size - self.pos))
        done = 0
        while done < n:
            index, skip = divmod(self.pos + done, _BLOCK)
            block = self._block(index)[skip:]
            if not block:
                break
            take = min(len(block), n - done)
            view[done : done + take] = block[:take]
            done += take
        self.pos += done
        return done

    def _block(self, index: int) -> bytes:
        block = self._blocks.get(index)
        if block is None:
            self.spent += _BLOCK
            if self.spent > self.budget:
                raise OSError(f"read budget of {self.budget} bytes exhausted")
            block = self.src.read_at(index * _BLOCK, _BLOCK)
            self._blocks[index] = block
            if len(self._blocks) > _CACHE_BLOCKS:
                self._blocks.popitem(last=False)
        return block


# -- Arrow columns (Parquet and Arrow/Feather) ----------------------------------------------


def analyse_parquet(src: RandomAccess, names: tuple[str, ...]) -> Findings:
    pa = optional("pyarrow", "parquet")
    pq = optional("pyarrow.parquet", "parquet")
    found = Findings()
    try:
        # buffer_size without pre_buffer: column chunks are streamed page by page, never read
        # whole (pre_buffer, pyarrow's default, reads each chunk whole first: a 17 MB
        # row group's column for a 2,048-row sample)
        pf = pq.ParquetFile(
            pa.PythonFile(BoundedReader(src), mode="r"), buffer_size=1 << 20, pre_buffer=False
        )
        schema, total = pf.schema_arrow, pf.metadata.num_rows
        found.notes += [("parquet_rows", total), ("parquet_row_groups", pf.num_row_groups)]
        columns = _candidates(pa, schema)
        if not columns or total == 0:
            return found
        want = _want(pa, schema)
        batches = []
        for batch in pf.iter_batches(batch_size=min(want, 1024), columns=columns):
            batches.append(batch)
            want -= batch.num_rows
            if want <= 0:
                break
        sample = pa.Table.from_batches(batches).combine_chunks() if batches else None
    except (OSError, ValueError, pa.ArrowException) as exc:
        if read_fault(exc):
            raise
        found.problem(ProblemReason.DECODE_ERROR, f"Parquet unreadable: {short(exc)}")
        return found
    if sample is not None:
        found.sets.extend(_batch_sets(pa, sample, total, names))
    return found


def analyse_arrow(src: RandomAccess, names: tuple[str, ...]) -> Findings:
    """Arrow IPC files (Feather v2) by record batch; Feather v1 only when read whole."""
    pa = optional("pyarrow", "parquet")
    found = Findings()
    try:
        if src.read_at(0, 4) == b"FEA1":
            feather = optional("pyarrow.feather", "parquet")
            if src.full_size > READ_BUDGET:
                found.problem(ProblemReason.OVERSIZE, "Feather v1 file too large to read whole")
                return found
            with warnings.catch_warnings():  # v1 is deprecated, still found on disks
                warnings.simplefilter("ignore", DeprecationWarning)
                table = feather.read_table(pa.PythonFile(BoundedReader(src), mode="r"))
            batch, total = table, table.num_rows
        else:
            ipc = optional("pyarrow.ipc", "parquet")
            reader = ipc.open_file(pa.PythonFile(BoundedReader(src), mode="r"))
            batches, rows = [], 0
            for i in range(reader.num_record_batches):
                batches.append(reader.get_batch(i))
                rows += batches[-1].num_rows
                if rows >= _want(pa, reader.schema):
                    break
            batch = pa.Table.from_batches(batches).combine_chunks() if batches else None
            total = _arrow_rows(reader, len(batches), rows, found)
        found.notes.append(("arrow_rows", total))
    except (OSError, ValueError, pa.ArrowException) as exc:
        if read_fault(exc):
            raise
        found.problem(ProblemReason.DECODE_ERROR, f"Arrow file unreadable: {short(exc)}")
        return found
    if batch is not None and total:
        found.sets.extend(_batch_sets(pa, batch.slice(0, _want(pa, batch.schema)), total, names))
    return found


MAX_COUNTED_BATCHES = 1024


def _arrow_rows(reader: Any, read: int, rows: int, found: Findings) -> int:
    """Rows in an IPC file: counted from each batch's header when there are few batches,
    else estimated from the batches read (every header is a read of its own)."""
    batches = int(reader.num_record_batches)
    if batches == read:
        return rows
    if batches <= MAX_COUNTED_BATCHES:
        return int(reader.count_rows())
    found.notes.append(("arrow_rows_estimated", True))
    return rows * batches // max(read, 1)


def read_fault(exc: BaseException) -> bool:
    """Whether `exc` is a read the item's reader refused, not the content's fault: the
    package's own OSErrors (the item changed or gone, its read budget spent, an object
    store's range refused), which h5py and pyarrow hand back through their file objects.
    Raised on, for the worker to report as what it is (scanner.worker), never a decode error."""
    return isinstance(exc, FaceauditError) and isinstance(exc, OSError)


def short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _numeric(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_floating(t) or pa.types.is_integer(t))


def _listish(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t))


def _want(pa: Any, schema: Any) -> int:
    """Rows to sample: bounded by the widest vector column (unknown list lengths: 512)."""
    widths = [
        int(f.type.list_size) if pa.types.is_fixed_size_list(f.type) else 512
        for f in schema
        if _listish(pa, f.type)
    ]
    numeric = sum(1 for f in schema if _numeric(pa, f.type))
    return sample_rows(max([*widths, numeric, 1]))


def _candidates(pa: Any, schema: Any) -> list[str]:
    """Columns worth reading: lists of numbers, binaries, strings and numbers."""
    out = []
    for f in schema:
        t = f.type
        if (
            (_listish(pa, t) and _numeric(pa, t.value_type))
            or pa.types.is_binary(t)
            or pa.types.is_large_binary(t)
            or pa.types.is_fixed_size_binary(t)
            or pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or _numeric(pa, t)
        ):
            out.append(f.name)
    return out


def _batch_sets(pa: Any, batch: Any, total: int, names: tuple[str, ...]) -> list[VectorSet]:
    schema = batch.schema
    labels = (
        total
        if any(
            (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
            and is_label_name(f.name)
            and batch.column(i).null_count == 0
            for i, f in enumerate(schema)
        )
        else 0
    )
    out: list[VectorSet] = []
    for i, f in enumerate(schema):
        column = batch.column(i)
        if hasattr(column, "combine_chunks"):  # a table's column: one array
            column = column.combine_chunks()
        found = _column(pa, column, f.type)
        if found is not None:
            rows, dtype, integers = found
            out.append(VectorSet(f.name, rows, total, dtype, (f.name, *names), labels, integers))
    numeric = [_numeric(pa, f.type) for f in schema]
    for run, stem in stem_runs([f.name for f in schema], numeric):
        cols = run
        while cols and pa.types.is_integer(schema.field(cols[0]).type):
            cols = cols[1:]  # an id column before the dimensions
        if not MIN_DIMS <= len(cols) <= MAX_DIMS:
            continue
        matrix = np.stack([batch.column(j).to_numpy(zero_copy_only=False) for j in cols], axis=1)
        rows, integers = as_rows(matrix)
        where = f"{schema.field(cols[0]).name}..{schema.field(cols[-1]).name}"
        out.append(VectorSet(where, rows, total, rows.dtype.name, (stem, *names), labels, integers))
    return out


def _column(pa: Any, col: Any, t: Any) -> tuple[np.ndarray, str, bool] | None:
    col = col.drop_null()
    if len(col) == 0:
        return None
    if _listish(pa, t) and _numeric(pa, t.value_type):
        dtype = np.dtype(t.value_type.to_pandas_dtype())
        if pa.types.is_fixed_size_list(t):
            d = int(t.list_size)
            flat = col.flatten().to_numpy(zero_copy_only=False)
            values = flat[: (len(flat) // d) * d].reshape(-1, d) if d else flat[:0]
        else:
            lengths = col.value_lengths().to_numpy(zero_copy_only=False)
            d = int(np.bincount(lengths).argmax())
            values = np.array([v for v in col.to_pylist() if len(v) == d], dtype=dtype)
        if not MIN_DIMS <= d <= MAX_DIMS:
            return None
        rows, integers = as_rows(values.reshape(-1, d))
        return rows, dtype.name, integers
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        blobs = [recognise_bytes(v) for v in col.to_pylist()]
        return _same_length([(b[0], b[1], False) for b in blobs if b], len(blobs))
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        probe = [cell_vector(v) for v in col.slice(0, 16).to_pylist()]
        if any(p is None for p in probe):
            return None
        hits = [cell_vector(v) for v in col.to_pylist()]
        return _same_length([h for h in hits if h], len(hits))
    return None


def _same_length(
    hits: list[tuple[np.ndarray, str, bool]], tried: int
) -> tuple[np.ndarray, str, bool] | None:
    """Decoded values that agree on one length, when most values decoded."""
    if not hits or len(hits) * 2 < tried:
        return None
    d = collections.Counter(len(h[0]) for h in hits).most_common(1)[0][0]
    same = [h for h in hits if len(h[0]) == d]
    return np.stack([h[0] for h in same]), same[0][1], all(h[2] for h in same)
