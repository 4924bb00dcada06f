"""`faceaudit scan --due-within`, through the installed command on the demo organisation (real
images, real detector, the clock fixed with --as-of): the leaver whose 30 days after leaving
run out on 2026-06-26 falls due within 30 days, in every report; the HTML report opens with
the action list."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from pathlib import Path

import pytest
from helpers import run_faceaudit as run
from reporters.sample import schema_errors

from scanner.demo_org import AS_OF, build_demo_org

LEAVER = "org/hr/badges/E1002.jpg"  # left 2026-05-27; the store keeps badges 30 days after


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("cli-due")
    build_demo_org(base / "org")
    return base


def scan(org: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        "scan", "org", "-q", "-j", "2", "--no-state", "--policy", "org/faceaudit-policy.yaml",
        "--as-of", AS_OF.isoformat(), *extra, cwd=org,
    )  # fmt: skip


def test_json_lists_what_falls_due_and_the_actions(org: Path) -> None:
    proc = scan(org, "--due-within", "30d", "--format", "json")
    assert proc.returncode == 1, proc.stderr  # the findings, as without --due-within
    doc = json.loads(proc.stdout)
    assert schema_errors(doc) == []
    assert doc["policy"]["due_within"] == "P30D"
    assert [(d["path"], d["rule_id"], d["deadline"]) for d in doc["due"]] == [
        (LEAVER, "GDPR-5-1-E-RETENTION", "2026-06-26")
    ]
    assert LEAVER not in {f["path"] for f in doc["findings"]}  # not broken yet
    stores = {s["id"]: s for s in doc["policy"]["store_details"]}
    assert stores["hr-badges"]["owner"] == "hr@acme.example"
    assert stores["hr-badges"]["legal_basis"] == ["gdpr-9-2-b", "uk-gdpr-9-2-b"]
    actions = doc["actions"]
    assert [a["deadline"] for a in actions] == sorted(a["deadline"] for a in actions)
    due = [a for a in actions if a["status"] == "due"]
    assert [(a["path"], a["owner"], a["deadline"]) for a in due] == [
        (LEAVER, "hr@acme.example", "2026-06-26")
    ]
    overdue = {a["path"] for a in actions if a["status"] == "overdue"}
    assert overdue == {
        "org/hr/badges/E1003.jpg",
        "org/hr/badges/E1004.jpg",
        "org/cctv/entrance/door-0001.mp4",  # a recording past the CCTV store's 31 days
    }
    assert doc["summary"]["due"] == 1


def test_a_shorter_window_lists_nothing(org: Path) -> None:
    proc = scan(org, "--due-within", "P10D", "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["due"] == [] and doc["policy"]["due_within"] == "P10D"
    assert not [a for a in doc["actions"] if a["status"] == "due"]


def test_console_and_markdown_and_csv_list_it(org: Path) -> None:
    console = scan(org, "--due-within", "30d")
    assert "Falling due within P30D (1: not yet broken)" in console.stdout
    line = next(x for x in console.stdout.splitlines() if LEAVER in x and "2026-06-26" in x)
    assert "GDPR-5-1-E-RETENTION" in line and "hr@acme.example" in line
    md = scan(org, "--due-within", "30d", "--format", "markdown").stdout
    assert "## Falling due within P30D (1)" in md
    assert md.index("## Actions") < md.index("## Summary")
    rows = list(csv.DictReader(io.StringIO(scan(org, "--due-within", "30d", "-f", "csv").stdout)))
    (due,) = [r for r in rows if r["record"] == "due"]
    assert (due["location"], due["deadline"], due["owner"]) == (
        LEAVER,
        "2026-06-26",
        "hr@acme.example",
    )


def test_html_opens_with_the_action_list(org: Path) -> None:
    page = scan(org, "--due-within", "30d", "--format", "html").stdout
    actions = page.index('<section id="actions">')
    assert actions < page.index('<section id="summary">') < page.index("<figure")
    section = page[actions : page.index("</section>", actions)]
    assert '<h3 class="owner">hr@acme.example · store hr-badges</h3>' in section
    assert "by 2026-06-26" in section and "overdue since 2025-12-20" in section
    assert '<section id="due"><h2>Falling due within P30D</h2>' in page
    # every finding card names its legal basis and its store's owner (never "Basis -" for all)
    cards = re.findall(r"<article .*?</article>", page, re.S)
    consent = next(c for c in cards if "GDPR-9-2-A-CONSENT" in c)
    assert "<dt>Legal basis</dt><dd>gdpr-9-2-a</dd>" in consent
    assert "<dt>Owner</dt><dd>compliance@acme.example</dd>" in consent
    retention = next(c for c in cards if "GDPR-5-1-E-RETENTION" in c and "hr-badges" in c)
    assert "<dt>Legal basis</dt><dd>gdpr-9-2-b, uk-gdpr-9-2-b</dd>" in retention
    assert "<dt>Owner</dt><dd>hr@acme.example</dd>" in retention


def test_due_within_needs_a_policy_and_a_duration(org: Path) -> None:
    alone = run("scan", "org", "-q", "--no-state", "--due-within", "30d", cwd=org)
    assert alone.returncode == 2 and "--due-within needs --policy" in alone.stderr
    bad = scan(org, "--due-within", "soon")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "--due-within: 'soon' is not a duration" in bad.stderr
