"""Long fuzzing runs of the parsers (`make fuzz`): executions, crashes and slow inputs.

    .venv/bin/python bench/fuzz_long.py                    # every harness, 60 s each
    .venv/bin/python bench/fuzz_long.py pickle npy -s 600  # chosen harnesses, 10 min each
    .venv/bin/python bench/fuzz_long.py --engine atheris   # coverage-guided (pip install atheris)

The harnesses are tests/fuzz/harnesses.py, started from the seeds in tests/fuzz/seeds/. The
default engine mutates seeds at random (the same edits as the hypothesis strategy of
tests/fuzz/test_fuzz.py) and needs nothing beyond the dev extra; with atheris installed,
`--engine atheris` runs libFuzzer's coverage-guided loop instead, one process per harness.

Every crashing input (an exception a harness does not allow) and every input slower than
--slow seconds is written to --out (default fuzz-findings/) as <harness>-<sha1>.bin; turn each
into a case of tests/fuzz/test_regressions.py and fix the parser. Exit status 1 when anything
crashed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "fuzz")]
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _save(out: Path, harness: str, data: bytes, kind: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{harness}-{kind}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    return path


class Hang(Exception):
    """An input ran longer than --hang seconds (raised from a timer signal)."""


def _hang(signum: int, frame: object) -> None:
    raise Hang(f"still running after the --hang limit (signal {signum})")


def run_random(
    harness: str, seconds: float, seed: int, out: Path, slow: float, hang: float
) -> dict[str, int]:
    from harnesses import HARNESSES
    from mutate import TOKENS, load_seeds, mutate

    target = HARNESSES[harness]
    seeds = load_seeds(harness)
    signal.signal(signal.SIGALRM, _hang)
    rng = random.Random(f"{harness}:{seed}")
    stats = {"executions": 0, "crashes": 0, "slow": 0}
    crash_kinds: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        base = seeds[rng.randrange(len(seeds))]
        data = mutate(
            base,
            rng.randrange,
            others=seeds,
            tokens=TOKENS.get(harness, ()),
            edits=1 + rng.randrange(8),
        )
        started = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, hang)
        try:
            target(data)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            kind = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
            stats["crashes"] += 1
            if kind not in crash_kinds:
                crash_kinds.add(kind)
                path = _save(out, harness, data, "crash")
                print(f"  CRASH {harness}: {kind}: {str(exc)[:160]!r} -> {path}", flush=True)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        took = time.monotonic() - started
        if took > slow:
            stats["slow"] += 1
            path = _save(out, harness, data, "slow")
            print(f"  SLOW  {harness}: {took:.1f} s ({len(data)} bytes) -> {path}", flush=True)
        stats["executions"] += 1
        if len(data) < 1 << 16 and stats["executions"] % 50 == 0:
            seeds.append(data)  # a little memory: mutants become bases for further mutants
            if len(seeds) > 400:
                del seeds[rng.randrange(len(seeds))]
    stats["distinct_crashes"] = len(crash_kinds)
    return stats


def run_atheris(harness: str, seconds: float, out: Path) -> dict[str, int]:
    """libFuzzer in a child process (it exits on the first crash); stats parsed from stderr."""
    script = (
        "import sys, atheris\n"
        "with atheris.instrument_imports():\n"
        "    import harnesses\n"
        f"target = harnesses.HARNESSES[{harness!r}]\n"
        "atheris.Setup(sys.argv, target)\n"
        "atheris.Fuzz()\n"
    )
    corpus = out / f"corpus-{harness}"
    corpus.mkdir(parents=True, exist_ok=True)
    seeds = ROOT / "tests" / "fuzz" / "seeds" / harness
    cmd = [
        sys.executable,
        "-c",
        script,
        f"-max_total_time={int(seconds)}",
        f"-artifact_prefix={out}/{harness}-",
        "-rss_limit_mb=4096",
        "-timeout=10",
        str(corpus),
        str(seeds),
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, sys.path[:2])))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    executions = 0
    for line in proc.stderr.splitlines():
        if line.startswith("#") and " " in line:
            head = line.split()[0][1:]
            if head.isdigit():
                executions = max(executions, int(head))
        if "Done " in line and "runs" in line:
            executions = max(executions, int(line.split("Done ")[1].split()[0]))
    crashed = proc.returncode != 0
    if crashed:
        print(proc.stderr[-3000:], flush=True)
    return {"executions": executions, "crashes": int(crashed), "slow": 0}


def main() -> int:
    from harnesses import HARNESSES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("harness", nargs="*", help=f"harnesses (default: all of {list(HARNESSES)})")
    parser.add_argument("-s", "--seconds", type=float, default=60.0, help="time per harness")
    parser.add_argument("--seed", type=int, default=1, help="random engine seed")
    parser.add_argument("--engine", choices=("random", "atheris"), default="random")
    parser.add_argument("--slow", type=float, default=2.0, help="report inputs slower than this")
    parser.add_argument("--hang", type=float, default=30.0, help="stop an input after this")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"))
    args = parser.parse_args()
    chosen = args.harness or list(HARNESSES)
    unknown = [h for h in chosen if h not in HARNESSES]
    if unknown:
        parser.error(f"unknown harness {unknown} (known: {list(HARNESSES)})")
    if args.engine == "atheris":
        try:
            import atheris  # noqa: F401
        except ImportError:
            parser.error("--engine atheris needs `pip install atheris`")
    total = {"executions": 0, "crashes": 0, "slow": 0}
    print(f"fuzzing {len(chosen)} harnesses, {args.seconds:g} s each ({args.engine} engine)")
    for harness in chosen:
        started = time.monotonic()
        if args.engine == "atheris":
            stats = run_atheris(harness, args.seconds, args.out)
        else:
            stats = run_random(harness, args.seconds, args.seed, args.out, args.slow, args.hang)
        elapsed = args.seconds if args.engine == "atheris" else time.monotonic() - started
        rate = stats["executions"] / max(elapsed, 1e-9)
        print(
            f"{harness:<8} {stats['executions']:>9} executions ({rate:,.0f}/s)  "
            f"{stats['crashes']} crashing inputs ({stats.get('distinct_crashes', stats['crashes'])}"
            f" distinct)  {stats['slow']} slow",
            flush=True,
        )
        for key in total:
            total[key] += stats[key]
    print(
        f"total: {total['executions']} executions, {total['crashes']} crashing inputs, "
        f"{total['slow']} slow inputs; findings in {args.out}/"
        if total["crashes"] or total["slow"]
        else f"total: {total['executions']} executions, no crash, no slow input"
    )
    return 1 if total["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
