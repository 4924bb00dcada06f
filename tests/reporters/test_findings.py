"""What the finding reporters share: locations as URIs, order, counts, the registry, and the
findings shown without a policy."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from reporters.sample import IMMICH_LOCATION, KYC_LOCATION, policy_result, sample_result

from scanner.model import (
    ContentType,
    DatabaseLocation,
    Disposition,
    EvidenceKind,
    FileLocation,
    MemberLocation,
    Severity,
)
from scanner.reporters import REPORTERS, Format, render
from scanner.reporters.findings import (
    LocationKind,
    age_days,
    count_by,
    ordered,
    path_uri,
    reported_findings,
    web_uri,
    where,
)
from scanner.sources.database import sqlite_ref

# RFC 3986: unreserved and reserved characters, and percent-escapes; nothing else.
URI_REFERENCE = re.compile(r"\A(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-F]{2})*\Z")


def test_every_format_is_registered_with_its_documented_value() -> None:
    assert [f.value for f in Format] == [
        "console",
        "json",
        "sarif",
        "junit",
        "csv",
        "markdown",
        "html",
    ]
    assert set(REPORTERS) == set(Format)


@pytest.mark.parametrize("fmt", list(Format))
def test_every_reporter_renders_both_samples_as_text(fmt: Format) -> None:
    for result in (sample_result(), policy_result()):
        text = render(result, fmt)
        assert text.endswith("\n")
        text.encode("utf-8")  # strict: no lone surrogate
        assert "\udcff" not in text
        assert render(result, fmt) == text  # pure: same input, same output


@pytest.mark.parametrize("fmt", list(Format))
def test_no_report_carries_a_payload(fmt: Format) -> None:
    """Counts, digests and locations only: no vector, no image data, no subject name."""
    text = render(policy_result(), fmt)
    assert not re.search(r"(-?\d\.\d+,\s*){16}", text)  # no run of floats (a vector)
    assert "data:image" not in text
    assert "base64" not in text.lower()


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("photos/team/alice.jpg", "photos/team/alice.jpg"),
        ("a b/c#d?.jpg", "a%20b/c%23d%3F.jpg"),
        ("x:y.jpg", "x%3Ay.jpg"),  # not read as a scheme
        ("bad\udcff.jpg", "bad%FF.jpg"),  # bytes that are not UTF-8
        ("caf\u00e9.jpg", "caf%C3%A9.jpg"),
        ("/srv/photos/a.jpg", "file:///srv/photos/a.jpg"),
        ("weird!/name.jpg", "weird%21/name.jpg"),  # `!` is kept for member separators
    ],
)
def test_paths_become_valid_uri_references(path: str, uri: str) -> None:
    assert path_uri(path) == uri
    assert URI_REFERENCE.match(uri)


def test_archive_members_are_joined_by_bang_slash() -> None:
    w = where(MemberLocation(FileLocation("backups/2019.zip"), ("badges.tar", "staff/a b!.png")))
    assert w.kind is LocationKind.MEMBER
    assert w.uri == "backups/2019.zip!/badges.tar!/staff/a%20b%21.png"
    assert w.artifact_uri == "backups/2019.zip"
    assert w.qualified_name == "backups/2019.zip!/badges.tar!/staff/a b!.png"


@pytest.mark.parametrize(
    ("location", "artifact", "database", "parts", "qualified"),
    [
        (
            KYC_LOCATION,
            "file:///srv/kyc.db",
            "kyc.db",
            ("customers", "face_embedding"),
            "kyc.db/customers/face_embedding",
        ),
        (
            IMMICH_LOCATION,
            "postgresql://db.example:5432/immich",
            "immich",
            ("public", "face_search", "embedding"),
            "immich/public/face_search/embedding",
        ),
        (  # a database found while walking files: its artifact is its file, relative
            DatabaseLocation(sqlite_ref("data/app db.sqlite"), None, "faces", "vec"),
            "data/app%20db.sqlite",
            "app db.sqlite",
            ("faces", "vec"),
            "app db.sqlite/faces/vec",
        ),
        (  # a database inside an archive
            DatabaseLocation(sqlite_ref("a.zip!/app.db", uri=False), None, "t", "c.d"),
            "a.zip%21/app.db",
            "app.db",
            ("t", "c.d"),
            "app.db/t/c.d",
        ),
    ],
)
def test_database_columns_are_taken_apart(
    location: DatabaseLocation,
    artifact: str,
    database: str,
    parts: tuple[str, ...],
    qualified: str,
) -> None:
    w = where(location)
    assert w.kind is LocationKind.DATABASE
    assert w.artifact_uri == artifact
    assert w.database == database
    assert w.parts == parts
    assert w.qualified_name == qualified
    assert URI_REFERENCE.match(w.uri), w.uri


def test_a_hash_in_a_file_name_is_not_a_database_column() -> None:
    w = where(FileLocation("photos/#1 team.jpg"), ContentType.JPEG)
    assert w.kind is LocationKind.FILE
    assert w.uri == "photos/%231%20team.jpg"


def test_web_uri_accepts_only_web_addresses_and_encodes_the_rest() -> None:
    assert web_uri("https://example.org/a?b=1&c=2") == "https://example.org/a?b=1&c=2"
    assert web_uri('https://x.org/"><script>(1)') == "https://x.org/%22%3E%3Cscript%3E%281%29"
    assert web_uri("javascript:alert(1)") is None
    assert web_uri("file:///etc/passwd") is None
    assert web_uri(None) is None


def test_findings_are_ordered_most_severe_first_then_by_rule_and_location() -> None:
    findings = ordered(policy_result().findings)
    keys = [(-f.severity, f.rule_id, f.location) for f in findings]
    assert keys == sorted(keys)
    assert findings[0].severity is Severity.CRITICAL
    assert ordered(reversed(findings)) == findings


def test_counts_cover_every_severity_and_disposition() -> None:
    findings = policy_result().findings
    assert count_by(findings, "severity") == {
        "critical": 1,
        "high": 4,
        "medium": 1,
        "low": 1,
        "info": 0,
    }
    assert count_by(findings, "disposition") == {"open": 5, "waived": 1, "baseline": 1, "held": 0}
    assert count_by(findings, "store") == {"-": 3, "hr-photos": 2, "immich": 1, "kyc": 1}


def test_age_comes_from_the_fact_else_from_the_context() -> None:
    result = policy_result()
    team = result.items[3]
    finding = replace(result.findings[0], facts=())
    assert age_days(result.findings[0], team, None) == 1902
    assert result.policy is not None
    assert age_days(finding, team, result.policy.evaluated_at) == 1902
    assert age_days(finding, None, result.policy.evaluated_at) is None


def test_without_a_policy_items_with_evidence_are_shown_as_findings() -> None:
    result = sample_result()
    findings = reported_findings(result)
    assert len(findings) == len(result.items)
    assert {f.rule_id for f in findings} == {"FA-EVIDENCE-FACE-IMAGE", "FA-EVIDENCE-FACE-TAGGED"}
    assert all(f.disposition is Disposition.OPEN for f in findings)
    assert all(re.fullmatch("[0-9a-f]{32}", f.fingerprint) for f in findings)
    tagged = [f for f in findings if f.kind is EvidenceKind.FACE_TAGGED]
    assert tagged[0].severity is Severity.MEDIUM
    # Stable: the same items give the same fingerprints, whatever their order.
    again = reported_findings(replace(result, items=tuple(reversed(result.items))))
    assert again == findings


def test_with_a_policy_only_its_findings_are_shown() -> None:
    result = policy_result()
    assert reported_findings(result) == ordered(result.findings)
    assert reported_findings(replace(result, findings=())) == ()
