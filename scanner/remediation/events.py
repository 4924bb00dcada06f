"""What remediation records: one function, `record`, through which every event passes (a plan
written, a dry run, each item quarantined, skipped, restored or purged, each erasure), into the
tamper-evident audit log (scanner/remediation/audit.py: hash-chained records, Ed25519-signed
checkpoints; `faceaudit audit verify`), and `seal`, which signs the log's head when a command
ends so nothing it logged lies after the last checkpoint.

The log is the vault's `audit.jsonl` unless `--log` names another file; its signing key is in
the folder `audit-keys` beside the log (docs/audit.md). An event never holds pixels, vectors or
a subject's probe; people and file names appear only as salted hashes (`salted`), so an erasure
never requires the log to be rewritten. A field the audit log refuses (scanner/remediation/
canonical.py) is left out and named in `refused`, so an action is never lost for its log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
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


LOG_NAME = "audit.jsonl"  # in the vault, unless --log names another file
KEY_DIR_NAME = "audit-keys"  # beside the log: the Ed25519 signing key and the salts


def key_dir(log_path: Path) -> Path:
    """Where the signing key of the audit log at `log_path` lives."""
    return log_path.parent / KEY_DIR_NAME


def record(log_path: Path | None, event: str, **fields: EventValue) -> None:
    """Append one event (`plan`, `dry-run`, `quarantine`, `skip`, `restore`, `purge`,
    `erasure`, `recover`…) with its fields to the audit log at `log_path` (on the disk when
    this returns); nothing when `log_path` is None."""
    if log_path is None:
        return
    record_many(log_path, [(event, fields)])


def record_many(
    log_path: Path | None, events: Sequence[tuple[str, Mapping[str, EventValue]]]
) -> None:
    """`record` for many events at once: one write and one fsync of the audit log (a batch
    of quarantined or restored items)."""
    if log_path is None or not events:
        return
    from scanner.remediation.audit import AuditLog

    with AuditLog(log_path, key_dir(log_path)) as log:
        log.append_many([(event, _kept(fields)) for event, fields in events])


def _kept(fields: Mapping[str, EventValue]) -> dict[str, object]:
    """The fields the audit log may hold; the names of the others in `refused`."""
    from scanner.remediation.canonical import AuditFieldError, check_fields

    kept: dict[str, object] = {}
    refused: list[str] = []
    for name, value in fields.items():
        try:
            check_fields({name: value})
        except AuditFieldError:
            refused.append(name)
        else:
            kept[name] = value
    if refused:
        kept["refused"] = refused
    return kept


def seal(log_path: Path | None) -> None:
    """Sign the head of the audit log at `log_path` (a command's last step)."""
    if log_path is None or not log_path.exists():
        return
    from scanner.remediation.audit import AuditLog

    with AuditLog(log_path, key_dir(log_path)) as log:
        log.checkpoint()
