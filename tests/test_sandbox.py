"""The worker sandbox (scanner.sandbox), on the real kernel.

Confinement cannot be undone, so every test runs a fresh interpreter that confines itself,
tries things, and reports each outcome as JSON: "ok", an errno name, or an exception's type.
Files outside the private directory are snapshotted (bytes, size, mode, mtime) before and after.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import pickle
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import scanner
from scanner.model import NOT_STARTED, SANDBOX_KEYS
from scanner.sandbox import Confinement, Landlock, landlock_abi
from scanner.syscall_filter import SyscallFilter, this_table

REPO = Path(scanner.__file__).resolve().parent.parent
ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(ABI == 0, reason="this kernel has no Landlock")
TABLE = this_table()
needs_filter = pytest.mark.skipif(TABLE is None, reason="no system call table for this machine")

# The program each test runs. argv[1] is a JSON object: private, outside, network, layers,
# max_file_bytes, thread, abstract, groups (which sets of operations to try). Landlock's
# groups: outside, inside, cross, net, super_journal, tmp; the seccomp filter's: metadata
# (changes of mode, owner, times, xattrs, inode flags, and locks, on files outside) and
# private (SQLite recoveries and tempfile in the private directory).
PROBE = textwrap.dedent(
    """
    import ctypes, dataclasses, fcntl, json, os, shutil, socket, sqlite3, stat, struct
    import subprocess, sys, tempfile, termios, threading, time
    from scanner.sandbox import confine

    args = json.loads(sys.argv[1])
    P, O = args["private"], args["outside"]
    out = {}

    def attempt(action):
        try:
            value = action()
        except OSError as exc:
            return errno_name(exc)
        except Exception as exc:
            return type(exc).__name__
        return value if isinstance(value, str) else "ok"

    def errno_name(exc):
        import errno
        return errno.errorcode.get(exc.errno, str(exc.errno))

    def write_file(path, mode, data=b"x"):
        with open(path, mode) as fh:
            fh.write(data)

    def sqlite_write(path, new):
        conn = sqlite3.connect(path)
        try:
            if new:
                conn.execute("CREATE TABLE t (x)")
            conn.execute("INSERT INTO t VALUES (1)")
            conn.commit()
        finally:
            conn.close()

    def bind_unix(path):
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(path)

    def child_creates(path):
        # a new interpreter, started by the confined one, creates a file: its outcome
        code = (
            "import errno\\n"
            f"try: open({path!r}, 'w').close()\\n"
            "except OSError as exc: print(errno.errorcode[exc.errno])\\n"
            "else: print('ok')\\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        return done.stdout.strip() or done.stderr

    def child_chmod(path):
        # a new interpreter, started by the confined one, changes a file's mode: its outcome
        code = (
            "import errno, os\\n"
            f"try: os.chmod({path!r}, 0o600)\\n"
            "except OSError as exc: print(errno.errorcode[exc.errno])\\n"
            "else: print('ok')\\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        return done.stdout.strip() or done.stderr

    def tree_ops(d):
        j = lambda *n: os.path.join(d, *n)
        return {
            "create": lambda: os.close(os.open(j("new"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)),
            "write": lambda: write_file(j("canary"), "r+b"),
            "append": lambda: write_file(j("append"), "ab"),
            "truncate": lambda: os.truncate(j("trunc"), 0),
            "open_trunc": lambda: os.close(os.open(j("trunc2"), os.O_WRONLY | os.O_TRUNC)),
            "unlink": lambda: os.unlink(j("victim")),
            "rename": lambda: os.rename(j("victim2"), j("renamed")),
            "rename_across_dirs": lambda: os.rename(j("a", "f"), j("b", "f")),
            "mkdir": lambda: os.mkdir(j("newdir")),
            "rmdir": lambda: os.rmdir(j("emptydir")),
            "mkfifo": lambda: os.mkfifo(j("fifo")),
            "symlink": lambda: os.symlink("canary", j("symlink")),
            "hardlink": lambda: os.link(j("canary"), j("hardlink")),
            "unix_socket": lambda: bind_unix(j("sock")),
            "mknod_char": lambda: os.mknod(j("null"), stat.S_IFCHR | 0o600, os.makedev(1, 3)),
            "sqlite_new": lambda: sqlite_write(j("new.db"), True),
            "sqlite_existing": lambda: sqlite_write(j("existing.db"), False),
            "read": lambda: open(j("canary"), "rb").read(),
        }

    def cross_ops():
        def via_symlink():
            os.symlink(os.path.join(O, "canary"), os.path.join(P, "to-outside"))
            write_file(os.path.join(P, "to-outside"), "r+b")

        def connect_abstract():
            with socket.socket(socket.AF_UNIX) as s:
                s.connect("\\0" + args["abstract"])

        def device_ioctl():
            with open("/dev/zero", "rb") as fh:
                fcntl.ioctl(fh.fileno(), termios.TCGETS, bytes(64))

        return {
            "move_out": lambda: os.rename(os.path.join(O, "victim3"), os.path.join(P, "moved")),
            "move_in": lambda: os.rename(os.path.join(P, "mine"), os.path.join(O, "mine")),
            "link_in": lambda: os.link(os.path.join(O, "canary"), os.path.join(P, "linked")),
            "write_via_symlink": via_symlink,
            "child_write_outside": lambda: child_creates(os.path.join(O, "child")),
            "child_write_inside": lambda: child_creates(os.path.join(P, "child")),
            "signal_parent": lambda: os.kill(os.getppid(), 0),
            "abstract_socket": connect_abstract,
            "device_ioctl": device_ioctl,
            "dev_null": lambda: write_file(os.devnull, "w", "x"),
        }

    LIBC = ctypes.CDLL(None, use_errno=True)
    LIBC.syscall.restype = ctypes.c_long
    AT_FDCWD, NODUMP, XNODUMP = -100, 0x40, 0x80  # FS_NODUMP_FL, FS_XFLAG_NODUMP

    def raw(number, *args):
        # a system call by its number (x86_64: arch/x86/entry/syscalls/syscall_64.tbl)
        values = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
        if LIBC.syscall(ctypes.c_long(number), *values) < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    def metadata_ops(d, held):
        # every way to change a file's metadata or lock it; `held` keeps lock descriptors open
        f, link = os.path.join(d, "meta"), os.path.join(d, "meta-link")
        c_f, c_link = ctypes.c_char_p(f.encode()), ctypes.c_char_p(link.encode())
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        flock_fd = os.open(f, os.O_RDONLY)  # shared, then exclusive: one lock, converted
        held.extend((dfd, flock_fd))

        def on_fd(action):
            fd = os.open(f, os.O_RDONLY)
            try:
                return action(fd)
            finally:
                os.close(fd)

        def locked(action):
            fd = os.open(f, os.O_RDONLY)
            held.append(fd)
            return action(fd)

        def record_lock(command, kind):
            # struct flock: type, whence, start, len (0: the whole file), pid
            flock = struct.pack("hhqqi", kind, 0, 0, 0, 0)
            return lambda: locked(lambda fd: fcntl.fcntl(fd, command, flock))

        def set_flags(fd):
            flags = bytearray(8)
            fcntl.ioctl(fd, 0x80086601, flags)  # FS_IOC_GETFLAGS
            value = struct.unpack("q", flags)[0] | NODUMP
            fcntl.ioctl(fd, 0x40086602, struct.pack("q", value))  # FS_IOC_SETFLAGS

        def set_fsxattr(fd):
            attr = bytearray(28)
            fcntl.ioctl(fd, 0x801C581F, attr)  # FS_IOC_FSGETXATTR
            xflags = struct.unpack_from("I", attr)[0] | XNODUMP
            struct.pack_into("I", attr, 0, xflags)
            fcntl.ioctl(fd, 0x401C5820, bytes(attr))  # FS_IOC_FSSETXATTR

        def file_setattr():
            attr = (ctypes.c_uint64 * 3)()  # struct file_attr, 24 bytes: xflags first
            raw(468, AT_FDCWD, c_f, ctypes.byref(attr), 24, 0)  # file_getattr
            attr[0] |= XNODUMP
            raw(469, AT_FDCWD, c_f, ctypes.byref(attr), 24, 0)

        def setxattrat():
            value = ctypes.create_string_buffer(b"at")
            args = (ctypes.c_uint64 * 2)(ctypes.addressof(value), 2)  # value, size, flags
            raw(463, AT_FDCWD, c_f, 0, ctypes.c_char_p(b"user.at"), ctypes.byref(args), 16)

        times = (ctypes.c_long * 4)(1, 0, 1, 0)  # struct timeval[2]; utimbuf is its 0th, 2nd
        utimbuf = (ctypes.c_long * 2)(1, 1)
        ops = {
            "chmod": lambda: os.chmod(f, 0o600),
            "chmod_nofollow": lambda: os.chmod(f, 0o600, follow_symlinks=False),
            "fchmod": lambda: on_fd(lambda fd: os.fchmod(fd, 0o600)),
            "fchmodat": lambda: os.chmod("meta", 0o600, dir_fd=dfd),
            "raw_chmod": lambda: raw(90, c_f, 0o600),
            "raw_fchmodat2": lambda: raw(452, AT_FDCWD, c_link, 0o600, 0),
            "chown": lambda: os.chown(f, 4242, 4242),
            "fchown": lambda: on_fd(lambda fd: os.fchown(fd, 4242, 4242)),
            "lchown": lambda: os.lchown(link, 4242, 4242),
            "fchownat": lambda: os.chown("meta", 4242, 4242, dir_fd=dfd),
            "raw_chown": lambda: raw(92, c_f, 4242, 4242),
            "raw_lchown": lambda: raw(94, c_link, 4242, 4242),
            "utime": lambda: os.utime(f, ns=(10**9, 10**9)),
            "utime_nofollow": lambda: os.utime(link, ns=(10**9, 10**9), follow_symlinks=False),
            "futimens": lambda: on_fd(lambda fd: os.utime(fd, ns=(10**9, 10**9))),
            "raw_utime": lambda: raw(132, c_f, ctypes.byref(utimbuf)),
            "raw_utimes": lambda: raw(235, c_f, ctypes.byref(times)),
            "raw_futimesat": lambda: raw(261, AT_FDCWD, c_f, ctypes.byref(times)),
            "setxattr": lambda: os.setxattr(f, "user.new", b"x"),
            "lsetxattr": lambda: os.setxattr(f, "user.new", b"x", follow_symlinks=False),
            "fsetxattr": lambda: on_fd(lambda fd: os.setxattr(fd, "user.new", b"x")),
            "raw_setxattrat": setxattrat,
            "removexattr": lambda: os.removexattr(f, "user.keep"),
            "lremovexattr": lambda: os.removexattr(f, "user.keep2", follow_symlinks=False),
            "fremovexattr": lambda: on_fd(lambda fd: os.removexattr(fd, "user.keep3")),
            "raw_removexattrat": lambda: raw(466, AT_FDCWD, c_f, 0, ctypes.c_char_p(b"user.keep4")),
            "ioctl_setflags": lambda: on_fd(set_flags),
            "ioctl_fssetxattr": lambda: on_fd(set_fsxattr),
            "raw_file_setattr": file_setattr,
            "flock_shared": lambda: fcntl.flock(flock_fd, fcntl.LOCK_SH | fcntl.LOCK_NB),
            "flock_exclusive": lambda: fcntl.flock(flock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB),
            "lease": lambda: locked(lambda fd: fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)),
            "record_read_lock": record_lock(fcntl.F_SETLK, fcntl.F_RDLCK),
            "ofd_read_lock": record_lock(37, fcntl.F_RDLCK),  # F_OFD_SETLK
            "record_write_lock": record_lock(fcntl.F_SETLK, fcntl.F_WRLCK),
        }
        if os.uname().machine != "x86_64":  # the raw numbers are x86_64's
            ops = {k: v for k, v in ops.items() if not k.startswith("raw_")}
        return ops

    def locks_on(path):
        # the kinds of lock /proc/locks lists on that file (FLOCK, LEASE, POSIX, OFDLCK)
        st = os.stat(path)
        device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        with open("/proc/locks") as fh:
            return sorted({line.split()[1] for line in fh if device in line.split()})

    COUNT_AND_LEAST = "SELECT count(*), min(x) FROM t"

    def private_sqlite():
        # recover a WAL and roll a hot journal back in private copies, as sqlite_open does
        counts = {}
        for name in ("wal.db", "hot.db"):
            folder = tempfile.mkdtemp(dir=P)
            for suffix in ("", "-wal", "-journal"):
                source = os.path.join(O, name + suffix)
                if os.path.exists(source):
                    shutil.copyfile(source, os.path.join(folder, "db" + suffix))
            conn = sqlite3.connect(os.path.join(folder, "db"), isolation_level=None)
            answer = lambda: "{}/{}".format(*conn.execute(COUNT_AND_LEAST).fetchone())
            counts[name] = attempt(answer)
            conn.close()
        return counts

    def temp_ops():
        tempfile.tempdir = P
        def named():
            with tempfile.NamedTemporaryFile() as fh:
                fh.write(b"x" * 100)
                fh.flush()
                fh.seek(0)
                return "ok" if fh.read() == b"x" * 100 else "lost"
        def spooled():
            with tempfile.SpooledTemporaryFile(max_size=10) as fh:
                fh.write(b"y" * 100)
        def directory():
            with tempfile.TemporaryDirectory() as d:
                os.mkdir(os.path.join(d, "sub"))
                open(os.path.join(d, "sub", "f"), "w").close()
        return {
            "mkstemp": lambda: os.close(tempfile.mkstemp()[0]),
            "named": named,
            "spooled": spooled,
            "directory": directory,
            "chmod_inside": lambda: os.chmod(tempfile.mkstemp()[1], 0o644),
        }

    def net_ops():
        def connect():
            with socket.create_connection(("127.0.0.1", 5432), timeout=5):
                pass

        def bind():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))

        return {"tcp_connect": connect, "tcp_bind": bind}

    release = threading.Event()
    thread_result = {}
    if args.get("thread"):
        def early():
            release.wait()
            path = os.path.join(O, "thread")
            thread_result["write"] = attempt(lambda: write_file(path, "w", "x"))
            thread_result["chmod"] = attempt(lambda: os.chmod(os.path.join(O, "canary"), 0o600))
        worker = threading.Thread(target=early)
        worker.start()

    started = time.perf_counter()
    layers = args.get("layers", 1)  # 0: a control run, not confined
    results = [
        confine(P, network=args["network"], max_file_bytes=args.get("max_file_bytes"))
        for _ in range(min(layers, 1))
    ]
    out["seconds"] = time.perf_counter() - started
    for _ in range(layers - 1):
        results.append(confine(P, network=args["network"]))
    out["confinements"] = [
        {
            **dataclasses.asdict(c),
            "landlock": c.landlock.value,
            "syscalls": c.syscalls.value,
            "metadata": c.metadata(),
        }
        for c in results
    ]
    groups = args.get("groups", [])
    if "outside" in groups:
        out["outside"] = {k: attempt(v) for k, v in tree_ops(O).items()}
    if "inside" in groups:
        out["inside"] = {k: attempt(v) for k, v in tree_ops(P).items()}
    if "cross" in groups:
        out["cross"] = {k: attempt(v) for k, v in cross_ops().items()}
    if "net" in groups:
        out["net"] = {k: attempt(v) for k, v in net_ops().items()}
    if "super_journal" in groups:  # a query opens the database and recovers the hot journal
        db = sqlite3.connect(os.path.join(P, "db"))
        out["super_journal"] = attempt(lambda: db.execute("SELECT x FROM t").fetchall())
    if "metadata" in groups:
        held = []
        out["metadata"] = {k: attempt(v) for k, v in metadata_ops(O, held).items()}
        out["locks"] = locks_on(os.path.join(O, "meta"))
        out["child_chmod"] = child_chmod(os.path.join(O, "meta"))
        for fd in held:
            os.close(fd)
    if "private" in groups:
        out["private_sqlite"] = private_sqlite()
        out["temp"] = {k: attempt(v) for k, v in temp_ops().items()}
    if "tmp" in groups:
        out["tmp"] = attempt(lambda: write_file(os.path.join(O, "anywhere"), "w"))
    if args.get("max_file_bytes") is not None:
        with open(os.path.join(P, "big"), "wb", buffering=0) as fh:
            out["first_write"] = fh.write(b"x" * (2 * args["max_file_bytes"]))
            out["second_write"] = attempt(lambda: fh.write(b"x"))
    if args.get("thread"):
        release.set()
        worker.join()
        out["thread"] = thread_result["write"]
        out["thread_chmod"] = thread_result["chmod"]
    print(json.dumps(out))
    """
)


def run_probe(private: Path | str, outside: Path, **args: Any) -> dict[str, Any]:
    spec = {"private": str(private), "outside": str(outside), "network": False, **args}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def populate(root: Path) -> None:
    """The files each operation acts on, the same inside and outside the private directory."""
    for name in ("canary", "append", "trunc", "trunc2", "victim", "victim2", "victim3", "mine"):
        (root / name).write_bytes(f"{name}: evidence that must not change\n".encode())
    for name in ("a", "b", "emptydir"):
        (root / name).mkdir()
    (root / "a" / "f").write_bytes(b"f")
    conn = sqlite3.connect(root / "existing.db")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()


def hot_journal(folder: Path, super_journal: Path) -> None:
    """A database `db` with a hot rollback journal naming `super_journal` (sqlite.org/fileformat
    "the rollback journal"): recovering it, SQLite deletes the super-journal it names when no
    child journal still points to it. The name is the attacker's."""
    db = folder / "db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    conn.close()
    magic = bytes.fromhex("d9d505f920a163d7")
    # header: magic, page records (none), nonce, pages in the database, sector and page size
    header = magic + struct.pack(">IIIII", 0, 0, db.stat().st_size // 4096, 512, 4096)
    name = str(super_journal).encode()
    pointer = (  # at the end: lock-byte page, name, its length and checksum, magic
        struct.pack(">I", (1 << 30) // 4096 + 1)
        + name
        + struct.pack(">II", len(name), sum(name))
        + magic
    )
    (folder / "db-journal").write_bytes(header.ljust(512, b"\0") + pointer)


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry beneath root: kind, mode, size, mtime and the bytes' digest."""
    entries: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        entries[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return entries


@pytest.fixture(scope="module")
def confined(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One confined process tries every operation outside, inside and across the boundary."""
    base = tmp_path_factory.mktemp("sandbox")
    private, outside = base / "private", base / "outside"
    private.mkdir()
    outside.mkdir()
    populate(private)
    populate(outside)
    before = snapshot(outside)
    name = f"faceaudit-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind("\0" + name)
        listener.listen(4)
        result = run_probe(
            private, outside, abstract=name, groups=["outside", "inside", "cross", "tmp"]
        )
    result["unchanged"] = snapshot(outside) == before
    return result


OPERATIONS = [
    "create",
    "write",
    "append",
    "truncate",
    "open_trunc",
    "unlink",
    "rename",
    "rename_across_dirs",
    "mkdir",
    "rmdir",
    "mkfifo",
    "symlink",
    "hardlink",
    "unix_socket",
    "sqlite_new",
    "sqlite_existing",
]
DENIED = {"EACCES", "EPERM"}


@needs_landlock
@pytest.mark.parametrize("operation", OPERATIONS)
def test_outside_the_private_directory_every_change_is_refused(
    confined: dict[str, Any], operation: str
) -> None:
    outcome = confined["outside"][operation]
    if operation.startswith("sqlite"):
        assert outcome == "OperationalError"  # SQLite's "unable to open" / "readonly database"
    else:
        assert outcome in DENIED
    assert confined["unchanged"], "a file outside the private directory changed"


@needs_landlock
def test_outside_the_private_directory_reading_works(confined: dict[str, Any]) -> None:
    assert confined["outside"]["read"] == "ok"
    assert confined["tmp"] in DENIED


@needs_landlock
@pytest.mark.parametrize("operation", [*OPERATIONS, "read"])
def test_inside_the_private_directory_everything_works(
    confined: dict[str, Any], operation: str
) -> None:
    if operation == "rename_across_dirs" and ABI < 2:
        pytest.skip("ABI 1 refuses every rename across directories")
    if operation == "truncate" and ABI < 3:
        pytest.skip("ABI < 3 does not handle truncate")
    assert confined["inside"][operation] == "ok"


@needs_landlock
def test_no_device_node_can_be_made_even_in_the_private_directory(
    confined: dict[str, Any],
) -> None:
    """Root could otherwise mknod a disk's node there and write the raw device."""
    assert confined["outside"]["mknod_char"] in DENIED
    assert confined["inside"]["mknod_char"] in DENIED


@needs_landlock
@pytest.mark.parametrize(
    "operation", ["move_out", "move_in", "link_in", "write_via_symlink", "child_write_outside"]
)
def test_across_the_boundary_nothing_escapes(confined: dict[str, Any], operation: str) -> None:
    # A link or rename into a less confined hierarchy is refused with EXDEV (ABI >= 2).
    assert confined["cross"][operation] in {*DENIED, "EXDEV"}
    assert confined["unchanged"]


@needs_landlock
def test_a_child_process_is_confined_too_and_can_write_inside(confined: dict[str, Any]) -> None:
    assert confined["cross"]["child_write_outside"] in DENIED
    assert confined["cross"]["child_write_inside"] == "ok"
    assert confined["cross"]["dev_null"] == "ok"


@needs_landlock
def test_signals_abstract_sockets_and_device_ioctls(confined: dict[str, Any]) -> None:
    cross = confined["cross"]
    if ABI >= 6:
        assert cross["signal_parent"] == "EPERM"
        assert cross["abstract_socket"] == "EPERM"
    if ABI >= 5:
        assert cross["device_ioctl"] == "EACCES"  # ENOTTY when the ioctl is let through


def test_unconfined_the_same_operations_succeed(tmp_path: Path) -> None:
    """The control: without confine(), root does all of it, so the refusals above are the
    sandbox's doing."""
    private, outside = tmp_path / "private", tmp_path / "outside"
    private.mkdir()
    outside.mkdir()
    populate(private)
    populate(outside)
    name = f"faceaudit-control-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind("\0" + name)
        listener.listen(4)
        result = run_probe(private, outside, layers=0, abstract=name, groups=["outside", "cross"])
    expected = dict.fromkeys(result["outside"], "ok")
    if os.geteuid() == 0:
        assert result["outside"] == expected
    assert result["cross"]["signal_parent"] == "ok"
    assert result["cross"]["abstract_socket"] == "ok"
    assert result["cross"]["device_ioctl"] == "ENOTTY"
    assert result["cross"]["child_write_outside"] == "ok"
    assert (outside / "child").exists()


@needs_landlock
def test_the_confinement_says_what_is_active(confined: dict[str, Any]) -> None:
    c = confined["confinements"][0]
    assert c["landlock"] == "active"
    assert c["abi"] == ABI
    assert c["problems"] == []
    assert c["no_new_privs"] and c["core_dumps_off"]
    summary = dict(c["metadata"])["sandbox.landlock"]
    assert summary.startswith(f"abi {ABI}: writes confined to the private directory")
    if ABI >= 4:
        assert c["tcp_denied"] and "TCP denied" in summary
    if TABLE is not None:
        assert (c["syscalls"], c["syscalls_detail"]) == ("active", TABLE.arch)
        assert dict(c["metadata"])["sandbox.syscalls"] == (
            f"metadata changes, flock and leases refused ({TABLE.arch})"
        )
    assert confined["seconds"] < 0.25  # ~1 ms measured: a few syscalls


@needs_landlock
def test_tcp_is_refused_unless_the_network_is_allowed(tmp_path: Path) -> None:
    if ABI < 4:
        pytest.skip("ABI < 4 cannot restrict TCP")
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=5).close()
    except OSError:
        pytest.skip("nothing listens on 127.0.0.1:5432 (PostgreSQL)")
    denied = run_probe(tmp_path, tmp_path, groups=["net"])
    assert denied["net"] == {"tcp_connect": "EACCES", "tcp_bind": "EACCES"}
    allowed = run_probe(tmp_path, tmp_path, network=True, groups=["net"])
    assert allowed["net"] == {"tcp_connect": "ok", "tcp_bind": "ok"}
    assert "TCP allowed" in dict(allowed["confinements"][0]["metadata"])["sandbox.landlock"]


@needs_landlock
def test_sqlite_recovering_a_hot_journal_cannot_delete_the_file_it_names(tmp_path: Path) -> None:
    """The threat of HOSTILE.md: a database copied with its journal into the private directory
    and opened writable (as scanner.sources.sqlite_open does) names a scanned file as its
    super-journal. Unconfined, SQLite deletes that file; confined, the query fails instead."""
    for confined in (False, True):
        private, outside = tmp_path / f"private-{confined}", tmp_path / f"outside-{confined}"
        private.mkdir()
        outside.mkdir()
        victim = outside / "evidence.jpg"
        victim.write_bytes(b"evidence")
        hot_journal(private, victim)
        result = run_probe(private, outside, layers=int(confined), groups=["super_journal"])
        if confined:
            assert result["super_journal"] == "OperationalError"  # "disk I/O error"
            assert victim.read_bytes() == b"evidence"
        else:
            assert result["super_journal"] == "ok"
            assert not victim.exists(), "the control no longer shows SQLite deleting the file"


def test_landlock_abi_is_the_kernels() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(ctypes.c_long(444), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(1))
    if version < 0:
        assert ctypes.get_errno() in {errno.ENOSYS, errno.EOPNOTSUPP}
        assert landlock_abi() == 0
    else:
        assert landlock_abi() == version


@needs_landlock
def test_a_missing_private_directory_leaves_no_writable_place(tmp_path: Path) -> None:
    result = run_probe(tmp_path / "missing", tmp_path, groups=["tmp"])
    c = result["confinements"][0]
    assert c["landlock"] == "active"
    assert c["private_dir"] is None
    assert any("ENOENT" in p for p in c["problems"])
    assert "writes denied everywhere" in dict(c["metadata"])["sandbox.landlock"]
    assert result["tmp"] in DENIED
    assert not (tmp_path / "anywhere").exists()


@needs_landlock
def test_a_failed_step_is_reported_not_raised(tmp_path: Path) -> None:
    """Landlock stacks at most 16 domains: the 17th confine() fails in the kernel. It says so,
    keeps the best-effort steps, and the earlier layers stay in force."""
    (tmp_path / "private").mkdir()
    result = run_probe(tmp_path / "private", tmp_path, layers=17, groups=["tmp"])
    states = [c["landlock"] for c in result["confinements"]]
    assert states == ["active"] * 16 + ["failed"]
    last = result["confinements"][-1]
    assert last["reason"] == "landlock_restrict_self: E2BIG"
    assert dict(last["metadata"])["sandbox.landlock"] == (
        "failed (landlock_restrict_self: E2BIG): best effort only"
    )
    assert last["no_new_privs"] and last["core_dumps_off"]
    assert result["tmp"] in DENIED
    if TABLE is not None:  # seccomp filters stack as well: each layer adds one
        assert {c["syscalls"] for c in result["confinements"]} == {"active"}


@needs_landlock
def test_max_file_bytes_makes_an_oversize_write_fail_instead_of_killing(tmp_path: Path) -> None:
    result = run_probe(tmp_path, tmp_path, max_file_bytes=4096)
    assert result["confinements"][0]["max_file_bytes"] == 4096
    assert result["first_write"] == 4096  # a short write up to the bound
    assert result["second_write"] == "EFBIG"  # then an error; the process lives on


@needs_landlock
def test_threads_started_before_are_counted(tmp_path: Path) -> None:
    """Before ABI 8 Landlock confines the calling thread only: a thread already running stays
    free (a documented limit, reported); from ABI 8 every thread is confined."""
    (tmp_path / "private").mkdir()
    result = run_probe(tmp_path / "private", tmp_path, thread=True)
    c = result["confinements"][0]
    if TABLE is not None:  # the filter is synchronised to every thread (TSYNC), at any ABI
        assert result["thread_chmod"] == "EPERM"
    if ABI >= 8:
        assert c["unconfined_threads"] == 0
        assert result["thread"] in DENIED
    else:
        assert c["unconfined_threads"] == 1
        assert "1 earlier thread(s) not confined" in dict(c["metadata"])["sandbox.landlock"]
        assert result["thread"] == "ok"


def test_metadata_is_plain_strings_under_fixed_keys() -> None:
    keys = [
        "sandbox.landlock",
        "sandbox.no_new_privs",
        "sandbox.core_dumps",
        "sandbox.max_file_bytes",
        "sandbox.problems",
        "sandbox.syscalls",
    ]
    unavailable = Confinement(
        Landlock.UNAVAILABLE,
        0,
        "kernel without Landlock",
        syscalls_detail="no system call table for riscv64 64-bit",
    )
    assert dict(unavailable.metadata()) == {
        "sandbox.landlock": "unavailable (kernel without Landlock): best effort only",
        "sandbox.no_new_privs": "off",
        "sandbox.core_dumps": "unchanged",
        "sandbox.max_file_bytes": "unlimited",
        "sandbox.problems": "none",
        "sandbox.syscalls": "unavailable (no system call table for riscv64 64-bit)",
    }
    assert not unavailable.active
    active = Confinement(
        Landlock.ACTIVE,
        7,
        private_dir="/p",
        tcp_denied=True,
        scoped=True,
        syscalls=SyscallFilter.ACTIVE,
        syscalls_detail="x86_64",
    )
    assert [k for k, _ in active.metadata()] == keys
    # ...the keys a scan that started no worker reports too (scanner.model.NOT_STARTED)
    assert list(SANDBOX_KEYS) == keys and [k for k, _ in NOT_STARTED] == keys
    assert dict(active.metadata())["sandbox.syscalls"] == (
        "metadata changes, flock and leases refused (x86_64)"
    )
    failed = Confinement(
        Landlock.ACTIVE, 7, syscalls=SyscallFilter.FAILED, syscalls_detail="seccomp: EACCES"
    )
    assert dict(failed.metadata())["sandbox.syscalls"] == "failed (seccomp: EACCES)"
    assert active.summary == (
        "abi 7: writes confined to the private directory; TCP denied; "
        "abstract sockets and signals scoped"
    )
    assert pickle.loads(pickle.dumps(active)) == active  # it can travel over the worker's pipe


# -- the seccomp filter: what Landlock does not cover ------------------------------------------

# Refused with EPERM by the filter; unconfined, root does each (where the kernel and the
# filesystem support it: see SUPPORT_DEPENDENT).
REFUSED_METADATA = [
    "chmod",
    "chmod_nofollow",
    "fchmod",
    "fchmodat",
    "raw_chmod",
    "raw_fchmodat2",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "raw_chown",
    "raw_lchown",
    "utime",
    "utime_nofollow",
    "futimens",
    "raw_utime",
    "raw_utimes",
    "raw_futimesat",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "raw_setxattrat",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "raw_removexattrat",
    "ioctl_setflags",
    "ioctl_fssetxattr",
    "raw_file_setattr",
    "flock_shared",
    "flock_exclusive",
    "lease",
]
# Newer system calls (fchmodat2 6.6, *xattrat 6.13, file_setattr 6.17) and inode flags on
# filesystems without them: the control may find them missing (the filter refuses them anyway).
SUPPORT_DEPENDENT = {
    "raw_fchmodat2",
    "raw_setxattrat",
    "raw_removexattrat",
    "raw_file_setattr",
    "ioctl_setflags",
    "ioctl_fssetxattr",
    "chmod_nofollow",  # an older C library emulates it through /proc, or answers ENOTSUP
}
MISSING = {"ENOSYS", "ENOTTY", "EOPNOTSUPP", "ENOTSUP"}


def populate_metadata(root: Path) -> None:
    """A file with extended attributes to remove, a link to it, and what the thread and
    child tests touch."""
    meta = root / "meta"
    meta.write_bytes(b"metadata: evidence that must not change\n")
    for name in ("user.keep", "user.keep2", "user.keep3", "user.keep4"):
        os.setxattr(meta, name, b"1")
    (root / "meta-link").symlink_to("meta")
    (root / "canary").write_bytes(b"canary\n")


def full_snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry beneath root: mode, owner, group, the three times, extended attributes,
    inode flags and the bytes' digest (read with O_NOATIME, so taking it changes nothing).
    A symbolic link's access time is left out: following the link updates it."""
    entries: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        xattrs = {n: os.getxattr(path, n, follow_symlinks=False) for n in _xattr_names(path)}
        digest, flags = None, None
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
            try:
                digest = hashlib.sha256(os.read(fd, 1 << 20)).hexdigest()
                buffer = bytearray(8)
                try:
                    fcntl.ioctl(fd, 0x80086601, buffer)  # FS_IOC_GETFLAGS
                    flags = int.from_bytes(buffer, sys.byteorder)
                except OSError:
                    flags = None
            finally:
                os.close(fd)
        atime = None if path.is_symlink() else st.st_atime_ns
        times = (atime, st.st_mtime_ns, st.st_ctime_ns)
        entries[str(path.relative_to(root))] = (
            st.st_mode,
            st.st_uid,
            st.st_gid,
            *times,
            sorted(xattrs.items()),
            flags,
            digest,
        )
    return entries


def _xattr_names(path: Path) -> list[str]:
    try:
        return sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return []


@pytest.fixture(scope="module")
def metadata_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One confined process and one control process try every metadata change and lock on
    files outside the private directory; each has its own copy of those files."""
    runs: dict[str, dict[str, Any]] = {}
    for name, layers in (("confined", 1), ("control", 0)):
        base = tmp_path_factory.mktemp(f"metadata-{name}")
        private, outside = base / "private", base / "outside"
        private.mkdir()
        outside.mkdir()
        populate_metadata(outside)
        before = full_snapshot(outside)
        result = run_probe(private, outside, layers=layers, groups=["metadata"])
        result["unchanged"] = full_snapshot(outside) == before
        runs[name] = result
    return runs


@needs_filter
@pytest.mark.parametrize("operation", REFUSED_METADATA)
def test_metadata_changes_flock_and_leases_are_refused_outside(
    metadata_runs: dict[str, dict[str, Any]], operation: str
) -> None:
    if operation.startswith("raw_") and TABLE is not None and TABLE.arch != "x86_64":
        pytest.skip("the raw calls use x86_64's numbers")
    assert metadata_runs["confined"]["metadata"][operation] == "EPERM"
    assert metadata_runs["confined"]["unchanged"], "a file's metadata changed outside"


@pytest.mark.parametrize("operation", REFUSED_METADATA)
def test_unconfined_root_can_make_each_metadata_change(
    metadata_runs: dict[str, dict[str, Any]], operation: str
) -> None:
    """The control: the refusals above are the filter's doing."""
    if os.geteuid() != 0:
        pytest.skip("chown, and flags and leases on another's file, need root")
    outcomes = metadata_runs["control"]["metadata"]
    if operation not in outcomes:
        pytest.skip("the raw calls use x86_64's numbers")
    if operation in SUPPORT_DEPENDENT and outcomes[operation] in MISSING:
        pytest.skip(f"{operation}: {outcomes[operation]} on this kernel or filesystem")
    assert outcomes[operation] == "ok"
    assert not metadata_runs["control"]["unchanged"]


@needs_filter
def test_record_locks_stay_possible_on_a_file_being_read(
    metadata_runs: dict[str, dict[str, Any]],
) -> None:
    """The documented limit: SQLite needs fcntl record locks on its private copies, and the
    filter cannot tell a private copy from a scanned file. A read lock on a descriptor opened
    for reading stays possible; a write lock needs a descriptor opened for writing, which
    Landlock refuses outside the private directory."""
    confined = metadata_runs["confined"]
    assert confined["metadata"]["record_read_lock"] == "ok"
    assert confined["metadata"]["ofd_read_lock"] == "ok"
    assert confined["metadata"]["record_write_lock"] == "EBADF"
    assert confined["locks"] == ["OFDLCK", "POSIX"]  # no FLOCK, no LEASE
    if os.geteuid() == 0:
        assert metadata_runs["control"]["locks"] == ["FLOCK", "LEASE", "OFDLCK", "POSIX"]


@needs_filter
def test_a_child_process_inherits_the_filter(metadata_runs: dict[str, dict[str, Any]]) -> None:
    assert metadata_runs["confined"]["child_chmod"] == "EPERM"
    assert metadata_runs["control"]["child_chmod"] == "ok"


COUNT_AND_LEAST = "SELECT count(*), min(x) FROM t"


def hot_rollback_journal(folder: Path) -> None:
    """`hot.db` with the hot journal of a transaction caught half-way, its changes already
    spilled into the database file: 10 committed rows (0..9), then updated to -1..-10, then
    enough rows written to another table to push the updated page out of the cache."""
    db = folder / "live-hot.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA cache_size=1")  # spill uncommitted pages into the file early
    conn.execute("CREATE TABLE t (x)")
    conn.execute("CREATE TABLE u (y)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
    conn.execute("BEGIN")
    conn.execute("UPDATE t SET x = -1 - x")
    conn.executemany("INSERT INTO u VALUES (?)", [(b"y" * 1000,) for _ in range(200)])
    shutil.copyfile(db, folder / "hot.db")
    shutil.copyfile(f"{db}-journal", folder / "hot.db-journal")
    conn.execute("ROLLBACK")
    conn.close()
    for suffix in ("", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def wal_only_rows(folder: Path) -> None:
    """`wal.db` whose 100 rows are only in its `-wal` (never checkpointed)."""
    db = folder / "live-wal.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(100)])
    conn.commit()
    shutil.copyfile(db, folder / "wal.db")
    shutil.copyfile(f"{db}-wal", folder / "wal.db-wal")
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


@needs_filter
def test_sqlite_recovers_private_copies_and_tempfile_works_under_the_filter(
    tmp_path: Path,
) -> None:
    """Inside the private directory SQLite still replays a WAL and rolls a hot journal back
    (it takes record locks, and its fchown/fchmod of its own journal, refused, are ignored),
    and tempfile works; the originals outside stay as they were."""
    outcomes = {}
    for confined in (True, False):
        private, outside = tmp_path / f"private-{confined}", tmp_path / f"outside-{confined}"
        private.mkdir()
        outside.mkdir()
        wal_only_rows(outside)
        hot_rollback_journal(outside)
        before = snapshot(outside)
        result = run_probe(private, outside, layers=int(confined), groups=["private"])
        assert snapshot(outside) == before
        outcomes[confined] = result
    confined_run, control = outcomes[True], outcomes[False]
    assert confined_run["private_sqlite"] == {"wal.db": "100/0", "hot.db": "10/0"}
    assert control["private_sqlite"] == confined_run["private_sqlite"]
    temp = confined_run["temp"]
    assert {k: v for k, v in temp.items() if k != "chmod_inside"} == {
        "mkstemp": "ok",
        "named": "ok",
        "spooled": "ok",
        "directory": "ok",
    }
    # The filter sees no paths: a mode change is refused inside the private directory too.
    assert temp["chmod_inside"] == "EPERM"
    assert control["temp"]["chmod_inside"] == "ok"


def test_the_recoveries_above_are_real(tmp_path: Path) -> None:
    """Read without its sidecar, each database says something else: the answers above come
    from replaying the WAL and rolling the journal back."""
    wal_only_rows(tmp_path)
    hot_rollback_journal(tmp_path)
    seen: dict[str, object] = {}
    for name in ("wal.db", "hot.db"):
        uri = f"file:{tmp_path / name}?immutable=1"  # ignores -wal and -journal
        conn = sqlite3.connect(uri, uri=True)
        try:
            count, least = conn.execute(COUNT_AND_LEAST).fetchone()
            seen[name] = f"{count}/{least}"
        except sqlite3.Error as exc:
            seen[name] = type(exc).__name__
        finally:
            conn.close()
    assert seen == {"wal.db": "OperationalError", "hot.db": "10/-10"}  # no table; uncommitted
