"""Benchmark: time to quarantine (and restore) N small files through the library, through
the full journal (intent → copied → synced → verified → source removed → done: encrypt, fsync
the object and the vault's directories, decrypt to verify, unlink, fsync the source
directory), across file systems by default (files on the disk, vault on /dev/shm).

    python bench/bench_remediate.py [--files 10000] [--size 4096] [--vault-on disk|shm]
                                    [--mode batch|single]

`--mode batch` (the default, what `remediate apply` and `restore` do) moves the files through
`quarantine_many` and `restore_many`, one journal record per batch (scanner/remediation/
batch.py); `--mode single` through `quarantine` and `restore`, one journal record per file.
It prints files/s and fsyncs per file (os.fsync counted) for planning, quarantining and
restoring. Context, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from scanner.remediation import (
    Vault,
    plan_from_report,
    quarantine,
    quarantine_many,
    restore,
    restore_many,
)

FSYNCS = [0]
_fsync = os.fsync


def _counted_fsync(fd: int) -> None:
    FSYNCS[0] += 1
    _fsync(fd)


os.fsync = _counted_fsync  # every module calls it as os.fsync: each call is counted


def _report(root: Path, files: list[Path]) -> Path:
    findings = [
        {
            "rule_id": "GDPR-5-1-E-RETENTION",
            "severity": "high",
            "location": {"path": str(p), "members": [], "uri": f"file://{p}"},
            "citations": ["GDPR Art 5(1)(e)"],
            "pack": "gdpr",
            "fingerprint": f"{i:032x}",
            "disposition": "open",
        }
        for i, p in enumerate(files)
    ]
    report = root / "report.json"
    report.write_text(json.dumps({"schema_version": "1.4", "findings": findings, "items": []}))
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--vault-on", choices=["disk", "shm"], default="shm")
    ap.add_argument("--mode", choices=["batch", "single"], default="batch")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="faceaudit-bench-rem-"))
    vault_parent = Path(tempfile.mkdtemp(dir="/dev/shm")) if args.vault_on == "shm" else root
    try:
        files = []
        for i in range(args.files):
            d = root / "share" / f"d{i // 1000:03d}"
            d.mkdir(parents=True, exist_ok=True)
            p = d / f"face-{i:05d}.jpg"
            p.write_bytes(os.urandom(args.size))
            files.append(p)
        cross = os.stat(root).st_dev != os.stat(vault_parent).st_dev
        print(
            f"{args.files} files of {args.size} B, vault on {args.vault_on} "
            f"({'another file system: EXDEV copies' if cross else 'the same file system'}), "
            f"{args.mode}",
            flush=True,
        )
        t0 = time.perf_counter()
        plan = plan_from_report(_report(root, files), base=root)
        t1 = time.perf_counter()
        print(f"plan:       {t1 - t0:8.2f} s  {args.files / (t1 - t0):8.0f} files/s", flush=True)
        with Vault.open(vault_parent / "vault") as vault:
            t1, f1 = time.perf_counter(), FSYNCS[0]
            if args.mode == "batch":
                out = quarantine_many(vault, plan.items, plan)
            else:
                out = [quarantine(vault, item, plan) for item in plan.items]
            t2, f2 = time.perf_counter(), FSYNCS[0]
            done = sum(o.status == "done" for o in out)
            print(
                f"quarantine: {t2 - t1:8.2f} s  {done / (t2 - t1):8.0f} files/s  ({done} done)"
                f"  {(f2 - f1) / max(done, 1):6.2f} fsyncs/file",
                flush=True,
            )
            ids = [o.vault_id for o in out if o.vault_id]
            if args.mode == "batch":
                back = restore_many(vault, ids)
            else:
                back = [restore(vault, vid) for vid in ids]
            t3, f3 = time.perf_counter(), FSYNCS[0]
        restored = sum(o.status == "done" for o in back)
        print(
            f"restore:    {t3 - t2:8.2f} s  {restored / (t3 - t2):8.0f} files/s  ({restored} done)"
            f"  {(f3 - f2) / max(restored, 1):6.2f} fsyncs/file"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if vault_parent != root:
            shutil.rmtree(vault_parent, ignore_errors=True)


if __name__ == "__main__":
    main()
