"""Fuzz targets: one function per parser, each taking arbitrary bytes.

A target returns normally for every input. What a parser may raise by contract (NpyError from
the npy header parser, YamlError from the YAML reader, PolicyErrors from the policy loader) is
caught here; anything else escaping is a crash. Targets run in-process and bounded: no file
outside a private temporary folder is read, nothing is executed.

Used by tests/fuzz/test_fuzz.py (hypothesis, bounded, in CI) and bench/fuzz_long.py (long
runs, with atheris when it is installed).
"""

from __future__ import annotations

import atexit
import contextlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from scanner import sniff
from scanner.config import DetectionSettings, Limits
from scanner.detectors.base import DetectContext, LoadedItem, ModelCache
from scanner.detectors.embedding_csv import EmbeddingCsvDetector
from scanner.detectors.embedding_json import EmbeddingJsonDetector
from scanner.detectors.embedding_npy import EmbeddingNpyDetector
from scanner.detectors.embedding_pickle import EmbeddingPickleDetector, PickleImportsDetector
from scanner.detectors.embedding_text import EmbeddingTextDetector
from scanner.embeddings import jsonvec, npy, textvec
from scanner.embeddings.pickles import scan as pickle_scan
from scanner.embeddings.pickles.search import VectorSearch
from scanner.model import ContentType, FileLocation, Problem
from scanner.policy import yamlsource
from scanner.policy.loader import PolicyErrors, load_policy
from scanner.sources.archive import ArchiveWalker, Member
from scanner.sources.pdf import PdfWalker
from scanner.sources.zip_index import read_index
from scanner.sources.zip_members import ZipMembers

MiB = 1024 * 1024
# Small limits: a fuzzed archive must hit its bounds quickly, not decompress a gigabyte.
ARCHIVE_LIMITS = Limits(
    max_file_bytes=4 * MiB,
    archive_max_depth=3,
    archive_max_entries=200,
    archive_max_total_bytes=8 * MiB,
    archive_max_ratio=100.0,
)
CTX = DetectContext(DetectionSettings(), Limits(), ModelCache())
NAMES = ("face_encodings.bin",)


def _item(data: bytes, ct: ContentType, name: str) -> LoadedItem:
    return LoadedItem(FileLocation(f"fuzz/{name}"), ct, data)


def pickle_analyser(data: bytes) -> None:
    """The opcode walker, the vector search over what it rebuilt, and both pickle detectors."""
    analysis = pickle_scan.analyse(data, max_ops=100_000)
    repr(analysis)
    for vs in VectorSearch([*analysis.roots, *analysis.extras], context=NAMES).sets():
        assert vs.sample.ndim == 2
    item = _item(data, ContentType.PICKLE, "encodings.pickle")
    EmbeddingPickleDetector().detect(item, CTX)
    PickleImportsDetector().detect(item, CTX)


def npy_header(data: bytes) -> None:
    """The strict header parser, then the whole `.npy` reader through its detector."""
    try:
        header = npy.read_header(data[: npy.MAX_HEADER + 12])
    except npy.NpyError:
        pass
    else:
        assert header.data_offset <= npy.MAX_HEADER + 12
    npy.analyse(_item(data, ContentType.NPY, "x.npy"), NAMES, "x")
    EmbeddingNpyDetector().detect(_item(data, ContentType.NPY, "encodings.npy"), CTX)


def json_vectors(data: bytes) -> None:
    jsonvec.analyse_json(data, NAMES)
    EmbeddingJsonDetector().detect(_item(data, ContentType.JSON, "faces.json"), CTX)


def csv_vectors(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    textvec.analyse_csv(text, NAMES)
    EmbeddingCsvDetector().detect(_item(data, ContentType.CSV, "faces.csv"), CTX)


def text_vectors(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    textvec.analyse_text(text, NAMES)
    textvec.cell_vector(text)
    textvec.parse_number_list(text)
    EmbeddingTextDetector().detect(_item(data, ContentType.TEXT, "dump.sql"), CTX)


def content_sniffing(data: bytes) -> None:
    ct = sniff.sniff(data[: sniff.HEAD_BYTES])
    assert isinstance(ct, ContentType)
    assert sniff.sniff(bytes(data[: sniff.HEAD_BYTES])) is ct  # a pure function of the head
    sniff.name_claims_image(data.decode("utf-8", "replace"))


_ARCHIVE_TYPES = (
    ContentType.ZIP,
    ContentType.TAR,
    ContentType.GZIP,
    ContentType.BZIP2,
    ContentType.XZ,
    ContentType.ZLIB,
)


def archive_walker(data: bytes) -> None:
    """The walker on the bytes as sniffed, and as every archive type (a lying signature)."""
    sniffed = sniff.sniff(data[: sniff.HEAD_BYTES])
    kinds = [sniffed] if sniffed in _ARCHIVE_TYPES else []
    kinds += [ct for ct in _ARCHIVE_TYPES if ct is not sniffed]
    for ct in kinds:
        walker = ArchiveWalker(ARCHIVE_LIMITS)
        for entry in walker.expand(FileLocation("fuzz.bin"), io.BytesIO(data), ct):
            assert isinstance(entry, (Member, Problem)), entry
            if isinstance(entry, Member):
                assert len(entry.data) <= ARCHIVE_LIMITS.max_file_bytes


def pdf_walker(data: bytes) -> None:
    """The PDF walker: only members and problems, never an exception, never a member past
    the limits (pypdf's parser underneath meets every mutation)."""
    walker = PdfWalker(ARCHIVE_LIMITS)
    for entry in walker.expand(FileLocation("fuzz.pdf"), data):
        assert isinstance(entry, (Member, Problem)), entry
        if isinstance(entry, Member):
            assert len(entry.data) <= ARCHIVE_LIMITS.max_file_bytes
    assert walker.counts.pages_examined <= ARCHIVE_LIMITS.archive_max_entries


ZIP_ENTRIES = 20


def zip_index(data: bytes) -> None:
    """The bounded zip index: zipfile.BadZipFile is its only error; it never holds more
    than the records allowed nor an entry outside the archive; zipfile then opens the
    members from it (what reading them raises is the walker's business: `archive`)."""
    stream = io.BytesIO(data)
    try:
        index = read_index(stream, ZIP_ENTRIES, max_entry_meta=512, max_total_meta=4096)
    except zipfile.BadZipFile:
        return
    assert len(index.entries) <= ZIP_ENTRIES
    assert index.file_size == len(data)
    assert index.directory_start <= len(data)
    assert all(e.header_offset >= 0 and e.data_end <= index.directory_start for e in index.entries)
    assert sum(len(e.stored_name) for e in index.entries) <= 4096
    with ZipMembers(stream, index) as members:
        for entry in index.entries:
            with contextlib.suppress(Exception), members.open(entry) as fh:
                fh.read(4096)


_POLICY_DIRS: list[Path] = []  # one private folder per process, made on first use


def _policy_dir() -> Path:
    if not _POLICY_DIRS or not _POLICY_DIRS[0].is_dir():
        _POLICY_DIRS[:] = [Path(tempfile.mkdtemp(prefix="faceaudit-fuzz-policy-"))]
        atexit.register(shutil.rmtree, _POLICY_DIRS[0], True)
    return _POLICY_DIRS[0]


def policy_loader(data: bytes) -> None:
    """The YAML reader (only YamlError) and the whole loader on a file (only PolicyErrors)."""
    text = data.decode("utf-8", "replace")
    with contextlib.suppress(yamlsource.YamlError):
        yamlsource.parse(text)
    path = _policy_dir() / "policy.yaml"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        load_policy(path)
    except PolicyErrors as exc:
        assert exc.errors
        for error in exc.errors:
            str(error)


HARNESSES: dict[str, Callable[[bytes], None]] = {
    "pickle": pickle_analyser,
    "npy": npy_header,
    "json": json_vectors,
    "csv": csv_vectors,
    "text": text_vectors,
    "sniff": content_sniffing,
    "archive": archive_walker,
    "zip_index": zip_index,
    "policy": policy_loader,
    "pdf": pdf_walker,
}
