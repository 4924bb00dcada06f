"""A kernel sandbox for the processes that parse untrusted content (Landlock, seccomp, rlimits).

The threat: the libraries a worker drives over hostile data can be steered into writing where
they should not. SQLite recovering a hot rollback journal deletes the super-journal the journal
names (an attacker's path); an archive member named `../../x` reaches outside the folder it was
meant for; a decoder bug becomes a file write. After `confine`, the kernel refuses all of it:
the process and every process it starts can create, write, truncate, rename, link or remove
nothing (files, directories, FIFOs, sockets, devices, symbolic links) outside one private
directory, whatever the code asks for, and can make no device node even there. Reading stays
allowed everywhere: the worker must read the files it scans, its libraries, its models and
/proc/self. Unless `network` is true, TCP bind and connect are refused as well, and so are
connections to abstract unix sockets and signals to processes outside the sandbox: a worker
has nobody to talk to, and a local service (a database server, a desktop bus) could otherwise
write on its behalf. A seccomp filter (scanner.syscall_filter) refuses what Landlock does not
cover: changes of mode, owner, times, extended attributes and inode flags, flock and leases.

Limits:
- Root still reads all it could read before: this contains writes, not disclosure.
- Landlock checks at open time: descriptors opened before `confine` keep their access.
- Landlock up to ABI 7 does not cover chmod/chown, utime, extended attributes, flock,
  connect() to a unix socket that has a path (/run/docker.sock), UDP or raw sockets; the
  seccomp filter covers the first four (on x86_64 and aarch64 only), not fcntl record locks
  (SQLite needs them on its private copies; a read lock on a file being read stays possible)
  nor the sockets; and a root process keeps its capabilities (e.g. loading a kernel module).
  This contains a tricked parser, not an attacker running arbitrary code as root.
- Before ABI 8 only the calling thread is confined (and what it starts afterwards); threads
  already running are not. `Confinement.unconfined_threads` counts them.
- Kernels before 5.13, kernels booted without Landlock and other systems get no write
  confinement at all, only no_new_privs and the rlimits below; the returned `Confinement` says
  so. ABI 1 (5.13-5.18) also refuses renames and links across directories inside the private
  directory; ABI < 3 cannot refuse truncate(2); ABI < 4 cannot refuse TCP.

Best effort, whatever the kernel: `PR_SET_NO_NEW_PRIVS` (nothing started later gains
privileges), core dumps off (a crashing decoder would write its memory, hostile input and face
data, to a core file) and, with `max_file_bytes`, `RLIMIT_FSIZE` as a bound on each file
written, with SIGXFSZ ignored so an oversize write fails with EFBIG instead of killing the
process. RLIMIT_NPROC is left alone (it counts every process of the user, the other workers
included, and root is exempt), and so is RLIMIT_NOFILE (the item's time and memory budgets
already bound a descriptor leak; a low limit would only break archives with many members).

`confine` never raises: a step that fails is recorded in the returned `Confinement`, and the
steps that work are applied. Nothing is printed; no environment variable is read.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import resource
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

from scanner.syscall_filter import SyscallFilter, install_filter

# The Landlock system calls have the same numbers on every architecture (the unified table).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1
_RESTRICT_SELF_TSYNC = 1 << 3  # ABI 8: the ruleset applies to every thread of the process
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights (include/uapi/linux/landlock.h) that change something.
_WRITE_FILE = 1 << 1
_REMOVE_DIR = 1 << 4
_REMOVE_FILE = 1 << 5
_MAKE_CHAR = 1 << 6
_MAKE_DIR = 1 << 7
_MAKE_REG = 1 << 8
_MAKE_SOCK = 1 << 9
_MAKE_FIFO = 1 << 10
_MAKE_BLOCK = 1 << 11
_MAKE_SYM = 1 << 12
_REFER = 1 << 13  # ABI 2: link or rename into another directory
_TRUNCATE = 1 << 14  # ABI 3: truncate(2), ftruncate(2), O_TRUNC
_IOCTL_DEV = 1 << 15  # ABI 5: ioctl(2) on a character or block device opened afterwards

# What each ABI adds. Reading and executing are not handled: they stay allowed everywhere.
_FS_RIGHTS_SINCE: tuple[tuple[int, int], ...] = (
    (
        1,
        _WRITE_FILE
        | _REMOVE_DIR
        | _REMOVE_FILE
        | _MAKE_CHAR
        | _MAKE_DIR
        | _MAKE_REG
        | _MAKE_SOCK
        | _MAKE_FIFO
        | _MAKE_BLOCK
        | _MAKE_SYM,
    ),
    (2, _REFER),
    (3, _TRUNCATE),
    (5, _IOCTL_DEV),
)
# Never granted, not even in the private directory: a device node made there (root can) would
# open a disk for raw writes; a device ioctl (SG_IO, a terminal's TIOCSTI) writes without write().
_NEVER = _MAKE_CHAR | _MAKE_BLOCK | _IOCTL_DEV
_NET_TCP = (1 << 0) | (1 << 1)  # ABI 4: LANDLOCK_ACCESS_NET_BIND_TCP, _CONNECT_TCP
_SCOPES = (1 << 0) | (1 << 1)  # ABI 6: LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, _SIGNAL


class _RulesetAttr(ctypes.Structure):
    """struct landlock_ruleset_attr (ABI 6 layout; older kernels are given a prefix)."""

    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    """struct landlock_path_beneath_attr: packed, 12 bytes."""

    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class Landlock(enum.Enum):
    ACTIVE = "active"
    UNAVAILABLE = "unavailable"  # no Landlock in this kernel, or not Linux
    FAILED = "failed"  # available, but a step failed: nothing of it is enforced


@dataclass(frozen=True)
class Confinement:
    """What `confine` put in force in this process."""

    landlock: Landlock
    abi: int  # the kernel's Landlock ABI (0: none)
    reason: str = ""  # why Landlock is unavailable or failed
    private_dir: str | None = None  # writes confined beneath it (None: nowhere, or not confined)
    fs_rights: int = 0  # the filesystem access rights Landlock handles (UAPI bits)
    tcp_denied: bool = False
    scoped: bool = False  # abstract unix sockets and signals stay inside the sandbox
    unconfined_threads: int = 0  # threads already running, which Landlock left free
    no_new_privs: bool = False
    core_dumps_off: bool = False
    max_file_bytes: int | None = None  # RLIMIT_FSIZE in force (None: none set here)
    problems: tuple[str, ...] = ()  # steps that failed, in order
    syscalls: SyscallFilter = SyscallFilter.UNAVAILABLE  # the seccomp filter
    syscalls_detail: str = ""  # its architecture when active; why not otherwise

    @property
    def active(self) -> bool:
        """True when the kernel enforces the write confinement."""
        return self.landlock is Landlock.ACTIVE

    @property
    def summary(self) -> str:
        """One line on Landlock, e.g. `abi 7: writes confined to the private directory; …`."""
        if self.landlock is not Landlock.ACTIVE:
            return f"{self.landlock.value} ({self.reason}): best effort only"
        where = "confined to the private directory" if self.private_dir else "denied everywhere"
        parts = [f"abi {self.abi}: writes {where}"]
        if self.abi < 3:
            parts.append("truncate not restricted (abi < 3)")
        if self.tcp_denied:
            parts.append("TCP denied")
        else:
            parts.append("TCP not restricted (abi < 4)" if self.abi < 4 else "TCP allowed")
        if self.scoped:
            parts.append("abstract sockets and signals scoped")
        if self.unconfined_threads:
            parts.append(f"{self.unconfined_threads} earlier thread(s) not confined")
        return "; ".join(parts)

    @property
    def syscalls_summary(self) -> str:
        """One line on the seccomp filter, e.g. `metadata changes, flock and leases refused
        (x86_64)`."""
        if self.syscalls is SyscallFilter.ACTIVE:
            return f"metadata changes, flock and leases refused ({self.syscalls_detail})"
        return f"{self.syscalls.value} ({self.syscalls_detail})"

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Key/value strings for a report's scan metadata; the same keys every time."""
        size = "unlimited" if self.max_file_bytes is None else str(self.max_file_bytes)
        return (
            ("sandbox.landlock", self.summary),
            ("sandbox.no_new_privs", "on" if self.no_new_privs else "off"),
            ("sandbox.core_dumps", "off" if self.core_dumps_off else "unchanged"),
            ("sandbox.max_file_bytes", size),
            ("sandbox.problems", "; ".join(self.problems) or "none"),
            ("sandbox.syscalls", self.syscalls_summary),
        )


def landlock_abi() -> int:
    """The running kernel's Landlock ABI version; 0 without Landlock (or not on Linux)."""
    return _probe()[0]


def confine(
    writable_dir: str, *, network: bool = False, max_file_bytes: int | None = None
) -> Confinement:
    """Confine this process for good (see the module's docstring); call it once, before the
    first untrusted item is opened.

    Everything beneath `writable_dir` stays writable: it should be a fresh directory made for
    this process (mkdtemp), outside every scanned tree, with no hard link to a scanned file.
    One that cannot be opened leaves no writable place at all (writes are denied everywhere,
    and the problem is recorded): a mistake never widens the sandbox. `network` true leaves
    TCP alone; `max_file_bytes` bounds every file written (RLIMIT_FSIZE).

    The seccomp filter applies everywhere, the private directory included (it sees no
    paths): mode, owner and times cannot be set there either. shutil.copy, copy2 and
    copystat fail (copyfile works), tarfile's extraction skips them, and SQLite ignores the
    refused fchown/fchmod of its own journals."""
    problems: list[str] = []
    nnp = _attempt(problems, "no_new_privs", _no_new_privs)
    filtered = install_filter()
    if filtered.state is SyscallFilter.FAILED:
        problems.append(filtered.detail)
    cores = _attempt(
        problems, "core dumps", lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    )
    fsize = None if max_file_bytes is None else _bound_file_size(max_file_bytes, problems)
    abi, reason = _probe()
    result = Confinement(
        Landlock.UNAVAILABLE,
        abi,
        reason,
        no_new_privs=nnp,
        core_dumps_off=cores,
        max_file_bytes=fsize,
        syscalls=filtered.state,
        syscalls_detail=filtered.detail,
    )
    if abi > 0:
        result = _landlock(result, os.path.abspath(writable_dir), network, problems)
    return replace(result, problems=tuple(problems))


def _landlock(base: Confinement, private: str, network: bool, problems: list[str]) -> Confinement:
    abi = base.abi
    fs = 0
    for since, rights in _FS_RIGHTS_SINCE:
        if abi >= since:
            fs |= rights
    net = _NET_TCP if abi >= 4 and not network else 0
    scoped = _SCOPES if abi >= 6 else 0
    others = _other_threads()
    tsync = abi >= 8 and others > 0
    step = "landlock_create_ruleset"
    ruleset = -1
    try:
        size = 8 if abi < 4 else 16 if abi < 6 else 24  # the prefix this ABI knows
        ruleset = _syscall(_SYS_CREATE_RULESET, _RulesetAttr(fs, net, scoped), size, 0)
        writable = _allow_beneath(ruleset, private, fs & ~_NEVER, problems, directory=True)
        # Writing to /dev/null is harmless, and subprocess.DEVNULL opens it read-write.
        _allow_beneath(ruleset, os.devnull, fs & (_WRITE_FILE | _TRUNCATE), problems)
        step = "landlock_restrict_self"
        _syscall(_SYS_RESTRICT_SELF, ruleset, _RESTRICT_SELF_TSYNC if tsync else 0)
    except OSError as exc:
        problems.append(f"{step}: {_errname(exc)}")
        return replace(base, landlock=Landlock.FAILED, reason=f"{step}: {_errname(exc)}")
    finally:
        if ruleset >= 0:
            os.close(ruleset)
    return replace(
        base,
        landlock=Landlock.ACTIVE,
        reason="",
        private_dir=private if writable else None,
        fs_rights=fs,
        tcp_denied=bool(net),
        scoped=bool(scoped),
        unconfined_threads=0 if tsync else others,
    )


def _allow_beneath(
    ruleset: int, path: str, rights: int, problems: list[str], *, directory: bool = False
) -> bool:
    """Grant `rights` beneath `path`; a failure is recorded and grants nothing."""
    flags = os.O_PATH | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        problems.append(f"{path}: {_errname(exc)}")
        return False
    try:
        _syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, _PathBeneathAttr(rights, fd), 0)
    except OSError as exc:
        problems.append(f"landlock_add_rule {path}: {_errname(exc)}")
        return False
    finally:
        os.close(fd)
    return True


def _probe() -> tuple[int, str]:
    """The ABI version, or 0 and why there is none."""
    if not sys.platform.startswith("linux"):
        return 0, "not Linux"
    try:
        return _syscall(_SYS_CREATE_RULESET, 0, 0, _CREATE_RULESET_VERSION), ""
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            return 0, "kernel without Landlock"
        if exc.errno == errno.EOPNOTSUPP:
            return 0, "Landlock disabled at boot"
        return 0, f"Landlock refused ({_errname(exc)})"  # e.g. EPERM from a seccomp filter
    except AttributeError:  # a C library without syscall()
        return 0, "no syscall() in the C library"


def _no_new_privs() -> None:
    prctl = _libc().prctl
    prctl.restype = ctypes.c_int
    one, zero = ctypes.c_ulong(1), ctypes.c_ulong(0)
    if prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), one, zero, zero, zero) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _bound_file_size(limit: int, problems: list[str]) -> int | None:
    """RLIMIT_FSIZE, after SIGXFSZ is ignored (so the write fails with EFBIG instead of the
    signal killing the process); the limit in force, or None if it could not be set."""
    try:
        if limit < 0:
            raise ValueError(f"negative size {limit}")  # -1 would read as RLIM_INFINITY
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the main thread only: else ValueError
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        value = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_FSIZE, (value, value))
    except (OSError, ValueError) as exc:
        problems.append(f"max_file_bytes: {_errname(exc)}")
        return None
    return value


def _other_threads() -> int:
    try:
        return max(0, len(os.listdir("/proc/self/task")) - 1)
    except OSError:
        return 0


def _attempt(problems: list[str], what: str, action: Callable[[], object]) -> bool:
    try:
        action()
    except (OSError, ValueError, AttributeError) as exc:
        problems.append(f"{what}: {_errname(exc)}")
        return False
    return True


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _syscall(number: int, *args: int | ctypes.Structure) -> int:
    """syscall(2) with every argument as a C long (a structure as its address); OSError on
    failure."""
    call = _libc().syscall
    call.restype = ctypes.c_long
    values = [
        ctypes.c_void_p(ctypes.addressof(a))
        if isinstance(a, ctypes.Structure)
        else ctypes.c_long(a)
        for a in args
    ]
    result = int(call(ctypes.c_long(number), *values))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def _errname(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno is not None:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return f"{type(exc).__name__}: {exc}"
