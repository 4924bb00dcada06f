"""The seccomp filter's program (scanner.syscall_filter), run the way the kernel runs it.

A small classic-BPF interpreter runs the program for each architecture on synthetic
`struct seccomp_data`, so the aarch64 program is checked on an x86_64 machine as well; the
system call numbers are checked against the kernel headers when they are installed; and on
the real kernel the arch check kills a call made with another convention. The effects on real
files are in test_sandbox.py.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import scanner
from scanner.syscall_filter import (
    REFUSED_FCNTL,
    REFUSED_IOCTL,
    TABLES,
    Instruction,
    program,
    table_for,
    this_table,
)

REPO = Path(scanner.__file__).resolve().parent.parent
BY_ARCH = {t.arch: t for t in TABLES}
ALLOW, EPERM, KILL = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x80000000
AUDIT_ARCH_I386, AUDIT_ARCH_ARM = 0x40000003, 0x40000028
F_GETFD, F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 1, 5, 6, 7, 36, 37, 38
TCGETS, FIONREAD, FS_IOC_GETFLAGS, FS_IOC_FSGETXATTR = 0x5401, 0x541B, 0x80086601, 0x801C581F

# What each architecture refuses by number: aarch64 has only the *at forms.
METADATA_CALLS = {
    "chmod",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "utime",
    "utimes",
    "futimesat",
    "utimensat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "setxattrat",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "removexattrat",
    "file_setattr",
    "flock",
}
NOT_ON_AARCH64 = {"chmod", "chown", "lchown", "utime", "utimes", "futimesat"}


def evaluate(code: tuple[Instruction, ...], arch: int, nr: int, *args: int) -> int:
    """Run `code` on one system call as the kernel does; only the opcodes the filter uses
    (a load of a 32-bit word of seccomp_data, jeq and jge on a constant, return a constant)
    are known, anything else fails the test."""
    padded = [*args, *[0] * (6 - len(args))]
    data = struct.pack("<iIQ6Q", nr, arch, 0x1000, *padded)
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            assert k % 4 == 0 and k + 4 <= len(data), f"load at {k}"
            acc = struct.unpack_from("<I", data, k)[0]
            pc += 1
        elif op in (0x15, 0x35):  # BPF_JMP | BPF_JEQ / BPF_JGE | BPF_K
            taken = acc == k if op == 0x15 else acc >= k
            pc += 1 + (jt if taken else jf)
        elif op == 0x06:  # BPF_RET | BPF_K
            return k
        else:
            raise AssertionError(f"opcode {op:#x} at {pc}")


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_every_metadata_call_of_the_architecture_is_refused(arch: str) -> None:
    table = BY_ARCH[arch]
    names = {name for name, _ in table.refused}
    assert names == (METADATA_CALLS - NOT_ON_AARCH64 if arch == "aarch64" else METADATA_CALLS)
    code = program(table)
    for name, number in table.refused:
        assert evaluate(code, table.audit_arch, number) == EPERM, name


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_every_other_call_is_allowed(arch: str) -> None:
    table = BY_ARCH[arch]
    code = program(table)
    refused = {number for _, number in table.refused}
    for number in range(600):
        if number not in refused:
            assert evaluate(code, table.audit_arch, number, 3, F_GETFD) == ALLOW, number


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_fcntl_is_decided_by_its_command(arch: str) -> None:
    table = BY_ARCH[arch]
    code = program(table)
    for name, command in REFUSED_FCNTL:
        assert evaluate(code, table.audit_arch, table.fcntl, 3, command) == EPERM, name
        # the kernel reads an unsigned int: high bits do not make it another command
        high = command | (0xDEAD << 32)
        assert evaluate(code, table.audit_arch, table.fcntl, 3, high) == EPERM, name
    for command in (F_GETFD, F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW):
        assert evaluate(code, table.audit_arch, table.fcntl, 3, command) == ALLOW, command


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_ioctl_is_decided_by_its_command(arch: str) -> None:
    table = BY_ARCH[arch]
    code = program(table)
    for name, command in REFUSED_IOCTL:
        assert evaluate(code, table.audit_arch, table.ioctl, 3, command) == EPERM, name
        assert evaluate(code, table.audit_arch, table.ioctl, 3, command | 1 << 63) == EPERM
    for command in (TCGETS, FIONREAD, FS_IOC_GETFLAGS, FS_IOC_FSGETXATTR):
        assert evaluate(code, table.audit_arch, table.ioctl, 3, command) == ALLOW, command


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_another_architectures_calls_kill_the_process(arch: str) -> None:
    table = BY_ARCH[arch]
    code = program(table)
    for other in (AUDIT_ARCH_I386, AUDIT_ARCH_ARM, *(t.audit_arch for t in TABLES)):
        if other != table.audit_arch:
            for number in (0, 15, 90, 200):  # i386's chmod is 15: numbers mean other calls
                assert evaluate(code, other, number) == KILL
    x32_chmod = 0x40000000 | 90
    expected = KILL if table.x32_bit else ALLOW  # aarch64 has no such numbers: ENOSYS
    assert evaluate(code, table.audit_arch, x32_chmod) == expected


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_the_program_is_one_the_kernel_accepts(arch: str) -> None:
    """seccomp_check_filter's rules: at most BPF_MAXINSNS, aligned loads inside
    seccomp_data, jumps forward inside the program, a return at the end."""
    code = program(BY_ARCH[arch])
    assert len(code) <= 4096
    assert code[-1][0] == 0x06
    for pc, (op, jt, jf, k) in enumerate(code):
        if op == 0x20:
            assert k % 4 == 0 and k < 64
        if op in (0x15, 0x35):
            assert pc + 1 + max(jt, jf) < len(code)


def _header_numbers(path: Path) -> dict[str, int]:
    """`#define __NR_name number` of a kernel header, `__NR3264_name` aliases resolved."""
    text = path.read_text()
    generic = dict(re.findall(r"#define\s+__NR3264_(\w+)\s+(\d+)", text))
    numbers: dict[str, int] = {}
    for name, defined in re.findall(r"#define\s+__NR_(\w+)\s+(\S+)", text):
        alias = re.fullmatch(r"__NR3264_(\w+)", defined)
        value = generic.get(alias.group(1), defined) if alias else defined
        if value.isdigit():
            numbers[name] = int(value)
    return numbers


HEADERS = {
    "x86_64": Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
    "aarch64": Path("/usr/include/asm-generic/unistd.h"),  # arm64 uses the generic table
}


@pytest.mark.parametrize("arch", sorted(BY_ARCH))
def test_numbers_match_the_kernel_headers(arch: str) -> None:
    """Each number the installed headers define (older headers lack the newest calls);
    the generic header has none of the calls aarch64 lacks."""
    header = HEADERS[arch]
    if not header.exists():
        pytest.skip(f"{header} not installed")
    defined = _header_numbers(header)
    table = BY_ARCH[arch]
    calls = [*table.refused, ("fcntl", table.fcntl), ("ioctl", table.ioctl)]
    calls.append(("seccomp", table.seccomp))
    checked = [(name, number) for name, number in calls if name in defined]
    assert checked, "no number found in the header"
    assert {name: defined[name] for name, _ in checked} == dict(checked)
    assert len(checked) >= len(calls) - 4  # fchmodat2, *xattrat, file_setattr: 6.6 to 6.17
    if arch == "aarch64":
        assert not NOT_ON_AARCH64 & set(defined)


@pytest.mark.parametrize(
    ("machine", "bits", "order", "expected"),
    [
        ("x86_64", 64, "little", "x86_64"),
        ("aarch64", 64, "little", "aarch64"),
        ("x86_64", 32, "little", None),  # i386 or x32 interpreter on a 64-bit kernel
        ("aarch64", 32, "little", None),  # arm interpreter
        ("aarch64_be", 64, "big", None),
        ("riscv64", 64, "little", None),
        ("ppc64le", 64, "little", None),
    ],
)
def test_a_table_only_for_what_it_encodes(
    machine: str, bits: int, order: str, expected: str | None
) -> None:
    table = table_for(machine, bits, order)
    assert (table.arch if table else None) == expected


def run(code: str, *prefix: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*prefix, sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


NATIVE = this_table()
needs_filter = pytest.mark.skipif(NATIVE is None, reason="no system call table for this machine")
LOAD = textwrap.dedent(
    """
    import ctypes, resource, sys
    from scanner.syscall_filter import TABLES, program

    class SockFilter(ctypes.Structure):  # struct sock_filter, <linux/filter.h>
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                    ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):  # struct sock_fprog
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    def load(table):  # prctl(PR_SET_NO_NEW_PRIVS), prctl(PR_SET_SECCOMP, MODE_FILTER, prog)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS would dump a core
        code = program(table)
        array = (SockFilter * len(code))(*(SockFilter(*i) for i in code))
        prog = SockFprog(len(code), ctypes.addressof(array))
        libc = ctypes.CDLL(None, use_errno=True)
        zero = ctypes.c_ulong(0)
        libc.prctl(38, ctypes.c_ulong(1), zero, zero, zero)
        if libc.prctl(22, ctypes.c_ulong(2), ctypes.byref(prog), zero, zero):
            sys.exit(f"prctl: {ctypes.get_errno()}")
        return libc
    """
)


@needs_filter
def test_on_the_kernel_another_architectures_program_kills_at_the_next_call() -> None:
    """The kernel takes the aarch64 program on x86_64 (and the reverse): the arch check is
    the first thing it does, and the next call of this process dies with SIGSYS."""
    assert NATIVE is not None
    other = next(t for t in TABLES if t.arch != NATIVE.arch)
    done = run(LOAD + f"load(next(t for t in TABLES if t.arch == {other.arch!r}))\nprint('alive')")
    assert done.returncode == -signal.SIGSYS, done.stderr
    assert "alive" not in done.stdout


@needs_filter
def test_on_the_kernel_an_x32_call_kills() -> None:
    assert NATIVE is not None
    if not NATIVE.x32_bit:
        pytest.skip("no x32 ABI on this architecture")
    code = LOAD + (
        f"libc = load(next(t for t in TABLES if t.arch == {NATIVE.arch!r}))\n"
        "print('alive', flush=True)\n"
        "libc.syscall(ctypes.c_long(0x40000000 | 39))\n"  # x32 getpid
        "print('survived')\n"
    )
    done = run(code)
    assert done.returncode == -signal.SIGSYS, done.stderr
    assert done.stdout.split() == ["alive"]


@needs_filter
def test_installed_the_process_reports_a_filter() -> None:
    done = run(
        """
        import json
        from scanner.syscall_filter import install_filter
        first = install_filter()
        status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
        print(json.dumps([first.state.value, first.detail, status["Seccomp"].strip()]))
        """
    )
    assert done.returncode == 0, done.stderr
    assert NATIVE is not None
    assert json.loads(done.stdout) == ["active", NATIVE.arch, "2"]  # SECCOMP_MODE_FILTER


@needs_filter
def test_without_no_new_privs_or_cap_sys_admin_the_kernel_refuses_and_it_is_reported() -> None:
    """The kernel installs a filter only for a process with no_new_privs or CAP_SYS_ADMIN.
    Alone, install_filter fails (reported, not raised); confine sets no_new_privs first."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to drop CAP_SYS_ADMIN")
    done = run(
        """
        import json, tempfile
        from scanner.syscall_filter import install_filter
        from scanner.sandbox import confine
        alone = install_filter()
        c = confine(tempfile.mkdtemp())
        print(json.dumps([alone.state.value, alone.detail, c.syscalls.value, c.problems]))
        """,
        "setpriv",
        "--bounding-set",
        "-sys_admin",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["failed", "seccomp: EACCES", "active", []]


def test_a_failed_filter_is_a_problem_of_the_confinement() -> None:
    done = run(
        """
        import json, tempfile
        import scanner.sandbox as sandbox
        from scanner.syscall_filter import Installed, SyscallFilter
        sandbox.install_filter = lambda: Installed(SyscallFilter.FAILED, "seccomp: EACCES")
        c = sandbox.confine(tempfile.mkdtemp())
        print(json.dumps([c.syscalls.value, c.problems, dict(c.metadata())["sandbox.syscalls"]]))
        """
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [
        "failed",
        ["seccomp: EACCES"],
        "failed (seccomp: EACCES)",
    ]


def test_unavailable_elsewhere_changes_nothing() -> None:
    done = run(
        """
        import json
        import scanner.syscall_filter as f
        f.this_table = lambda: None
        out = f.install_filter()
        status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
        print(json.dumps([out.state.value, status.get("Seccomp", "0").strip()]))
        """
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["unavailable", "0"]


def test_ctypes_layouts_match_the_uapi() -> None:
    """struct sock_filter is 8 bytes; struct sock_fprog a short, padding, then a pointer."""
    from scanner.syscall_filter import _SockFilter, _SockFprog

    assert ctypes.sizeof(_SockFilter) == 8
    assert _SockFprog.filter.offset == ctypes.sizeof(ctypes.c_void_p)
