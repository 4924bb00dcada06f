"""Reporters, keyed by format. Each is a pure function of a ScanResult."""

from __future__ import annotations

import enum
from collections.abc import Callable

from scanner.model import ScanResult
from scanner.reporters import console, csv_report, html, json_report, junit, markdown, sarif


class Format(str, enum.Enum):
    CONSOLE = "console"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    CSV = "csv"
    MARKDOWN = "markdown"
    HTML = "html"


REPORTERS: dict[Format, Callable[[ScanResult], str]] = {
    Format.CONSOLE: console.render,
    Format.JSON: json_report.render,
    Format.SARIF: sarif.render,
    Format.JUNIT: junit.render,
    Format.CSV: csv_report.render,
    Format.MARKDOWN: markdown.render,
    Format.HTML: html.render,
}


def render(result: ScanResult, fmt: Format) -> str:
    return REPORTERS[fmt](result)
