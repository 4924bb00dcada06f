"""SARIF 2.1.0: golden file, the OASIS schema (with URI and date-time formats checked), rules
and levels, locations for files, archive members and database columns, suppressions and
baseline states, the invocation, and GitHub code scanning's limits."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any

import pytest
from helpers import SHARED
from jsonschema import Draft4Validator, FormatChecker
from reporters.sample import (
    BIPA_URI,
    HOSTILE_PATH,
    IMMICH_COLUMN,
    KYC_COLUMN,
    WAIVER,
    check_golden,
    policy_result,
    sample_result,
)

from scanner.model import (
    Anchor,
    DatabaseLocation,
    Disposition,
    FileLocation,
    Location,
    MemberLocation,
    ObjectLocation,
    ScanResult,
    Severity,
)
from scanner.reporters import Format
from scanner.reporters import render as render_any
from scanner.reporters.sarif import FINGERPRINT_KEY, render

BASE_TEXT = "The directory findings are named from: --root, or the target."

SARIF_SCHEMA = (
    SHARED / "data" / "schemas" / "sarif-schema-2.1.0.json"
)  # ../shared beside the checkout

_URI_CHARS = r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
_RFC3339 = re.compile(
    r"\A\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z"
)


def _format_checker() -> FormatChecker:
    """jsonschema checks `uri`, `uri-reference` and `date-time` only with optional packages
    installed, and passes silently otherwise: check them here, strictly (RFC 3986/3339)."""
    checker = FormatChecker()

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(
            re.fullmatch(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHARS}", value)
        )

    @checker.checks("uri-reference")
    def _uri_reference(value: object) -> bool:
        return not isinstance(value, str) or bool(re.fullmatch(_URI_CHARS, value))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.match(value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    return checker


@cache
def _validator() -> Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=_format_checker())


def sarif_errors(document: object) -> list[str]:
    if not SARIF_SCHEMA.is_file():
        pytest.skip(
            f"the SARIF 2.1.0 schema is not at {SARIF_SCHEMA}: cannot validate SARIF output "
            "(it is not kept in the repository nor downloaded at test time)"
        )
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _validator().iter_errors(document)
    ]


def doc(result: ScanResult, **limits: int) -> dict[str, Any]:
    return json.loads(render(result, **limits))


def run(result: ScanResult, **limits: int) -> dict[str, Any]:
    runs = doc(result, **limits)["runs"]
    assert len(runs) == 1
    return runs[0]  # type: ignore[no-any-return]


def result_at(run_doc: dict[str, Any], display_fragment: str) -> dict[str, Any]:
    for r in run_doc["results"]:
        text = json.dumps(r["locations"])
        if display_fragment in text:
            return r  # type: ignore[no-any-return]
    raise AssertionError(f"no result at {display_fragment}")


# -- golden file and schema ------------------------------------------------------------------


def test_matches_golden_file() -> None:
    check_golden("report.sarif", render(anchored(policy_result())))


ROOT = "/srv/share"


def _anchor(loc: Location) -> Location:
    """A location as a scan of /srv/share (and of sqlite:///srv/kyc.db) anchors it."""
    if isinstance(loc, FileLocation) and not loc.file.startswith("/"):
        return FileLocation(loc.file, Anchor(ROOT, loc.file))
    if isinstance(loc, MemberLocation):
        container = _anchor(loc.container)
        assert isinstance(container, (FileLocation, ObjectLocation))
        return MemberLocation(container, loc.names)
    if isinstance(loc, DatabaseLocation) and loc.database.file is not None:
        head, _, name = loc.database.file.rpartition("/")
        at = FileLocation(loc.database.file, Anchor(head, name))
        return replace(loc, database=replace(loc.database, at=at))
    return loc


def anchored(result: ScanResult) -> ScanResult:
    """The sample as a scan names it: every file anchored at its scan root."""
    return replace(
        result,
        items=tuple(replace(i, location=_anchor(i.location)) for i in result.items),
        findings=tuple(replace(f, location=_anchor(f.location)) for f in result.findings),
        problems=tuple(replace(p, location=_anchor(p.location)) for p in result.problems),
    )


def test_files_are_named_from_their_root_for_github_code_scanning() -> None:
    """What GitHub code scanning documents it needs, checked on every result: a `ruleId`
    listed in the run's rules; one location with a physical location whose artifact `uri`
    is a relative reference (GitHub reads it against the repository root; an absolute
    `file:` URI maps to no repository file without a checkout path) under a `uriBaseId`
    that `run.originalUriBaseIds` resolves to an absolute `file:` URI ending in '/' — or,
    for a database server, its own absolute URI; and `partialFingerprints`. The document
    validates against the SARIF 2.1.0 schema."""
    document = doc(anchored(policy_result()))
    assert sarif_errors(document) == []
    (r,) = document["runs"]
    assert r["originalUriBaseIds"] == {
        "%SRCROOT%": {"uri": "file:///srv/", "description": {"text": BASE_TEXT}},
        "%SRCROOT2%": {"uri": "file:///srv/share/", "description": {"text": BASE_TEXT}},
    }
    rules = {rule["id"] for rule in r["tool"]["driver"]["rules"]}
    artifacts = []
    for res in r["results"]:
        assert res["ruleId"] in rules and res["partialFingerprints"][FINGERPRINT_KEY]
        (location,) = res["locations"]
        artifacts.append(location["physicalLocation"]["artifactLocation"])
    for a in artifacts:
        if a["uri"].startswith("postgresql:"):
            assert "uriBaseId" not in a
        else:
            assert a["uriBaseId"] in r["originalUriBaseIds"]
            assert not a["uri"].startswith(("/", "file:"))
    assert {"uri": "kyc.db", "uriBaseId": "%SRCROOT%"} in artifacts
    assert {"uri": "backups/2019.zip", "uriBaseId": "%SRCROOT2%"} in artifacts
    assert {"uri": "photos/team/alice.jpg", "uriBaseId": "%SRCROOT2%"} in artifacts


def test_one_root_is_srcroot() -> None:
    result = anchored(policy_result())
    files = tuple(f for f in result.findings if isinstance(f.location.artifact, FileLocation))
    only_share = tuple(f for f in files if f.location.artifact.anchor.root == ROOT)  # type: ignore[union-attr]
    r = run(replace(result, findings=only_share, problems=()))
    assert set(r["originalUriBaseIds"]) == {"%SRCROOT%"}
    assert r["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///srv/share/"


def test_reporter_registry_renders_sarif() -> None:
    assert render_any(policy_result(), Format.SARIF) == render(policy_result())


@pytest.mark.parametrize("make", [policy_result, sample_result], ids=["policy", "no-policy"])
def test_validates_against_the_sarif_schema(make: Any) -> None:
    assert sarif_errors(doc(make())) == []


def test_the_validator_has_teeth() -> None:
    document = doc(policy_result())
    result = document["runs"][0]["results"][0]
    result["level"] = "fatal"
    result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "a b.jpg"
    result["suppressions"] = [{"kind": "nowhere"}]
    document["runs"][0]["invocations"][0]["startTimeUtc"] = "yesterday"
    errors = sarif_errors(document)
    assert len(errors) == 4, errors


# -- rules -----------------------------------------------------------------------------------


def test_rules_carry_help_citations_and_security_severity() -> None:
    rules = {r["id"]: r for r in run(policy_result())["tool"]["driver"]["rules"]}
    assert set(rules) == {
        "AIACT-5-1-E-SCRAPED",
        "BIPA-15-A-SCHEDULE",
        "FA-UNDECLARED-STORE",
        "GDPR-30-RECORDS",
        "GDPR-5-1-E-RETENTION",
    }
    severity = {r: rules[r]["properties"]["security-severity"] for r in rules}
    assert severity == {
        "AIACT-5-1-E-SCRAPED": "9.5",
        "BIPA-15-A-SCHEDULE": "5.5",
        "FA-UNDECLARED-STORE": "8.0",
        "GDPR-30-RECORDS": "3.0",
        "GDPR-5-1-E-RETENTION": "8.0",
    }
    bipa = rules["BIPA-15-A-SCHEDULE"]
    assert bipa["defaultConfiguration"] == {"level": "warning"}
    assert bipa["helpUri"] == BIPA_URI
    assert "740 ILCS 14/15(a)" in bipa["help"]["text"]
    assert "Publish a written retention schedule" in bipa["help"]["text"]
    assert "- 740 ILCS 14/15(a)" in bipa["help"]["markdown"]
    assert bipa["shortDescription"]["text"] == (
        "No public retention schedule for biometric identifiers"
    )
    assert "helpUri" not in rules["FA-UNDECLARED-STORE"]  # the rule has none
    assert all(len(r["properties"]["tags"]) <= 10 for r in rules.values())
    assert rules["GDPR-30-RECORDS"]["defaultConfiguration"] == {"level": "note"}


@pytest.mark.parametrize(
    ("severity", "level", "score"),
    [
        (Severity.CRITICAL, "error", "9.5"),
        (Severity.HIGH, "error", "8.0"),
        (Severity.MEDIUM, "warning", "5.5"),
        (Severity.LOW, "note", "3.0"),
        (Severity.INFO, "note", "1.0"),
    ],
)
def test_severity_maps_to_level_and_security_severity(
    severity: Severity, level: str, score: str
) -> None:
    result = policy_result()
    finding = replace(result.findings[0], severity=severity)
    r = run(replace(result, findings=(finding,)))
    assert r["results"][0]["level"] == level
    assert r["tool"]["driver"]["rules"][0]["properties"]["security-severity"] == score
    assert r["results"][0]["ruleIndex"] == 0


def test_every_result_points_at_its_rule() -> None:
    r = run(policy_result())
    rules = r["tool"]["driver"]["rules"]
    for res in r["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert re.fullmatch("[0-9a-f]{32}", res["partialFingerprints"][FINGERPRINT_KEY])


def test_a_help_uri_that_is_not_a_web_address_is_left_out() -> None:
    result = policy_result()
    finding = replace(result.findings[0], help_uri="javascript:alert(1)")
    r = run(replace(result, findings=(finding,)))
    assert "helpUri" not in r["tool"]["driver"]["rules"][0]


# -- locations -------------------------------------------------------------------------------


def test_files_are_relative_physical_locations() -> None:
    res = result_at(run(policy_result()), "photos/team/alice.jpg")
    assert res["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "photos/team/alice.jpg"}}}
    ]


def test_archive_members_are_a_logical_location_in_the_archive_file() -> None:
    res = result_at(run(policy_result()), "badge-0042.png")
    (location,) = res["locations"]
    assert location["physicalLocation"] == {"artifactLocation": {"uri": "backups/2019.zip"}}
    assert location["logicalLocations"] == [
        {
            "name": "staff/badge-0042.png",
            "fullyQualifiedName": "backups/2019.zip!/badges.tar!/staff/badge-0042.png",
        }
    ]


@pytest.mark.parametrize(
    ("column", "artifact", "name", "qualified"),
    [
        (KYC_COLUMN, "file:///srv/kyc.db", "face_embedding", "kyc.db/customers/face_embedding"),
        (
            IMMICH_COLUMN,
            "postgresql://db.example:5432/immich",
            "embedding",
            "immich/public/face_search/embedding",
        ),
    ],
)
def test_database_columns_are_logical_locations_without_lines(
    column: str, artifact: str, name: str, qualified: str
) -> None:
    res = result_at(run(policy_result()), qualified)
    (location,) = res["locations"]
    assert location["logicalLocations"] == [
        {"name": name, "fullyQualifiedName": qualified, "kind": "member"}
    ]
    # GitHub rejects a whole upload when a result has no physical location: the database
    # (its file, or its server) is the artifact, with no region and no line numbers.
    assert location["physicalLocation"] == {"artifactLocation": {"uri": artifact}}
    assert column not in json.dumps(location)


def test_hostile_and_undecodable_paths_become_valid_uris() -> None:
    r = run(policy_result())
    res = result_at(r, "inbox/bad%FF.jpg")
    uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri.startswith("inbox/bad%FF.jpg%1B%5B31m%0A%20%20face_image")
    assert re.fullmatch(_URI_CHARS, uri)
    assert "\x1b" not in res["message"]["text"]  # shown as an escape, never raw
    assert "\\x1b[31m" in res["message"]["text"]
    assert HOSTILE_PATH not in render(policy_result())


# -- suppressions, baseline, fingerprints -------------------------------------------------------


def test_waived_findings_are_accepted_external_suppressions() -> None:
    r = run(policy_result())
    suppressed = [res for res in r["results"] if "suppressions" in res]
    assert len(suppressed) == 1
    assert suppressed[0]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": WAIVER}
    ]
    assert "baselineState" not in suppressed[0]


def test_baseline_states_when_a_baseline_was_used() -> None:
    r = run(policy_result())
    states = {res["properties"]["disposition"]: res.get("baselineState") for res in r["results"]}
    assert states == {"open": "new", "baseline": "unchanged", "waived": None}


def test_no_baseline_state_without_a_baseline() -> None:
    result = policy_result()
    findings = tuple(
        replace(f, disposition=Disposition.OPEN) if f.disposition is Disposition.BASELINE else f
        for f in result.findings
    )
    r = run(replace(result, findings=findings))
    assert all("baselineState" not in res for res in r["results"])


def test_fingerprints_are_the_findings_own() -> None:
    result = policy_result()
    r = run(result)
    got = {res["partialFingerprints"][FINGERPRINT_KEY] for res in r["results"]}
    assert got == {f.fingerprint for f in result.findings}


# -- the invocation --------------------------------------------------------------------------


def test_an_incomplete_scan_is_an_unsuccessful_invocation_with_notifications() -> None:
    (invocation,) = run(policy_result())["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["exitCode"] == 3
    notes = invocation["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["error", "note", "error", "note", "error"]
    assert [n["descriptor"]["id"] for n in notes][:3] == [
        "pixel_limit",
        "special_file",
        "decode_error",
    ]
    assert notes[2]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "incoming/%1B%5D0%3Bowned%07scan.jpg"
    )
    config = invocation["toolConfigurationNotifications"]
    assert [n["level"] for n in config] == ["error", "note"]
    assert config[0]["message"]["text"].startswith("expired waiver: ")


def test_a_complete_scan_is_a_successful_invocation() -> None:
    result = replace(policy_result(), problems=())
    (invocation,) = run(result)["invocations"]
    assert invocation["executionSuccessful"] is True
    assert invocation["toolExecutionNotifications"] == []
    assert invocation["exitCode"] == 1


def test_an_interrupted_scan_says_so() -> None:
    result = replace(policy_result(), problems=(), interrupted=True)
    (invocation,) = run(result)["invocations"]
    assert invocation["executionSuccessful"] is False
    assert "interrupted" in invocation["toolExecutionNotifications"][0]["message"]["text"]


# -- without a policy --------------------------------------------------------------------------


def test_without_a_policy_evidence_items_are_results() -> None:
    r = run(sample_result())
    assert len(r["results"]) == 4
    assert {rule["id"] for rule in r["tool"]["driver"]["rules"]} == {
        "FA-EVIDENCE-FACE-IMAGE",
        "FA-EVIDENCE-FACE-TAGGED",
    }
    assert "policy" not in r["properties"]


# -- GitHub code scanning limits -----------------------------------------------------------------


def _many(n: int) -> ScanResult:
    result = policy_result()
    base = result.findings[0]
    findings = tuple(
        replace(
            base,
            location=FileLocation(f"p/{i:05}.jpg"),
            fingerprint=f"{i:032x}",
            severity=Severity.HIGH if i % 2 else Severity.LOW,
        )
        for i in range(n)
    )
    return replace(result, findings=findings)


def test_results_over_the_limit_are_truncated_least_severe_first_with_a_notification() -> None:
    r = run(_many(10), max_results=4)
    assert len(r["results"]) == 4
    assert {res["level"] for res in r["results"]} == {"error"}  # the high ones were kept
    note = r["invocations"][0]["toolExecutionNotifications"][-1]
    assert note["level"] == "warning"
    assert "6 of 10 findings were left out" in note["message"]["text"]
    assert "at most 4 results" in note["message"]["text"]
    assert sarif_errors(doc(_many(10), max_results=4)) == []


def test_rules_over_the_limit_drop_their_results() -> None:
    result = policy_result()
    r = run(result, max_rules=2)
    assert len(r["tool"]["driver"]["rules"]) == 2
    kept = {rule["id"] for rule in r["tool"]["driver"]["rules"]}
    assert {res["ruleId"] for res in r["results"]} == kept
    assert "left out" in r["invocations"][0]["toolExecutionNotifications"][-1]["message"]["text"]


def test_notifications_are_capped() -> None:
    r = run(policy_result(), max_notifications=2)
    notes = r["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 3
    assert notes[-1]["message"]["text"] == "3 more problems are listed in the JSON report"


def test_the_default_limits_are_github_code_scanning_limits() -> None:
    from scanner.reporters import sarif

    assert (sarif.MAX_RESULTS, sarif.MAX_RULES) == (25_000, 25_000)
    assert sarif.MAX_TAGS <= 20
