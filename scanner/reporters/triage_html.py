"""The breach triage as one self-contained HTML page (no script, no asset, no image)."""

from __future__ import annotations

from scanner.reporters.findings import iso
from scanner.reporters.html import esc
from scanner.reporters.html_parts import Row, bar_chart
from scanner.reporters.subject_html import page, table
from scanner.reporters.subject_text import (
    FOOTNOTE,
    ITEM_COLUMNS,
    ITEM_NUMBERS,
    MAX_ROWS,
    categories,
    date_range,
    item_rows,
    items,
    named,
    people,
    rest,
    summary_rows,
)
from scanner.subject_results import Count, TriageResult

CONTROLLER = "to be completed by the controller"


def render(t: TriageResult, max_rows: int = MAX_ROWS) -> str:
    scan = t.scan
    state = "complete" if not scan.incomplete else "incomplete: see Not scanned"
    biometric = " (special category, Art 9)" if t.templates else ""
    cats = categories(t) or [("No face data found", "0")]
    body = [
        "<h1>faceaudit breach triage</h1>",
        f'<p class="meta">faceaudit {esc(scan.tool_version)} · {scan.stats.items_scanned} '
        f"items scanned · {iso(scan.started_at)} to {iso(scan.finished_at)} · targets: "
        f"{esc(', '.join(scan.targets))}</p>",
        f'<p class="verdict {"fail" if scan.items or scan.incomplete else "pass"}" '
        f'id="verdict">Exit code {int(t.exit_code)}; the scan is {esc(state)}.</p>',
        '<section id="art33"><h2>For the notification (GDPR Art 33(3))</h2><dl>',
        f"<dt>Data subjects</dt><dd>{esc(people(t.people))}</dd>",
        f"<dt>Records</dt><dd>about {t.records}</dd>",
        "<dt>Categories</dt><dd><ul>"
        + "".join(f"<li>{esc(c)}: {esc(n)}</li>" for c, n in cats)
        + "</ul></dd>",
        f"<dt>Data subjects are</dt><dd>people whose faces or face templates are stored"
        f"{esc(biometric)}; {esc(named(t))}</dd>",
        f"<dt>Jurisdictions</dt><dd>{esc(_list(t.countries))}</dd>",
        f"<dt>Dates of the data</dt><dd>{esc(date_range(t))}</dd>",
        f"<dt>Applications</dt><dd>{esc(_list(t.applications))}</dd>",
        f"<dt>DPO, consequences, measures</dt><dd>{CONTROLLER}</dd>",
        "</dl></section>",
        '<section id="summary"><h2>Summary</h2>',
    ]
    body += table(("", "Count"), summary_rows(t), {1})
    charts = [
        (label, counts)
        for label, counts in (
            ("Jurisdictions (items)", t.countries),
            ("Applications (items)", t.applications),
            ("Templates by model", t.families),
        )
        if counts
    ]
    if charts:
        body.append('<div class="charts">')
        for n, (label, counts) in enumerate(charts):
            bars: list[Row] = [(c.label, [(c.count, "low")]) for c in counts[:12]]
            body.append(bar_chart(f"chart-{n}", label, bars))
        body.append("</div>")
    body.append("</section>")
    body.append('<section id="items"><h2>Items with face data</h2>')
    listed = item_rows(t, max_rows)
    body += table(ITEM_COLUMNS, listed, ITEM_NUMBERS) if listed else ["<p>None.</p>"]
    if rest(t, max_rows):
        body.append(f"<p>{esc(rest(t, max_rows))}</p>")
    body.append("</section>")
    problems = [p for p in scan.problems if p.incomplete]
    if problems:
        failed = [(p.location.display, p.reason.value, p.detail) for p in problems[:max_rows]]
        body += ['<section id="problems"><h2>Not scanned</h2>']
        body += [*table(("Location", "Reason", "Detail"), failed, set()), "</section>"]
    body.append(
        f"<footer>{esc(FOOTNOTE)} This page holds counts and locations only: no face image, "
        "crop, template or name.</footer>"
    )
    return page("faceaudit breach triage", body)


def _list(counts: tuple[Count, ...]) -> str:
    if not counts:
        return "none found"
    return ", ".join(f"{c.label} ({items(c.count)})" for c in counts)
