"""Opening a SQLite database without changing a byte of it, or anything else
(../shared/docs/HOSTILE.md).

The file is opened once, by this module, with O_NOFOLLOW|O_NONBLOCK and checked with fstat
(a FIFO swapped in under the name cannot block; a replaced file is noticed); everything
after that reads *that* file. SQLite is never allowed to recover, roll back, checkpoint,
create or delete anything outside a private folder this process created:

- when nothing needs recovering (no `-wal` with content, no hot `-journal`), SQLite opens
  the checked descriptor through `/proc/self/fd/N` with `immutable=1`: no lock is taken, no
  sidecar is looked for or created. SQLite resolves that link to the file's current name and
  opens the name, so the name is checked to be the same file first (a file unlinked and
  replaced by `name (deleted)` is refused), and the descriptor SQLite opened is checked
  afterwards (dev/inode);
- otherwise the database and the sidecars that matter are copied from descriptors into a new
  folder inside the caller's private directory and the *copy* is opened read-write, so SQLite
  replays the WAL or rolls the hot journal back there, as the application would see it. The
  `-shm` is never copied (SQLite rebuilds it from the `-wal`). A rollback journal may name a
  *super-journal* (the record of a multi-database commit) that SQLite deletes after a
  rollback, and opens to read: that name is attacker data. The copy is handed to SQLite
  without it — after deciding what SQLite would have decided: the transaction committed
  when the named super-journal does not exist (the journal is then not copied), and is rolled
  back otherwise (the record is cut from the copy, so nothing outside is opened or deleted);
- the copy counts against a byte limit and the free space of the private folder: a copy
  that does not fit is refused (`CopyRefused`), never started;
- always `trusted_schema=OFF`, `query_only=ON`, `cell_size_check=ON`, `temp_store=MEMORY`, a
  progress handler as the statement deadline and `SQLITE_LIMIT_LENGTH` just above the value
  limit, so a value that was not meant to be fetched fails fast instead of being allocated.

The access time of the file may change when SQLite reads it (it opens without O_NOATIME).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import stat
import struct
import tempfile
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from scanner.errors import FaceauditError
from scanner.sources.filesystem import open_noatime

MAGIC = b"SQLite format 3\x00"
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")
# Free space a copy must leave on the private folder's filesystem.
FREE_SPACE_RESERVE = 256 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
_SUPER_NAME_MAX = 4096  # SQLite's longest path name


def q(name: str) -> str:
    """An identifier quoted for SQLite's SQL text."""
    return '"' + name.replace('"', '""') + '"'


class NotSqlite(FaceauditError):
    """The path is not a regular file holding a SQLite database."""


class CopyRefused(FaceauditError):
    """The private copy that recovery needs would exceed the limit or the free space."""


@dataclass(frozen=True)
class Opened:
    """A connection, the private folder to remove after closing it (None: opened in place),
    and how the database was opened (for the report's notes)."""

    conn: sqlite3.Connection
    copy_dir: str | None
    replayed: tuple[str, ...] = ()  # sidecars SQLite recovered from, in the private copy
    notes: tuple[str, ...] = ()


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


def open_path(path: str, private_dir: str, max_copy_bytes: int) -> Opened:
    """Open a database named by the user (a link given explicitly is followed, as for a
    scan target): the name is opened once, non-blocking, and that file is what is read."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        return open_fd(fd, path, private_dir, max_copy_bytes)
    finally:
        os.close(fd)


def open_fd(fd: int, path: str, private_dir: str, max_copy_bytes: int) -> Opened:
    """Open the database held by `fd` (found at `path`, where its sidecars are looked for).
    The caller keeps and closes `fd`; the connection does not need it once returned."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise NotSqlite("not a regular file")
    if not os.pread(fd, 100, 0).startswith(MAGIC):
        raise NotSqlite("not a SQLite database (no SQLite header)")
    sidecars = _Sidecars(path)
    try:
        if not sidecars.wal_has_frames and sidecars.journal is None:
            return Opened(_open_in_place(fd, st), None, notes=sidecars.notes)
        return _open_copy(fd, st, sidecars, private_dir, max_copy_bytes)
    finally:
        sidecars.close()


def configure(conn: sqlite3.Connection, max_length: int, interrupt: Callable[[], int]) -> None:
    """The read-only, deadline-bound settings every connection gets before its first read."""
    conn.text_factory = lambda b: b.decode("utf-8", "replace")
    conn.execute("PRAGMA trusted_schema=OFF")
    conn.execute("PRAGMA query_only=ON")
    conn.execute("PRAGMA cell_size_check=ON")
    conn.execute("PRAGMA temp_store=MEMORY")
    if hasattr(conn, "setlimit"):  # Python >= 3.11
        cast(Any, conn).setlimit(cast(Any, sqlite3).SQLITE_LIMIT_LENGTH, max_length)
    conn.set_progress_handler(interrupt, 1000)


def close(opened: Opened) -> None:
    opened.conn.close()
    if opened.copy_dir is not None:
        shutil.rmtree(opened.copy_dir, ignore_errors=True)


# -- in place --------------------------------------------------------------------------------


def _open_in_place(fd: int, st: os.stat_result) -> sqlite3.Connection:
    link = f"/proc/self/fd/{fd}"
    try:
        name = os.readlink(link)
    except OSError as exc:  # no /proc: the descriptor cannot be handed to SQLite
        raise OSError(errno.ENOTSUP, f"cannot name the open file through /proc ({exc})") from None
    if name.endswith(" (deleted)"):
        raise _changed("removed during the scan")
    try:
        now = os.lstat(name)
    except OSError:
        raise _changed("renamed during the scan") from None
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
        raise _changed("replaced during the scan")
    ident = (st.st_dev, st.st_ino)
    before = _open_files()
    uri = "file:" + urllib.parse.quote(link) + "?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:  # SQLite's own descriptor must be a new one on this very file
        if not any(v == ident and before.get(n) != v for n, v in _open_files().items()):
            raise _changed("replaced while SQLite opened it")
    except BaseException:
        conn.close()
        raise
    return conn


def _changed(what: str) -> OSError:
    from scanner.sources.filesystem import FileChangedError

    return FileChangedError(what)


def _open_files() -> dict[int, tuple[int, int]]:
    """This process's descriptors of regular files: (dev, inode) by descriptor."""
    out: dict[int, tuple[int, int]] = {}
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for name in names:
        try:
            st = os.fstat(int(name))
        except (OSError, ValueError):
            continue  # closed since the listing (the listing's own descriptor)
        if stat.S_ISREG(st.st_mode):
            out[int(name)] = (st.st_dev, st.st_ino)
    return out


# -- the sidecars ------------------------------------------------------------------------------


class _Sidecars:
    """The `-wal` and `-journal` beside a database, opened once each (never followed, never
    blocking) and classified without trusting their content."""

    def __init__(self, path: str) -> None:
        self.wal = _open_sidecar(path + "-wal")
        self.wal_has_frames = self.wal is not None and self.wal[1].st_size > 32
        self.journal: tuple[int, os.stat_result] | None = None
        self.journal_keep = 0  # bytes of the journal to copy (the super-journal record cut)
        self.notes: tuple[str, ...] = ()
        journal = _open_sidecar(path + "-journal")
        if journal is not None:
            self.journal, self.journal_keep, self.notes = _classify_journal(*journal)
            if self.journal is None:
                os.close(journal[0])

    def close(self) -> None:
        for side in (self.wal, self.journal):
            if side is not None:
                os.close(side[0])


def _open_sidecar(path: str) -> tuple[int, os.stat_result] | None:
    """A regular-file sidecar, opened without following a link; None when there is none.
    A link or a special file planted as a sidecar is refused (OSError) — by its lstat before
    any open (opening a FIFO, even without blocking, makes it a reader), and by its fstat
    after, in case it was swapped in between."""
    try:
        planted = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(planted.st_mode):
        raise OSError(errno.EINVAL, f"{os.path.basename(path)} is not a regular file")
    try:
        fd, _ = open_noatime(path, _OPEN_FLAGS | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, f"{os.path.basename(path)} is not a regular file")
    return fd, st


def _classify_journal(
    fd: int, st: os.stat_result
) -> tuple[tuple[int, os.stat_result] | None, int, tuple[str, ...]]:
    """Whether a rollback journal is hot (SQLite would roll it back), how much of it to
    copy, and a note. A journal without SQLite's header (empty, zeroed by PERSIST mode) is
    not hot; one naming a super-journal is hot only while that super-journal exists."""
    size = st.st_size
    if size < len(JOURNAL_MAGIC) or os.pread(fd, 8, 0) != JOURNAL_MAGIC:
        return None, 0, ()
    record = _super_journal_record(fd, size)
    if record is None:
        return (fd, st), size, ()
    name, start = record
    if not _super_journal_exists(name):
        note = "rollback journal of a committed multi-database transaction: not replayed"
        return None, 0, (note,)
    note = "hot rollback journal rolled back in a private copy, without its super-journal"
    return (fd, st), start, (note,)


def _super_journal_record(fd: int, size: int) -> tuple[bytes, int] | None:
    """The super-journal name at the end of a journal, and where its record starts, read
    the way SQLite reads it (length, checksum, magic); None when there is none."""
    if size < 16:
        return None
    length, checksum = struct.unpack(">II", os.pread(fd, 8, size - 16))
    if os.pread(fd, 8, size - 8) != JOURNAL_MAGIC:
        return None
    if length == 0 or length >= _SUPER_NAME_MAX or length > size - 16:
        return None
    name = os.pread(fd, length, size - 16 - length)
    # SQLite sums the name's bytes as (signed) chars
    total = sum(b - 256 if b > 127 else b for b in name) & 0xFFFFFFFF
    if total != checksum:
        return None
    start = max(0, size - 16 - length - 4)  # the record begins with a 4-byte page number
    return name.split(b"\x00", 1)[0], start


def _super_journal_exists(name: bytes) -> bool:
    """SQLite's test (an entry that is not an empty regular file), by stat only: the
    super-journal is never opened, so a FIFO named there cannot block."""
    if not name:
        return False
    try:
        st = os.stat(os.fsdecode(name))
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(st.st_mode) or st.st_size > 0


# -- the private copy --------------------------------------------------------------------------


def _open_copy(
    fd: int, st: os.stat_result, sidecars: _Sidecars, private_dir: str, max_copy_bytes: int
) -> Opened:
    parts: list[tuple[int, str, int]] = [(fd, "", st.st_size)]
    if sidecars.wal_has_frames and sidecars.wal is not None:
        parts.append((sidecars.wal[0], "-wal", sidecars.wal[1].st_size))
    if sidecars.journal is not None:
        parts.append((sidecars.journal[0], "-journal", sidecars.journal_keep))
    need = sum(n for _, _, n in parts)
    if need > max_copy_bytes:
        raise CopyRefused(
            f"recovering it needs a private copy of {need} bytes, over the {max_copy_bytes} "
            "byte limit (--max-temp-mb); not read"
        )
    free = _free_bytes(private_dir)
    if free is not None and need > free - FREE_SPACE_RESERVE:
        raise CopyRefused(
            f"recovering it needs a private copy of {need} bytes; the temporary folder has "
            f"{max(free, 0)} bytes free; not read"
        )
    copy_dir = tempfile.mkdtemp(prefix="sqlite-", dir=private_dir)
    try:
        base = os.path.join(copy_dir, "db")
        for src, suffix, length in parts:
            _copy(src, base + suffix, length)
        # Read-write on our private copy: replaying the WAL or rolling back a hot journal
        # needs it. query_only is set before any statement runs.
        conn = sqlite3.connect(base, isolation_level=None)
    except BaseException:
        shutil.rmtree(copy_dir, ignore_errors=True)
        raise
    replayed = tuple(s for _, s, _ in parts if s)
    return Opened(conn, copy_dir, replayed, sidecars.notes)


def _free_bytes(folder: str) -> int | None:
    try:
        vfs = os.statvfs(folder)
    except OSError:
        return None
    return vfs.f_bavail * vfs.f_frsize


def _copy(src: int, dst: str, length: int) -> None:
    """`length` bytes from an open descriptor into a new private file (holes stay holes)."""
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        offset = 0
        while offset < length:
            chunk = os.pread(src, min(1 << 20, length - offset), offset)
            if not chunk:
                break
            if chunk.count(0) == len(chunk):
                os.lseek(out, len(chunk), os.SEEK_CUR)
            else:
                os.write(out, chunk)
            offset += len(chunk)
        os.ftruncate(out, offset)
    finally:
        os.close(out)
