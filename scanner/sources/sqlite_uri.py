"""A SQLite database named by a `sqlite://` URI: one file for a worker, whose columns come
back one by one (scanner.expand opens it as it opens a SQLite file found in a tree), each
compared with its watermark in the state. Also the rows of a register kept in SQLite."""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from scanner.model import DatabaseLocation, FileLocation, Problem, ProblemReason
from scanner.sources import sqlite_open
from scanner.sources.base import SourceContext, SourceItem, SourceStats
from scanner.sources.database import sqlite_ref
from scanner.sources.filesystem import FileRef
from scanner.sources.roots import base_of

STATEMENT_TIMEOUT_S = 30.0  # a register's query
REGISTER_COPY_BYTES = 1024 * 1024 * 1024  # a register with a -wal is read from a private copy


class SqliteUriSource:
    def __init__(self, uri: str, roots: tuple[str, ...] = ()) -> None:
        self.path = sqlite_open.path_from_uri(uri)
        self.stats = SourceStats()
        # a file like any other: named relative to the root that holds it (or its folder)
        self.file = FileLocation(self.path, base_of(self.path, roots, strict=False))

    def items(self) -> Iterator[SourceItem | Problem]:
        where = DatabaseLocation(sqlite_ref(self.path, at=self.file))
        try:
            st = os.stat(self.path)  # a link named explicitly is followed, as for a path
            if not stat.S_ISREG(st.st_mode):
                raise OSError("not a regular file")
        except OSError as exc:
            detail = f"cannot open SQLite database: {exc}"
            yield Problem(where, ProblemReason.DATABASE_UNREADABLE, detail)
            return
        ref = FileRef(
            self.file,
            os.path.realpath(self.path),
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_blocks * 512,
            st.st_ctime_ns,
        )
        yield SourceItem(where, st.st_size, st.st_mtime_ns, ref=ref, database=True)


def open_source(target: str, ctx: SourceContext) -> SqliteUriSource:
    return SqliteUriSource(target, ctx.roots)


def display(target: str) -> str:
    return target  # a SQLite URI holds no credential


def read_rows(target: str, sql: str, base: Path | None = None) -> Sequence[Sequence[Any]]:
    """The rows of one query against a register kept in a SQLite file (configuration, named
    by the policy), opened the same safe way as a scanned database; a relative path is
    relative to `base` (the policy's folder)."""
    rest = target.split("://", 1)[1]
    path = "/" + rest.lstrip("/") if rest.startswith("/") else str((base or Path()) / rest)
    opened = sqlite_open.open_path(path, tempfile.gettempdir(), REGISTER_COPY_BYTES)
    deadline = time.monotonic() + STATEMENT_TIMEOUT_S
    try:
        sqlite_open.configure(opened.conn, 1 << 26, lambda: int(time.monotonic() > deadline))
        return list(opened.conn.execute(sql))
    finally:
        sqlite_open.close(opened)
