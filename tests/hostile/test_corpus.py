"""The hostile corpus, end to end: the real `faceaudit` command with two worker processes.

Cases are scanned together by group (most in one command: hostile items side by side, so
one that misbehaves cannot hide behind its own process), each in its own folder or database.
For every case of corpus.py and corpus_db.py:

- the scan finishes (no hang, no traceback, no internal error) and writes a report that is
  valid against its schema;
- every expected item is reported with its reason (or its evidence) and a detail, and the
  case's items are incomplete exactly when the case says the scan must exit 3;
- the scanned data is byte-identical afterwards: content, size and mtime of every file, its
  sidecars and what lies beside the tree (access times too, except SQLite's own files); a
  database's tables, views and functions;
- nothing was created but the report and the state database (`--state`, so hostile input
  meets it too): TMPDIR, HOME and the working directory are empty folders and stay empty;
- nothing ran: the canary that every payload (pickles, YAML tags, PostScript, planted SQL
  functions) would create does not exist;
- a password given in a URI appears in no output.

Usage errors (hostile policies) run alone and must exit 2 with an error naming the file.
FACEAUDIT_HOSTILE_ISOLATED=1 runs every case alone and checks its own exit code (slower).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hostile.corpus import FILE_CASES, Case, Env, Expect
from hostile.corpus_db import DB_CASES
from hostile.corpus_db_code import CODE_CASES
from reporters.sample import schema_errors

from scanner.model import ProblemReason

FACEAUDIT = str(Path(sys.executable).parent / "faceaudit")
CASES = FILE_CASES + DB_CASES + CODE_CASES
ISOLATED = os.environ.get("FACEAUDIT_HOSTILE_ISOLATED") == "1"
REASONS = {r.value for r in ProblemReason}
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2

pytestmark = pytest.mark.xdist_group("hostile-corpus")  # one worker runs each command once


def group_of(case: Case) -> str:
    return case.id if ISOLATED or case.exit_code == 2 else case.group


def _drop_dac() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Root without the capabilities that bypass permission bits (the exec'd program's
    permitted set is the bounding set), so unreadable files are unreadable to it too."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _digest(path: str) -> str:
    """sha256 of a file's data extents and where they are: a sparse 100 GiB file is hashed
    from its few allocated blocks (SEEK_DATA/SEEK_HOLE), not read for minutes."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOATIME", 0))
    try:
        size, offset = os.fstat(fd).st_size, 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole remains
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            digest.update(f"{start}:{end}:".encode())
            os.lseek(fd, start, os.SEEK_SET)
            while start < end and (chunk := os.read(fd, min(1 << 20, end - start))):
                digest.update(chunk)
                start += len(chunk)
            offset = end
    finally:
        os.close(fd)
    return digest.hexdigest()


def state(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry: kind, content digest (or link target), size, mtime and atime (except for
    SQLite's own files: SQLite opens a database itself, without O_NOATIME, as docs/safety.md says).
    Directories are listed and files read with O_NOATIME: taking the state changes nothing."""
    out: dict[str, tuple[Any, ...]] = {}
    stack = [root]
    while stack:
        directory = stack.pop()
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOATIME", 0))
        try:
            names = sorted(os.listdir(fd))
        finally:
            os.close(fd)
        for name in names:
            path = directory / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                what = "link:" + os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                what = "dir"
                stack.append(path)
            elif stat.S_ISREG(st.st_mode):
                what = _digest(str(path))
            else:
                what = f"special:{st.st_mode:o}"
            rel = str(path.relative_to(root))
            times = (st.st_mtime_ns, st.st_atime_ns)
            if ".db" in rel or rel.endswith(".yaml") or stat.S_ISLNK(st.st_mode):
                times = times[:1]  # read by SQLite, by the policy loader, or readlink()
            out[rel] = (what, st.st_size, *times)
    return out


@dataclass
class Built:
    env: Env
    targets: tuple[str, ...] = ()
    error: str | None = None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


@dataclass
class GroupRun:
    """One command over the cases of a group, and everything observed around it."""

    base: Path
    built: dict[str, Built]
    returncode: int = -1
    stdout: str = ""
    stderr: str = ""
    document: dict[str, Any] | None = None
    leftovers: dict[str, list[str]] = field(default_factory=dict)

    def outputs(self) -> str:
        return self.stdout + self.stderr + json.dumps(self.document)


class Runner:
    def __init__(self, stack: contextlib.ExitStack) -> None:
        self.stack = stack
        self.runs: dict[str, GroupRun] = {}

    def get(self, group: str) -> GroupRun:
        if group not in self.runs:
            self.runs[group] = self._run([c for c in CASES if group_of(c) == group])
        return self.runs[group]

    def _run(self, cases: list[Case]) -> GroupRun:
        # Outside pytest's 0700 folders: a database server must be able to write a canary.
        base = Path(tempfile.mkdtemp(prefix="faceaudit-hostile-"))
        self.stack.callback(shutil.rmtree, base, ignore_errors=True)
        os.chmod(base, 0o755)
        for name in ("tmp", "home", "cwd", "out", "state"):
            (base / name).mkdir()
        run = GroupRun(base, {})
        for case in cases:
            if case.needs_root and os.geteuid() != 0:
                continue
            folder = base / "cases" / case.id
            for name in ("data", "outside", "canary"):
                (folder / name).mkdir(parents=True)
            os.chmod(folder / "canary", 0o1777)
            env = Env(folder / "data", folder / "outside", folder / "canary" / "canary", self.stack)
            built = run.built[case.id] = Built(env)
            try:
                built.targets = case.build(env)
                built.before = self._state(env)
            except Exception as exc:  # reported by that case's test; the others still run
                built.error = f"{type(exc).__name__}: {exc}"
        first = cases[0]
        command = [FACEAUDIT, *first.command]
        for case in cases:
            built = run.built.get(case.id)
            if built is not None and built.error is None:
                command += [*built.targets, *case.options]
        if first.command == ("scan",) and first.exit_code != 2:
            command += ["-j", "2", "-f", "json", "-o", str(base / "out" / "report.json")]
            command += ["--state", str(base / "state" / "state.db")]  # hostile input meets it too
        proc = subprocess.run(
            command,
            cwd=base / "cwd",
            env=dict(os.environ, TMPDIR=str(base / "tmp"), HOME=str(base / "home")),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
            preexec_fn=_drop_dac if first.without_dac and os.geteuid() == 0 else None,
        )
        run.returncode = proc.returncode
        run.stdout = proc.stdout.decode("utf-8", "replace")
        run.stderr = proc.stderr.decode("utf-8", "replace")
        report = base / "out" / "report.json"
        if report.is_file():
            run.document = json.loads(report.read_text(encoding="utf-8"))
        for built in run.built.values():
            if built.error is None:
                built.after = self._state(built.env)
        dirs = ("tmp", "home", "cwd", "out", "state")
        run.leftovers = {n: sorted(os.listdir(base / n)) for n in dirs}
        return run

    @staticmethod
    def _state(env: Env) -> dict[str, Any]:
        return {
            "data": state(env.data),
            "outside": state(env.outside),
            "canary": sorted(os.listdir(env.canary.parent)),
            "databases": [read() for read in env.db_state],
        }


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    with contextlib.ExitStack() as stack:
        yield Runner(stack)


def expected_exit(cases: list[Case]) -> int:
    codes = {c.exit_code for c in cases}
    return next(code for code in (2, 3, 1, 0) if code in codes)


def belongs(path: str, case: Case, built: Built) -> bool:
    # a database is named by host, port and name (users and passwords are never shown)
    marks = [f"/cases/{case.id}/"] + [
        t.split("@")[-1].split("//")[-1] for t in built.targets if "://" in t
    ]
    return any(m in path for m in marks)


def missing(document: dict[str, Any], case: Case, built: Built, expect: Expect) -> str | None:
    """Why `expect` is not in the report (None: it is)."""
    if expect.reason.startswith("evidence:"):
        kind = expect.reason.split(":", 1)[1]
        items = [
            i for i in document["items"] if belongs(i["path"], case, built)
            and i["path"].endswith(expect.where)
        ]  # fmt: skip
        hits = [i for i in items if any(e["kind"] == kind for e in i["evidence"])]
        if not hits:
            return f"no {kind} evidence at *{expect.where!r} (items: {[i['path'] for i in items]})"
        if expect.words and not any(expect.words in json.dumps(i) for i in hits):
            return f"{expect.words!r} not in the evidence of *{expect.where!r}"
        return None
    problems = [p for p in document["problems"] if belongs(p["path"], case, built)]
    hits = [
        p for p in problems if p["path"].endswith(expect.where) and p["reason"] == expect.reason
    ]
    if not hits:
        seen = [(p["path"][-60:], p["reason"], p["detail"][:80]) for p in problems]
        return f"no {expect.reason} at *{expect.where!r}; this case's problems: {seen}"
    if not any(expect.words.lower() in p["detail"].lower() for p in hits):
        return f"{expect.words!r} not in {[p['detail'] for p in hits]}"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case: Case, runner: Runner) -> None:
    if case.needs_root and os.geteuid() != 0:
        pytest.skip("needs root (mknod)")
    run = runner.get(group_of(case))
    built = run.built[case.id]
    assert built.error is None, f"the case could not be built: {built.error}"
    group = [c for c in CASES if group_of(c) == group_of(case) and c.id in run.built]
    # The command finished, exited as documented, ran nothing and left nothing behind.
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    assert run.returncode == expected_exit(group), (run.returncode, run.stderr[-2000:])
    assert built.after == built.before, "the scan changed what it scanned (or ran a payload)"
    assert built.after["canary"] == []
    assert {k: v for k, v in run.leftovers.items() if k not in ("out", "state")} == {
        "tmp": [], "home": [], "cwd": []
    }  # fmt: skip
    assert all(name.startswith("state.db") for name in run.leftovers["state"])
    if case.secret:
        assert case.secret not in run.outputs()
    if case.exit_code == 2:  # a usage error: no report, and the error names the file and why
        assert run.leftovers["out"] == [] and run.document is None
        for e in case.expect:
            lines = [line for line in (run.stdout + run.stderr).splitlines() if e.where in line]
            assert any(e.words in line for line in lines), (e, run.stderr[-2000:])
        return
    assert run.leftovers["out"] == ["report.json"] and run.document is not None
    document = run.document
    assert schema_errors(document) == []
    assert document["summary"]["exit_code"] == run.returncode
    assert document["summary"]["incomplete"] is (run.returncode == 3)
    for problem in document["problems"]:
        assert problem["reason"] in REASONS and problem["detail"].strip(), problem
    assert [why for e in case.expect if (why := missing(document, case, built, e))] == []
    # This case alone: incomplete exactly when it must exit 3; evidence when it must exit 1.
    mine = [p for p in document["problems"] if belongs(p["path"], case, built)]
    evidence = [i for i in document["items"] if belongs(i["path"], case, built)]
    assert any(p["incomplete"] for p in mine) is (case.exit_code == 3), mine
    if case.exit_code == 0:
        assert evidence == []
    elif case.exit_code == 1:
        assert evidence
