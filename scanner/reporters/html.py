"""A single, self-contained HTML file for data-protection officers.

No script, no external asset (styles are inline, charts are inline SVG, no font or image is
fetched), never a face image; a Content-Security-Policy that forbids loading anything.
Summary by law, store and severity (with charts), each finding with its evidence, age, legal
basis, citations and remediation, what was not scanned, and the policy with its expired
waivers. Every untrusted string is escaped with html.escape after controls are made visible.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from scanner.model import Disposition, Finding, ItemResult, Location, ScanResult, Severity
from scanner.reporters.findings import (
    age_days,
    count_by,
    evidence_text,
    fact_text,
    is_failing,
    iso,
    items_by_location,
    more_rows_text,
    reported_findings,
    row_text,
    shown_rows,
    web_uri,
)
from scanner.reporters.html_parts import CSS, Row, bar_chart, trend_chart
from scanner.reporters.text import terminal_safe

MAX_FINDINGS = 2_000  # the JSON report lists all
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


def esc(text: str) -> str:
    """Untrusted text for HTML: controls and bidi characters shown as escapes, then escaped."""
    return html.escape(terminal_safe(text), quote=True)


def render(result: ScanResult, max_findings: int = MAX_FINDINGS) -> str:
    findings = reported_findings(result)
    items = items_by_location(result)
    now = result.policy.evaluated_at if result.policy is not None else result.finished_at
    title = "faceaudit report" + (f": {result.policy.name}" if result.policy else "")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        *_header(result, title),
        *_summary(result, findings),
        *_trend(result),
        *_findings(result, findings[:max_findings], items, now),
    ]
    if len(findings) > max_findings:
        rest = len(findings) - max_findings
        parts.append(f"<p>… and {rest} more findings: the JSON report lists all.</p>")
    parts += [*_problems(result), *_policy(result)]
    parts += [
        "<footer>This report holds counts, digests and locations: never a face image, a crop "
        "or a face template.</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _fail_on(result: ScanResult) -> str:
    return result.fail_on.label if result.fail_on is not None else "never"


def _header(result: ScanResult, title: str) -> list[str]:
    code = result.exit_code
    verdict = "pass" if int(code) == 0 else "fail"
    text = {0: "clean", 1: "findings fail the gate", 2: "usage error", 3: "incomplete scan"}
    return [
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">faceaudit {esc(result.tool_version)} · {result.stats.items_scanned} '
        f"items scanned · {iso(result.started_at)} to {iso(result.finished_at)} · "
        f"--fail-on {_fail_on(result)}</p>",
        f'<p class="verdict {verdict}" id="verdict">Exit code {int(code)}: '
        f"{text.get(int(code), code.name.lower())}"
        + (" (the scan is incomplete: see below)" if result.incomplete and int(code) != 3 else "")
        + "</p>",
    ]


def _summary(result: ScanResult, findings: Sequence[Finding]) -> list[str]:
    by = count_by(findings, "disposition")
    failing = sum(is_failing(f, result) for f in findings)
    out = [
        '<section id="summary"><h2>Summary</h2>',
        f'<p><strong id="finding-count" data-count="{len(findings)}">{len(findings)} findings'
        f"</strong>: {by['open']} open ({failing} failing at --fail-on {_fail_on(result)}), "
        f"{by['waived']} waived, {by['baseline']} in the baseline.</p>",
    ]
    if result.policy is None:
        out.append("<p>No policy was given: each item with face data is listed as a finding.</p>")
    if findings:
        severities = [
            (s.label, [(sum(f.severity is s for f in findings), s.label)])
            for s in sorted(Severity, reverse=True)
        ]
        out.append('<div class="charts">')
        out.append(bar_chart("by-severity", "Findings by severity", severities))
        by_law = _rows(findings, _law)
        by_store = _rows(findings, _store)
        out.append(bar_chart("by-law", "By law (open; waived or baseline)", by_law))
        out.append(bar_chart("by-store", "By store (open; waived or baseline)", by_store))
        out.append("</div>")
        out.append('<div class="tables">')
        out += _table("Law (pack)", findings, result, _law)
        out += _table("Store", findings, result, _store)
        out += _table("Severity", findings, result, lambda f: f.severity.label, keep_order=True)
        out.append("</div>")
    out.append("</section>")
    return out


def _trend(result: ScanResult) -> list[str]:
    """The history of scans of these targets under this policy, when the scan kept state."""
    points = result.trend
    if not points:
        return []
    out = ['<section id="trend-section"><h2>Trend</h2>']
    if len(points) < 2:
        out.append(
            "<p>This is the first recorded scan of these targets under this policy; the "
            "trend chart appears from the second (<code>faceaudit history</code> lists every "
            "scan).</p>"
        )
    else:
        first, last = points[0], points[-1]
        change = last.findings_open - first.findings_open
        if change == 0:
            compared = "as many as at the first of them"
        else:
            compared = f"{abs(change)} {'more' if change > 0 else 'fewer'} than at the first"
        out.append(
            f"<p>{len(points)} scans since {esc(first.started_at[:10])}: "
            f"{last.findings_open} open finding{'' if last.findings_open == 1 else 's'} now, "
            f"{compared}.</p>"
        )
        out.append('<div class="charts">')
        out.append(trend_chart(points))
        out.append("</div>")
    out.append("</section>")
    return out


def _law(f: Finding) -> str:
    return f.pack


def _store(f: Finding) -> str:
    return f.store or "(none declared)"


def _groups(findings: Sequence[Finding], key: Callable[[Finding], str]) -> dict[str, list[Finding]]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(key(f), []).append(f)
    return groups


def _rows(findings: Sequence[Finding], key: Callable[[Finding], str]) -> list[Row]:
    groups = _groups(findings, key)
    rows: list[Row] = []
    for name in sorted(groups):
        open_ = sum(f.disposition is Disposition.OPEN for f in groups[name])
        rows.append((name, [(open_, "open"), (len(groups[name]) - open_, "known")]))
    return rows


def _table(
    title: str,
    findings: Sequence[Finding],
    result: ScanResult,
    key: Callable[[Finding], str],
    keep_order: bool = False,
) -> list[str]:
    groups = _groups(findings, key)
    out = [
        f"<table><thead><tr><th>{esc(title)}</th><th>Findings</th><th>Open</th>"
        "<th>Failing</th><th>Waived</th><th>Baseline</th></tr></thead><tbody>"
    ]
    for name in groups if keep_order else sorted(groups):
        group = groups[name]
        by = count_by(group, "disposition")
        failing = sum(is_failing(f, result) for f in group)
        cells = (len(group), by["open"], failing, by["waived"], by["baseline"])
        numbers = "".join(f'<td class="n">{n}</td>' for n in cells)
        out.append(f"<tr><td>{esc(name)}</td>{numbers}</tr>")
    out.append("</tbody></table>")
    return out


def _findings(
    result: ScanResult,
    findings: Sequence[Finding],
    items: Mapping[Location, ItemResult],
    now: datetime,
) -> list[str]:
    out = ['<section id="findings"><h2>Findings</h2>']
    if not findings:
        out.append("<p>No findings.</p>")
    for f in findings:
        out += _finding(result, f, items.get(f.location), now)
    out.append("</section>")
    return out


def _finding(result: ScanResult, f: Finding, item: ItemResult | None, now: datetime) -> list[str]:
    state = f.disposition.value
    if is_failing(f, result):
        state += f" — fails the gate at --fail-on {_fail_on(result)}"
    elif f.disposition is Disposition.OPEN:
        state += " — below the --fail-on threshold"
    if f.justification:
        state += f": {f.justification}"
    days = age_days(f, item, now)
    age = f"{days} days" if days is not None else "unknown"
    context = item.context if item is not None else None
    if context is not None and context.created is not None:
        age += f", created {iso(context.created)}"
        if context.created_source:
            age += f" ({context.created_source})"
    basis = f.fact("basis")
    citation = esc("; ".join(f.citations) or "-")
    link = web_uri(f.help_uri)
    if link is not None:
        href = html.escape(link, quote=True)
        citation += f' (<a href="{href}" rel="noreferrer noopener">text of the law</a>)'
    rows = [
        ("Location", f"<code>{esc(f.location.display)}</code>"),
        ("Disposition", f'<span class="disp">{esc(state)}</span>'),
        ("Message", esc(f.message)),
        ("Evidence", esc(evidence_text(item))),
        ("Age", esc(age)),
        ("Basis", esc(fact_text(basis)) if basis is not None else "-"),
        ("Citation", citation),
        ("Remediation", esc(f.remediation)),
        ("Law, store", f"{esc(f.pack)}, {esc(_store(f))}"),
    ]
    if context is not None and (context.platforms or context.countries):
        where = ", ".join((*context.platforms, *context.countries))
        rows.append(("Provenance, places", esc(where)))
    facts = [(k, v) for k, v in f.facts if k not in ("basis", "age_days")]
    if facts:
        rows.append(("Facts", esc(", ".join(f"{k}: {fact_text(v)}" for k, v in facts))))
    shown, more = shown_rows(f)
    if shown:
        total = f.rows.total if f.rows is not None else len(shown)
        listed = [esc(row_text(r)) for r in shown] + ([more_rows_text(more)] if more else [])
        rows.append(
            (f"Rows ({total})", "<ul>" + "".join(f"<li>{t}</li>" for t in listed) + "</ul>")
        )
    rows.append(("Fingerprint", f"<code>{esc(f.fingerprint)}</code>"))
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    sev = f.severity.label
    return [
        f'<article class="sev-{sev}" id="f-{esc(f.fingerprint)}">',
        f'<h3><span class="badge {sev}">{sev}</span> {esc(f.rule_id)}: {esc(f.title)}</h3>',
        f"<dl>{body}</dl>",
        "</article>",
    ]


def _problems(result: ScanResult) -> list[str]:
    if not result.problems and not result.interrupted:
        return []
    out = ['<section id="problems"><h2>Problems</h2>']
    if result.interrupted:
        out.append(
            '<p class="expired">The scan was interrupted before every item was examined.</p>'
        )
    out.append(
        "<table><thead><tr><th>Reason</th><th>Location</th><th>Detail</th><th>Scan</th></tr>"
        "</thead><tbody>"
    )
    for p in sorted(result.problems, key=lambda p: not p.incomplete):
        effect = "incomplete" if p.incomplete else "skipped by design"
        out.append(
            f"<tr><td>{esc(p.reason.value)}</td><td><code>{esc(p.location.display)}</code></td>"
            f"<td>{esc(p.detail)}</td><td>{effect}</td></tr>"
        )
    out += ["</tbody></table>", "</section>"]
    return out


def _policy(result: ScanResult) -> list[str]:
    policy = result.policy
    if policy is None:
        return []
    files = ", ".join(f"<code>{esc(f)}</code>" for f in policy.files)
    rows = [
        ("Name", esc(policy.name)),
        ("Digest (sha256)", f"<code>{esc(policy.digest)}</code>"),
        ("Files", files),
        ("Packs", esc(", ".join(policy.packs))),
        ("Stores", esc(", ".join(policy.stores) or "-")),
        ("Rules enabled", str(len(policy.rules))),
        ("Evaluated at", esc(iso(policy.evaluated_at))),
    ]
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    out = ['<section id="policy"><h2>Policy</h2>', f"<dl>{body}</dl>"]
    if policy.expired_waivers:
        count = len(policy.expired_waivers)
        out.append(f'<h3 class="expired">Expired waivers ({count}): they fail the gate</h3><ul>')
        out += [f'<li class="expired">{esc(w)}</li>' for w in policy.expired_waivers]
        out.append("</ul>")
    if policy.unused_waivers:
        out.append(f"<h3>Unused waivers ({len(policy.unused_waivers)})</h3><ul>")
        out += [f"<li>{esc(w)}</li>" for w in policy.unused_waivers]
        out.append("</ul>")
    out.append("</section>")
    return out
