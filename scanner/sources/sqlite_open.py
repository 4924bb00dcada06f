"""Opening a SQLite database without changing a byte of it (../shared/docs/HOSTILE.md).

Opening is where SQLite writes: a plain `connect()` checkpoints a leftover `-wal` into the
main file and deletes it, `mode=ro` still creates or rewrites `-shm`, and `immutable=1`
misses rows that exist only in the `-wal` and reads uncommitted pages when a hot rollback
journal lies beside the file. So:

- if any of `-wal`, `-journal`, `-shm` exists, the database and its `-wal`/`-journal` are
  copied into a private temporary folder and the *copy* is opened (SQLite replays the WAL and
  rolls back the hot journal there, exactly as the application would see it); the `-shm` is
  not copied: it is a cache of the `-wal` index, which SQLite rebuilds from the `-wal`;
- otherwise the file is opened through a quoted read-only URI (a `#` or `?` in a file name
  would otherwise end the path and drop `mode=ro`); a database in WAL mode with no sidecar is
  opened `immutable` as well, because `mode=ro` would create `-wal` and `-shm` beside it —
  with no `-wal` and no journal there is nothing that `immutable` could miss;
- always `trusted_schema=OFF`, `query_only=ON`, `cell_size_check=ON`, a progress handler as
  the statement deadline and `SQLITE_LIMIT_LENGTH` just above the value limit, so a value
  that was not meant to be fetched fails fast instead of being allocated.

The access time of the file may change: SQLite opens it itself, without O_NOATIME.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import tempfile
import urllib.parse
from collections.abc import Callable
from typing import Any, cast

from scanner.sources.filesystem import open_noatime

SIDECARS = ("-wal", "-journal", "-shm")
MAGIC = b"SQLite format 3\x00"


class NotSqlite(Exception):
    """The path is not a regular file holding a SQLite database."""


def path_from_uri(uri: str) -> str:
    """`sqlite:///abs/x.db` (or `sqlite:////abs/x.db`) -> `/abs/x.db`, taken literally: a `#`
    or `?` is part of the file name. `sqlite://rel.db` is resolved against the cwd."""
    rest = uri.split("://", 1)[1]
    if rest.startswith("/"):
        return "/" + rest.lstrip("/")
    return os.path.abspath(rest)


def open_bytes(data: bytes) -> sqlite3.Connection:
    """An in-memory private copy of a database image (an archive member; Python >= 3.11)."""
    image = bytearray(data)
    if image[18:20] == b"\x02\x02":  # WAL mode: an in-memory image must say legacy mode
        image[18:20] = b"\x01\x01"
    conn = sqlite3.connect(":memory:", isolation_level=None)
    cast(Any, conn).deserialize(bytes(image))
    return conn


def open_path(path: str) -> tuple[sqlite3.Connection, str | None, list[str]]:
    """The connection, the private folder to delete afterwards (None: opened in place), and
    the sidecars that were present. A missing file raises FileNotFoundError: nothing is
    ever created."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotSqlite("not a regular file")
    header = _read_head(path)
    if not header.startswith(MAGIC):
        raise NotSqlite("not a SQLite database (no SQLite header)")
    present = [s for s in SIDECARS if os.path.lexists(path + s)]
    if present:
        tmp = tempfile.mkdtemp(prefix="faceaudit-sqlite-")
        try:
            copy = os.path.join(tmp, "db")
            _copy(path, copy)
            for suffix in present:
                if suffix != "-shm":
                    _copy(path + suffix, copy + suffix)
            # Read-write on our private copy: replaying the WAL or rolling back a hot journal
            # needs it. query_only is set before any statement runs.
            return sqlite3.connect(copy, isolation_level=None), tmp, present
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    if header[18:20] == b"\x02\x02":
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, isolation_level=None), None, []


def configure(conn: sqlite3.Connection, max_length: int, interrupt: Callable[[], int]) -> None:
    """The read-only, deadline-bound settings every connection gets before its first read."""
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute("PRAGMA query_only=ON")
    conn.execute("PRAGMA cell_size_check=ON")
    if hasattr(conn, "setlimit"):  # Python >= 3.11
        cast(Any, conn).setlimit(cast(Any, sqlite3).SQLITE_LIMIT_LENGTH, max_length)
    conn.set_progress_handler(interrupt, 1000)


def _read_head(path: str) -> bytes:
    fd, _ = open_noatime(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.pread(fd, 100, 0)
    finally:
        os.close(fd)


def _copy(src: str, dst: str) -> None:
    """Copy without following a link planted in place of a sidecar, preserving atime."""
    fd, _ = open_noatime(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{src} is not a regular file")
        out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while chunk := os.read(fd, 1 << 20):
                os.write(out, chunk)
        finally:
            os.close(out)
    finally:
        os.close(fd)
