"""The HTML report's inline parts: its stylesheet, and SVG bar charts (no script, no external
asset, every label escaped; a row is a label and stacked segments: value, CSS class)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from scanner.model import TrendPoint
from scanner.reporters.text import terminal_safe

Segment = tuple[int, str]  # value, CSS class of its fill
Row = tuple[str, Sequence[Segment]]

WIDTH = 350
LABEL_WIDTH = 130
BAR_WIDTH = 180
ROW_HEIGHT = 24
MAX_LABEL = 18

CSS = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}
h2{margin:32px 0 12px;border-bottom:2px solid #d8dde5;padding-bottom:4px}
.meta{color:#4a5568;margin:0}
.verdict{padding:12px 16px;border-radius:6px;margin:16px 0;font-weight:600}
.verdict.fail{background:#fde8e8;border:1px solid #e0a0a0}
.verdict.pass{background:#e6f4ea;border:1px solid #9fd3ad}
.charts,.tables{display:flex;flex-wrap:wrap;gap:16px}
.chart{background:#fff;border:1px solid #d8dde5;border-radius:6px;margin:0;padding:8px 12px}
.chart figcaption{font-weight:600;margin-bottom:4px}
svg text{font:12px system-ui,sans-serif;fill:#1d2430}
table{border-collapse:collapse;background:#fff;margin:8px 0 16px;min-width:420px}
th,td{border:1px solid #d8dde5;padding:4px 10px;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
article{background:#fff;border:1px solid #d8dde5;border-left:6px solid #888;
  border-radius:6px;padding:10px 16px;margin:12px 0}
article h3{margin:4px 0 8px;font-size:17px}
dl{display:grid;grid-template-columns:160px 1fr;gap:4px 12px;margin:0}
dt{font-weight:600;color:#4a5568}
dd{margin:0}
code{font:13px ui-monospace,monospace;background:#eef1f5;padding:1px 4px;border-radius:3px;
  word-break:break-all;white-space:pre-wrap}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:700;
  color:#fff;text-transform:uppercase}
.disp{display:inline-block;border-radius:10px;padding:0 8px;border:1px solid #999}
.critical{background:#7b1020;fill:#7b1020}
.high{background:#c0392b;fill:#c0392b}
.medium{background:#d68910;fill:#d68910}
.low{background:#2e86c1;fill:#2e86c1}
.info{background:#7f8c8d;fill:#7f8c8d}
.open{fill:#c0392b}
.known{fill:#aab4c0}
article.sev-critical{border-left-color:#7b1020}
article.sev-high{border-left-color:#c0392b}
article.sev-medium{border-left-color:#d68910}
article.sev-low{border-left-color:#2e86c1}
article.sev-info{border-left-color:#7f8c8d}
.expired{color:#9b1c1c;font-weight:600}
.trend-line{fill:none;stroke:#1d2430;stroke-width:2}
.trend-point{fill:#1d2430}
.trend-point.incomplete{fill:#fff;stroke:#9b1c1c;stroke-width:2}
.new{fill:#c0392b}
.resolved{fill:#27ae60}
.axis{stroke:#aab4c0;stroke-width:1}
footer{color:#4a5568;font-size:13px;margin-top:32px}
"""


def _text(value: str) -> str:
    return html.escape(terminal_safe(value), quote=True)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def bar_chart(chart_id: str, title: str, rows: Sequence[Row]) -> str:
    """A horizontal stacked bar chart, scaled to the largest row total."""
    largest = max((sum(v for v, _ in segments) for _, segments in rows), default=0) or 1
    height = ROW_HEIGHT * len(rows) + 8
    out = [
        f'<figure class="chart" id="{chart_id}">',
        f"<figcaption>{_text(title)}</figcaption>",
        f'<svg role="img" aria-labelledby="{chart_id}-title" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}">',
        f'<title id="{chart_id}-title">{_text(title)}</title>',
    ]
    for index, (label, segments) in enumerate(rows):
        y = 4 + index * ROW_HEIGHT
        total = sum(v for v, _ in segments)
        out.append(f"<g><title>{_text(label)}: {total}</title>")
        out.append(
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">'
            f"{_text(_short(label))}</text>"
        )
        x = float(LABEL_WIDTH)
        for value, css in segments:
            if value <= 0:
                continue
            width = BAR_WIDTH * value / largest
            out.append(
                f'<rect class="{css}" x="{x:.1f}" y="{y + 3}" width="{width:.1f}" '
                f'height="{ROW_HEIGHT - 6}"/>'
            )
            x += width
        out.append(f'<text class="value" x="{x + 6:.1f}" y="{y + 16}">{total}</text></g>')
    out += ["</svg>", "</figure>"]
    return "\n".join(out)


TREND_WIDTH = 720
TREND_HEIGHT = 220
TREND_LEFT = 44
TREND_TOP = 30
TREND_BOTTOM = 36


def trend_chart(points: Sequence[TrendPoint]) -> str:
    """Open findings per recorded scan as a line (a hollow point: an incomplete scan), with the
    new findings of each scan as a bar above the axis and the resolved ones below it."""
    plot_w = TREND_WIDTH - TREND_LEFT - 12
    plot_h = TREND_HEIGHT - TREND_TOP - TREND_BOTTOM
    top = max([1, *(max(p.findings_open, p.new_findings, p.resolved_findings) for p in points)])
    step = (plot_w - 40) / max(len(points) - 1, 1)
    base = TREND_TOP + plot_h

    def x(i: int) -> float:
        return TREND_LEFT + 20 + (i * step if len(points) > 1 else plot_w / 2 - 20)

    def y(v: int) -> float:
        return base - plot_h * v / top

    bar = max(min(step / 4, 12.0), 2.0)
    out = [
        '<figure class="chart" id="trend">',
        "<figcaption>Open findings per scan of these targets</figcaption>",
        f'<svg role="img" aria-labelledby="trend-title" width="{TREND_WIDTH}" '
        f'height="{TREND_HEIGHT}" viewBox="0 0 {TREND_WIDTH} {TREND_HEIGHT}">',
        '<title id="trend-title">Open findings per scan</title>',
        f'<line class="axis" x1="{TREND_LEFT}" y1="{base}" x2="{TREND_LEFT + plot_w}" '
        f'y2="{base}"/>',
        f'<text x="{TREND_LEFT - 6}" y="{TREND_TOP + 10}" text-anchor="end">{top}</text>',
        f'<text x="{TREND_LEFT - 6}" y="{base + 4}" text-anchor="end">0</text>',
    ]
    for i, p in enumerate(points):
        cx = x(i)
        for value, css, left in (
            (p.new_findings, "new", cx - bar),
            (p.resolved_findings, "resolved", cx),
        ):
            if value:
                h = (plot_h / 2) * value / top
                out.append(
                    f'<rect class="{css}" x="{left:.1f}" y="{base - h:.1f}" '
                    f'width="{bar:.1f}" height="{h:.1f}"/>'
                )
    if len(points) > 1:
        path = " ".join(f"{x(i):.1f},{y(p.findings_open):.1f}" for i, p in enumerate(points))
        out.append(f'<polyline class="trend-line" points="{path}"/>')
    for i, p in enumerate(points):
        css = "trend-point incomplete" if p.incomplete else "trend-point"
        label = (
            f"scan {p.scan_id}, {p.started_at[:19]}: {p.findings_open} open, "
            f"{p.new_findings} new, {p.resolved_findings} resolved; "
            f"{p.items_with_evidence} items with face data, {p.faces} faces, "
            f"{p.embeddings} embeddings" + (" (incomplete scan)" if p.incomplete else "")
        )
        out.append(
            f'<g><title>{_text(label)}</title><circle class="{css}" cx="{x(i):.1f}" '
            f'cy="{y(p.findings_open):.1f}" r="4"/></g>'
        )
    lx = float(TREND_LEFT)
    for css, name, shape in (
        ("trend-point", "open findings", "circle"),
        ("trend-point incomplete", "incomplete scan", "circle"),
        ("new", "new findings", "rect"),
        ("resolved", "resolved findings", "rect"),
    ):
        if shape == "circle":
            out.append(f'<circle class="{css} legend" cx="{lx + 5:.1f}" cy="8" r="4"/>')
        else:
            out.append(f'<rect class="{css} legend" x="{lx:.1f}" y="3" width="10" height="10"/>')
        out.append(f'<text x="{lx + 14:.1f}" y="12">{name}</text>')
        lx += 14 + 7 * len(name) + 14
    first, last = points[0], points[-1]
    out.append(f'<text x="{x(0):.1f}" y="{TREND_HEIGHT - 4}">{_text(first.started_at[:10])}</text>')
    if len(points) > 1:
        out.append(
            f'<text x="{x(len(points) - 1):.1f}" y="{TREND_HEIGHT - 4}" text-anchor="end">'
            f"{_text(last.started_at[:10])}</text>"
        )
    out += ["</svg>", "</figure>"]
    return "\n".join(out)
