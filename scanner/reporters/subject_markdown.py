"""The subject search as Markdown: an answer to an access or erasure request, ready to paste.

Untrusted strings (paths, member names, store names) are escaped; no image, no vector.
"""

from __future__ import annotations

from scanner.reporters.findings import ALL_IN_JSON, iso
from scanner.reporters.subject_text import (
    HOW_TO_READ,
    MAX_ROWS,
    PRIVACY,
    match_when,
    places,
    searched,
    verdict,
    what,
)
from scanner.reporters.text import markdown_code, markdown_escape
from scanner.subject_results import SubjectResult


def render(result: SubjectResult, max_rows: int = MAX_ROWS) -> str:
    scan = result.scan
    out = [
        "# faceaudit subject search",
        "",
        f"faceaudit {markdown_code(scan.tool_version)}; {iso(scan.started_at)} to "
        f"{iso(scan.finished_at)}; targets: "
        + ", ".join(markdown_code(t) for t in scan.targets)
        + ".",
        "",
        f"**{markdown_escape(verdict(result))}**",
        "",
        markdown_escape(searched(result)),
        "",
        "## Where the face was found",
        "",
    ]
    if not result.matches:
        out += ["Nowhere.", ""]
    else:
        out += [
            "| # | Location | What | Distance | Confidence | Date | Places | Application |",
            "|---:|---|---|---:|---:|---|---|---|",
        ]
        for n, m in enumerate(result.matches[:max_rows], 1):
            out.append(
                f"| {n} | {markdown_code(m.location.display, in_table=True)} | "
                f"{_cell(what(m))} | {m.distance:.3f} | {m.confidence:.2f} | "
                f"{_cell(match_when(m))} | {_cell(places(m.context))} | {_cell(m.app or '')} |"
            )
        out += _more(len(result.matches), max_rows, "matches")
    out += ["## Not compared", ""]
    if not result.not_compared:
        out += ["Everything with face data was compared.", ""]
    else:
        out += ["| Location | Kind | Why | Makes the search incomplete |", "|---|---|---|---|"]
        for nc in result.not_compared[:max_rows]:
            where = f" ({nc.where})" if nc.where else ""
            out.append(
                f"| {markdown_code(nc.location.display + where, in_table=True)} | "
                f"{nc.kind.value} | {_cell(nc.reason)} | {'yes' if nc.blocking else 'no'} |"
            )
        out += _more(len(result.not_compared), max_rows, "items")
    problems = [p for p in scan.problems if p.incomplete]
    if problems:
        out += ["## Not scanned", "", "| Location | Reason | Detail |", "|---|---|---|"]
        for p in problems[:max_rows]:
            out.append(
                f"| {markdown_code(p.location.display, in_table=True)} | {p.reason.value} | "
                f"{_cell(p.detail)} |"
            )
        out += _more(len(problems), max_rows, "problems")
    out += ["## How to read this", "", markdown_escape(HOW_TO_READ), "", markdown_escape(PRIVACY)]
    return "\n".join(out).rstrip("\n") + "\n"


def _cell(text: str) -> str:
    return markdown_escape(text)


def _more(total: int, shown: int, what: str) -> list[str]:
    if total > shown:
        return ["", f"… and {total - shown} more {what} ({ALL_IN_JSON}).", ""]
    return [""]
