"""Legal holds (scanner/policy/holds.py): which hold keeps an item, on which days, and what it
makes of the findings, due findings, actions and reports — with a clock fixed here."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from reporters.sample import report_validator

from scanner.model import (
    ContentType,
    DatabaseLocation,
    DatabaseRef,
    Disposition,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemContext,
    ItemResult,
    ScanResult,
)
from scanner.policy.durations import Duration
from scanner.policy.gate import Waiver
from scanner.policy.holds import ERASURE_CHECKS, hold_for, holds_on
from scanner.policy.judgement import Judgement, judge
from scanner.policy.loader import Policy, load_policy
from scanner.policy.schema import CHECKS
from scanner.reporters import Format, render

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=timezone.utc)
VALID = Path(__file__).resolve().parent / "valid" / "legal-holds.yaml"

POLICY = """\
schema_version: 1
name: holds
extends: [gdpr]
stores:
  - id: team
    paths: ["team/**"]
    kinds: [face_image]
    purpose: staff directory
    legal_basis: [gdpr-9-2-b]
    retention: {period: P1Y, from: creation}
    region: [FR]
    owner: people@example.org
    dpia: DPIA-1
    retention_schedule_url: https://example.org/retention
holds:
  - case: TRIBUNAL-1
    scope: {paths: ["team/old.jpg", "loose/**"]}
    reason: Employment tribunal claim; counsel asked to keep the photos
    owner: legal@example.org
    start: 2025-05-01
    end: 2025-06-30
  - case: AUDIT-2
    scope: {stores: [team]}
    reason: Works council audit of the staff directory
    owner: dpo@example.org
    start: 2025-06-10
"""


def photo(path: str, created: datetime) -> ItemResult:
    return ItemResult(
        location=FileLocation(path),
        content_type=ContentType.JPEG,
        size=1000,
        sha256=path.encode().hex().ljust(64, "0")[:64],
        evidence=(Evidence(EvidenceKind.FACE_IMAGE, "face.yunet", 0.95, faces=1),),
        context=ItemContext(created=created, created_source="exif:DateTimeOriginal"),
    )


OLD = photo("team/old.jpg", datetime(2024, 1, 10, tzinfo=timezone.utc))  # ran out 2025-01-10
STALE = photo("team/stale.jpg", datetime(2024, 2, 10, tzinfo=timezone.utc))  # not held now
SOON = photo("team/soon.jpg", datetime(2024, 6, 20, tzinfo=timezone.utc))  # runs out 06-20
LOOSE = photo("loose/x.jpg", datetime(2025, 1, 1, tzinfo=timezone.utc))  # in no store


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("holds") / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def judged(policy: Policy, at: datetime = NOW, **kw: object) -> ScanResult:
    result = ScanResult(
        tool_version="test",
        models=(),
        started_at=at - timedelta(minutes=1),
        finished_at=at,
        targets=("team", "loose"),
        settings=(),
        items=(OLD, STALE, SOON, LOOSE),
        problems=(),
    )
    judgement = Judgement(policy, as_of=at, due_within=Duration.parse_window("30d"), **kw)
    return judge(result, judgement, {}, {})


def test_the_erasure_checks_are_checks() -> None:
    assert set(CHECKS) >= ERASURE_CHECKS


def test_which_hold_applies_and_on_which_days(policy: Policy) -> None:
    holds = policy.holds
    old, loose = OLD.location, LOOSE.location

    def case(location: FileLocation, store: str | None, day: date) -> str | None:
        at = datetime(day.year, day.month, day.day, 23, 59, tzinfo=timezone.utc)
        hold = hold_for(holds, location, store, at)
        return hold.case if hold is not None else None

    assert case(old, "team", date(2025, 4, 30)) is None  # before its start
    assert case(old, "team", date(2025, 5, 1)) == "TRIBUNAL-1"  # the first day counts
    assert case(old, "team", date(2025, 6, 30)) == "TRIBUNAL-1"  # the last day too
    assert case(old, "team", date(2025, 7, 1)) == "AUDIT-2"  # then the store's hold
    assert case(loose, None, date(2025, 7, 1)) is None
    assert case(FileLocation("srv/share/loose/a/b.jpg"), None, date(2025, 6, 1)) == "TRIBUNAL-1"
    assert case(FileLocation("team/new.jpg"), "team", date(2025, 6, 9)) is None
    both = holds_on(holds, old, "team", datetime(2025, 6, 15, tzinfo=timezone.utc))
    assert [h.case for h in both] == ["TRIBUNAL-1", "AUDIT-2"]  # declaration order


def test_database_locations_are_matched_by_the_databases_globs() -> None:
    policy = load_policy(VALID)
    column = DatabaseLocation(
        DatabaseRef("sqlite:///srv/archive.db", "sqlite", "archive.db", file="/srv/archive.db"),
        table="onboarding",
        column="face",
    )
    assert column.display == "sqlite:///srv/archive.db#onboarding.face"
    at = datetime(2026, 6, 1, tzinfo=timezone.utc)
    hold = hold_for(policy.holds, column, None, at)
    assert hold is not None and hold.case == "REG-ORDER-7"
    assert hold_for(policy.holds, column, None, datetime(2027, 1, 15, tzinfo=timezone.utc)) is None
    assert hold_for(policy.holds, FileLocation("archive.db"), None, at) is None
    assert hold_for(policy.holds, FileLocation("x/hr/badges/2024/a.jpg"), None, at) is not None


def test_a_held_finding_is_reported_held_and_asks_no_deletion(policy: Policy) -> None:
    result = judged(policy)
    by_path = {(f.location.display, f.rule_id): f for f in result.findings}
    held = by_path["team/old.jpg", "GDPR-5-1-E-RETENTION"]
    assert held.disposition is Disposition.HELD
    assert held.held_by is not None and held.held_by.case == "TRIBUNAL-1"
    assert held.held_by.end == date(2025, 6, 30) and held.held_by.owner == "legal@example.org"
    assert held.justification is not None and held.justification.startswith(
        "legal hold TRIBUNAL-1: Employment tribunal claim"
    )
    assert held.message.endswith(
        "from creation: retention ran out on 2025-01-10; held by legal hold TRIBUNAL-1"
    )
    assert "due for deletion" not in held.message
    # the item next to it, under no hold yet (AUDIT-2 starts on 06-10), is still due
    stale = by_path["team/stale.jpg", "GDPR-5-1-E-RETENTION"]
    assert stale.disposition is Disposition.OPEN and stale.held_by is None
    # a hold keeps data; it does not excuse an undeclared store
    undeclared = [f for (p, _), f in by_path.items() if p == "loose/x.jpg"]
    assert undeclared and all(f.disposition is Disposition.OPEN for f in undeclared)
    # no action asks to delete the held item; the other one's does
    acted = {a.location.display for a in result.actions}
    assert "team/old.jpg" not in acted and "team/stale.jpg" in acted
    assert held not in result.failing_findings() and stale in result.failing_findings()


def test_a_hold_wins_over_a_waiver_and_ends_on_its_last_day(policy: Policy) -> None:
    waiver = Waiver(
        rule="GDPR-5-1-E-RETENTION",
        path="team/old.jpg",
        reason="Migrating the archive this quarter",
        owner="it",
        expires=date(2025, 12, 31),
    )
    result = judged(policy, waivers=(waiver,))
    (held,) = [f for f in result.findings if f.location == OLD.location]
    assert held.disposition is Disposition.HELD
    # on 07-01 TRIBUNAL-1 has ended, AUDIT-2 (the whole store, no end) keeps everything
    later = judged(policy, datetime(2025, 7, 1, 9, 0, tzinfo=timezone.utc))
    team = [f for f in later.findings if f.store == "team"]
    assert team and {f.held_by.case for f in team if f.held_by} == {"AUDIT-2"}
    assert all(f.disposition is Disposition.HELD for f in team if "RETENTION" in f.rule_id)


def test_a_due_finding_under_a_hold_that_outlasts_it_is_held(policy: Policy) -> None:
    # SOON runs out 06-20; on 06-15 AUDIT-2 (no end) keeps it: not due for deletion
    result = judged(policy, datetime(2025, 6, 15, 9, 0, tzinfo=timezone.utc))
    (due,) = [d for d in result.due if d.finding.location == SOON.location]
    assert due.finding.disposition is Disposition.HELD
    assert due.finding.held_by is not None and due.finding.held_by.case == "AUDIT-2"
    held = "retention runs out on 2025-06-20; held by legal hold AUDIT-2"
    assert due.finding.message.endswith(held)
    assert SOON.location not in {a.location for a in result.actions}
    # on 06-01 no hold covers it: due, with an action
    result = judged(policy)
    (due,) = [d for d in result.due if d.finding.location == SOON.location]
    assert due.finding.held_by is None and SOON.location in {a.location for a in result.actions}


def test_the_reports_show_the_hold(policy: Policy) -> None:
    result = judged(policy, datetime(2025, 6, 15, 9, 0, tzinfo=timezone.utc))
    doc = json.loads(render(result, Format.JSON))
    report_validator().validate(doc)
    assert doc["summary"]["findings"]["by_disposition"]["held"] >= 1
    held = next(f for f in doc["findings"] if f["path"] == "team/old.jpg")
    assert held["disposition"] == "held"
    assert held["held_by"] == {
        "case": "TRIBUNAL-1",
        "reason": "Employment tribunal claim; counsel asked to keep the photos",
        "owner": "legal@example.org",
        "start": "2025-05-01",
        "end": "2025-06-30",
    }
    assert next(d for d in doc["due"] if d["path"] == "team/soon.jpg")["held_by"]["case"] == (
        "AUDIT-2"
    )
    sarif = json.loads(render(result, Format.SARIF))
    results = sarif["runs"][0]["results"]
    old = next(
        r
        for r in results
        if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("old.jpg")
    )
    assert old["suppressions"][0]["justification"].startswith("legal hold TRIBUNAL-1")
    junit = render(result, Format.JUNIT)
    assert "held: legal hold TRIBUNAL-1" in junit
    for fmt in (Format.MARKDOWN, Format.HTML):
        assert "legal hold TRIBUNAL-1" in render(result, fmt)
        assert "held by a legal hold" in render(result, fmt)
    console = render(result, Format.CONSOLE)
    assert "held)" in console and "(legal hold TRIBUNAL-1:" in console


def test_holds_never_change_a_policy_without_them(policy: Policy) -> None:
    plain = replace(policy, holds=())
    result = judged(plain)
    assert all(f.held_by is None for f in result.findings)
    assert all(f.disposition is Disposition.OPEN for f in result.findings)
