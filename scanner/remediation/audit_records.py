"""One audit record: its fields, its line, and the checkpoint signature. Shared by the writer
(`AuditLog`) and the checker (`verify`).

A record is one line of canonical JSON:

    {"event":"remediate.apply","fields":{...},"hash":"<64 hex>","prev":"<64 hex>",
     "seq":12,"time":"2026-12-07T09:00:00.000000Z"}

`seq` counts from 0; record 0 is `audit.opened` (the log's id, the signing key's id, the
format) with `prev` all zeros. An `audit.checkpoint` record signs, with Ed25519, the log's id,
its own `seq` and its `prev` — the hash of everything before it. An `audit.torn-tail` record
follows a line a crash left unfinished, naming its length and SHA-256 (docs/audit.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from scanner.errors import FaceauditError
from scanner.remediation.canonical import (
    GENESIS_PREV,
    MAX_RECORD_BYTES,
    AuditFieldError,
    FieldValue,
    canonical,
    record_hash,
)

FORMAT: Final = 1
OPENED: Final = "audit.opened"
CHECKPOINT: Final = "audit.checkpoint"
TORN_TAIL: Final = "audit.torn-tail"
RESERVED_PREFIX: Final = "audit."
KEYS: Final = frozenset({"seq", "time", "event", "fields", "prev", "hash"})
LOG_ID: Final = re.compile(r"\A[0-9a-f]{32}\Z")
_HEX64: Final = re.compile(r"\A[0-9a-f]{64}\Z")
_SIGNED: Final = b"faceaudit audit checkpoint v1\n"


@dataclass(frozen=True)
class Record:
    """A record as written: `hash` chains it to the record before (`prev`)."""

    seq: int
    time: str  # UTC, ISO 8601 with microseconds and Z
    event: str
    fields: Mapping[str, FieldValue]
    prev: str
    hash: str

    def body(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "time": self.time,
            "event": self.event,
            "fields": dict(self.fields),
            "prev": self.prev,
        }

    def line(self) -> bytes:
        """The canonical line, newline included."""
        return canonical({**self.body(), "hash": self.hash}) + b"\n"


class BadRecord(FaceauditError, ValueError):
    """A line that is not a well-formed, self-consistent record; the message says why."""


def utc_text(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make(seq: int, time: str, event: str, fields: Mapping[str, FieldValue], prev: str) -> Record:
    body: dict[str, object] = {
        "seq": seq,
        "time": time,
        "event": event,
        "fields": dict(fields),
        "prev": prev,
    }
    record = Record(seq, time, event, dict(fields), prev, record_hash(prev, body))
    if len(record.line()) > MAX_RECORD_BYTES + 1:
        raise AuditFieldError(f"a record of more than {MAX_RECORD_BYTES} bytes")
    return record


def parse(line: bytes) -> Record:
    """A line (without its newline) as a record: JSON, in canonical form, with the six keys
    of their types and a hash that matches its content. Raises BadRecord."""
    if len(line) > MAX_RECORD_BYTES:
        raise BadRecord(f"longer than {MAX_RECORD_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRecord("not UTF-8") from None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise BadRecord("not JSON (cut, or bytes changed)") from None
    if not isinstance(obj, dict) or set(obj) != KEYS:
        raise BadRecord("not an audit record (its keys differ)")
    seq, time, event, fields, prev, digest = (
        obj["seq"],
        obj["time"],
        obj["event"],
        obj["fields"],
        obj["prev"],
        obj["hash"],
    )
    if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
        raise BadRecord("seq is not a count")
    if not (isinstance(time, str) and isinstance(event, str) and isinstance(fields, dict)):
        raise BadRecord("time, event or fields of the wrong type")
    if not (isinstance(prev, str) and _HEX64.match(prev)):
        raise BadRecord("prev is not a SHA-256")
    if not (isinstance(digest, str) and _HEX64.match(digest)):
        raise BadRecord("hash is not a SHA-256")
    try:
        if canonical(obj) != line:
            raise BadRecord("not in canonical form (bytes changed)")
    except ValueError:  # NaN and the like
        raise BadRecord("not in canonical form (bytes changed)") from None
    record = Record(seq, time, event, fields, prev, digest)
    if record_hash(prev, record.body()) != digest:
        raise BadRecord("its hash does not match its content (bytes changed)")
    return record


def opened(log_id: str, key: str, time: str) -> Record:
    fields: dict[str, FieldValue] = {"log_id": log_id, "key_id": key, "format": FORMAT}
    return make(0, time, OPENED, fields, GENESIS_PREV)


def signed_message(log_id: str, seq: int, head: str) -> bytes:
    return _SIGNED + canonical({"log_id": log_id, "seq": seq, "head": head})


def checkpoint(
    log_id: str, seq: int, time: str, prev: str, *, key: Ed25519PrivateKey, key_name: str
) -> Record:
    signature = key.sign(signed_message(log_id, seq, prev)).hex()
    fields: dict[str, FieldValue] = {"key_id": key_name, "signature": signature}
    return make(seq, time, CHECKPOINT, fields, prev)


def checkpoint_problem(
    record: Record, log_id: str, key: Ed25519PublicKey, key_name: str
) -> str | None:
    """Why a checkpoint record does not prove the chain before it under `key`, or None."""
    signer, signature = record.fields.get("key_id"), record.fields.get("signature")
    if set(record.fields) != {"key_id", "signature"} or not isinstance(signature, str):
        return "a checkpoint without its key id and signature"
    if signer != key_name:
        return f"checkpoint signed by key {signer}, not by the given key {key_name}"
    try:
        key.verify(bytes.fromhex(signature), signed_message(log_id, record.seq, record.prev))
    except (ValueError, InvalidSignature):
        return "checkpoint signature does not verify (forged, or the chain before it changed)"
    return None


def torn_tail(seq: int, time: str, prev: str, fragment: bytes) -> Record:
    fields: dict[str, FieldValue] = {
        "bytes": len(fragment),
        "sha256": hashlib.sha256(fragment).hexdigest(),
    }
    return make(seq, time, TORN_TAIL, fields, prev)


def names_fragment(record: Record, fragment: bytes) -> bool:
    return (
        record.event == TORN_TAIL
        and record.fields.get("bytes") == len(fragment)
        and record.fields.get("sha256") == hashlib.sha256(fragment).hexdigest()
    )
