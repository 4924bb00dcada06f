"""A seccomp filter for the worker: the changes that Landlock does not see.

Landlock (up to ABI 7) confines writing, creating, removing and renaming, but not a file's
metadata: a confined root process can still change modes, owners, times, extended attributes
(which also hold POSIX ACLs, file capabilities and security labels) and inode flags (chattr:
immutable, append-only), and can lock a file it only reads. `install_filter` adds a classic-BPF
program that makes those system calls fail with EPERM, in this process and every process it
starts, for good: a library that tries gets an error and the item is reported.

Refused (see `TABLES` for the numbers on each architecture):
- chmod, fchmod, fchmodat, fchmodat2 (mode bits); chown, fchown, lchown, fchownat (owner and
  group); utime, utimes, futimesat, utimensat (times; futimens and lutimes are utimensat);
- setxattr, lsetxattr, fsetxattr, setxattrat, removexattr, lremovexattr, fremovexattr,
  removexattrat (setfacl, setcap and security labels are extended attributes);
- file_setattr, and the ioctls that change a file through a descriptor opened only for
  reading: FS_IOC_SETFLAGS and FS_IOC_FSSETXATTR (inode flags, project id), FS_IOC_SETVERSION
  (generation), FS_IOC_ENABLE_VERITY (seals the file for good and appends a Merkle tree),
  FS_IOC_SET_ENCRYPTION_POLICY (an empty directory), FS_IOC_SETFSLABEL (the filesystem's label)
  and FIFREEZE (freezes the whole filesystem: every writer on it waits);
- flock (a shared or exclusive lock, on a descriptor opened read-only) and fcntl F_SETLEASE
  (a lease holds back other processes' open() of the file for up to 45 s by default).

Left alone, and why:
- fcntl record locks (F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW): SQLite takes them on the
  private copy it recovers a WAL or a hot journal in, and a filter sees the command and the
  descriptor number, never the file, so refusing them would break that recovery. A scanned
  database opened in place is to be opened with immutable=1, which locks nothing, and Landlock
  keeps every file outside the private directory from being opened for writing, which a write
  lock needs; a read lock on a file being read remains possible.
- reading metadata (stat, getxattr, listxattr, file_getattr, the FS_IOC_GET* ioctls).
- the access time that reading updates: that is open(2)'s O_NOATIME, not a system call here.

The command of fcntl and ioctl is compared on its low 32 bits: the kernel declares it
`unsigned int` and ignores the rest, so a command with high bits set cannot slip past.

The architecture is checked on every call. A call made with another architecture's
convention (i386 through int 0x80, x32 on x86_64) cannot be interpreted with this table, and
no library of a 64-bit interpreter makes one: it kills the process. The filter is installed
only for the architectures whose table is here (x86_64 and aarch64, 64-bit little-endian
processes); elsewhere `install_filter` says unavailable and changes nothing.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import sys
from dataclasses import dataclass

# <linux/audit.h>: EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
_AUDIT_ARCH_64BIT_LE = 0x80000000 | 0x40000000
_X32_SYSCALL_BIT = 0x40000000  # arch/x86: x32 system calls carry it in the number

# <linux/seccomp.h>
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_RET_ALLOW = 0x7FFF0000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_OFFSET_NR, _OFFSET_ARCH = 0, 4
_OFFSET_ARG1_LOW = 16 + 8  # args[1], its low half on a little-endian machine

# <linux/bpf_common.h>
_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x05 | 0x10  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x05 | 0x30  # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_MAX_JUMP = 255  # jt and jf are one byte

# fcntl commands (asm-generic/fcntl.h, linux/fcntl.h; the same on both architectures)
REFUSED_FCNTL: tuple[tuple[str, int], ...] = (("F_SETLEASE", 1024),)
# ioctl commands (_IOW/_IOR of linux/fs.h, fsverity.h, fscrypt.h; 64-bit values)
REFUSED_IOCTL: tuple[tuple[str, int], ...] = (
    ("FS_IOC_SETFLAGS", 0x40086602),
    ("FS_IOC_FSSETXATTR", 0x401C5820),
    ("FS_IOC_SETVERSION", 0x40087602),
    ("FS_IOC_ENABLE_VERITY", 0x40806685),
    ("FS_IOC_SET_ENCRYPTION_POLICY", 0x800C6613),
    ("FS_IOC_SETFSLABEL", 0x41009432),
    ("FIFREEZE", 0xC0045877),
)


@dataclass(frozen=True)
class Table:
    """One architecture's system call numbers: those refused outright, and the two whose
    command argument decides."""

    arch: str  # os.uname().machine
    audit_arch: int  # AUDIT_ARCH_*, as the kernel reports it in seccomp_data.arch
    refused: tuple[tuple[str, int], ...]
    fcntl: int
    ioctl: int
    seccomp: int  # the seccomp(2) system call itself, to install with TSYNC
    x32_bit: bool = False  # numbers with the x32 bit are another ABI: kill


# The same number on every architecture since the unified numbering (424 on); an older
# kernel answers ENOSYS to them, and this filter EPERM, which changes nothing.
_UNIFIED = (
    ("fchmodat2", 452),  # 6.6
    ("setxattrat", 463),  # 6.13
    ("removexattrat", 466),  # 6.13
    ("file_setattr", 469),  # 6.17
)

TABLES = (
    Table(  # arch/x86/entry/syscalls/syscall_64.tbl
        "x86_64",
        62 | _AUDIT_ARCH_64BIT_LE,  # EM_X86_64
        (
            ("flock", 73),
            ("chmod", 90),
            ("fchmod", 91),
            ("chown", 92),
            ("fchown", 93),
            ("lchown", 94),
            ("utime", 132),
            ("setxattr", 188),
            ("lsetxattr", 189),
            ("fsetxattr", 190),
            ("removexattr", 197),
            ("lremovexattr", 198),
            ("fremovexattr", 199),
            ("utimes", 235),
            ("fchownat", 260),
            ("futimesat", 261),
            ("fchmodat", 268),
            ("utimensat", 280),
            *_UNIFIED,
        ),
        fcntl=72,
        ioctl=16,
        seccomp=317,
        x32_bit=True,
    ),
    Table(  # include/uapi/asm-generic/unistd.h: no chmod, chown, lchown, utime(s), futimesat
        "aarch64",
        183 | _AUDIT_ARCH_64BIT_LE,  # EM_AARCH64
        (
            ("setxattr", 5),
            ("lsetxattr", 6),
            ("fsetxattr", 7),
            ("removexattr", 14),
            ("lremovexattr", 15),
            ("fremovexattr", 16),
            ("flock", 32),
            ("fchmod", 52),
            ("fchmodat", 53),
            ("fchownat", 54),
            ("fchown", 55),
            ("utimensat", 88),
            *_UNIFIED,
        ),
        fcntl=25,
        ioctl=29,
        seccomp=277,
    ),
)


class SyscallFilter(enum.Enum):
    ACTIVE = "active"
    UNAVAILABLE = "unavailable"  # no table for this architecture, no seccomp, not Linux
    FAILED = "failed"  # available, but the kernel refused the filter: nothing is enforced


@dataclass(frozen=True)
class Installed:
    """What `install_filter` did: the state, and the architecture (active) or why not."""

    state: SyscallFilter
    detail: str


def table_for(machine: str, pointer_bits: int, byteorder: str) -> Table | None:
    """The table for a process of this machine, pointer size and byte order, if there is
    one. A 32-bit process on a 64-bit kernel (i386, x32, arm) gets none: its calls have
    other numbers and another audit architecture."""
    if pointer_bits != 64 or byteorder != "little":
        return None
    return next((t for t in TABLES if t.arch == machine), None)


def this_table() -> Table | None:
    """The table for this process, if there is one."""
    if not sys.platform.startswith("linux"):
        return None
    return table_for(os.uname().machine, 64 if sys.maxsize > 2**32 else 32, sys.byteorder)


Instruction = tuple[int, int, int, int]  # struct sock_filter: code, jt, jf, k
_Op = tuple[str, int, str]  # (operation, operand, label): see `program`


def program(table: Table) -> tuple[Instruction, ...]:
    """The filter for `table`, as struct sock_filter values. The command argument is looked
    at only for fcntl and ioctl, which come first (they are frequent); every other call is
    decided on its number alone, which lets the kernel cache "allow" per number (5.11+)."""
    code: list[_Op] = [("ld", _OFFSET_ARCH, ""), ("jne", table.audit_arch, "kill")]
    code.append(("ld", _OFFSET_NR, ""))
    if table.x32_bit:
        code.append(("jge", _X32_SYSCALL_BIT, "kill"))
    code += [("jeq", table.fcntl, "fcntl"), ("jeq", table.ioctl, "ioctl")]
    code += [("jeq", number, "deny") for _, number in table.refused]
    code.append(("ret", _RET_ALLOW, ""))
    for label, commands in (("fcntl", REFUSED_FCNTL), ("ioctl", REFUSED_IOCTL)):
        code += [("label", 0, label), ("ld", _OFFSET_ARG1_LOW, "")]
        code += [("jeq", command, "deny") for _, command in commands]
        code.append(("ret", _RET_ALLOW, ""))
    code += [("label", 0, "deny"), ("ret", _RET_ERRNO | errno.EPERM, "")]
    code += [("label", 0, "kill"), ("ret", _RET_KILL_PROCESS, "")]
    return _assemble(code)


def _assemble(code: list[_Op]) -> tuple[Instruction, ...]:
    """Resolve labels into forward jumps: "jeq"/"jge" jump to the label when true and fall
    through otherwise, "jne" the reverse."""
    labels: dict[str, int] = {}
    position = 0
    for op, _, name in code:
        if op == "label":
            labels[name] = position
        else:
            position += 1
    out: list[Instruction] = []
    for op, operand, target in code:
        if op == "label":
            continue
        if op == "ld":
            out.append((_LD_W_ABS, 0, 0, operand))
        elif op == "ret":
            out.append((_RET_K, 0, 0, operand))
        else:
            skip = labels[target] - len(out) - 1
            if not 0 <= skip <= _MAX_JUMP:
                raise ValueError(f"jump to {target} out of range")
            if op == "jne":
                out.append((_JEQ_K, 0, skip, operand))
            else:
                out.append((_JEQ_K if op == "jeq" else _JGE_K, skip, 0, operand))
    return tuple(out)


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


def install_filter() -> Installed:
    """Install the filter in this process, in every one of its threads (TSYNC), and so in
    whatever it starts later; for good. Never raises: the outcome says what happened."""
    table = this_table()
    if table is None:
        machine = os.uname().machine if hasattr(os, "uname") else sys.platform
        bits = 64 if sys.maxsize > 2**32 else 32
        why = f"no system call table for {machine} {bits}-bit"
        return Installed(SyscallFilter.UNAVAILABLE, why)
    instructions = program(table)
    array = (_SockFilter * len(instructions))(*(_SockFilter(*i) for i in instructions))
    prog = _SockFprog(len(instructions), array)
    try:
        call = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):  # a C library without syscall()
        return Installed(SyscallFilter.UNAVAILABLE, "no syscall() in the C library")
    call.restype = ctypes.c_long
    result = int(
        call(
            ctypes.c_long(table.seccomp),
            ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
            ctypes.c_long(_SECCOMP_FILTER_FLAG_TSYNC),
            ctypes.byref(prog),
        )
    )
    if result == 0:
        return Installed(SyscallFilter.ACTIVE, table.arch)
    if result > 0:  # TSYNC: the id of a thread whose own filters cannot be replaced
        return Installed(SyscallFilter.FAILED, f"seccomp: thread {result} has other filters")
    code = ctypes.get_errno()
    if code == errno.ENOSYS:  # no seccomp(2); EINVAL (no filter mode) counts as a failure
        return Installed(SyscallFilter.UNAVAILABLE, "kernel without seccomp")
    return Installed(SyscallFilter.FAILED, f"seccomp: {errno.errorcode.get(code, str(code))}")
