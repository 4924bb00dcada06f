"""Benchmark: the remediation audit log (scanner/remediation/audit.py), 10,000 records.

Measures, in one run, in a temporary folder on the disk given by `--dir` (default: the
system's temporary folder; its filesystem decides what an fsync costs):

- single appends, each locked, written and fsync'd before it returns (the default writer);
- the same without fsync (`sync=False`), to show what the sync costs;
- `append_many` in batches of `--batch` (one lock, one write, one fsync per batch);
- `verify` of the 10,000-record log: records/s and MB/s, checkpoints included.

    python bench/bench_audit.py [--records 10000] [--batch 500] [--every 100] [--dir /tmp]

Figures are printed, never asserted (tests/remediation/test_audit_log.py checks correctness).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from scanner.remediation.audit import AuditLog, verify
from scanner.remediation.audit_keys import load_public_key


def fields(i: int) -> dict[str, object]:
    return {
        "plan": "3f2a9c1e",
        "item": i,
        "path": f"srv/share/photos/2024/{i:06d}.jpg",
        "sha256": f"{i:064x}",
        "rule": "GDPR-5-1-E-RETENTION",
        "action": "quarantine",
    }


def appends(path: Path, keys: Path, n: int, every: int, *, sync: bool) -> float:
    with AuditLog(path, keys, checkpoint_every=every, sync=sync) as log:
        start = time.perf_counter()
        for i in range(n):
            log.append("remediate.apply", fields(i))
        log.checkpoint()
        return time.perf_counter() - start


def batched(path: Path, keys: Path, n: int, every: int, batch: int) -> float:
    with AuditLog(path, keys, checkpoint_every=every) as log:
        start = time.perf_counter()
        for b in range(0, n, batch):
            log.append_many([("remediate.apply", fields(i)) for i in range(b, min(n, b + batch))])
        log.checkpoint()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--every", type=int, default=100, help="checkpoint every N records")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-audit-") as tmp:
        base = Path(tmp)
        keys = base / "keys"
        rows = []
        for name, run in (
            ("append, fsync each", lambda p: appends(p, keys, n, args.every, sync=True)),
            ("append, no fsync", lambda p: appends(p, keys, n, args.every, sync=False)),
            (
                f"append_many, batches of {args.batch}",
                lambda p: batched(p, keys, n, args.every, args.batch),
            ),
        ):
            path = base / f"{len(rows)}.jsonl"
            seconds = run(path)
            rows.append((name, seconds, path))
        public = load_public_key(keys)
        path = rows[0][2]
        size = path.stat().st_size
        start = time.perf_counter()
        result = verify(path, public)
        seconds = time.perf_counter() - start
        assert result.ok, result.first_bad
        print(f"audit log of {n} records on {os.path.realpath(base)} ({size / 1e6:.1f} MB)")
        for name, took, _ in rows:
            print(f"  {name:<32} {n / took:>10,.0f} records/s  ({took:.2f} s)")
        print(
            f"  {'verify':<32} {result.records / seconds:>10,.0f} records/s  ({seconds:.2f} s, "
            f"{size / 1e6 / seconds:.1f} MB/s, {result.checkpoints} checkpoints)"
        )


if __name__ == "__main__":
    main()
