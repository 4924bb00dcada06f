"""The audit log (scanner/remediation/audit.py): appends that survive crashes and rivals, and
`verify` naming the first bad record for every kind of tampering the issue lists."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.remediation.audit import AuditFieldError, AuditLog, AuditLogError, verify
from scanner.remediation.audit_keys import AuditKeyError, key_id, load_public_key
from scanner.remediation.audit_records import signed_message
from scanner.remediation.canonical import canonical, record_hash

ROOT = Path(__file__).resolve().parents[2]


def make_log(tmp_path: Path, n: int = 20, every: int = 5) -> tuple[Path, Path]:
    path, keys = tmp_path / "audit.jsonl", tmp_path / "vault" / "keys"
    with AuditLog(path, keys, checkpoint_every=every) as log:
        for i in range(n):
            log.append("remediate.quarantine", {"item": i, "path": f"photos/{i}.jpg"})
    return path, keys


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rechain(lines: list[bytes], start: int) -> list[bytes]:
    """What a forger who can write the file does: recompute every hash from `start` on."""
    out = list(lines[:start])
    prev = json.loads(out[-1])["hash"]
    for raw in lines[start:]:
        obj = json.loads(raw)
        obj["prev"] = prev
        obj["hash"] = prev = record_hash(prev, obj)
        out.append(canonical(obj) + b"\n")
    return out


def check(path: Path, keys: Path):  # type: ignore[no-untyped-def]
    return verify(path, load_public_key(keys))


def test_a_sound_log_verifies_with_its_checkpoints(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path, n=20, every=5)
    result = check(path, keys)
    assert result.ok and result.first_bad is None and int(result.exit_code) == 0
    # 20 records, the opening record and a checkpoint at every fifth seq
    assert result.records == 26 and result.checkpoints == 5
    assert result.last_checkpoint == 25 and result.unsigned_tail == 0
    with AuditLog(path, keys, checkpoint_every=5) as log:
        log.append("remediate.restore", {"item": 1})
    assert check(path, keys).unsigned_tail == 1
    first = json.loads(lines_of(path)[0])
    assert first["event"] == "audit.opened" and first["prev"] == "0" * 64
    assert all(raw == canonical(json.loads(raw)) + b"\n" for raw in lines_of(path))


def test_ten_thousand_records(tmp_path: Path) -> None:
    path, keys = tmp_path / "audit.jsonl", tmp_path / "keys"
    with AuditLog(path, keys) as log:
        for batch in range(10):
            entries = [
                ("remediate.apply", {"item": batch * 1000 + i, "sha256": "ab" * 32})
                for i in range(1000)
            ]
            log.append_many(entries)
        log.checkpoint()
    result = check(path, keys)
    assert result.ok, result.first_bad
    assert result.records == 1 + 10_000 + 101 + 1 and result.unsigned_tail == 0
    assert int(result.exit_code) == 0


@pytest.mark.parametrize("target", [1, 7, 6])  # a record, another, a checkpoint (seq 5)
def test_every_flipped_byte_of_a_record_is_caught_there(tmp_path: Path, target: int) -> None:
    path, keys = make_log(tmp_path)
    original = lines_of(path)
    start = sum(len(x) for x in original[:target])
    for offset in range(len(original[target])):  # the newline too
        data = bytearray(b"".join(original))
        data[start + offset] ^= 0x01
        path.write_bytes(bytes(data))
        bad = check(path, keys).first_bad
        assert bad is not None, offset
        assert bad.line == target + 1, (offset, bad)


def test_a_cut_record_is_caught(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    lines = lines_of(path)
    lines[9] = lines[9][: len(lines[9]) // 2] + b"\n"
    path.write_bytes(b"".join(lines))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 10 and "not JSON" in bad.reason


def test_a_removed_record_is_caught(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    lines = lines_of(path)
    for k in (0, 3, 6, len(lines) - 2):  # the first, a record, a checkpoint, one near the end
        path.write_bytes(b"".join(lines[:k] + lines[k + 1 :]))
        result = check(path, keys)
        assert result.first_bad is not None and result.first_bad.line == k + 1, k
        assert int(result.exit_code) == 1
    # a forger who also renumbers and rehashes what follows still breaks the next checkpoint
    forged = [json.loads(x) for x in lines[:3] + lines[4:]]
    for n, obj in enumerate(forged):
        obj["seq"] = n
    path.write_bytes(b"".join(rechain([canonical(o) + b"\n" for o in forged], 3)))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 5 and "signature does not verify" in bad.reason


def test_reordered_records_are_caught(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    lines = lines_of(path)
    swapped = [*lines[:8], lines[9], lines[8], *lines[10:]]
    path.write_bytes(b"".join(swapped))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 9 and "expected" in bad.reason


def test_a_changed_record_rehashed_is_caught_by_the_next_checkpoint(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    lines = lines_of(path)
    obj = json.loads(lines[2])
    obj["fields"]["path"] = "photos/innocent.jpg"
    lines[2] = canonical(obj) + b"\n"
    path.write_bytes(b"".join(rechain(lines, 2)))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 6 and "signature" in bad.reason


def test_a_forged_checkpoint_signature_is_caught(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    lines = lines_of(path)
    log_id = json.loads(lines[0])["fields"]["log_id"]
    cp = json.loads(lines[5])
    assert cp["event"] == "audit.checkpoint"
    forger = Ed25519PrivateKey.generate()
    # signed by another key under the true key's name: the signature does not verify
    cp["fields"]["signature"] = forger.sign(signed_message(log_id, 5, cp["prev"])).hex()
    lines[5] = canonical(cp) + b"\n"
    path.write_bytes(b"".join(rechain(lines, 5)))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 6 and "does not verify" in bad.reason
    # under the forger's own name: not the key the verifier trusts
    cp["fields"]["key_id"] = key_id(forger.public_key())
    lines[5] = canonical(cp) + b"\n"
    path.write_bytes(b"".join(rechain(lines, 5)))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 6 and "not by the given key" in bad.reason
    # a whole log checked against another key fails at its first line
    other = tmp_path / "other.pub"
    from scanner.remediation.audit_keys import public_pem

    other.write_bytes(public_pem(forger.public_key()))
    bad = verify(path, load_public_key(other)).first_bad
    assert bad is not None and bad.line == 1


def test_appended_garbage_is_caught(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    n = len(lines_of(path))
    with path.open("ab") as f:
        f.write(b'{"event":"remediate.purge","fields":{}}\n')
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == n + 1 and "not an audit record" in bad.reason
    # a well-formed record that does not chain
    path.write_bytes(b"".join(lines_of(path)[:n]))
    obj = json.loads(lines_of(path)[-1])
    obj.update(seq=obj["seq"] + 1, prev="f" * 64, event="remediate.purge")
    obj["hash"] = record_hash(obj["prev"], obj)
    with path.open("ab") as f:
        f.write(canonical(obj) + b"\n")
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == n + 1 and "does not chain" in bad.reason
    # AuditLog refuses to chain onto a damaged record
    path.write_bytes(b"".join(lines_of(path)[:n]) + b"garbage\n")
    with pytest.raises(AuditLogError, match="damaged"), AuditLog(path, keys) as log:
        log.append("remediate.purge", {})


def test_a_torn_last_line_is_reported_then_recorded_by_the_next_append(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path)
    lines = lines_of(path)
    fragment = lines[-1][:40]
    path.write_bytes(b"".join(lines[:-1]) + fragment)
    result = check(path, keys)
    assert result.first_bad is None and result.torn_tail is not None
    assert result.torn_tail.line == len(lines) and int(result.exit_code) == 3
    with AuditLog(path, keys) as log:
        log.append("remediate.restore", {"item": 3})
    after = lines_of(path)
    assert after[len(lines) - 1] == fragment + b"\n"  # kept, not erased
    note = json.loads(after[len(lines)])
    assert note["event"] == "audit.torn-tail" and note["fields"]["bytes"] == 40
    result = check(path, keys)
    assert result.ok and result.recovered == 1
    # a torn line the log did not record is bad, wherever it is
    path.write_bytes(b"".join([*after[:3], b'{"seq":3,\n', *after[3:]]))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 4


def test_an_appender_killed_mid_stream_leaves_a_log_that_verifies(tmp_path: Path) -> None:
    path, keys = tmp_path / "audit.jsonl", tmp_path / "keys"
    AuditLog(path, keys).close()  # the key exists before the child starts
    code = (
        "import sys\nfrom pathlib import Path\nfrom scanner.remediation.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]), Path(sys.argv[2]), checkpoint_every=7)\n"
        "i = 0\nwhile True:\n"
        "    log.append_many([('remediate.apply', {'item': i, 'note': 'x' * 3000})] * 20)\n"
        "    i += 1\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(3):
        child = subprocess.Popen([sys.executable, "-c", code, str(path), str(keys)], env=env)
        time.sleep(1.0)
        child.send_signal(signal.SIGKILL)
        child.wait()
        result = check(path, keys)
        assert result.first_bad is None, result.first_bad
    with AuditLog(path, keys) as log:
        log.append("remediate.apply", {"item": -1})
    result = check(path, keys)
    assert result.ok and result.records > 20


def test_two_processes_never_interleave(tmp_path: Path) -> None:
    path, keys = tmp_path / "audit.jsonl", tmp_path / "keys"
    AuditLog(path, keys).close()
    code = (
        "import sys\nfrom pathlib import Path\nfrom scanner.remediation.audit import AuditLog\n"
        "log = AuditLog(Path(sys.argv[1]), Path(sys.argv[2]), checkpoint_every=9)\n"
        "for i in range(150):\n"
        "    log.append('remediate.apply', {'writer': sys.argv[3], 'item': i})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(path), str(keys), w], env=env)
        for w in ("a", "b")
    ]
    assert [c.wait(timeout=120) for c in children] == [0, 0]
    result = check(path, keys)
    assert result.ok, result.first_bad
    writers = [json.loads(x)["fields"].get("writer") for x in lines_of(path)]
    assert writers.count("a") == writers.count("b") == 150


def test_fields_never_hold_payloads_or_people(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path, n=1)
    size = path.stat().st_size
    refused = [
        {"crop": "x"},
        {"data": b"\xff\xd8\xff"},
        {"values": [0.1] * 128},
        {"values": np.zeros(128, dtype=np.float32)},
        {"values": np.float32(0.5)},
        {"text": ", ".join(["0.123"] * 128)},
        {"nested": {"deeper": {"embedding": "x"}}},
        {"subject": "alice@example.org"},
        {"subjects": ["alice@example.org"]},
        {"note": "x" * 5000},
        {"Bad-Key": 1},
        {"n": float("nan")},
        {"text": "\ud800"},
    ]
    with AuditLog(path, keys) as log:
        for fields in refused:
            with pytest.raises(AuditFieldError):
                log.append("remediate.apply", fields)
        with pytest.raises(AuditFieldError):
            log.append("audit.checkpoint", {})
        with pytest.raises(AuditFieldError):
            log.append("Not An Event", {})
        assert path.stat().st_size == size  # nothing written
        person = log.subject_hash("alice@example.org")
        assert person == log.subject_hash("alice@example.org")
        assert "alice" not in person and person.startswith("hmac-sha256:")
        record = log.append(
            "subject.erasure",
            {
                "subject": person,
                "box": [1, 2, 3, 4],
                "sha256": "0123456789" * 6 + "abcd",
                "version": "1.2.3",
                "at": {"store": "kyc", "rows": [1, 2]},
            },
        )
    assert record.fields["subject"] == person
    salts = list((keys / "salts").iterdir())
    assert len(salts) == 1 and stat.S_IMODE(salts[0].stat().st_mode) == 0o600
    assert check(path, keys).ok


def test_keys_live_in_a_private_directory(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path, n=1)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "audit-ed25519.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    with pytest.raises(AuditKeyError, match="open to group or others"):
        AuditLog(tmp_path / "other.jsonl", loose)
    link = tmp_path / "link"
    link.symlink_to(keys)
    with pytest.raises(AuditKeyError, match="symbolic link"):
        AuditLog(path, link)
    (keys / "audit-ed25519.key").chmod(0o644)
    with pytest.raises(AuditKeyError, match="readable by group or others"):
        AuditLog(path, keys)
    (keys / "audit-ed25519.key").chmod(0o600)
    # a log started under one key is not continued under another
    with (
        pytest.raises(AuditLogError, match="signed by key"),
        AuditLog(path, tmp_path / "other-keys") as log,
    ):
        log.append("remediate.apply", {})


def test_an_overlong_line_is_bad_without_being_read_whole(tmp_path: Path) -> None:
    path, keys = make_log(tmp_path, n=3)
    lines = lines_of(path)
    path.write_bytes(b"".join([*lines[:2], b"x" * 300_000, b"\n", *lines[2:]]))
    bad = check(path, keys).first_bad
    assert bad is not None and bad.line == 3 and "longer than" in bad.reason


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_log(tmp_path_factory.mktemp("fuzz"), n=12, every=4)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_no_damage_makes_verify_fail_other_than_by_naming_a_line(
    small: tuple[Path, Path], data: st.DataObject
) -> None:
    """Bytes cut, inserted or changed anywhere: verify answers (sound only when the damage
    removed whole records from the end, which no chain can see), never raises."""
    log, keys = small
    original = log.read_bytes()
    start = data.draw(st.integers(0, len(original) - 1))
    cut = data.draw(st.integers(0, 40))
    insert = data.draw(st.binary(max_size=20))
    damaged = original[:start] + insert + original[start + cut :]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.jsonl"
        path.write_bytes(damaged)
        result = verify(path, load_public_key(keys))
    if damaged == original:
        assert result.ok
    elif result.ok:
        assert original.startswith(damaged) and damaged.endswith(b"\n")
    else:
        bad = result.first_bad or result.torn_tail
        assert bad is not None and 1 <= bad.line <= damaged.count(b"\n") + 1
