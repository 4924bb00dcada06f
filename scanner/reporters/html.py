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

from scanner.model import (
    ActionStatus,
    Disposition,
    Finding,
    ItemResult,
    Location,
    ScanResult,
    Severity,
)
from scanner.reporters.findings import (
    ALL_IN_JSON,
    action_groups,
    age_days,
    count_by,
    due_of,
    evidence_text,
    fact_text,
    is_failing,
    iso,
    items_by_location,
    legal_basis,
    more_rows_text,
    owner_of,
    reported_findings,
    retention_text,
    row_text,
    shown_rows,
    web_uri,
    when_text,
    without_findings,
)
from scanner.reporters.html_parts import CSS, Row, bar_chart, trend_chart
from scanner.reporters.text import terminal_safe

MAX_FINDINGS = 2_000  # --format json lists all
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'"
)


# The action list's styles (the shared stylesheet is html_parts.CSS)
ACTIONS_CSS = """
#actions{background:#fff;border:1px solid #d8dde5;border-radius:6px;padding:4px 16px 8px}
#actions h2{margin-top:12px}
h3.owner{margin:16px 0 4px;font-size:16px}
table.actions{width:100%;table-layout:fixed}
table.actions th:nth-child(1){width:18%}
table.actions th:nth-child(2){width:38%}
table.actions th:nth-child(3){width:23%}
.action .when{overflow-wrap:anywhere}
.action.overdue .when{color:#9b1c1c;font-weight:700}
.action.due .when{color:#8a5a00;font-weight:600}
"""


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
        f"<style>{CSS}{ACTIONS_CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        *_header(result, title),
        *_actions(result),
        *_summary(result, findings),
        *_trend(result),
        *_findings(result, findings[:max_findings], items, now),
    ]
    if len(findings) > max_findings:
        rest = len(findings) - max_findings
        parts.append(f"<p>… and {rest} more findings: <code>{ALL_IN_JSON}</code>.</p>")
    parts += [*_due(result, items, now), *_without_findings(result, now)]
    parts += [*_problems(result), *_policy(result)]
    parts += [
        "<footer>This report holds counts, digests and locations: never a face image, a crop "
        "or a face template.</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _actions(result: ScanResult) -> list[str]:
    """What to delete or fix, by whom (the store's owner) and by when, before the charts:
    grouped by owner and store, each group sorted by deadline (the soonest group first)."""
    if result.policy is None:
        return []
    out = ['<section id="actions"><h2>Actions</h2>']
    if not result.actions:
        out.append("<p>Nothing to do: no open finding, and nothing falls due.</p>")
        out.append("</section>")
        return out
    overdue = sum(a.status is ActionStatus.OVERDUE for a in result.actions)
    due = sum(a.status is ActionStatus.DUE for a in result.actions)
    out.append(
        f'<p id="action-count" data-count="{len(result.actions)}">{len(result.actions)} '
        f"actions: {overdue} overdue, {len(result.actions) - overdue - due} to do now, "
        f"{due} falling due. Findings of laws that ask the same thing of an item (GDPR and UK "
        "GDPR, say) are one action.</p>"
    )
    for owner, store, actions in action_groups(result):
        who = esc(owner) if owner is not None else "no owner declared"
        where = f"store {esc(store)}" if store is not None else "no declared store"
        out.append(f'<h3 class="owner">{who} · {where}</h3>')
        out.append(
            '<table class="actions"><thead><tr><th>By when</th><th>What</th><th>Where</th>'
            "<th>Why</th></tr></thead><tbody>"
        )
        for a in actions:
            sev = a.severity.label
            known = " (in the baseline)" if a.known else ""
            rules = ", ".join(
                f'<a href="#f-{esc(fp)}">{esc(r)}</a>'
                if a.status is not ActionStatus.DUE
                else esc(r)
                for r, fp in zip(a.rule_ids, a.fingerprints, strict=False)
            )
            out.append(
                f'<tr class="action {a.status.value}"><td class="when">{esc(when_text(a))}'
                f"{known}</td><td><strong>{esc(a.title)}</strong><div>{esc(a.remediation)}</div></td>"
                f"<td><code>{esc(a.location.display)}</code></td>"
                f'<td><span class="badge {sev}">{sev}</span> {rules}'
                f"<div>{esc('; '.join(a.citations))}</div></td></tr>"
            )
        out.append("</tbody></table>")
    out.append("</section>")
    return out


def _due(result: ScanResult, items: Mapping[Location, ItemResult], now: datetime) -> list[str]:
    policy = result.policy
    if policy is None or policy.due_within is None:
        return []
    out = [f'<section id="due"><h2>Falling due within {esc(policy.due_within)}</h2>']
    if not result.due:
        out.append("<p>Nothing falls due in this window.</p></section>")
        return out
    out.append(
        "<table><thead><tr><th>Deadline</th><th>Location</th><th>Store</th><th>Owner</th>"
        "<th>Rule</th><th>What will be broken</th></tr></thead><tbody>"
    )
    for d in result.due:
        f = d.finding
        cells = (
            d.deadline.isoformat(),
            None,
            _store(f),
            owner_of(f.store, result) or "-",
            f"{f.rule_id} ({'; '.join(f.citations)})",
            f.message,
        )
        out.append(
            "<tr>"
            + "".join(
                f"<td><code>{esc(f.location.display)}</code></td>"
                if c is None
                else f"<td>{esc(c)}</td>"
                for c in cells
            )
            + "</tr>"
        )
    out += ["</tbody></table>", "</section>"]
    return out


def _without_findings(result: ScanResult, now: datetime) -> list[str]:
    rest = without_findings(result)
    if not rest:
        return []
    out = [
        f'<section id="no-finding"><h2>Face data with no finding ({len(rest)})</h2>',
        "<p>The policy allows these items (or no rule applies to them); they are part of the "
        "inventory.</p>",
        "<table><thead><tr><th>Location</th><th>Evidence</th><th>Store</th><th>Owner</th>"
        "<th>Falls due</th></tr></thead><tbody>",
    ]
    assert result.policy is not None
    for item in rest:
        store = result.policy.store_of(item.location)
        due = due_of(item, result)
        out.append(
            f"<tr><td><code>{esc(item.location.display)}</code></td>"
            f"<td>{esc(evidence_text(item))}</td><td>{esc(store or '-')}</td>"
            f"<td>{esc(owner_of(store, result) or '-')}</td>"
            f"<td>{esc(due.isoformat()) if due is not None else '-'}</td></tr>"
        )
    out += ["</tbody></table>", "</section>"]
    return out


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
        f"{by['waived']} waived, {by['baseline']} in the baseline"
        + (f", {by['held']} held by a legal hold" if by["held"] else "")
        + ".</p>",
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
    basis = legal_basis(f, result)
    owner = owner_of(f.store, result)
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
        ("Legal basis", esc(basis) if basis is not None else "-"),
        ("Citation", citation),
        ("Remediation", esc(f.remediation)),
        ("Law, store", f"{esc(f.pack)}, {esc(_store(f))}"),
        ("Owner", esc(owner) if owner is not None else "-"),
    ]
    if context is not None and (context.platforms or context.countries):
        where = ", ".join((*context.platforms, *context.countries))
        rows.append(("Provenance, places", esc(where)))
    facts = [(k, v) for k, v in f.facts if k not in ("basis", "legal_basis", "age_days")]
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
        ("Due within", esc(policy.due_within) if policy.due_within else "not asked (--due-within)"),
        ("Rules enabled", str(len(policy.rules))),
        ("Evaluated at", esc(iso(policy.evaluated_at))),
    ]
    body = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    out = ['<section id="policy"><h2>Policy</h2>', f"<dl>{body}</dl>"]
    if policy.store_details:
        out.append(
            '<h3>Declared stores</h3><table id="stores"><thead><tr><th>Store</th><th>Owner</th>'
            "<th>Purpose</th><th>Legal basis</th><th>Retention</th></tr></thead><tbody>"
        )
        for st in policy.store_details:
            cells = (st.id, st.owner or "-", st.purpose or "-", ", ".join(st.legal_basis) or "-")
            out.append(
                "<tr>"
                + "".join(f"<td>{esc(c)}</td>" for c in cells)
                + f"<td>{esc(retention_text(st))}</td></tr>"
            )
        out.append("</tbody></table>")
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
