"""What falls due next (`scan --due-within`) and the action list: deadlines computed in the
policy layer from the retention rule and the item's date, with a clock fixed here; GDPR and
UK GDPR findings on the same item grouped into one action citing both."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from scanner.model import (
    ActionStatus,
    ContentType,
    Disposition,
    Evidence,
    EvidenceKind,
    FileLocation,
    ItemContext,
    ItemResult,
    ScanResult,
)
from scanner.policy.durations import Duration
from scanner.policy.judgement import Judgement, judge
from scanner.policy.loader import Policy, load_policy
from scanner.reporters import Format, render

NOW = datetime(2025, 6, 1, 9, 0, tzinfo=timezone.utc)

POLICY = """\
schema_version: 1
name: two-laws
extends: [gdpr, uk-gdpr]
stores:
  - id: team
    paths: ["team/**"]
    kinds: [face_image]
    purpose: staff directory
    legal_basis: [gdpr-9-2-b, uk-gdpr-9-2-b]
    retention: {period: P1Y, from: creation}
    region: [FR, GB]
    owner: people@example.org
    dpia: DPIA-1
    retention_schedule_url: https://example.org/retention
"""


def photo(name: str, created: datetime) -> ItemResult:
    return ItemResult(
        location=FileLocation(f"team/{name}"),
        content_type=ContentType.JPEG,
        size=1000,
        sha256=name.encode().hex().ljust(64, "0")[:64],
        evidence=(Evidence(EvidenceKind.FACE_IMAGE, "face.yunet", 0.95, faces=1),),
        context=ItemContext(created=created, created_source="exif:DateTimeOriginal"),
    )


OLD = photo("old.jpg", datetime(2024, 1, 10, tzinfo=timezone.utc))  # ran out 2025-01-10
SOON = photo("soon.jpg", datetime(2024, 6, 20, tzinfo=timezone.utc))  # runs out 2025-06-20
LATER = photo("later.jpg", datetime(2024, 12, 1, tzinfo=timezone.utc))  # runs out 2025-12-01


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("due") / "policy.yaml"
    path.write_text(POLICY)
    return load_policy(path)


def scan(*items: ItemResult) -> ScanResult:
    return ScanResult(
        tool_version="test",
        models=(),
        started_at=NOW - timedelta(minutes=1),
        finished_at=NOW,
        targets=("team",),
        settings=(),
        items=items,
        problems=(),
    )


def judged(policy: Policy, window: str | None, at: datetime = NOW, **kw: object) -> ScanResult:
    due = Duration.parse_window(window) if window is not None else None
    return judge(scan(OLD, SOON, LATER), Judgement(policy, as_of=at, due_within=due, **kw), {}, {})


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("30d", Duration(days=30)),
        ("2w", Duration(days=14)),
        ("6m", Duration(months=6)),
        ("1y", Duration(years=1)),
        ("P30D", Duration(days=30)),
        (" 45D ", Duration(days=45)),
    ],
)
def test_the_window_reuses_the_policy_durations(text: str, duration: Duration) -> None:
    assert Duration.parse_window(text) == duration


@pytest.mark.parametrize("bad", ["30", "30x", "-3d", "PT12H", "soon", ""])
def test_a_window_that_is_not_a_duration_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        Duration.parse_window(bad)


def test_items_due_within_the_window_not_yet_violating(policy: Policy) -> None:
    result = judged(policy, "30d")
    assert result.policy is not None and result.policy.due_within == "P30D"
    retention = {f.location.display for f in result.findings if "RETENTION" in f.rule_id}
    assert retention == {"team/old.jpg"}  # the one already broken is a finding, not due
    assert [(d.finding.rule_id, d.finding.location.display, d.deadline) for d in result.due] == [
        ("GDPR-5-1-E-RETENTION", "team/soon.jpg", date(2025, 6, 20)),
        ("UK-GDPR-5-1-E-RETENTION", "team/soon.jpg", date(2025, 6, 20)),
    ]
    message = result.due[0].finding.message
    assert message == (
        "created 2024-06-20 (exif:DateTimeOriginal); store 'team' keeps items 1 year from "
        "creation: due for deletion on 2025-06-20"
    )
    assert result.due[0].finding.fact("deadline") == "2025-06-20"


def test_a_wider_window_reaches_further_and_none_lists_nothing(policy: Policy) -> None:
    wide = judged(policy, "6m")
    assert {d.finding.location.display for d in wide.due} == {"team/soon.jpg", "team/later.jpg"}
    assert [d.deadline for d in wide.due] == sorted(d.deadline for d in wide.due)
    assert judged(policy, None).due == ()


def test_the_deadline_is_when_the_finding_appears(policy: Policy) -> None:
    """The due date agrees with the retention check: kept on the deadline, a finding the
    day after."""
    on_the_day = judged(policy, "1d", at=datetime(2025, 6, 19, 23, 0, tzinfo=timezone.utc))
    assert {d.finding.location.display for d in on_the_day.due} == {"team/soon.jpg"}
    after = judged(policy, "1d", at=datetime(2025, 6, 20, 0, 0, 1, tzinfo=timezone.utc))
    assert "team/soon.jpg" not in {d.finding.location.display for d in after.due}
    broken = {f.location.display for f in after.findings if "RETENTION" in f.rule_id}
    assert "team/soon.jpg" in broken


def test_gdpr_and_uk_gdpr_on_one_item_are_one_action(policy: Policy) -> None:
    result = judged(policy, "30d")
    old = [a for a in result.actions if a.location.display == "team/old.jpg"]
    retention = [a for a in old if "GDPR-5-1-E-RETENTION" in a.rule_ids]
    assert len(retention) == 1
    action = retention[0]
    assert action.rule_ids == ("GDPR-5-1-E-RETENTION", "UK-GDPR-5-1-E-RETENTION")
    assert action.packs == ("gdpr", "uk-gdpr")
    assert "GDPR Art 5(1)(e)" in action.citations and "UK GDPR Art 5(1)(e)" in action.citations
    assert action.status is ActionStatus.OVERDUE and action.deadline == date(2025, 1, 10)
    assert action.owner == "people@example.org" and action.store == "team"
    assert len(action.fingerprints) == 2
    soon = [a for a in result.actions if a.location.display == "team/soon.jpg"]
    assert len(soon) == 1 and soon[0].status is ActionStatus.DUE
    assert soon[0].deadline == date(2025, 6, 20)
    assert soon[0].rule_ids == ("GDPR-5-1-E-RETENTION", "UK-GDPR-5-1-E-RETENTION")
    assert not [a for a in result.actions if a.location.display == "team/later.jpg"]


def test_actions_are_sorted_by_deadline(policy: Policy) -> None:
    actions = judged(policy, "6m").actions
    assert [a.deadline for a in actions] == sorted(a.deadline for a in actions)
    assert actions[0].status is ActionStatus.OVERDUE
    assert actions[-1].status is ActionStatus.DUE


def test_waived_findings_ask_nothing_and_baselined_ones_are_known(policy: Policy) -> None:
    plain = judged(policy, None)
    prints = frozenset(f.fingerprint for f in plain.findings)
    known = judged(policy, None, baseline=prints)
    assert all(f.disposition is Disposition.BASELINE for f in known.findings)
    assert known.actions and all(a.known for a in known.actions)
    assert [replace(a, known=False) for a in known.actions] == list(plain.actions)


def test_store_details_carry_owner_and_basis(policy: Policy) -> None:
    info = judged(policy, None).policy
    assert info is not None
    store = info.store("team")
    assert store is not None
    assert store.owner == "people@example.org"
    assert store.legal_basis == ("gdpr-9-2-b", "uk-gdpr-9-2-b")
    assert (store.retention, store.retention_from) == ("P1Y", "creation")


def test_the_grouped_action_is_one_row_of_the_html_and_markdown_action_lists(
    policy: Policy,
) -> None:
    result = judged(policy, "30d")
    page = render(result, Format.HTML)
    section = page[page.index('<section id="actions">') : page.index('<section id="summary">')]
    assert '<h3 class="owner">people@example.org · store team</h3>' in section
    rows = [r for r in re.findall(r"<tr class=.*?</tr>", section) if "team/old.jpg" in r]
    retention = [r for r in rows if "GDPR-5-1-E-RETENTION" in r]
    assert len(retention) == 1
    assert "UK-GDPR-5-1-E-RETENTION" in retention[0]
    assert "GDPR Art 5(1)(e)" in retention[0] and "UK GDPR Art 5(1)(e)" in retention[0]
    assert "overdue since 2025-01-10" in retention[0]
    md = render(result, Format.MARKDOWN)
    lines = [x for x in md.splitlines() if "team/old.jpg" in x and "RETENTION" in x]
    assert len(lines) == 1 and "UK-GDPR-5-1-E-RETENTION" in lines[0]
    soon = [x for x in md.splitlines() if x.startswith("| by 2025-06-20 |")]
    assert len(soon) == 1 and "team/soon.jpg" in soon[0]
