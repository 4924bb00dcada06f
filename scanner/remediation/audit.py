"""The tamper-evident audit log: every remediation event, hash-chained, with signed checkpoints.

    log = AuditLog(Path("vault/audit.jsonl"), Path("vault/keys"))
    log.append("remediate.apply", {"plan": plan_id, "items": 12, "dry_run": True})
    log.append("subject.erasure", {"subject": log.subject_hash("customer-4711")})
    log.checkpoint()              # sign the head now (also done every `checkpoint_every`)

    result = verify(Path("vault/audit.jsonl"), load_public_key(Path("vault/keys")))
    result.ok, result.first_bad   # the first bad record: line, seq, why

Each record is one line of canonical JSON chained to the one before (scanner/remediation/
audit_records.py). An append takes an exclusive `fcntl` lock on `LOG.lock`, reads the head of
the chain from the end of the file, writes its line (and a checkpoint, when one is due) with
one `write` to a descriptor opened `O_APPEND | O_NOFOLLOW`, and `fsync`s it before returning:
a record that `append` returned is on the disk. A crash during the write can leave the last
line unfinished (a torn tail): `verify` reports it (exit 3), and the next append keeps the
fragment as it is, ends its line, and records an `audit.torn-tail` record with its length and
SHA-256 before its own record, so nothing is erased and the chain goes on. Fields are
checked by scanner/remediation/canonical.py: no payloads, people only as salted hashes.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Final

from scanner.errors import FaceauditError
from scanner.remediation.audit_keys import key_id, log_salt, signing_key
from scanner.remediation.audit_records import (
    LOG_ID,
    OPENED,
    RESERVED_PREFIX,
    BadRecord,
    Record,
    checkpoint,
    make,
    opened,
    parse,
    torn_tail,
    utc_text,
)
from scanner.remediation.audit_verify import BadLine, VerifyResult, verify
from scanner.remediation.canonical import (
    MAX_RECORD_BYTES,
    AuditFieldError,
    check_event,
    check_fields,
    subject_hash,
)

__all__ = [
    "AuditFieldError",
    "AuditLog",
    "AuditLogError",
    "BadLine",
    "Record",
    "VerifyResult",
    "verify",
]

CHECKPOINT_EVERY: Final = 100
_TAIL: Final = 2 * MAX_RECORD_BYTES + 2  # enough to hold a torn fragment and the line before


class AuditLogError(FaceauditError):
    """The log cannot be appended to safely (its last record is damaged, it is not an audit
    log, or another key signs it); `faceaudit audit verify` says more."""


class AuditLog:
    """An append-only, hash-chained, checkpointed JSON-lines log at `path`, signed with the
    Ed25519 key of `key_dir` (created 0700 with its key on first use)."""

    def __init__(
        self,
        path: Path,
        key_dir: Path,
        *,
        checkpoint_every: int = CHECKPOINT_EVERY,
        sync: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.path = Path(path)
        self.key_dir = Path(key_dir)
        self.checkpoint_every = checkpoint_every
        self.sync = sync
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._key = signing_key(self.key_dir)
        self.key_id = key_id(self._key.public_key())
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._log_id: str | None = None
        self._salt: bytes | None = None

    # -- the public surface ------------------------------------------------------------

    def append(self, event: str, fields: Mapping[str, object]) -> Record:
        """Append one record and return it once it is on the disk. Raises AuditFieldError
        for an event name or a field the log may not hold (nothing is written then)."""
        return self.append_many([(event, fields)])[0]

    def append_many(self, entries: Iterable[tuple[str, Mapping[str, object]]]) -> list[Record]:
        """Append several records under one lock, with one write and one `fsync` (an apply
        of thousands of items logs them at the disk's write rate, not its sync rate). Every
        entry is checked before anything is written."""
        checked = []
        for event, fields in entries:
            check_event(event)
            if event.startswith(RESERVED_PREFIX):
                raise AuditFieldError(f"event {event!r}: the audit.* events are the log's own")
            checked.append((event, check_fields(fields)))
        out: list[Record] = []
        with self._locked() as fd:
            seq, prev, lines = self._head(fd)
            for event, clean in checked:
                record = make(seq, self._now(), event, clean, prev)
                out.append(record)
                lines.append(record.line())
                seq, prev = record.seq + 1, record.hash
                if seq % self.checkpoint_every == 0:
                    signed = self._checkpoint(seq, prev)
                    lines.append(signed.line())
                    seq, prev = signed.seq + 1, signed.hash
            self._write(fd, b"".join(lines))
        return out

    def checkpoint(self) -> Record:
        """Sign the head of the chain now (call it when a command ends, so nothing it
        logged is left after the last checkpoint)."""
        with self._locked() as fd:
            seq, prev, pending = self._head(fd)
            record = self._checkpoint(seq, prev)
            self._write(fd, b"".join([*pending, record.line()]))
        return record

    @property
    def log_id(self) -> str:
        """The log's random id (from its first record; the log is started if empty)."""
        if self._log_id is None:
            with self._locked() as fd:
                _, _, pending = self._head(fd)
                if pending:
                    self._write(fd, b"".join(pending))
        assert self._log_id is not None
        return self._log_id

    def subject_hash(self, identifier: str) -> str:
        """How a person is named in this log: HMAC-SHA256 under the log's secret salt
        (`KEY_DIR/salts/LOG_ID.salt`). Destroying the salt unlinks every hash from anyone."""
        if self._salt is None:
            self._salt = log_salt(self.key_dir, self.log_id)
        return subject_hash(self._salt, identifier)

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- inside the lock -----------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[int]:
        if self._lock_fd is None:
            lock = self.path.with_name(self.path.name + ".lock")
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            self._lock_fd = os.open(lock, flags, 0o600)
        if self._fd is None:
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield self._fd
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _now(self) -> str:
        return utc_text(self._clock())

    def _checkpoint(self, seq: int, prev: str) -> Record:
        assert self._log_id is not None
        return checkpoint(self._log_id, seq, self._now(), prev, key=self._key, key_name=self.key_id)

    def _write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:  # one write in practice; a short write (a full disk) goes on or raises
            n = os.write(fd, view)
            view = view[n:]
        if self.sync:
            os.fsync(fd)

    def _head(self, fd: int) -> tuple[int, str, list[bytes]]:
        """(the next seq, the hash to chain to, lines to write first: the first record of a
        new log, or the end of a torn line and the record naming it)."""
        size = os.fstat(fd).st_size
        if size == 0:
            self._log_id = secrets.token_hex(16)
            first = opened(self._log_id, self.key_id, self._now())
            return 1, first.hash, [first.line()]
        if self._log_id is None:
            self._log_id = self._read_log_id(fd)
        start = max(0, size - _TAIL)
        tail = os.pread(fd, size - start, start)
        complete, newline, fragment = tail.rpartition(b"\n")
        if not newline and start == 0:
            raise AuditLogError(f"{self.path}: its first record is unfinished; move it aside")
        last_line = complete.rpartition(b"\n")[2]
        cut = start > 0 and len(last_line) == len(complete)  # its start is not in the tail
        if not newline or cut or len(fragment) > MAX_RECORD_BYTES:
            raise AuditLogError(f"{self.path}: its last line is longer than any record")
        try:
            last = parse(last_line)
        except BadRecord as exc:
            raise AuditLogError(
                f"{self.path}: its last record is damaged ({exc}); nothing appended"
            ) from None
        if not fragment:
            return last.seq + 1, last.hash, []
        note = torn_tail(last.seq + 1, self._now(), last.hash, fragment)
        return note.seq + 1, note.hash, [b"\n", note.line()]

    def _read_log_id(self, fd: int) -> str:
        head = os.pread(fd, MAX_RECORD_BYTES + 1, 0).partition(b"\n")[0]
        try:
            first = parse(head)
        except BadRecord as exc:
            raise AuditLogError(f"{self.path}: not an audit log ({exc})") from None
        log_id = first.fields.get("log_id")
        if first.event != OPENED or not isinstance(log_id, str) or not LOG_ID.match(log_id):
            raise AuditLogError(f"{self.path}: not an audit log (no {OPENED} record first)")
        if first.fields.get("key_id") != self.key_id:
            raise AuditLogError(
                f"{self.path}: signed by key {first.fields.get('key_id')}, "
                f"not by {self.key_id} of {self.key_dir}"
            )
        return log_id
