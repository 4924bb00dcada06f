"""`faceaudit audit verify`, through the installed command: its exit codes and what it names."""

from __future__ import annotations

from pathlib import Path

from helpers import run_faceaudit as run

from scanner.remediation.audit import AuditLog


def make_log(tmp_path: Path) -> tuple[Path, Path]:
    path, keys = tmp_path / "audit.jsonl", tmp_path / "vault" / "keys"
    with AuditLog(path, keys, checkpoint_every=4) as log:
        for i in range(10):
            log.append("remediate.quarantine", {"item": i})
    return path, keys


def test_a_sound_log_exits_0(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    proc = run("audit", "verify", str(path), "--key", str(keys))
    assert proc.returncode == 0, proc.stderr
    assert "14 records chained" in proc.stdout and "sound" in proc.stdout
    # the public key file alone, copied away from the vault, does as well
    copy = tmp_path / "trusted.pub"
    copy.write_bytes((keys / "audit-ed25519.pub").read_bytes())
    assert run("audit", "verify", str(path), "--key", str(copy)).returncode == 0


def test_a_bad_record_exits_1_naming_it(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    assert b'"item":4' in lines[6]
    lines[6] = lines[6].replace(b'"item":4', b'"item":7')
    path.write_bytes(b"".join(lines))
    proc = run("audit", "verify", str(path), "--key", str(keys))
    assert proc.returncode == 1
    assert "NOT SOUND at line 7 (record 6): its hash does not match" in proc.stderr


def test_a_torn_last_line_exits_3(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    with path.open("ab") as f:
        f.write(b'{"event":"remediate.q')
    proc = run("audit", "verify", str(path), "--key", str(keys))
    assert proc.returncode == 3
    assert "INCOMPLETE at line 15 (record 14)" in proc.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    proc = run("audit", "verify", str(tmp_path / "missing.jsonl"), "--key", str(keys))
    assert proc.returncode == 2 and "no such audit log" in proc.stderr
    proc = run("audit", "verify", str(path), "--key", str(tmp_path / "nowhere.pub"))
    assert proc.returncode == 2 and "cannot read the public key" in proc.stderr
    assert run("audit", "verify", str(path)).returncode == 2
