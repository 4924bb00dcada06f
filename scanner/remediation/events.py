"""What remediation records: one function, `record`, through which every event passes (a plan
written, a dry run, each item quarantined, skipped, restored or purged, each erasure).

Today it appends one canonical JSON line per event (sorted keys, no spaces, UTF-8) to the log
the caller names. The tamper-evident audit log (hash chain, signed checkpoints) plugs in
here and nowhere else. An event never holds pixels, vectors or a subject's probe; people
and file names appear only as salted hashes (`salted`), so an erasure never requires the log
to be rewritten.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from scanner.model import ScalarValue

EventValue = ScalarValue | list[str] | dict[str, int]


def canonical(document: object) -> bytes:
    """The canonical JSON form: sorted keys, no insignificant space, UTF-8."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8", "surrogateescape")


def salted(salt: bytes, value: str) -> str:
    """A person, a file name or any other identifying text as it may appear in a log: an
    HMAC-SHA-256 under the vault's salt (32 hex), comparable but not reversible."""
    mac = hmac.new(salt, value.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return mac.hexdigest()[:32]


def record(log_path: Path | None, event: str, **fields: EventValue) -> None:
    """Append one event (`plan`, `dry-run`, `quarantine`, `skip`, `restore`, `purge`,
    `erasure`, `recover`…) with its fields; nothing when `log_path` is None."""
    if log_path is None:
        return
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
    line = canonical({"at": now, "event": event, **fields}) + b"\n"
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
