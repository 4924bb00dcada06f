"""Benchmark: what a call of `faceaudit` costs before it does any work (issue 14, target 4).

Measures, in one run, the median wall time of N runs of each of:

- `python -c pass`: the interpreter's own start-up, the floor every figure stands on;
- `faceaudit --version` and `faceaudit --help` (target <= 0.25 s each);
- `faceaudit scan EMPTY --no-state` on an empty directory (target <= 0.5 s);
- the first scan of 240 small files (real photos with and without a face from the
  development set, copied to a temporary folder, and non-images) with a fresh state database;
- the unchanged rescan of those 240 files with the same state database (target <= 0.5 s on
  2 workers): every item is served from the state, so no worker should start.

`--before DIR` also measures another checkout (e.g. main, unpacked with
`git archive ed31474 | tar -x -C /tmp/base`) in the same run, each of its runs interleaved
with this tree's, so the two columns are comparable on a shared machine.

    python bench/bench_startup.py [--repeat 7] [--before /tmp/base] [--workers 2]

Every command runs with its bytecode cached, as an installed package has it (pip compiles
on install): `PYTHONDONTWRITEBYTECODE` is dropped, `PYTHONPYCACHEPREFIX` points to the scratch
folder, and one unmeasured round runs first. Beside each wall-clock median, the CPU time
(user + system, the command and its children): on a shared machine it moves less.

The corpus is built under the system's temporary folder, never in the repository, and removed
afterwards. No figure here is asserted by a test (tests/test_startup.py checks what is
imported and what is started, not how long it takes).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
DEV = Path(os.environ.get("FACEAUDIT_DEVSET", "/work/shared/data/faces-dev"))
RACY_S = 2.1  # files changed within 2 s of a scan are never reused (scanner.state.incremental)


@dataclass(frozen=True)
class Case:
    name: str
    target: float | None  # seconds; None: a reference, no target


CASES = (
    Case("python -c pass (floor)", None),
    Case("faceaudit --version", 0.25),
    Case("faceaudit --help", 0.25),
    Case("scan of an empty dir, --no-state", 0.5),
    Case("first scan of 240 files", None),
    Case("unchanged rescan of 240 files", 0.5),
)


def build_corpus(root: Path, faces: int = 90, no_faces: int = 50, others: int = 100) -> None:
    """240 small files: the smallest face and no-face photos of the development set (copied:
    the set is read-only and its other files are not part of this corpus) and non-images."""
    rows = list(csv.DictReader((DEV / "manifest.csv").open(encoding="utf-8")))

    def smallest(kind: str, n: int) -> list[Path]:
        paths = [
            DEV / r["path"]
            for r in rows
            if r["kind"] == kind and "EDGE CASE" not in r["notes"]  # e.g. a truncated JPEG
        ]
        paths = [p for p in paths if p.is_file()]
        return sorted(paths, key=lambda p: (p.stat().st_size, str(p)))[:n]

    root.mkdir(parents=True)
    for folder, kind, n in (("faces", "face_image", faces), ("plain", "no_face_image", no_faces)):
        (root / folder).mkdir()
        for i, src in enumerate(smallest(kind, n)):
            shutil.copyfile(src, root / folder / f"{i:03d}-{src.name}")
    (root / "docs").mkdir()
    for i in range(others):
        suffix = (".txt", ".md", ".json", ".csv", ".py")[i % 5]
        body = f"note {i}\n" + "lorem ipsum dolor sit amet\n" * (1 + i % 40)
        (root / "docs" / f"file{i:03d}{suffix}").write_text(body, encoding="utf-8")


def faceaudit_command(python: str, tree: Path) -> list[str]:
    """What the `faceaudit` script pip installs for `tree` runs: its console entry point
    (`[project.scripts]` in its pyproject.toml), called as the generated script calls it. The
    script installed beside the interpreter belongs to one checkout only, so each tree's own
    entry point is run instead; `python -m scanner` if the tree declares none."""
    scripts = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
    entry = scripts.get("project", {}).get("scripts", {}).get("faceaudit")
    if entry is None:
        return [python, "-m", "scanner"]
    module, _, func = entry.partition(":")
    code = f"import sys\nfrom {module} import {func}\nsys.argv[0] = 'faceaudit'\nsys.exit({func}())"
    return [python, "-c", code]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(
    argv: list[str], env: dict[str, str], cwd: Path, ok: tuple[int, ...] = (0,)
) -> tuple[float, float]:
    """(wall, cpu) seconds of one run, in `cwd`: a folder holding no checkout, since
    `python -c` puts the working directory ahead of PYTHONPATH."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    return elapsed, _children_cpu() - cpu


Run = Callable[[], tuple[float, float]]


def runner(
    tree: Path, python: str, corpus: Path, empty: Path, workers: int, scratch: Path
) -> list[Run]:
    """One callable per case (in CASES order) that runs it once against `tree`."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(scratch / "pycache")}
    fa = faceaudit_command(python, tree)
    scan = [*fa, "scan", "--quiet", "--workers", str(workers)]
    state = scratch / f"state-{tree.name}.db"

    def first() -> tuple[float, float]:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state}{suffix}").unlink(missing_ok=True)
        return timed([*scan, str(corpus), "--state", str(state)], env, scratch, ok=(0, 1))

    def rescan() -> tuple[float, float]:
        return timed([*scan, str(corpus), "--state", str(state)], env, scratch, ok=(0, 1))

    return [
        lambda: timed([python, "-c", "pass"], env, scratch),
        lambda: timed([*fa, "--version"], env, scratch),
        lambda: timed([*fa, "--help"], env, scratch),
        lambda: timed([*scan, str(empty), "--no-state"], env, scratch),
        first,
        rescan,  # after `first` in the same round: the same state database, unchanged files
    ]


def report(
    trees: list[str], wall: dict[str, list[list[float]]], cpu: dict[str, list[list[float]]]
) -> None:
    head = f"{'':34} {'target':>8}"
    for label in trees:
        head += f" {label + ' wall':>12} {'cpu':>6}"
    print(head)
    med = statistics.median
    for i, case in enumerate(CASES):
        line = f"{case.name:34} {f'<= {case.target:.2f}' if case.target else '':>8}"
        for label in trees:
            line += f" {med(wall[label][i]):12.3f} {med(cpu[label][i]):6.3f}"
        if case.target is not None:
            got = med(wall["after"][i])
            line += "  met" if got <= case.target else f"  short by {got - case.target:.3f} s"
        print(line)
    for label in trees:
        floor = med(wall[label][0])
        ratios = ", ".join(f"{med(wall[label][i]) / floor:.1f}" for i in range(1, len(CASES)))
        print(f"{label}: in units of the interpreter floor ({floor:.3f} s): {ratios}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs of each case (median shown)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--before", type=Path, help="another checkout to measure beside this tree")
    ap.add_argument("--python", default=sys.executable, help="the interpreter to run with")
    args = ap.parse_args()
    trees = {"after": TREE}
    if args.before is not None:
        trees = {"before": args.before.resolve(), "after": TREE}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        scratch = Path(tmp)
        corpus, empty = scratch / "corpus", scratch / "empty"
        build_corpus(corpus)
        empty.mkdir()
        files = sum(1 for p in corpus.rglob("*") if p.is_file())
        time.sleep(RACY_S)  # past the racy window, so the rescan may reuse every file
        runs = {
            label: runner(tree, args.python, corpus, empty, args.workers, scratch)
            for label, tree in trees.items()
        }
        for label in trees:  # warm-up: bytecode written, files in the page cache
            for run in runs[label]:
                run()
        wall: dict[str, list[list[float]]] = {label: [[] for _ in CASES] for label in trees}
        cpu: dict[str, list[list[float]]] = {label: [[] for _ in CASES] for label in trees}
        load = os.getloadavg()[0]
        for _ in range(args.repeat):
            for label in trees:  # interleaved: the same machine load for both columns
                for i, run in enumerate(runs[label]):
                    w, c = run()
                    wall[label][i].append(w)
                    cpu[label][i].append(c)
    print(
        f"{files} files, {args.workers} workers, median of {args.repeat} runs (wall and CPU "
        f"seconds); load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    )
    report(list(trees), wall, cpu)


if __name__ == "__main__":
    main()
