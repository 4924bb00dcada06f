"""The subject search as one self-contained HTML page (no script, no external asset, no image:
a strict Content-Security-Policy), for answering an access or erasure request."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scanner.reporters.findings import ALL_IN_JSON, iso
from scanner.reporters.html import CSP, esc
from scanner.reporters.html_parts import CSS
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
from scanner.subject_results import SubjectResult


def page(title: str, body: Iterable[str]) -> str:
    """The shell every faceaudit page shares: inline styles, nothing fetched."""
    return (
        "\n".join(
            [
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
                *body,
                "</main>",
                "</body>",
                "</html>",
            ]
        )
        + "\n"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> list[str]:
    """A table of escaped cells (`rows` are plain text); columns in `numeric` align right."""
    out = ["<table>", "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"]
    for row in rows:
        cells = (
            f'<td class="n">{esc(c)}</td>' if i in numeric else f"<td>{esc(c)}</td>"
            for i, c in enumerate(row)
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    return [*out, "</table>"]


def render(result: SubjectResult, max_rows: int = MAX_ROWS) -> str:
    scan = result.scan
    state = "fail" if result.found or result.incomplete else "pass"
    body = [
        "<h1>faceaudit subject search</h1>",
        f'<p class="meta">faceaudit {esc(scan.tool_version)} · {iso(scan.started_at)} to '
        f"{iso(scan.finished_at)} · targets: {esc(', '.join(scan.targets))}</p>",
        f'<p class="verdict {state}" id="verdict">{esc(verdict(result))}</p>',
        f"<p>{esc(searched(result))}</p>",
        '<section id="matches"><h2>Where the face was found</h2>',
    ]
    if not result.matches:
        body.append("<p>Nowhere.</p>")
    else:
        found: list[tuple[str, ...]] = [
            (
                str(n),
                m.location.display,
                what(m),
                f"{m.distance:.3f}",
                f"{m.confidence:.2f}",
                match_when(m),
                places(m.context),
                m.app or "",
            )
            for n, m in enumerate(result.matches[:max_rows], 1)
        ]
        headers = ("#", "Location", "What", "Distance", "Confidence", "Date", "Places", "App")
        body += table(headers, found, {0, 3, 4})
        body += _more(len(result.matches), max_rows)
    body.append("</section>")
    body.append('<section id="not-compared"><h2>Not compared</h2>')
    if not result.not_compared:
        body.append("<p>Everything with face data was compared.</p>")
    else:
        gaps: list[tuple[str, ...]] = [
            (
                n.location.display + (f" ({n.where})" if n.where else ""),
                n.kind.value,
                n.reason,
                "yes" if n.blocking else "no",
            )
            for n in result.not_compared[:max_rows]
        ]
        body += table(("Location", "Kind", "Why", "Makes the search incomplete"), gaps, set())
        body += _more(len(result.not_compared), max_rows)
    body.append("</section>")
    problems = [p for p in scan.problems if p.incomplete]
    if problems:
        failed = [(p.location.display, p.reason.value, p.detail) for p in problems[:max_rows]]
        body += ['<section id="problems"><h2>Not scanned</h2>']
        body += table(("Location", "Reason", "Detail"), failed, set())
        body += [*_more(len(problems), max_rows), "</section>"]
    body += [
        "<h2>How to read this</h2>",
        f"<p>{esc(HOW_TO_READ)}</p>",
        f"<footer>{esc(PRIVACY)}</footer>",
    ]
    return page("faceaudit subject search", body)


def _more(total: int, shown: int) -> list[str]:
    if total > shown:
        return [f"<p>… and {total - shown} more: {ALL_IN_JSON}.</p>"]
    return []
