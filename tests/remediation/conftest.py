"""What the remediation tests share: two real file systems (the disk under pytest's tmp_path
and the tmpfs at /dev/shm, so every move crosses them: EXDEV), a JSON report of findings
about real files, the CLI, and a look into the vault."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_faceaudit

SHM = Path("/dev/shm")


@pytest.fixture
def shm() -> Iterator[Path]:
    """A directory on the tmpfs at /dev/shm (another file system than tmp_path's)."""
    if not SHM.is_dir():
        pytest.fail("/dev/shm (a tmpfs) is needed: the moves must cross file systems")
    path = Path(tempfile.mkdtemp(dir=SHM, prefix="faceaudit-rem-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def sha(path: Path) -> str:
    """The file's SHA-256, read without touching its access time (as a scan reads)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return hashlib.sha256(f.read()).hexdigest()
    finally:
        os.close(fd)


def finding(path: Path | str, rule: str = "GDPR-5-1-E-RETENTION", **extra: Any) -> dict[str, Any]:
    """A finding as `scan --format json` writes it (the fields the planner reads)."""
    loc = {"path": str(path), "members": [], "uri": f"file://{path}"}
    loc.update(extra.pop("location", {}))
    return {
        "rule_id": rule,
        "severity": "high",
        "title": "Kept too long",
        "message": "kept 412 days; the store allows 30 days",
        "path": str(path),
        "location": loc,
        "kind": "face_image",
        "citations": ["GDPR Art 5(1)(e)"],
        "remediation": "Delete it.",
        "pack": "gdpr",
        "fingerprint": hashlib.sha256(f"{rule}{path}".encode()).hexdigest()[:32],
        "identity": os.path.basename(str(path)),
        "store": None,
        "facts": {},
        "disposition": "open",
        "justification": None,
        "help_uri": None,
        **extra,
    }


def write_report(where: Path, findings: list[dict[str, Any]], items: list[Path] = ()) -> Path:  # type: ignore[assignment]
    doc = {
        "schema_version": "1.4",
        "policy": {"name": "test", "digest": "0" * 64},
        "findings": findings,
        "items": [
            {
                "path": str(p),
                "location": {"path": str(p), "members": []},
                "size": p.stat().st_size,
                "sha256": sha(p),
            }
            for p in items
        ],
    }
    report = where / "report.json"
    report.write_text(json.dumps(doc), encoding="utf-8")
    return report


def faceaudit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    if env is None:
        return run_faceaudit(*args)
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
        stdin=subprocess.DEVNULL,
    )


def plan_for(where: Path, files: list[Path], *extra: str) -> Path:
    """A plan (through the CLI) that deletes `files`."""
    report = write_report(where, [finding(f) for f in files], files)
    plan = where / "plan.json"
    done = faceaudit("remediate", "plan", str(report), "-o", str(plan), *extra)
    assert done.returncode == 0, done.stderr
    return plan


def entries(vault: Path, state: str | None = None) -> list[dict[str, Any]]:
    out = [json.loads(p.read_text()) for p in sorted((vault / "manifest").iterdir())]
    return [e for e in out if state is None or e["state"] == state]


def vault_plaintext(vault: Path, vid: str) -> bytes:
    """An item's bytes, decrypted through the library (what restore would write)."""
    from scanner.remediation import Vault

    with Vault.open(vault, create=False) as v, tempfile.TemporaryFile() as out:
        entry = v.get("manifest", vid)
        assert entry is not None
        v.decrypt(vid, entry["object"], out.fileno())
        out.seek(0)
        return out.read()
