"""What the finding reporters share: the order findings are shown in, where a finding is
(a file, an archive member or a database column, and its URI), the evidence and age behind
it, counts for summaries, and the findings shown when a scan had no policy.

Pure functions of the model; nothing here formats for one output in particular.
"""

from __future__ import annotations

import collections
import enum
import hashlib
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone

from scanner.model import (
    Action,
    ActionStatus,
    ContentType,
    DatabaseLocation,
    Disposition,
    Evidence,
    EvidenceKind,
    Finding,
    ItemResult,
    Location,
    RowFinding,
    ScalarValue,
    ScanResult,
    Severity,
    StoreInfo,
)

ROWS_SHOWN = 10  # rows of a finding a report for people lists; the JSON report has them all

# Characters kept as they are in a URI that is already one (a database URI): RFC 3986
# reserved and unreserved characters, and `%` so existing escapes are not escaped twice.
_URI_SAFE = ":/?#[]@!$&'()*+,;=-._~%"


class LocationKind(str, enum.Enum):
    """What kind of place a finding is about."""

    FILE = "file"
    MEMBER = "member"  # a member of an archive (possibly nested)
    DATABASE = "database"  # a database column (or a table)


@dataclass(frozen=True)
class Where:
    """A finding's location, taken apart for reports that need more than a display string."""

    kind: LocationKind
    display: str  # `a.zip!/b.tar!/c.jpg`, `sqlite:///srv/kyc.db#customers.face_embedding`
    uri: str  # a valid URI reference for the whole location
    artifact_uri: str  # the file (or database) that holds it: the archive, the database file
    database: str | None = None  # "kyc.db", "immich"
    parts: tuple[str, ...] = ()  # database: (schema,) table, column

    @property
    def qualified_name(self) -> str:
        """`kyc.db/customers/face_embedding`; archive members `a.zip!/b.tar!/c.jpg`."""
        if self.kind is LocationKind.DATABASE:
            return "/".join((self.database or "", *self.parts))
        return self.display


def path_uri(path: str) -> str:
    """A file path as a URI reference: relative paths stay relative, absolute ones become
    `file:` URIs; bytes that are not UTF-8 (surrogate escapes) and every reserved character
    (`#`, `?`, `!`, `:` …) are percent-encoded."""
    raw = path.encode("utf-8", "surrogateescape")
    quoted = urllib.parse.quote_from_bytes(raw, safe="/")
    return f"file://{quoted}" if raw.startswith(b"/") else quoted


def _uri_as_given(uri: str) -> str:
    raw = uri.encode("utf-8", "surrogateescape")
    return urllib.parse.quote_from_bytes(raw, safe=_URI_SAFE)


def is_database(location: Location, content_type: ContentType | None = None) -> bool:
    return isinstance(location, DatabaseLocation)


def where(location: Location, content_type: ContentType | None = None) -> Where:
    """Take a location apart, from its fields: a database's relation and column, an
    archive's members, a file."""
    display = location.display
    if isinstance(location, DatabaseLocation):
        return _database_where(location)
    artifact = path_uri(location.path)
    if location.members:
        members = (
            urllib.parse.quote(m, safe="/", errors="surrogateescape") for m in location.members
        )
        return Where(LocationKind.MEMBER, display, "!/".join((artifact, *members)), artifact)
    return Where(LocationKind.FILE, display, artifact, artifact)


def _database_where(location: DatabaseLocation) -> Where:
    db = location.database
    fragment = ".".join(location.parts)
    quoted_fragment = urllib.parse.quote_from_bytes(
        fragment.encode("utf-8", "surrogateescape"), safe="."
    )
    tail = f"#{quoted_fragment}" if fragment else ""
    if not db.scheme:  # a database inside an archive: the member's path
        artifact = path_uri(db.display)
        uri = artifact + tail
    else:  # a SQLite database's artifact is its file; a server's, its URI
        artifact = path_uri(db.file) if db.file is not None else _uri_as_given(db.display)
        uri = _uri_as_given(db.display) + tail
    return Where(LocationKind.DATABASE, location.display, uri, artifact, db.name, location.parts)


# -- findings in order, with the item each one is about ------------------------------------


def ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first; then by rule, location and fingerprint (stable between runs)."""
    return tuple(
        sorted(findings, key=lambda f: (-f.severity, f.rule_id, f.location, f.fingerprint))
    )


def reported_findings(result: ScanResult) -> tuple[Finding, ...]:
    """The findings a report shows: the policy's; without a policy, one per item with
    evidence (the gate then judges evidence by --fail-on, and so do these)."""
    if result.findings or result.policy is not None:
        return ordered(result.findings)
    return ordered(evidence_finding(item) for item in result.items if item.primary is not None)


def items_by_location(result: ScanResult) -> Mapping[Location, ItemResult]:
    return {item.location: item for item in result.items}


def where_of(finding: Finding, items: Mapping[Location, ItemResult]) -> Where:
    item = items.get(finding.location)
    return where(finding.location, item.content_type if item is not None else None)


def is_failing(finding: Finding, result: ScanResult) -> bool:
    """Open, and at or above --fail-on: what makes the gate fail."""
    return (
        finding.disposition is Disposition.OPEN
        and result.fail_on is not None
        and finding.severity >= result.fail_on
    )


# Reports say where the full lists are without claiming that a JSON report was written.
ALL_IN_JSON = "--format json lists all"


def is_lower_bound(e: Evidence) -> bool:
    """A face count that only says "at least": the coarse pass stopped at the first face."""
    return e.kind is EvidenceKind.FACE_IMAGE and e.detail("count_is_lower_bound") is True


def faces_are_lower_bound(result: ScanResult) -> bool:
    """Whether the scan's face total (`ScanResult.faces`) is a lower bound: some item's
    counted face image was counted by a pass that stopped early."""
    for item in result.items:
        images = [e for e in item.evidence if e.kind is EvidenceKind.FACE_IMAGE]
        if images and is_lower_bound(max(images, key=lambda e: e.faces)):
            return True
    return False


def evidence_text(item: ItemResult | None) -> str:
    """`face.yunet: 2 faces, confidence 0.93` — counts and the detector, never a payload."""
    if item is None or item.primary is None:
        return "-"
    e = item.primary
    return f"{e.detector}: {_count_text(e)}, confidence {e.confidence:.2f}"


def _count_text(e: Evidence) -> str:
    if e.kind is EvidenceKind.FACE_EMBEDDING:
        count, dims = e.detail("count"), e.detail("dims")
        shape = f"{count} templates" + (f" x {dims} dims" if dims else "")
        extra = [str(v) for v in (e.detail("dtype"), e.detail("family"), e.detail("app")) if v]
        return shape + (f" ({', '.join(extra)})" if extra else "")
    if e.kind is EvidenceKind.EXECUTABLE_CODE:
        return "code that runs when loaded"
    noun = "face" if e.faces == 1 else "faces"
    count = f"at least {e.faces}" if is_lower_bound(e) else str(e.faces)
    return f"{count} {noun}" + (" tagged" if e.kind is EvidenceKind.FACE_TAGGED else "")


def age_days(finding: Finding, item: ItemResult | None, now: datetime | None) -> int | None:
    """The finding's `age_days` fact, else the item's age at the policy's clock."""
    fact = finding.fact("age_days")
    if isinstance(fact, (int, float)) and not isinstance(fact, bool):
        return int(fact)
    created = item.context.created if item is not None else None
    if created is None or now is None:
        return None
    return max(0, (utc(now) - utc(created)).days)


def utc(moment: datetime) -> datetime:
    """The model keeps UTC; a naive time is taken as UTC rather than as local time."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def iso(moment: datetime) -> str:
    return utc(moment).isoformat().replace("+00:00", "Z")


_WEB_URI_SAFE = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&*+,;=%"
)


def web_uri(uri: str | None) -> str | None:
    """An http(s) address made safe to put in a link (anything else percent-encoded, quotes
    and parentheses included), or None when it is not a web address at all."""
    if not uri or not uri.lower().startswith(("https://", "http://")):
        return None
    raw = uri.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if chr(b) in _WEB_URI_SAFE else f"%{b:02X}" for b in raw)


def fact_text(value: ScalarValue) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# -- who answers for it, on what basis, what is left, what to do ------------------------------


def owner_of(store: str | None, result: ScanResult) -> str | None:
    """The declared owner of a store."""
    info = result.policy.store(store) if result.policy is not None and store else None
    return info.owner if info is not None else None


def legal_basis(finding: Finding, result: ScanResult) -> str | None:
    """The legal basis a finding is about: its `legal_basis` fact (the checks that judge the
    basis record it), else a `basis` fact, else the basis its store declares."""
    for key in ("legal_basis", "basis"):
        value = finding.fact(key)
        if value is not None:
            return fact_text(value)
    info = result.policy.store(finding.store) if result.policy is not None else None
    if info is not None and info.legal_basis:
        return ", ".join(info.legal_basis)
    return None


def without_findings(result: ScanResult) -> tuple[ItemResult, ...]:
    """Items with face data that no reported finding is about (the policy allows them, or no
    rule applies): still part of the inventory. Empty without a policy (each item is then a
    finding of a built-in rule)."""
    if result.policy is None:
        return ()
    judged = {f.location for f in result.findings}
    return tuple(i for i in result.items if i.primary is not None and i.location not in judged)


def due_of(item: ItemResult, result: ScanResult) -> date | None:
    """When an item falls due (the earliest of its due findings), if it does."""
    days = [d.deadline for d in result.due if d.finding.location == item.location]
    return min(days) if days else None


ActionGroup = tuple[str | None, str | None, tuple[Action, ...]]  # owner, store, actions


def action_groups(result: ScanResult) -> tuple[ActionGroup, ...]:
    """The actions by owner and store, each group sorted by deadline; the group with the
    soonest deadline first (no owner or store: last among equals)."""
    groups: dict[tuple[str | None, str | None], list[Action]] = {}
    for action in result.actions:
        groups.setdefault((action.owner, action.store), []).append(action)
    ordered_groups = []
    for (owner, store), actions in groups.items():
        actions.sort(key=lambda a: (a.deadline, -a.severity, a.location))
        ordered_groups.append((owner, store, tuple(actions)))
    ordered_groups.sort(
        key=lambda g: (g[2][0].deadline, g[0] is None, g[0] or "", g[1] is None, g[1] or "")
    )
    return tuple(ordered_groups)


def when_text(action: Action) -> str:
    """`overdue since 2020-03-02`, `now (found 2024-05-17)`, `by 2024-06-10`."""
    day = action.deadline.isoformat()
    return {
        ActionStatus.OVERDUE: f"overdue since {day}",
        ActionStatus.NOW: f"now (found {day})",
        ActionStatus.DUE: f"by {day}",
    }[action.status]


def retention_text(store: StoreInfo) -> str:
    if store.retention is None:
        return "-"
    start = (store.retention_from or "creation").replace("_", " ")
    return f"{store.retention} from {start}"


# -- counts ----------------------------------------------------------------------------------


def count_by(findings: Iterable[Finding], key: str) -> dict[str, int]:
    """Counts by `severity` (most severe first, every level), `disposition` (every one),
    or any other attribute (`pack`, `store`, `rule_id`: sorted; a missing store is "-")."""
    found = list(findings)
    if key == "severity":
        counts = collections.Counter(f.severity for f in found)
        return {s.label: counts.get(s, 0) for s in sorted(Severity, reverse=True)}
    if key == "disposition":
        by = collections.Counter(f.disposition for f in found)
        return {d.value: by.get(d, 0) for d in Disposition}
    values = collections.Counter(str(getattr(f, key) or "-") for f in found)
    return dict(sorted(values.items()))


# -- without a policy: one finding per item with evidence -------------------------------------

EVIDENCE_PACK = "evidence"
_EVIDENCE_RULES: Mapping[EvidenceKind, tuple[str, str, str]] = {
    EvidenceKind.FACE_IMAGE: (
        "FA-EVIDENCE-FACE-IMAGE",
        "Face images are stored",
        "Declare the store (purpose, legal basis, retention) in a policy and scan with it, "
        "or delete the images if they should not be kept.",
    ),
    EvidenceKind.FACE_TAGGED: (
        "FA-EVIDENCE-FACE-TAGGED",
        "Photos carry face regions or named people",
        "Declare the store in a policy and scan with it, or remove the face tags.",
    ),
    EvidenceKind.FACE_EMBEDDING: (
        "FA-EVIDENCE-FACE-EMBEDDING",
        "Face templates (embeddings) are stored",
        "Face templates are biometric data: declare the store in a policy and scan with it, "
        "or delete the templates.",
    ),
    EvidenceKind.EXECUTABLE_CODE: (
        "FA-EVIDENCE-EXECUTABLE-CODE",
        "A stored file runs code when it is loaded",
        "Do not load it; delete it, or convert it to a format that holds data only.",
    ),
}


def evidence_finding(item: ItemResult) -> Finding:
    """An item with evidence, shown as a finding of a built-in rule (no policy given)."""
    primary = item.primary
    assert primary is not None
    rule_id, title, remediation = _EVIDENCE_RULES[primary.kind]
    identity = "\0".join((rule_id, item.location.identity, item.sha256 or ""))
    digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return Finding(
        rule_id=rule_id,
        severity=primary.severity,
        title=title,
        message=f"{title.rstrip('.')}: {evidence_text(item)}",
        location=item.location,
        kind=primary.kind,
        citations=(),
        remediation=remediation,
        pack=EVIDENCE_PACK,
        fingerprint=digest,
    )


def shown_rows(f: Finding, limit: int = ROWS_SHOWN) -> tuple[tuple[RowFinding, ...], int]:
    """The rows behind a finding that a report for people lists (the first `limit`), and
    how many more there are."""
    if f.rows is None:
        return (), 0
    shown = f.rows.rows[:limit]
    return shown, f.rows.total - len(shown)


def row_text(r: RowFinding) -> str:
    """`row id=3 (subject C3): expired`; `subject C3: missing` for a table without a key.
    Untrusted text: each format escapes it."""
    reason = r.reason.replace("_", " ")
    if r.key.parts:
        return f"row {r.key.display} (subject {r.subject}): {reason}"
    return f"subject {r.subject}: {reason}"


def more_rows_text(more: int) -> str:
    return f"and {more} more row{'s' if more != 1 else ''} (--format json lists every row)"
