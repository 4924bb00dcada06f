"""The filesystem walker on real trees built at test time.

Identity and order of what it finds, links it must not follow, special files it must not
open, hostile names, globs, files that change under it, and proof that a walk plus a read of
every file changes nothing. The last tests go through the engine with real detectors.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest
from helpers import astronaut, encode, snapshot
from PIL import Image

from scanner.model import (
    ContentType,
    EvidenceKind,
    ExitCode,
    FileLocation,
    Problem,
    ProblemReason,
    ScanResult,
)
from scanner.sources.filesystem import (
    FileChangedError,
    FileRef,
    FilesystemWalker,
    open_regular,
    read_all,
    read_head,
)
from scanner.sources.globs import PathFilter

NOBODY = 65534
DAY_NS = 86_400 * 10**9
OLD_NS = time.time_ns() - 3 * DAY_NS  # older than relatime's 24 h: any plain read updates it

Walk = tuple[FilesystemWalker, list[FileRef], list[Problem]]


class Overran(Exception):  # not an OSError (TimeoutError is), which the walkers catch
    """A bounded block ran out of time."""


# -- helpers ------------------------------------------------------------------------------------


@functools.cache
def small_jpeg() -> bytes:
    return encode(Image.new("RGB", (16, 16), (120, 90, 60)), "JPEG")


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: SIGALRM interrupts a blocking open() (of a FIFO, say)."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Overran(f"still running after {seconds} s (blocked on a FIFO?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def walk(target: Path, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> Walk:
    walker = FilesystemWalker(target, PathFilter.build(include, exclude))
    refs: list[FileRef] = []
    problems: list[Problem] = []
    with deadline(20):
        for entry in walker:
            if isinstance(entry, Problem):
                problems.append(entry)
            else:
                refs.append(entry)
    return walker, refs, problems


def write(path: Path, data: bytes = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def rel_paths(root: Path, refs: list[FileRef]) -> list[str]:
    return [os.path.relpath(r.location.path, root) for r in refs]


def problems_by_name(problems: list[Problem]) -> dict[str, Problem]:
    return {os.path.basename(p.location.path): p for p in problems}


def age_atimes(root: Path) -> None:
    """Set every file's access time 3 days back, so a read that does not preserve it shows."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                os.utime(path, ns=(OLD_NS, st.st_mtime_ns))


def settled_snapshot(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """snapshot() lists directories with os.walk, which itself moves their access times once
    (relatime); take it twice so the second one is a stable baseline."""
    snapshot(root)
    return snapshot(root)


# -- what is found, and how it is identified ------------------------------------------------------


def test_regular_files_carry_their_identity(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    files = {
        "a.jpg": small_jpeg(),
        "sub/b.bin": os.urandom(5000),
        "empty": b"",
    }
    for rel, data in files.items():
        write(root / rel, data)
    os.utime(root / "a.jpg", ns=(OLD_NS, 1_600_000_000_123_456_789))

    walker, refs, problems = walk(root)

    assert problems == []
    assert sorted(rel_paths(root, refs)) == sorted(files)
    for ref in refs:
        path = Path(ref.location.path)
        st = os.lstat(path)
        assert ref.location == FileLocation(str(root / os.path.relpath(path, root)))
        assert ref.location.members == ()
        assert ref.fs_path == os.path.realpath(path)
        assert (ref.dev, ref.ino) == (st.st_dev, st.st_ino)
        assert ref.size == st.st_size == len(files[os.path.relpath(path, root)])
        assert ref.mtime_ns == st.st_mtime_ns
        assert ref.allocated == st.st_blocks * 512
        assert not ref.sparse
    [jpg] = [r for r in refs if r.location.path.endswith("a.jpg")]
    assert jpg.mtime_ns == 1_600_000_000_123_456_789
    assert walker.directories == 2
    assert walker.excluded == 0
    assert walker.atime_preserved  # root may always use O_NOATIME


def test_order_is_sorted_and_repeatable(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for rel in ("m/z", "b", "d/e/w", "a", "m/y", "C", "d/x", "d/e/v"):  # created out of order
        write(root / rel, rel.encode())

    first = rel_paths(root, walk(root)[1])
    second = rel_paths(root, walk(root)[1])

    # each directory's entries by code point (uppercase first), then its subdirectories
    assert first == ["C", "a", "b", "d/x", "d/e/v", "d/e/w", "m/y", "m/z"]
    assert second == first


def test_a_single_file_is_a_target(tmp_path: Path) -> None:
    photo = write(tmp_path / "photo.jpg", small_jpeg())
    walker, refs, problems = walk(photo)
    assert problems == []
    [ref] = refs
    assert ref.location == FileLocation(str(photo))
    assert ref.size == len(small_jpeg())
    assert ref.ino == os.lstat(photo).st_ino
    assert walker.directories == 0


def test_a_named_link_target_is_followed_once(tmp_path: Path) -> None:
    """Links inside the tree are never followed, but a target the user named is."""
    real = tmp_path / "real"
    write(real / "a.jpg", small_jpeg())
    (tmp_path / "via").symlink_to(real)
    _walker, refs, problems = walk(tmp_path / "via")
    assert problems == []
    [ref] = refs
    assert ref.location.path == str(tmp_path / "via" / "a.jpg")
    assert ref.fs_path == str(real / "a.jpg")


def test_missing_target(tmp_path: Path) -> None:
    missing = tmp_path / "not-there"
    _walker, refs, problems = walk(missing)
    assert refs == []
    assert problems == [
        Problem(
            FileLocation(str(missing)), ProblemReason.MISSING_TARGET, "no such file or directory"
        )
    ]
    assert problems[0].incomplete


def test_a_very_deep_tree_is_walked(tmp_path: Path) -> None:
    """1,500 nested directories: more than Python's recursion limit, less than PATH_MAX."""
    root = tmp_path / "deep"
    chain = [str(root)]
    for _ in range(1500):
        chain.append(chain[-1] + "/d")
    for path in chain:
        os.mkdir(path)
    leaf = chain[-1] + "/x.jpg"
    Path(leaf).write_bytes(small_jpeg())
    try:
        walker, refs, problems = walk(root)
        assert problems == []
        assert [r.location.path for r in refs] == [leaf]
        assert walker.directories == 1501
    finally:  # shutil.rmtree recurses too, so remove the chain bottom-up
        os.unlink(leaf)
        for path in reversed(chain):
            os.rmdir(path)


# -- links ----------------------------------------------------------------------------------------


def test_links_are_reported_and_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    secret = write(outside / "secret.jpg", small_jpeg())
    hidden = write(outside / "dir" / "hidden.jpg", small_jpeg())
    root = tmp_path / "tree"
    write(root / "real.jpg", small_jpeg())
    (root / "to_outside.jpg").symlink_to(secret)
    (root / "to_outside_dir").symlink_to(outside / "dir")
    (root / "to_inside.jpg").symlink_to("real.jpg")
    (root / "dangling.jpg").symlink_to("nowhere.jpg")
    age_atimes(outside)
    before = settled_snapshot(outside)

    _walker, refs, problems = walk(root)

    assert rel_paths(root, refs) == ["real.jpg"]  # found once, under its own name
    outside_ids = {(os.lstat(p).st_dev, os.lstat(p).st_ino) for p in (secret, hidden)}
    assert not {(r.dev, r.ino) for r in refs} & outside_ids
    assert not any(str(outside) in r.fs_path for r in refs)

    found = problems_by_name(problems)
    assert set(found) == {"to_outside.jpg", "to_outside_dir", "to_inside.jpg", "dangling.jpg"}
    for problem in found.values():
        assert problem.reason is ProblemReason.SYMLINK_NOT_FOLLOWED
        assert not problem.incomplete
    assert (
        found["to_outside.jpg"].detail == f"link to {secret} (outside the scan root; not followed)"
    )
    assert "outside" in found["to_outside_dir"].detail
    assert found["to_inside.jpg"].detail.startswith("link to real.jpg (inside the scan root")
    assert "link to nowhere.jpg" in found["dangling.jpg"].detail

    # the outside target was not read: content, size, mtime and atime are as they were
    assert snapshot(outside) == before
    assert os.lstat(secret).st_atime_ns == OLD_NS


def test_link_loops_and_links_to_parents_end(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    write(root / "sub" / "x.jpg", small_jpeg())
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    (root / "self").symlink_to("self")
    (root / "sub" / "up").symlink_to("..")
    (root / "sub" / "top").symlink_to(root)
    (root / "sub" / "above").symlink_to(tmp_path)

    walker, refs, problems = walk(root)

    assert rel_paths(root, refs) == ["sub/x.jpg"]
    assert walker.directories == 2
    found = problems_by_name(problems)
    assert set(found) == {"a", "b", "self", "up", "top", "above"}
    assert all(p.reason is ProblemReason.SYMLINK_NOT_FOLLOWED for p in problems)
    assert found["a"].detail.startswith("link to b ")
    assert found["b"].detail.startswith("link to a ")
    assert "inside the scan root" in found["up"].detail
    assert "inside the scan root" in found["top"].detail
    assert "outside the scan root" in found["above"].detail


# -- special files --------------------------------------------------------------------------------


def test_fifo_is_reported_and_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    os.mkfifo(root / "idle.jpg")  # no writer: a plain open() would block forever
    os.mkfifo(root / "busy")
    writer = os.open(root / "busy", os.O_RDWR | os.O_NONBLOCK)  # Linux: never blocks
    try:
        os.write(writer, b"pending bytes")
        _walker, refs, problems = walk(root)
        # a reader would have consumed them
        assert os.read(writer, 100) == b"pending bytes"
    finally:
        os.close(writer)
    assert refs == []
    found = problems_by_name(problems)
    assert set(found) == {"idle.jpg", "busy"}
    for problem in found.values():
        assert problem.reason is ProblemReason.SPECIAL_FILE
        assert problem.detail.startswith("FIFO; not opened")
        assert not problem.incomplete


def test_fifo_named_as_the_target_is_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    _walker, refs, problems = walk(tmp_path / "pipe")
    assert refs == []
    assert problems == [
        Problem(FileLocation(str(tmp_path / "pipe")), ProblemReason.SPECIAL_FILE, "FIFO; not read")
    ]


@pytest.mark.parametrize(
    ("kind", "device", "label"),
    [
        (stat.S_IFCHR, (1, 3), "character device"),  # /dev/null
        (stat.S_IFBLK, (7, 0), "block device"),  # /dev/loop0
    ],
)
def test_device_is_reported_and_never_opened(
    tmp_path: Path, kind: int, device: tuple[int, int], label: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating device nodes needs root")
    root = tmp_path / "tree"
    root.mkdir()
    try:
        os.mknod(root / "dev", kind | 0o600, os.makedev(*device))
    except PermissionError:
        pytest.skip("this container may not create device nodes (no CAP_MKNOD)")
    _walker, refs, problems = walk(root)
    assert refs == []
    [problem] = problems
    assert problem.location == FileLocation(str(root / "dev"))
    assert problem.reason is ProblemReason.SPECIAL_FILE
    assert problem.detail.startswith(f"{label}; not opened")


def test_socket_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    path = str(root / "sock")
    assert len(path) < 100, "AF_UNIX paths are limited to 108 bytes"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(path)
        _walker, refs, problems = walk(root)
    assert refs == []
    [problem] = problems
    assert problem.reason is ProblemReason.SPECIAL_FILE
    assert problem.detail.startswith("socket; not opened")


# -- permissions ----------------------------------------------------------------------------------


def _walk_as_nobody(root: Path) -> dict[str, object]:
    """Walk `root` in a forked child that dropped privileges to nobody; return what it saw.

    A fork, not `subprocess.run(user=...)`: the interpreter may live under a directory that
    nobody cannot enter (/root/.pyenv here), but the already-imported walker can run as
    anyone. Root bypasses permission bits, so this is the only way to see them apply.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            walker = FilesystemWalker(root, PathFilter())
            entries = list(walker)
            report: dict[str, object] = {
                "uid": os.getuid(),
                "refs": [e.location.path for e in entries if isinstance(e, FileRef)],
                "problems": [
                    [e.location.path, e.reason.value, e.detail]
                    for e in entries
                    if isinstance(e, Problem)
                ],
                "directories": walker.directories,
                "atime_preserved": walker.atime_preserved,
            }
            status = 0
        except BaseException:
            report = {"error": traceback.format_exc()}
        with contextlib.suppress(BaseException):
            os.write(write_end, json.dumps(report).encode())
        os._exit(status)
    os.close(write_end)
    chunks: list[bytes] = []
    try:
        with deadline(30):
            while chunk := os.read(read_end, 1 << 16):
                chunks.append(chunk)
            os.waitpid(pid, 0)
    except Overran:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_end)
    report = json.loads(b"".join(chunks))
    assert "error" not in report, report["error"]
    return report


def test_unreadable_directory_is_reported_and_the_rest_is_walked() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, to drop to nobody (uid 65534) for the walk")
    base = Path(tempfile.mkdtemp(prefix="faceaudit-perm-"))  # tmp_path's parents are 0700
    try:
        os.chmod(base, 0o755)
        root = base / "tree"
        for rel in ("a.jpg", "z.jpg", "open/b.jpg", "locked/secret.jpg", "listable/c.jpg"):
            write(root / rel, small_jpeg())
        for dirpath, _dirs, files in os.walk(root):
            os.chmod(dirpath, 0o755)
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o644)
        os.chmod(root / "locked", 0o700)  # root's own: nobody may not even list it
        os.chmod(root / "listable", 0o744)  # names readable, entries not reachable (no x)

        report = _walk_as_nobody(root)

        assert report["uid"] == NOBODY
        assert report["refs"] == [
            str(root / "a.jpg"),
            str(root / "z.jpg"),
            str(root / "open/b.jpg"),
        ]
        assert report["problems"] == [
            [str(root / "listable/c.jpg"), "unreadable_file", "Permission denied"],
            [str(root / "locked"), "unreadable_directory", "Permission denied"],
        ]
        assert ProblemReason.UNREADABLE_DIRECTORY.incomplete
        assert report["directories"] == 3  # tree, listable, open
        # O_NOATIME is refused to a non-owner: the walker fell back and says so
        assert report["atime_preserved"] is False
    finally:
        shutil.rmtree(base)


# -- hostile names --------------------------------------------------------------------------------

HOSTILE_NAMES: tuple[bytes, ...] = (
    b"new\nline.jpg",
    b"\x1b[31mred\x1b[0m.jpg",
    b"caf\xe9.jpg",  # Latin-1, not UTF-8
    b"\xff\xfe/inner.jpg",  # an undecodable directory name
    b" -rf .jpg",
    b"back\\slash.jpg",
    b"tab\there.jpg",
)


def test_hostile_names_are_walked_and_reported(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    broot = os.fsencode(root)
    contents: dict[str, bytes] = {}
    for i, name in enumerate(HOSTILE_NAMES):
        bpath = broot + b"/" + name
        os.makedirs(os.path.dirname(bpath), exist_ok=True)
        data = small_jpeg() + bytes([i])
        with open(bpath, "wb") as fh:
            fh.write(data)
        contents[os.fsdecode(bpath)] = data  # undecodable bytes become surrogate escapes

    _walker, refs, problems = walk(root)

    assert problems == []
    assert sorted(r.location.path for r in refs) == sorted(contents)
    for ref in refs:
        assert os.path.lexists(os.fsencode(ref.fs_path))  # the display form round-trips
        data, preserved = read_all(ref, 1 << 20)
        assert data == contents[ref.location.path]
        assert preserved

    # globs see the same names
    _walker, refs, _problems = walk(root, exclude=("caf*", "*\n*"))
    names = {os.path.basename(r.location.path) for r in refs}
    assert "caf\udce9.jpg" not in names
    assert "new\nline.jpg" not in names
    assert "\x1b[31mred\x1b[0m.jpg" in names


# -- include / exclude ----------------------------------------------------------------------------


def test_excluded_directories_are_not_entered(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for rel in (
        "keep/a.jpg",
        "node_modules/x.jpg",
        "web/node_modules/y.jpg",
        "photos/private/p.jpg",
        "photos/public/q.jpg",
        "build.tmp",
    ):
        write(root / rel, small_jpeg())
    os.mkfifo(root / "node_modules" / "pipe")  # would be reported if the walker went in
    (root / "photos" / "private" / "link").symlink_to("/etc/passwd")

    walker, refs, problems = walk(root, exclude=("node_modules", "photos/private", "*.tmp"))

    assert rel_paths(root, refs) == ["keep/a.jpg", "photos/public/q.jpg"]
    assert problems == []
    assert walker.excluded == 4  # node_modules twice, photos/private, build.tmp
    assert walker.directories == 5  # tree, keep, photos, photos/public, web


def test_include_selects_files_and_still_enters_every_directory(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for rel in ("a.jpg", "b.png", "sub/c.jpg", "sub/d.txt", "deeper/e/f.jpg"):
        write(root / rel, small_jpeg())

    walker, refs, problems = walk(root, include=("*.jpg",))

    assert rel_paths(root, refs) == ["a.jpg", "deeper/e/f.jpg", "sub/c.jpg"]
    assert problems == []
    assert walker.excluded == 2
    assert walker.directories == 4


def test_anchored_include_and_exclude_together(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for rel in ("photos/a.jpg", "photos/2020/b.jpg", "photos/2020/skip/c.jpg", "x/photos/d.jpg"):
        write(root / rel, small_jpeg())
    walker, refs, _problems = walk(root, include=("photos/**/*.jpg",), exclude=("skip",))
    assert rel_paths(root, refs) == ["photos/a.jpg", "photos/2020/b.jpg"]
    assert walker.excluded == 2  # the skip directory and x/photos/d.jpg


# -- files that change between the walk and the read ----------------------------------------------


def _replace(path: Path) -> None:
    tmp = path.with_name("new")
    tmp.write_bytes(path.read_bytes())  # same bytes, same size: only the inode tells
    os.utime(tmp, ns=(OLD_NS, path.stat().st_mtime_ns))
    os.replace(tmp, path)


def _truncate_keeping_mtime(path: Path) -> None:
    st = path.stat()
    os.truncate(path, 10)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _rewrite_in_place(path: Path) -> None:
    data = path.read_bytes()
    with open(path, "r+b") as fh:
        fh.write(bytes([data[0] ^ 0xFF]))
    os.utime(path, ns=(OLD_NS, path.stat().st_mtime_ns + 1_000_000))


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _symlink(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.parent.parent / "outside.jpg")


CHANGES: list[tuple[Callable[[Path], None], str]] = [
    (_replace, "replaced by another file"),
    (_truncate_keeping_mtime, "modified during the scan"),
    (_rewrite_in_place, "modified during the scan"),
    (_fifo, r"no longer a regular file \(FIFO\)"),
    (_directory, r"no longer a regular file \(directory\)"),
    (_symlink, "replaced by a symbolic link"),
    (Path.unlink, "removed during the scan"),
]


@pytest.mark.parametrize(
    ("change", "message"), CHANGES, ids=[change.__name__.strip("_") for change, _ in CHANGES]
)
@pytest.mark.parametrize("reader", [open_regular, read_head, read_all])
def test_a_changed_file_is_refused(
    tmp_path: Path, change: Callable[[Path], None], message: str, reader: Callable[..., object]
) -> None:
    outside = write(tmp_path / "outside.jpg", b"\xff\xd8\xff outside the tree")
    os.utime(outside, ns=(OLD_NS, OLD_NS))
    root = tmp_path / "tree"
    write(root / "photo.jpg", small_jpeg())
    [ref] = walk(root)[1]

    change(root / "photo.jpg")
    args: tuple[object, ...] = (ref,) if reader is open_regular else (ref, 1 << 20)
    with deadline(10), pytest.raises(FileChangedError, match=message):
        reader(*args)
    assert os.lstat(outside).st_atime_ns == OLD_NS


def test_read_all_and_read_head_return_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)  # several read chunks
    path = write(tmp_path / "tree" / "blob.bin", data)
    [ref] = walk(path.parent)[1]
    assert read_all(ref, 1 << 30) == (data, True)
    assert read_all(ref, 1000) == (data[:1000], True)  # at most `limit` bytes
    assert read_head(ref, 4096) == (data[:4096], True)


def test_a_directory_swapped_during_the_walk_is_not_entered(tmp_path: Path) -> None:
    """After `sub` was listed, it is replaced by a link to a tree outside the root that has
    the same layout: opening `sub/deeper` by path would now walk outside."""
    root = tmp_path / "tree"
    write(root / "sub" / "deeper" / "x.jpg", small_jpeg())
    write(root / "sub" / "y.jpg", small_jpeg())
    outside = tmp_path / "outside"
    secret = write(outside / "deeper" / "secret.jpg", small_jpeg())

    walker = FilesystemWalker(root, PathFilter())
    seen: list[FileRef | Problem] = []
    with deadline(20):
        for entry in walker:
            seen.append(entry)
            if isinstance(entry, FileRef) and entry.location.path.endswith("y.jpg"):
                (root / "sub").rename(tmp_path / "moved")  # `deeper` is already queued
                (root / "sub").symlink_to(outside)

    refs = [e for e in seen if isinstance(e, FileRef)]
    assert [r.location.path for r in refs] == [str(root / "sub" / "y.jpg")]
    assert os.lstat(secret).st_ino not in {r.ino for r in refs}
    assert [p for p in seen if isinstance(p, Problem)] == [
        Problem(
            FileLocation(str(root / "sub" / "deeper")),
            ProblemReason.CHANGED_DURING_SCAN,
            "directory replaced during the scan; not walked",
        )
    ]


# -- the walk changes nothing ---------------------------------------------------------------------


def test_walking_and_reading_everything_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for rel in ("a.jpg", "sub/b.png", "sub/deeper/c.bin", "d/e/f/g.txt"):
        write(root / rel, small_jpeg() + rel.encode())
    write(root / os.fsdecode(b"caf\xe9\nname.jpg"), b"\xff\xd8\xff hostile")
    os.mkfifo(root / "sub" / "pipe")
    (root / "link").symlink_to("a.jpg")
    age_atimes(root)
    before = settled_snapshot(root)

    walker, refs, _problems = walk(root)
    for ref in refs:
        read_head(ref, 4096)
        read_all(ref, 1 << 20)

    assert len(refs) == 5
    assert walker.atime_preserved
    assert snapshot(root) == before  # same entries, content, size, mtime and atime


def test_directories_are_listed_without_touching_their_access_time(tmp_path: Path) -> None:
    control = tmp_path / "control"
    write(control / "f", b"x")
    os.utime(control, ns=(OLD_NS, control.stat().st_mtime_ns))
    os.listdir(control)
    if control.stat().st_atime_ns == OLD_NS:
        pytest.skip("this filesystem does not record directory access times (noatime)")

    root = tmp_path / "tree"
    write(root / "sub" / "f.jpg", small_jpeg())
    for directory in (root, root / "sub"):
        os.utime(directory, ns=(OLD_NS, directory.stat().st_mtime_ns))
    walk(root)
    assert root.stat().st_atime_ns == OLD_NS
    assert (root / "sub").stat().st_atime_ns == OLD_NS


# -- through the engine (real detectors, in-process) ----------------------------------------------


def test_hard_links_are_reported_under_both_names_and_decoded_once(
    scan: Callable[..., ScanResult], tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    data = encode(astronaut(), "JPEG")
    first = write(root / "a.jpg", data)
    (root / "z").mkdir()
    os.link(first, root / "z" / "b.jpg")  # found after a.jpg was already sent for decoding

    result = scan(root)

    assert result.stats.hardlinks == 1
    assert result.stats.items_scanned == 2
    assert result.stats.bytes_read == len(data)  # one read and decode, not two
    assert [i.location.path for i in result.items] == [
        str(root / "a.jpg"),
        str(root / "z" / "b.jpg"),
    ]
    assert result.items[0].sha256 == result.items[1].sha256
    for item in result.items:
        assert item.primary is not None
        assert item.primary.kind is EvidenceKind.FACE_IMAGE


def test_sparse_huge_file_is_oversize_and_quick(
    scan: Callable[..., ScanResult], tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    huge = write(root / "disk.img")
    os.truncate(huge, 100 << 30)  # 100 GiB of holes, a few KiB on disk

    started = time.monotonic()
    result = scan(root)
    elapsed = time.monotonic() - started

    assert elapsed < 10
    [problem] = result.problems
    assert problem.location == FileLocation(str(huge))
    assert problem.reason is ProblemReason.OVERSIZE
    assert "sparse" in problem.detail
    assert str(100 << 30) in problem.detail
    assert result.incomplete
    assert result.exit_code is ExitCode.INCOMPLETE
    assert result.stats.bytes_read == 0


def test_content_decides_not_the_name(scan: Callable[..., ScanResult], tmp_path: Path) -> None:
    root = tmp_path / "tree"
    data = encode(astronaut(), "JPEG")
    write(root / "noextension", data)
    write(root / "photo.png", data)

    result = scan(root)

    assert [i.location.path for i in result.items] == [
        str(root / "noextension"),
        str(root / "photo.png"),
    ]
    for item in result.items:
        assert item.content_type is ContentType.JPEG
        assert item.primary is not None
        assert item.primary.kind is EvidenceKind.FACE_IMAGE
        assert item.primary.faces >= 1
    assert result.problems == ()


def test_postscript_named_jpg_is_never_decoded(
    scan: Callable[..., ScanResult], tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n"
    write(root / "photo.jpg", eps)

    result = scan(root)

    assert result.items == ()
    [problem] = result.problems
    assert problem.location == FileLocation(str(root / "photo.jpg"))
    assert problem.reason is ProblemReason.DISGUISED_CONTENT
    assert "postscript" in problem.detail
    assert result.stats.bytes_read == 0  # no worker read it, so no decoder saw it
    assert dict(result.stats.by_content_type) == {"postscript": 1}
