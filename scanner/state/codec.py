"""ItemResult <-> JSON for the state database. Only what reports hold: counts, relative
boxes, details, reasons, context (no coordinates, no vectors)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from scanner.errors import FaceauditError
from scanner.model import (
    ContentType,
    DatabaseLocation,
    DatabaseRef,
    Evidence,
    EvidenceKind,
    FaceBox,
    FileLocation,
    ItemContext,
    ItemResult,
    Location,
    MailDomain,
    MemberLocation,
    ObjectLocation,
    Place,
    Problem,
    ProblemReason,
    Provenance,
    ScalarValue,
    ScanLocation,
)


class Stale(FaceauditError, ValueError):
    """An entry written before locations were typed (or by an unknown version): not reused."""


def _loc(loc: Location) -> dict[str, Any]:
    """A location by its kind and fields (never its display, which is not parsed back). A
    file's anchor is not kept: a reused result takes the anchor of the file the scan found
    (scanner.state.incremental), which depends on the scan's root, not on the file."""
    if isinstance(loc, FileLocation):
        return {"file": _s(loc.file)}
    if isinstance(loc, MemberLocation):
        return {"in": _loc(loc.container), "members": [_s(m) for m in loc.names]}
    if isinstance(loc, ObjectLocation):
        return {"object": [_s(loc.store), _s(loc.key), loc.version]}
    if isinstance(loc, DatabaseLocation):
        db = loc.database
        file = _s(db.file) if db.file is not None else None
        out: dict[str, Any] = {
            "db": [_s(db.display), db.scheme, _s(db.name), file],
            "at": list(loc.parts_of),
        }
        if db.at is not None:  # the database's file, member or object: its identity
            out["on"] = _loc(db.at)
        if db.key is not None:
            out["key"] = db.key
        return out
    if isinstance(loc, ScanLocation):
        return {"scan": True}
    raise TypeError(f"no encoding for {type(loc).__name__}")


def _s(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")


def _unloc(raw: Any) -> Location:
    if not isinstance(raw, dict):
        raise Stale("a location of an earlier state database")
    if "file" in raw:
        return FileLocation(raw["file"])
    if "in" in raw:
        container = _unloc(raw["in"])
        if not isinstance(container, (FileLocation, ObjectLocation)):
            raise Stale("an archive member outside a file or an object")
        return MemberLocation(container, tuple(raw["members"]))
    if "object" in raw:
        store, key, version = raw["object"]
        return ObjectLocation(store, key, version)
    if "db" in raw:
        display, scheme, name, file = raw["db"]
        schema, table, column = raw["at"]
        at = _unloc(raw["on"]) if "on" in raw else None
        if file is not None and at is None:
            raise Stale("a database location written before identities were relative")
        if at is not None and not isinstance(at, (FileLocation, MemberLocation, ObjectLocation)):
            raise Stale("a database inside something that is not a file")
        ref = DatabaseRef(display, scheme, name, file, at=at, key=raw.get("key"))
        return DatabaseLocation(ref, schema, table, column)
    if raw.get("scan"):
        return ScanLocation()
    raise Stale("a location of an unknown kind")


def _t(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _ut(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _pairs(pairs: tuple[tuple[str, ScalarValue], ...]) -> list[list[Any]]:
    return [[k, v] for k, v in pairs]


def _unpairs(raw: list[list[Any]]) -> tuple[tuple[str, ScalarValue], ...]:
    return tuple((str(k), v) for k, v in raw)


def encode_problem(p: Problem) -> dict[str, Any]:
    return {"loc": _loc(p.location), "reason": p.reason.value, "detail": p.detail}


def decode_problem(raw: dict[str, Any]) -> Problem:
    return Problem(_unloc(raw["loc"]), ProblemReason(raw["reason"]), raw["detail"])


def encode_result(r: ItemResult) -> dict[str, Any]:
    c = r.context
    return {
        "loc": _loc(r.location),
        "ct": r.content_type.value,
        "size": r.size,
        "sha256": r.sha256,
        "mtime_ns": r.mtime_ns,
        "evidence": [
            {
                "kind": e.kind.value,
                "detector": e.detector,
                "confidence": e.confidence,
                "faces": e.faces,
                "boxes": [list(b.__dict__.values()) for b in e.boxes],
                "details": _pairs(e.details),
                "reasons": list(e.reasons),
            }
            for e in r.evidence
        ],
        "problems": [encode_problem(p) for p in r.problems],
        "notes": _pairs(r.notes),
        "context": {
            "created": _t(c.created),
            "created_source": c.created_source,
            "newest": _t(c.newest),
            "provenance": [[p.source, p.value, p.platform] for p in c.provenance],
            "places": [[p.country, p.source, p.region, p.count] for p in c.places],
            "mail_domains": [[d.header, d.domain] for d in c.mail_domains],
        },
    }


def decode_result(raw: dict[str, Any]) -> ItemResult:
    c = raw["context"]
    return ItemResult(
        location=_unloc(raw["loc"]),
        content_type=ContentType(raw["ct"]),
        size=raw["size"],
        sha256=raw["sha256"],
        mtime_ns=raw["mtime_ns"],
        evidence=tuple(
            Evidence(
                kind=EvidenceKind(e["kind"]),
                detector=e["detector"],
                confidence=e["confidence"],
                faces=e["faces"],
                boxes=tuple(FaceBox(*b) for b in e["boxes"]),
                details=_unpairs(e["details"]),
                reasons=tuple(e["reasons"]),
            )
            for e in raw["evidence"]
        ),
        problems=tuple(decode_problem(p) for p in raw["problems"]),
        notes=_unpairs(raw["notes"]),
        context=ItemContext(
            created=_ut(c["created"]),
            created_source=c["created_source"],
            newest=_ut(c["newest"]),
            provenance=tuple(Provenance(*p) for p in c["provenance"]),
            places=tuple(Place(*p) for p in c["places"]),
            mail_domains=tuple(MailDomain(*d) for d in c.get("mail_domains", ())),
        ),
    )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def loads(text: str) -> Any:
    return json.loads(text)
