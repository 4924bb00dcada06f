"""The audit log's vocabulary: canonical JSON, the record hash, what a field may hold, and
salted hashes of the people a record is about.

Canonical JSON is the one byte form a record is hashed and written in: keys sorted, no
whitespace, UTF-8 (not `\\u` escapes), no NaN or infinity. A record's hash is SHA-256 over
the previous record's hash (64 hex, ASCII) followed by the record's canonical bytes without
its own `hash` key, so changing, removing or reordering a record breaks every hash after it.

Fields carry facts about an action (ids, counts, sizes, digests, locations, rule ids), never
a payload: bytes, long strings, lists of more than a few numbers (a vector), or keys that name
biometric data are refused, and people appear only as keyed hashes (`subject_hash`), so that
erasing a person never requires rewriting the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final

from scanner.errors import FaceauditError

GENESIS_PREV: Final = "0" * 64
MAX_RECORD_BYTES: Final = 64 * 1024  # a canonical line, newline excluded
MAX_STRING: Final = 4096  # characters of one string value
MAX_NUMBERS: Final = 8  # numbers in one list: more looks like a vector
MAX_LIST: Final = 1000  # entries of one list (ids, locations)
MAX_DEPTH: Final = 4  # nesting of mappings and lists
SUBJECT_PREFIX: Final = "hmac-sha256:"
EVENT: Final = re.compile(r"\A[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+){0,4}\Z")
KEY: Final = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
# keys that would only ever hold a biometric payload or a person's raw identifier
FORBIDDEN_KEYS: Final = frozenset(
    {
        "pixels",
        "image",
        "image_data",
        "crop",
        "crops",
        "thumbnail",
        "thumbnails",
        "vector",
        "vectors",
        "embedding",
        "embeddings",
        "descriptor",
        "descriptors",
        "probe",
        "probes",
        "face_data",
        "encoding",
        "encodings",
    }
)
# keys that name people: their values must be `subject_hash`es
SUBJECT_KEYS: Final = frozenset({"subject", "subjects", "subject_id", "subject_ids"})
_HASHED: Final = re.compile(rf"\A{re.escape(SUBJECT_PREFIX)}[0-9a-f]{{64}}\Z")
# a decimal number standing alone (not inside a word, a version or a digest): a vector as text
_DECIMAL: Final = re.compile(r"(?<![\w.])[-+]?\d*\.\d+(?:[eE][-+]?\d+)?(?![\w.])")

FieldValue = str | int | float | bool | None | list["FieldValue"] | dict[str, "FieldValue"]


class AuditFieldError(FaceauditError, ValueError):
    """A field an audit record may not hold; the message names it and why."""


def canonical(obj: Mapping[str, object]) -> bytes:
    """The canonical bytes of a JSON object: sorted keys, no whitespace, UTF-8."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def record_hash(prev: str, body: Mapping[str, object]) -> str:
    """SHA-256 (hex) of the previous hash and the canonical record without its `hash`."""
    h = hashlib.sha256(prev.encode("ascii"))
    h.update(canonical({k: v for k, v in body.items() if k != "hash"}))
    return h.hexdigest()


def subject_hash(salt: bytes, identifier: str) -> str:
    """A person's identifier (an email, a customer number, a probe's file name) as it may
    appear in the log: HMAC-SHA256 under the log's secret salt. The same person gives the
    same hash within one log, so records about them can be found; without the salt the
    identifier cannot be recovered or tested by guessing."""
    if not identifier:
        raise AuditFieldError("an empty subject identifier")
    digest = hmac.new(salt, identifier.encode("utf-8", "surrogateescape"), hashlib.sha256)
    return SUBJECT_PREFIX + digest.hexdigest()


def check_event(event: str) -> str:
    if not isinstance(event, str) or not EVENT.match(event):
        raise AuditFieldError(
            f"event {event!r}: lower-case words joined by dots, like 'remediate.apply'"
        )
    return event


def check_fields(fields: Mapping[str, object]) -> dict[str, FieldValue]:
    """The fields as plain JSON values, or AuditFieldError naming the first one refused."""
    if not isinstance(fields, Mapping):
        raise AuditFieldError(f"fields must be a mapping, not {type(fields).__name__}")
    return _mapping(fields, "fields", 1)


def _mapping(value: Mapping[Any, object], where: str, depth: int) -> dict[str, FieldValue]:
    if depth > MAX_DEPTH:
        raise AuditFieldError(f"{where}: nested deeper than {MAX_DEPTH}")
    out: dict[str, FieldValue] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not KEY.match(key):
            raise AuditFieldError(f"{where}: key {key!r} is not a lower-case identifier")
        name = f"{where}.{key}"
        if key in FORBIDDEN_KEYS:
            raise AuditFieldError(f"{name}: the audit log never holds biometric data")
        if key in SUBJECT_KEYS:
            _subjects(item, name)
        out[key] = _value(item, name, depth)
    return out


def _subjects(value: object, where: str) -> None:
    values = value if isinstance(value, (list, tuple)) else [value]
    for v in values:
        if not (isinstance(v, str) and _HASHED.match(v)):
            raise AuditFieldError(
                f"{where}: people appear only as salted hashes (AuditLog.subject_hash)"
            )


def _value(value: object, where: str, depth: int) -> FieldValue:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)  # an IntEnum as its number
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditFieldError(f"{where}: {value} is not a finite number")
        return float(value)
    if isinstance(value, str):
        return _string(str(value), where)  # a str enum as its text
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise AuditFieldError(f"{where}: bytes are never logged (log a digest or a size)")
    if isinstance(value, Mapping):
        return _mapping(value, where, depth + 1)
    if isinstance(value, (list, tuple)):
        return _list(value, where, depth)
    raise AuditFieldError(
        f"{where}: a {type(value).__name__} is not a JSON value the log holds "
        "(strings, numbers, booleans, null, short lists, mappings)"
    )


def _string(value: str, where: str) -> str:
    if len(value) > MAX_STRING:
        raise AuditFieldError(f"{where}: a string longer than {MAX_STRING} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditFieldError(f"{where}: not valid Unicode text") from None
    numbers = _DECIMAL.findall(value)
    if len(numbers) > MAX_NUMBERS:
        raise AuditFieldError(f"{where}: a string of {len(numbers)} numbers looks like a vector")
    return value


def _list(value: list[object] | tuple[object, ...], where: str, depth: int) -> list[FieldValue]:
    if depth + 1 > MAX_DEPTH:
        raise AuditFieldError(f"{where}: nested deeper than {MAX_DEPTH}")
    if len(value) > MAX_LIST:
        raise AuditFieldError(f"{where}: a list longer than {MAX_LIST}")
    numbers = sum(1 for v in value if isinstance(v, (int, float)) and not isinstance(v, bool))
    if numbers > MAX_NUMBERS:
        raise AuditFieldError(f"{where}: a list of {numbers} numbers looks like a vector")
    return [_value(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
