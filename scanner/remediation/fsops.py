"""Files reached through directory file descriptors, never through a path the kernel
resolves at once: every directory on the way is opened with O_NOFOLLOW relative to its
parent, so a symbolic link swapped in between planning and acting cannot redirect an action
(it fails with ELOOP or ENOTDIR instead). Nothing here uses `shutil.move`.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from scanner.errors import FaceauditError

CHUNK = 1 << 20
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Refused(FaceauditError):
    """The item cannot be acted on as planned (a precondition failed, a link on the way)."""


@dataclass(frozen=True)
class Stat:
    """What a plan's precondition holds about a file."""

    size: int
    mtime_ns: int
    ino: int
    dev: int


def split(path: str) -> tuple[list[str], str]:
    """An absolute path's directories and its last name."""
    if not os.path.isabs(path):
        raise Refused(f"not an absolute path: {path}")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise Refused(f"not a plain absolute path: {path}")
    return parts[:-1], parts[-1]


@contextlib.contextmanager
def parent_dir(path: str, *, create: bool = False, mode: int = 0o700) -> Iterator[int]:
    """A descriptor of the directory holding `path`, each step opened with O_NOFOLLOW
    (missing directories made with `mode` when `create`)."""
    dirs, _ = split(path)
    fd = os.open("/", DIR_FLAGS)
    try:
        for name in dirs:
            try:
                nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, mode, dir_fd=fd)
                nxt = os.open(name, DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Refused(f"{name} on the way to {path} is not a directory") from None
                raise
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def stat_of(st: os.stat_result) -> Stat:
    return Stat(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def open_regular(dir_fd: int, name: str) -> int:
    """A regular file's descriptor (a link, a FIFO or a device is refused); its access
    time is left alone where the kernel allows it (O_NOATIME: the owner, or root)."""
    try:
        try:  # reading to hash or copy leaves the access time as it was (when permitted)
            fd = os.open(name, FILE_FLAGS | os.O_NOATIME, dir_fd=dir_fd)
        except PermissionError:
            fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused(f"{name} is now a symbolic link") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused(f"{name} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def hash_fd(fd: int) -> str:
    h = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, CHUNK, offset):
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()


def fsync_dir(dir_fd: int) -> None:
    os.fsync(dir_fd)


def read_xattrs(fd: int) -> dict[str, bytes]:
    """The file's extended attributes that a user may set again (user.*; others are kept
    when the restoring process may set them: trusted.*, security.* need privileges)."""
    try:
        names = os.listxattr(fd)
    except OSError:
        return {}
    out = {}
    for name in names:
        with contextlib.suppress(OSError):
            out[name] = os.getxattr(fd, name)
    return out


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write(dir_fd: int, name: str, data: bytes, *, sync_dir: bool = True) -> None:
    """Write a small file whole or not at all: a temporary, fsync, rename, fsync the dir
    (unless `sync_dir` is False: the caller fsyncs the directory once for many files)."""
    tmp = f".{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    if sync_dir:
        os.fsync(dir_fd)


def unlink_if(dir_fd: int, name: str) -> bool:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True
