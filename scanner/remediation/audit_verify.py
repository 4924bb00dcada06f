"""Checking an audit log: the chain, every checkpoint's signature, and what follows the last.

`verify(path, public_key)` reads the log once, line by line, and stops at the first line that
is not sound, naming it (1-based line, the record number expected there) and why: not a
record (bytes changed, a record cut), a hash that does not match its content, a record that
does not chain to the one before or carries the wrong number (removed, inserted, reordered),
a checkpoint whose signature does not verify under the given key. A last line without its
newline is a torn tail (a crash during an append): reported apart, since every record before
it is sound. A torn line that the log itself recorded (an `audit.torn-tail` record right after
it, naming its length and SHA-256) is accepted and counted.

Records after the last checkpoint are chained but not signed: someone able to rewrite the
file and recompute hashes could change or drop them without a trace. `unsigned_tail` counts
them; docs/audit.md explains the trade-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from scanner.model import ExitCode
from scanner.remediation.audit_keys import key_id
from scanner.remediation.audit_records import (
    CHECKPOINT,
    LOG_ID,
    OPENED,
    TORN_TAIL,
    BadRecord,
    Record,
    checkpoint_problem,
    names_fragment,
    parse,
)
from scanner.remediation.canonical import GENESIS_PREV, MAX_RECORD_BYTES


@dataclass(frozen=True)
class BadLine:
    """Where the log stops being sound, and why."""

    line: int  # 1-based line of the file
    seq: int  # the record number expected on that line
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} (record {self.seq}): {self.reason}"


@dataclass(frozen=True)
class VerifyResult:
    path: str
    log_id: str | None
    key_id: str  # of the key the checkpoints were checked with
    records: int  # sound records read (checkpoints included)
    checkpoints: int
    last_checkpoint: int | None  # its seq
    unsigned_tail: int  # sound records after the last checkpoint
    recovered: int  # torn lines the log recorded and went past
    first_bad: BadLine | None = None
    torn_tail: BadLine | None = None  # the last line, unfinished by a crash

    @property
    def ok(self) -> bool:
        return self.first_bad is None and self.torn_tail is None

    @property
    def exit_code(self) -> ExitCode:
        """1 for a bad record, 3 for a torn last line only (a crash; the rest is sound)."""
        if self.first_bad is not None:
            return ExitCode.FINDINGS
        if self.torn_tail is not None:
            return ExitCode.INCOMPLETE
        return ExitCode.CLEAN


class _Check:
    def __init__(self, public_key: Ed25519PublicKey) -> None:
        self.key = public_key
        self.key_id = key_id(public_key)
        self.log_id: str | None = None
        self.last: Record | None = None
        self.records = 0
        self.checkpoints = 0
        self.last_checkpoint: int | None = None
        self.recovered = 0

    @property
    def expected(self) -> int:
        return 0 if self.last is None else self.last.seq + 1

    def problem(self, record: Record, fragment: bytes | None) -> str | None:
        """Why `record` cannot follow what was read so far (None: it can)."""
        if self.last is None:
            return self._first(record)
        if record.seq != self.expected:
            return (
                f"record {record.seq} where {self.expected} was expected (removed, added or moved)"
            )
        if record.prev != self.last.hash:
            return "does not chain to the record before (a record removed, changed or moved)"
        if record.event == OPENED:
            return f"a second {OPENED} record"
        if record.event == CHECKPOINT:
            assert self.log_id is not None
            return checkpoint_problem(record, self.log_id, self.key, self.key_id)
        if record.event == TORN_TAIL and (fragment is None or not names_fragment(record, fragment)):
            return "names a torn line that is not the line before it"
        return None

    def _first(self, record: Record) -> str | None:
        log_id = record.fields.get("log_id")
        if record.event != OPENED or record.seq != 0 or record.prev != GENESIS_PREV:
            return f"the log does not start with its {OPENED} record (its start was removed)"
        if not isinstance(log_id, str) or not LOG_ID.match(log_id):
            return f"an {OPENED} record without a log id"
        if record.fields.get("key_id") != self.key_id:
            return (
                f"the log is signed by key {record.fields.get('key_id')}, "
                f"not by the given key {self.key_id}"
            )
        self.log_id = log_id
        return None

    def accept(self, record: Record) -> None:
        self.last = record
        self.records += 1
        if record.event == CHECKPOINT:
            self.checkpoints += 1
            self.last_checkpoint = record.seq
        elif record.event == TORN_TAIL:
            self.recovered += 1

    def result(self, path: Path, bad: BadLine | None, torn: BadLine | None) -> VerifyResult:
        signed = self.last_checkpoint
        tail = self.records if signed is None else (self.expected - 1 - signed)
        return VerifyResult(
            path=str(path),
            log_id=self.log_id,
            key_id=self.key_id,
            records=self.records,
            checkpoints=self.checkpoints,
            last_checkpoint=signed,
            unsigned_tail=tail,
            recovered=self.recovered,
            first_bad=bad,
            torn_tail=torn,
        )


def verify(path: Path, public_key: Ed25519PublicKey) -> VerifyResult:
    """Check the log at `path` under `public_key`. OSError if it cannot be read."""
    check = _Check(public_key)
    # a line that did not parse, kept until the next tells whether the log recorded it torn
    pending: tuple[int, bytes, str] | None = None
    number = 0
    limit = MAX_RECORD_BYTES + 1  # a line is read up to this: a longer one is never a record
    with Path(path).open("rb") as f:
        for number, raw in enumerate(iter(lambda: f.readline(limit), b""), start=1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if len(raw) == limit and not raw.endswith(b"\n"):
                long = f"a line longer than {MAX_RECORD_BYTES} bytes"
                return check.result(path, BadLine(number, check.expected, long), None)
            if not raw.endswith(b"\n") and pending is None:
                # a last line without its newline: a torn write (even if it would parse)
                torn = BadLine(number, check.expected, "the last line is unfinished (a crash)")
                return check.result(path, None, torn)
            try:
                record = parse(line)
            except BadRecord as exc:
                if pending is not None:
                    return check.result(path, BadLine(pending[0], check.expected, pending[2]), None)
                pending = (number, line, str(exc))
                continue
            fragment = pending[1] if pending is not None else None
            why = check.problem(record, fragment)
            if pending is not None and (why is not None or record.event != TORN_TAIL):
                return check.result(path, BadLine(pending[0], check.expected, pending[2]), None)
            if why is not None:
                return check.result(path, BadLine(number, check.expected, why), None)
            check.accept(record)
            pending = None
    if pending is not None:
        return check.result(path, BadLine(pending[0], check.expected, pending[2]), None)
    if number == 0:
        return check.result(path, BadLine(1, 0, "empty: the log has no records"), None)
    return check.result(path, None, None)
