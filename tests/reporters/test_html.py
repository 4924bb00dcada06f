"""HTML: golden file, self-contained (no script, no external asset, a strict CSP), every
untrusted string escaped, the summary, charts, findings, problems and policy; and a real
render in headless Chromium (screenshot and DOM)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from reporters.sample import EXPIRED_WAIVER, WAIVER, check_golden, policy_result, sample_result

from scanner.model import (
    FileLocation,
    MemberLocation,
    Problem,
    ProblemReason,
    ScanResult,
    TrendPoint,
)
from scanner.reporters import Format
from scanner.reporters import render as render_any
from scanner.reporters.html import CSP, render

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;\x1b[31m\u202e"
# What a report may contain: no script, object, iframe, link, img, form, base or meta refresh.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "footer", "section",
    "h1", "h2", "h3", "p", "strong", "span", "code", "div", "table", "thead", "tbody", "tr",
    "th", "td", "article", "dl", "dt", "dd", "ul", "li", "a", "figure", "figcaption", "svg",
    "g", "rect", "text", "line", "polyline", "circle",
}  # fmt: skip


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags(text: str) -> Tags:
    parser = Tags()
    parser.feed(text)
    parser.close()
    return parser


def hostile_result() -> ScanResult:
    result = policy_result()
    finding = replace(
        result.findings[0],
        rule_id=HOSTILE,
        title=HOSTILE,
        message=HOSTILE,
        location=MemberLocation(FileLocation(HOSTILE), (HOSTILE,)),
        store=HOSTILE,
        pack=HOSTILE,
        citations=(HOSTILE,),
        remediation=HOSTILE,
        justification=HOSTILE,
        facts=(("basis", HOSTILE), (HOSTILE, HOSTILE)),
        help_uri='https://x.example/"><script>alert(3)</script>',
    )
    problem = Problem(FileLocation(HOSTILE), ProblemReason.DECODE_ERROR, HOSTILE)
    policy = replace(result.policy, name=HOSTILE, expired_waivers=(HOSTILE,), files=(HOSTILE,))
    return replace(result, findings=(finding,), problems=(problem,), policy=policy)


def trend_result() -> ScanResult:
    """Five recorded scans: findings found, some resolved, one incomplete scan, then this one."""
    counts = [(9, 9, 0, False), (11, 3, 1, False), (11, 0, 0, True), (8, 1, 4, False)]
    counts.append((7, 0, 1, False))
    points = tuple(
        TrendPoint(
            scan_id=n + 1,
            started_at=f"2026-0{n + 1}-01T02:00:00+00:00",
            findings_open=open_,
            new_findings=new,
            resolved_findings=resolved,
            items_with_evidence=open_ + 2,
            faces=open_ * 2,
            embeddings=1,
            incomplete=incomplete,
        )
        for n, (open_, new, resolved, incomplete) in enumerate(counts)
    )
    return replace(policy_result(), trend=points)


# -- golden file and structure ------------------------------------------------------------------


def test_matches_golden_file() -> None:
    check_golden("report.html", render(policy_result()))


def test_trend_matches_golden_file() -> None:
    check_golden("report-trend.html", render(trend_result()))


def test_trend_chart_of_recorded_scans() -> None:
    text = render(trend_result())
    parsed = tags(text)
    assert "<h2>Trend</h2>" not in render(policy_result())  # a scan without state: no trend
    assert "5 scans since 2026-01-01: 7 open findings now, 2 fewer than at the first." in text
    lines = [a["points"] or "" for t, a in parsed.tags if t == "polyline"]
    assert len(lines) == 1 and len(lines[0].split()) == 5
    ys = [float(p.split(",")[1]) for p in lines[0].split()]
    assert ys[1] < ys[0] < ys[3] < ys[4]  # 9, 11, 11, 8, 7 open: higher counts drawn higher
    points = [a["class"] for t, a in parsed.tags if t == "circle"]
    assert points.count("trend-point") == 4 and points.count("trend-point incomplete") == 1
    bars = [a["class"] for t, a in parsed.tags if t == "rect" and a["class"] in ("new", "resolved")]
    assert bars.count("new") == 3 and bars.count("resolved") == 3
    assert "scan 3, 2026-03-01T02:00:00: 11 open, 0 new, 0 resolved" in "".join(parsed.text)
    assert "(incomplete scan)" in "".join(parsed.text)


def test_a_single_recorded_scan_gets_a_sentence_not_a_chart() -> None:
    result = trend_result()
    text = render(replace(result, trend=result.trend[-1:]))
    assert "first recorded scan of these targets" in text
    assert "<polyline" not in text and 'id="trend"' not in text


def test_reporter_registry_renders_html() -> None:
    assert render_any(policy_result(), Format.HTML) == render(policy_result())


def test_a_strict_content_security_policy() -> None:
    parsed = tags(render(policy_result()))
    csp = [a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert csp == [CSP]
    assert CSP.startswith("default-src 'none'; style-src 'unsafe-inline'; img-src data:")
    assert parsed.tags[0][0] == "html"


@pytest.mark.parametrize("make", [policy_result, sample_result, hostile_result, trend_result])
def test_self_contained_no_script_no_external_asset(make: object) -> None:
    text = render(make())  # type: ignore[operator]
    parsed = tags(text)
    assert {t for t, _ in parsed.tags} <= ALLOWED_TAGS
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no event handler
            assert name not in ("src", "srcset", "xlink:href", "action", "formaction")
            if name == "href":
                assert tag == "a"
                # the law's text, or a finding's card in the same page (the action list)
                assert re.fullmatch(r"https://.*|#f-[0-9a-f]{32}", value or ""), value
    lowered = text.lower()
    assert "@import" not in lowered
    assert "url(" not in lowered
    assert "@font-face" not in lowered
    assert "data:image" not in lowered  # never a face image
    # Web addresses appear only as links to the text of the law (never as assets).
    for match in re.finditer(r"https?://", text):
        before = text[max(0, match.start() - 6) : match.start()]
        assert before == 'href="', text[match.start() - 40 : match.end() + 40]


def test_untrusted_strings_are_escaped_everywhere() -> None:
    text = render(hostile_result())
    parsed = tags(text)
    assert [t for t, _ in parsed.tags if t in ("script", "img")] == []
    assert "\x1b" not in text
    assert "\u202e" not in text
    joined = "".join(parsed.text)
    assert "<script>alert(1)</script>" in joined  # shown as text
    assert "\\x1b[31m\\u202e" in joined  # controls made visible
    links = [a["href"] for t, a in parsed.tags if t == "a" and not a["href"].startswith("#f-")]
    assert links == ["https://x.example/%22%3E%3Cscript%3Ealert%283%29%3C/script%3E"]


def test_summary_charts_and_tables() -> None:
    text = render(policy_result())
    parsed = tags(text)
    charts = [a.get("id") for t, a in parsed.tags if t == "figure"]
    assert charts == ["by-severity", "by-law", "by-store"]
    assert sum(t == "svg" for t, _ in parsed.tags) == 3
    assert '<strong id="finding-count" data-count="7">7 findings</strong>' in text
    assert "5 open (4 failing at --fail-on medium), 1 waived, 1 in the baseline." in text
    summary = text.split('<section id="summary">', 1)[1]
    heads = re.findall(r"<table><thead><tr><th>(.*?)</th>", summary)
    assert heads[:3] == ["Law (pack)", "Store", "Severity"]


def test_each_finding_has_evidence_age_basis_and_citation() -> None:
    text = render(policy_result())
    articles = re.findall(r"<article .*?</article>", text, re.S)
    assert len(articles) == 7
    retention = next(a for a in articles if "kept 1902 days" in a)
    for fragment in (
        "<dt>Evidence</dt><dd>face.yunet: at least 2 faces, confidence 0.93</dd>",
        "<dt>Age</dt><dd>1902 days, created 2019-03-02T14:05:09Z (exif:DateTimeOriginal)</dd>",
        "<dt>Legal basis</dt><dd>gdpr-9-2-b</dd>",
        "<dt>Owner</dt><dd>hr@example.org</dd>",
        "<dt>Citation</dt><dd>GDPR Art 5(1)(e); GDPR Art 9(1) (<a href=",
        "<dt>Remediation</dt><dd>Delete items older than the retention period",
        "<dt>Provenance, places</dt><dd>instagram, GB</dd>",
    ):
        assert fragment in retention
    waived = next(a for a in articles if "immich" in a)
    assert WAIVER in waived


def test_problems_and_policy_with_expired_waivers() -> None:
    text = render(policy_result())
    problems = text.split('<section id="problems">', 1)[1].split("</section>", 1)[0]
    assert problems.count("<tr><td>") == 5
    assert problems.index("incomplete") < problems.index("skipped by design")
    policy = text.split('<section id="policy">', 1)[1]
    assert "Expired waivers (1): they fail the gate" in policy
    assert EXPIRED_WAIVER in policy
    assert "Unused waivers (1)" in policy


def test_without_a_policy() -> None:
    text = render(sample_result())
    assert "No policy was given" in text
    assert '<section id="policy">' not in text
    assert 'data-count="4"' in text


def test_findings_are_capped() -> None:
    text = render(policy_result(), max_findings=3)
    assert text.count("<article ") == 3
    assert "… and 4 more findings: <code>--format json lists all</code>." in text


# -- a real browser ---------------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        pytest.skip(
            "chromium is not installed (Debian: apt-get install chromium; `make dev` tries): "
            "the HTML report is not rendered in a browser"
        )
    env = {**os.environ, "HOME": str(tmp_path)}  # keep the profile and caches in tmp_path
    return subprocess.run(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )


def _screenshot(tmp_path: Path, result: ScanResult, height: int) -> tuple[Path, list[Any]]:
    """The rendered report as a page, and the colours of its screenshot (count, RGB)."""
    page = tmp_path / "report.html"
    page.write_text(render(result), encoding="utf-8")
    png = tmp_path / "report.png"
    run = _chromium(tmp_path, f"--screenshot={png}", f"--window-size=1280,{height}", page.as_uri())
    assert png.is_file(), run.stderr[-2000:]
    with Image.open(png) as image:
        assert image.size == (1280, height)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None
    return page, colours


def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    page, colours = _screenshot(tmp_path, policy_result(), 2000)
    assert len(colours) > 50, "the screenshot is (almost) a single colour"
    # The severity chart's critical bar (#7b1020) was drawn: SVG rendered.
    assert any(c == (0x7B, 0x10, 0x20) for _, c in colours)
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-count="7"' in dom.stdout
    assert "7 findings" in dom.stdout
    assert dom.stdout.count("<article ") == 7
    assert "<script" not in dom.stdout


def test_the_action_list_renders_first_in_headless_chromium(tmp_path: Path) -> None:
    """The page as a browser builds it opens with the action list (before the summary and
    its charts): grouped by owner and store, the soonest group first, each group sorted by
    deadline, overdue and due deadlines drawn in their colours."""
    page, colours = _screenshot(tmp_path, policy_result(), 1400)
    drawn = {c for _, c in colours}
    assert (0x9B, 0x1C, 0x1C) in drawn  # "overdue since …"
    assert (0x8A, 0x5A, 0x00) in drawn  # "by …" (falls due)
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    actions = text.index('<section id="actions">')
    assert actions < text.index('<section id="summary">') < text.index("<figure")
    section = text[actions : text.index("</section>", actions)]
    assert 'id="action-count" data-count="7"' in section
    owners = re.findall(r'<h3 class="owner">(.*?)</h3>', section)
    assert owners == [
        "hr@example.org · store hr-photos",
        "compliance@example.org · store kyc",
        "no owner declared · no declared store",
    ]
    first = section.split('<h3 class="owner">')[1]
    whens = re.findall(r'<td class="when">(.*?)</td>', first)
    assert whens == ["overdue since 2020-03-02", "now (found 2024-05-17)", "by 2024-06-10"]
    assert "photos/team/bob.jpg" in first  # the item that falls due, with its owner
    for fingerprint in re.findall(r'href="#f-([0-9a-f]{32})"', section):
        assert f'id="f-{fingerprint}"' in text  # each action links to its finding


def test_the_trend_chart_renders_in_headless_chromium(tmp_path: Path) -> None:
    _, colours = _screenshot(tmp_path, trend_result(), 2200)
    drawn = {c for _, c in colours}
    assert (0x27, 0xAE, 0x60) in drawn  # the resolved-findings bars
    assert (0x1D, 0x24, 0x30) in drawn  # the line of open findings
