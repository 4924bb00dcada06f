"""The breach triage as Markdown: what a GDPR Art 33 notification asks for, first."""

from __future__ import annotations

from scanner.reporters.findings import iso
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
from scanner.reporters.text import markdown_code, markdown_escape
from scanner.subject_results import Count, TriageResult

CONTROLLER = "to be completed by the controller"


def render(t: TriageResult, max_rows: int = MAX_ROWS) -> str:
    scan = t.scan
    state = "complete" if not scan.incomplete else "INCOMPLETE (see Not scanned)"
    out = [
        "# faceaudit breach triage",
        "",
        f"faceaudit {markdown_code(scan.tool_version)}; {iso(scan.started_at)} to "
        f"{iso(scan.finished_at)}; targets: "
        + ", ".join(markdown_code(x) for x in scan.targets)
        + f"; {scan.stats.items_scanned} items scanned; the scan is {state} "
        f"(exit code {int(t.exit_code)}).",
        "",
        "## For the notification (GDPR Art 33(3))",
        "",
        "- **Approximate number of data subjects concerned:** "
        f"{markdown_escape(people(t.people))}.",
        f"- **Approximate number of personal data records concerned:** {t.records}.",
        "- **Categories of personal data and of records:**",
    ]
    for category, number in categories(t) or [("No face data found", "0")]:
        out.append(f"  - {markdown_escape(category)}: {markdown_escape(number)}")
    biometric = " (special category, Art 9)" if t.templates else ""
    out += [
        f"- **Categories of data subjects:** people whose faces or face templates are stored"
        f"{biometric}; {markdown_escape(named(t))}.",
        f"- **Jurisdictions (from GPS positions and country columns):** {_list(t.countries)}.",
        f"- **Dates of the data:** {markdown_escape(date_range(t))}.",
        f"- **Applications recognised:** {_list(t.applications)}.",
        f"- Contact of the DPO, likely consequences, measures taken or proposed: {CONTROLLER}.",
        "",
        "## Summary",
        "",
        "| | |",
        "|---|---:|",
        *(f"| {markdown_escape(k)} | {markdown_escape(v)} |" for k, v in summary_rows(t)),
        "",
    ]
    if t.families:
        out += ["## Face templates by model", "", "| Model | Templates |", "|---|---:|"]
        out += [f"| {markdown_escape(c.label)} | {c.count} |" for c in t.families]
        out.append("")
    out += ["## Items with face data", ""]
    if not scan.items:
        out += ["None.", ""]
    else:
        out += [
            "| " + " | ".join(ITEM_COLUMNS) + " |",
            "|" + "|".join("---:" if n in ITEM_NUMBERS else "---" for n in range(8)) + "|",
        ]
        for loc, *cells in item_rows(t, max_rows):
            out.append(
                f"| {markdown_code(loc, in_table=True)} | "
                + " | ".join(markdown_escape(c) for c in cells)
                + " |"
            )
        if rest(t, max_rows):
            out.append(f"\n{markdown_escape(rest(t, max_rows))}")
        out.append("")
    problems = [p for p in scan.problems if p.incomplete]
    if problems:
        out += ["## Not scanned", "", "| Location | Reason | Detail |", "|---|---|---|"]
        out += [
            f"| {markdown_code(p.location.display, in_table=True)} | {p.reason.value} | "
            f"{markdown_escape(p.detail)} |"
            for p in problems[:max_rows]
        ]
        out.append("")
    out.append(FOOTNOTE)
    return "\n".join(out).rstrip("\n") + "\n"


def _list(counts: tuple[Count, ...]) -> str:
    if not counts:
        return "none found"
    return ", ".join(f"{markdown_escape(c.label)} ({items(c.count)})" for c in counts)
