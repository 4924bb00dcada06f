"""Reporters, keyed by format. Each is a pure function of a ScanResult, in a module of its own
that is imported when its format is asked for (a scan pays for the one it renders)."""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from scanner.model import ScanResult


class Format(str, enum.Enum):
    CONSOLE = "console"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    CSV = "csv"
    MARKDOWN = "markdown"
    HTML = "html"


# format -> the module whose `render(result) -> str` writes it
REPORTERS: dict[Format, str] = {
    Format.CONSOLE: "scanner.reporters.console",
    Format.JSON: "scanner.reporters.json_report",
    Format.SARIF: "scanner.reporters.sarif",
    Format.JUNIT: "scanner.reporters.junit",
    Format.CSV: "scanner.reporters.csv_report",
    Format.MARKDOWN: "scanner.reporters.markdown",
    Format.HTML: "scanner.reporters.html",
}


def reporter(fmt: Format) -> Callable[[ScanResult], str]:
    return cast("Callable[[ScanResult], str]", importlib.import_module(REPORTERS[fmt]).render)


def render(result: ScanResult, fmt: Format) -> str:
    return reporter(fmt)(result)
