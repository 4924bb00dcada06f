"""ISO-8601 durations for retention periods (`P30D`, `P3Y`, `P1Y6M`, `P2W`), calendar-exact.

Only dates matter for retention, so time parts (`PT12H`) are rejected rather than rounded.
Adding `P1M` to 31 January gives the last day of February, as a calendar does.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_ISO = re.compile(r"\AP(?!\Z)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?\Z")
# A short form for the command line: `30d`, `2w`, `6m`, `1y` (m: months; dates only).
_SHORT = re.compile(r"\A(\d+)\s*([dwmy])\Z")


@dataclass(frozen=True)
class Duration:
    """Not ordered: P1M and P30D compare only against a start date (`after`)."""

    years: int = 0
    months: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        m = _ISO.match(text.strip().upper())
        if m is None:
            raise ValueError(
                f"{text!r} is not an ISO-8601 duration in days, weeks, months or years "
                "(e.g. P30D, P2W, P6M, P3Y, P1Y6M)"
            )
        y, mo, w, d = (int(g) if g else 0 for g in m.groups())
        return cls(y, mo, w * 7 + d)

    @classmethod
    def parse_window(cls, text: str) -> Duration:
        """A window from the command line: `30d`, `2w`, `6m`, `1y`, or ISO 8601 (`P30D`)."""
        m = _SHORT.match(text.strip().lower())
        if m is None:
            try:
                return cls.parse(text)
            except ValueError:
                raise ValueError(
                    f"{text!r} is not a duration: use days, weeks, months or years, e.g. 30d, "
                    "2w, 6m, 1y (or ISO 8601: P30D, P1Y6M)"
                ) from None
        n, unit = int(m.group(1)), m.group(2)
        if unit == "d":
            return cls(days=n)
        if unit == "w":
            return cls(days=7 * n)
        return cls(months=n) if unit == "m" else cls(years=n)

    def after(self, start: datetime) -> datetime:
        """The moment this duration after `start` (calendar arithmetic, day clamped)."""
        month_index = start.month - 1 + self.months + 12 * self.years
        year, month = start.year + month_index // 12, month_index % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(days=self.days)

    @property
    def iso(self) -> str:
        parts = [
            f"{v}{u}" for v, u in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if v
        ]
        return "P" + ("".join(parts) or "0D")

    @property
    def words(self) -> str:
        parts = []
        for v, unit in ((self.years, "year"), (self.months, "month"), (self.days, "day")):
            if v:
                parts.append(f"{v} {unit}{'s' if v != 1 else ''}")
        return ", ".join(parts) or "0 days"
