"""The filesystem source: walks a tree without following links, opening anything it
shouldn't, or touching what it reads.

Directories are opened with O_NOFOLLOW|O_NOATIME and listed through their descriptor; files
are opened with O_NOFOLLOW|O_NONBLOCK|O_NOATIME and checked with fstat before any byte is
read, so a FIFO swapped in mid-scan cannot block and a replaced file is noticed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from scanner.model import Anchor, FileLocation, Problem, ProblemReason
from scanner.sources.base import ItemChanged, SourceContext, SourceItem, SourceStats
from scanner.sources.globs import PathFilter
from scanner.sources.roots import base_of, under

_O_NOATIME = getattr(os, "O_NOATIME", 0)
_FILE_FLAGS = (
    os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
)
_DIR_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_DIRECTORY", 0)


@dataclass(frozen=True)
class FileRef:
    """A regular file the walker found, with the identity it had when found."""

    location: FileLocation
    fs_path: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    allocated: int  # bytes actually allocated (st_blocks * 512); far below size = sparse
    ctime_ns: int = 0  # inode change time: xattrs, permissions, renames over it

    @property
    def sparse(self) -> bool:
        return self.size > 1024 * 1024 and self.allocated < self.size // 2

    @property
    def identity(self) -> tuple[int, int, int, int, int]:
        """What the state compares: device, inode, size, mtime, ctime."""
        return (self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns)

    def open(self) -> FileReader:
        """The file the walker saw, opened once (scanner.sources.base.Openable)."""
        return FileReader(self)


class FileChangedError(ItemChanged):
    """The file is not the one the walker saw (replaced, truncated or no longer regular)."""


class FileReader:
    """A walked file opened once: O_NOFOLLOW|O_NONBLOCK, checked with fstat against what the
    walker saw; every read uses that descriptor (scanner.sources.base.Reader)."""

    def __init__(self, ref: FileRef) -> None:
        self.ref = ref
        self._fd, self._noatime = open_regular(ref)

    @property
    def size(self) -> int:
        return self.ref.size

    @property
    def atime_preserved(self) -> bool:
        return self._noatime

    def head(self, n: int) -> bytes:
        return os.pread(self._fd, n, 0)

    def read_at(self, offset: int, n: int) -> bytes:
        return os.pread(self._fd, max(0, n), offset)

    def read_all(self, limit: int) -> bytes:
        return read_open(self._fd, self.ref, limit)

    def stream(self) -> IO[bytes]:
        return os.fdopen(os.dup(self._fd), "rb")

    def descriptor(self) -> int | None:
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def open_noatime(path: str, flags: int, dir_fd: int | None = None) -> tuple[int, bool]:
    """Open without updating the access time where the OS allows it.

    O_NOATIME is refused (EPERM) unless we own the file or are privileged; then the file is
    opened normally and the caller learns that the access time may change.
    """
    if _O_NOATIME:
        try:
            return os.open(path, flags | _O_NOATIME, dir_fd=dir_fd), True
        except PermissionError as exc:
            if exc.errno != errno.EPERM:
                raise
    return os.open(path, flags, dir_fd=dir_fd), not _O_NOATIME


def open_regular(ref: FileRef) -> tuple[int, bool]:
    """Open the file the walker saw; raise FileChangedError if it is no longer that file."""
    try:
        fd, noatime = open_noatime(ref.fs_path, _FILE_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW refused: the name is now a symbolic link
            raise FileChangedError("replaced by a symbolic link during the scan") from exc
        if exc.errno == errno.ENOENT:
            raise FileChangedError("removed during the scan") from exc
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileChangedError(f"no longer a regular file ({_kind(st.st_mode)})")
        if (st.st_dev, st.st_ino) != (ref.dev, ref.ino):
            raise FileChangedError("replaced by another file during the scan")
        if st.st_size != ref.size or st.st_mtime_ns != ref.mtime_ns:
            raise FileChangedError("modified during the scan (size or mtime changed)")
    except BaseException:
        os.close(fd)
        raise
    return fd, noatime


def read_head(ref: FileRef, n: int) -> tuple[bytes, bool]:
    """The first n bytes of a file, and whether its access time was preserved."""
    fd, noatime = open_regular(ref)
    try:
        return os.pread(fd, n, 0), noatime
    finally:
        os.close(fd)


def read_all(ref: FileRef, limit: int) -> tuple[bytes, bool]:
    """The whole file (at most `limit` bytes), checked against the walker's identity."""
    fd, noatime = open_regular(ref)
    try:
        return read_open(fd, ref, limit), noatime
    finally:
        os.close(fd)


def read_open(fd: int, ref: FileRef, limit: int) -> bytes:
    """The whole file (at most `limit` bytes) from a descriptor `open_regular` gave."""
    chunks: list[bytes] = []
    total = 0
    wanted = min(ref.size, limit)
    while total < wanted:
        chunk = os.pread(fd, min(1 << 20, wanted - total), total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    st = os.fstat(fd)
    if len(data) != wanted or st.st_mtime_ns != ref.mtime_ns:
        raise FileChangedError("changed while being read (truncated or rewritten)")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return "special file"


class FilesystemWalker:
    """Yields FileRefs for regular files and Problems for everything it will not read.

    Counters (`directories`, `excluded`) are readable after iteration.
    """

    def __init__(
        self,
        target: Path,
        path_filter: PathFilter,
        seen_dirs: set[tuple[int, int]] | None = None,
        own_dirs: set[tuple[int, int]] | None = None,
        roots: tuple[str, ...] = (),
    ) -> None:
        self.target = target
        # where the target is relative to the identity root: files are named from there
        self.base = base_of(target, roots)
        self.filter = path_filter
        self.directories = 0
        self.excluded = 0
        self.atime_preserved = True
        # (dev, ino) of the directories walked: shared by the walkers of one scan, so a
        # directory named twice, or inside another target, is walked once
        self._seen_dirs: set[tuple[int, int]] = set() if seen_dirs is None else seen_dirs
        # the scan's own private folders (the workers' temporary directories): not walked
        self._own_dirs = own_dirs or set()

    def __iter__(self) -> Iterator[FileRef | Problem]:
        shown = str(self.target)
        try:
            st = os.stat(self.target)  # an explicitly named target may itself be a link
        except FileNotFoundError:
            yield Problem(
                FileLocation(shown), ProblemReason.MISSING_TARGET, "no such file or directory"
            )
            return
        except OSError as exc:
            yield Problem(FileLocation(shown), ProblemReason.UNREADABLE_FILE, _os_reason(exc))
            return
        if stat.S_ISDIR(st.st_mode):
            real = os.path.realpath(self.target)
            yield from self._walk_dir(real, shown, "", st)
        elif stat.S_ISREG(st.st_mode):
            yield self._file_ref(shown, os.path.realpath(self.target), st, self.base)
        else:
            yield Problem(
                FileLocation(shown), ProblemReason.SPECIAL_FILE, f"{_kind(st.st_mode)}; not read"
            )

    def _file_ref(self, shown: str, fs_path: str, st: os.stat_result, anchor: Anchor) -> FileRef:
        return FileRef(
            location=FileLocation(shown, anchor),
            fs_path=fs_path,
            dev=st.st_dev,
            ino=st.st_ino,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            allocated=getattr(st, "st_blocks", 0) * 512,
            ctime_ns=st.st_ctime_ns,
        )

    def _walk_dir(
        self, fs_dir: str, shown_dir: str, rel_dir: str, st: os.stat_result
    ) -> Iterator[FileRef | Problem]:
        """Depth first, names sorted, each directory's entries before its subdirectories.

        An explicit stack, not recursion: a tree thousands of levels deep must not exhaust
        Python's recursion limit (a RecursionError would end the whole scan).
        """
        stack = [(fs_dir, shown_dir, rel_dir, st)]
        while stack:
            subdirs: list[tuple[str, str, str, os.stat_result]] = []
            yield from self._list_dir(*stack.pop(), subdirs)
            stack.extend(reversed(subdirs))

    def _list_dir(
        self,
        fs_dir: str,
        shown_dir: str,
        rel_dir: str,
        st: os.stat_result,
        subdirs: list[tuple[str, str, str, os.stat_result]],
    ) -> Iterator[FileRef | Problem]:
        key = (st.st_dev, st.st_ino)
        here = self._location(shown_dir, rel_dir)
        if key in self._seen_dirs:
            yield Problem(
                here,
                ProblemReason.DIRECTORY_CYCLE,
                "directory already scanned (named twice, inside another target, or reached "
                "again through a bind mount or loop)",
            )
            return
        self._seen_dirs.add(key)
        try:
            fd, noatime = open_noatime(fs_dir, _DIR_FLAGS)
        except OSError as exc:
            yield Problem(here, ProblemReason.UNREADABLE_DIRECTORY, _os_reason(exc))
            return
        try:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != key:  # a path component was swapped since listing
                yield Problem(
                    here,
                    ProblemReason.CHANGED_DURING_SCAN,
                    "directory replaced during the scan; not walked",
                )
                return
            self.atime_preserved &= noatime
            self.directories += 1
            try:
                with os.scandir(fd) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                yield Problem(here, ProblemReason.UNREADABLE_DIRECTORY, _os_reason(exc))
                return
            for entry in entries:
                found = self._entry(fd, entry, fs_dir, shown_dir, rel_dir)
                if isinstance(found, tuple):
                    subdirs.append(found)
                elif found is not None:
                    yield found
        finally:
            os.close(fd)

    def _entry(
        self, dir_fd: int, entry: os.DirEntry[str], fs_dir: str, shown_dir: str, rel_dir: str
    ) -> FileRef | Problem | tuple[str, str, str, os.stat_result] | None:
        """Classify one directory entry: a file to scan, a problem, a subdirectory, or nothing."""
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        shown = os.path.join(shown_dir, entry.name)
        fs_path = os.path.join(fs_dir, entry.name)
        here = self._location(shown, rel)
        if self.filter.excludes(rel):
            self.excluded += 1
            return None
        try:
            est = entry.stat(follow_symlinks=False)
        except OSError as exc:
            return Problem(here, ProblemReason.UNREADABLE_FILE, _os_reason(exc))
        mode = est.st_mode
        if stat.S_ISLNK(mode):
            return self._symlink_problem(dir_fd, entry.name, here, fs_path)
        if stat.S_ISDIR(mode):
            if (est.st_dev, est.st_ino) in self._own_dirs:
                return None
            return (fs_path, shown, rel, est)
        if stat.S_ISREG(mode):
            if not self.filter.includes_file(rel):
                self.excluded += 1
                return None
            return self._file_ref(shown, fs_path, est, under(self.base, rel))
        return Problem(
            here,
            ProblemReason.SPECIAL_FILE,
            f"{_kind(mode)}; not opened (it could block or has no stored content)",
        )

    def _symlink_problem(self, dir_fd: int, name: str, here: FileLocation, fs_path: str) -> Problem:
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            return Problem(here, ProblemReason.SYMLINK_NOT_FOLLOWED, _os_reason(exc))
        root = os.path.realpath(self.target)
        resolved = os.path.realpath(fs_path)
        inside = resolved == root or resolved.startswith(root.rstrip("/") + "/")
        where = (
            "inside the scan root; its target is scanned under its own path"
            if inside
            else "outside the scan root; not followed"
        )
        return Problem(here, ProblemReason.SYMLINK_NOT_FOLLOWED, f"link to {target} ({where})")

    def _location(self, shown: str, rel: str) -> FileLocation:
        """A path below the target, anchored (the target itself, a directory: not)."""
        anchor = under(self.base, rel)
        return FileLocation(shown, anchor if anchor.path else None)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


class FilesystemSource:
    """A path: a file or a tree, walked (scanner.sources.base.Source)."""

    def __init__(self, target: Path, ctx: SourceContext) -> None:
        self._walker = FilesystemWalker(target, ctx.filter, ctx.seen_dirs, ctx.own_dirs, ctx.roots)
        self.stats = SourceStats()

    def items(self) -> Iterator[SourceItem | Problem]:
        for entry in self._walker:
            if isinstance(entry, Problem):
                yield entry
                continue
            yield SourceItem(
                entry.location,
                entry.size,
                entry.mtime_ns,
                ref=entry,
                identity=entry.identity,
                ctime_ns=entry.ctime_ns,
                alias_key=(entry.dev, entry.ino),
            )
        walker = self._walker
        self.stats = SourceStats(walker.directories, walker.excluded, walker.atime_preserved)
