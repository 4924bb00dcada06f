"""Reporters, keyed by format. Each is a pure function of a ScanResult."""

from __future__ import annotations

import enum
from collections.abc import Callable

from scanner.model import ScanResult
from scanner.reporters import console, json_report


class Format(str, enum.Enum):
    CONSOLE = "console"
    JSON = "json"


REPORTERS: dict[Format, Callable[[ScanResult], str]] = {
    Format.CONSOLE: console.render,
    Format.JSON: json_report.render,
}


def render(result: ScanResult, fmt: Format) -> str:
    return REPORTERS[fmt](result)
