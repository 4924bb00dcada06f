"""The worker sandbox (scanner.sandbox), on the real kernel.

Confinement cannot be undone, so every test runs a fresh interpreter that confines itself,
tries things, and reports each outcome as JSON: "ok", an errno name, or an exception's type.
Files outside the private directory are snapshotted (bytes, size, mode, mtime) before and after.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import pickle
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
from scanner.sandbox import Confinement, Landlock, landlock_abi

REPO = Path(scanner.__file__).resolve().parent.parent
ABI = landlock_abi()
needs_landlock = pytest.mark.skipif(ABI == 0, reason="this kernel has no Landlock")

# The program each test runs. argv[1] is a JSON object: private, outside, network, layers,
# max_file_bytes, thread, abstract, groups (which sets of operations to try).
PROBE = textwrap.dedent(
    """
    import dataclasses, fcntl, json, os, socket, sqlite3, stat, subprocess, sys, termios
    import threading, time
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
        {**dataclasses.asdict(c), "landlock": c.landlock.value, "metadata": c.metadata()}
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
    ]
    unavailable = Confinement(Landlock.UNAVAILABLE, 0, "kernel without Landlock")
    assert dict(unavailable.metadata()) == {
        "sandbox.landlock": "unavailable (kernel without Landlock): best effort only",
        "sandbox.no_new_privs": "off",
        "sandbox.core_dumps": "unchanged",
        "sandbox.max_file_bytes": "unlimited",
        "sandbox.problems": "none",
    }
    assert not unavailable.active
    active = Confinement(Landlock.ACTIVE, 7, private_dir="/p", tcp_denied=True, scoped=True)
    assert [k for k, _ in active.metadata()] == keys
    assert active.summary == (
        "abi 7: writes confined to the private directory; TCP denied; "
        "abstract sockets and signals scoped"
    )
    assert pickle.loads(pickle.dumps(active)) == active  # it can travel over the worker's pipe
