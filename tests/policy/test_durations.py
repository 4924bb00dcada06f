"""Retention periods: ISO-8601 durations in days, weeks, months and years, added the way a
calendar adds them (31 January + 1 month = the last day of February)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.policy.checks.retention_exceeded import RetentionExceeded
from scanner.policy.declarations import Retention
from scanner.policy.durations import Duration

UTC = timezone.utc


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", Duration(days=30)),
        ("P2W", Duration(days=14)),
        ("P1W2D", Duration(days=9)),
        ("P6M", Duration(months=6)),
        ("P3Y", Duration(years=3)),
        ("P1Y6M", Duration(years=1, months=6)),
        ("P1Y2M3W4D", Duration(1, 2, 25)),
        ("P0D", Duration()),
        ("p1m", Duration(months=1)),  # case-insensitive
        (" P2Y ", Duration(years=2)),  # surrounding blanks are ignored
    ],
)
def test_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "P",  # a designator with nothing after it
        "PT1H",  # time parts are refused, not rounded: retention is counted in days
        "P1DT12H",
        "PT0S",
        "P1H",
        "P1S",
        "30D",  # no leading P
        "1Y",
        "P-1D",  # no negative periods
        "P1.5Y",  # no fractions
        "P1,5Y",
        "P1D2M",  # units out of order
        "P1Y1Y",  # a unit twice
        "P 1D",
        "P1Y 6M",
        "30 days",
        "three years",
    ],
)
def test_invalid_forms_are_refused_with_the_accepted_ones(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an ISO-8601 duration.*P30D, P2W, P6M, P3Y"):
        Duration.parse(text)


@pytest.mark.parametrize(
    ("duration", "start", "end"),
    [
        # months clamp to the last day of the target month
        ("P1M", at(2025, 1, 31), at(2025, 2, 28)),
        ("P1M", at(2024, 1, 31), at(2024, 2, 29)),  # leap year
        ("P1M", at(2025, 3, 31), at(2025, 4, 30)),
        ("P1M", at(2025, 12, 15), at(2026, 1, 15)),  # across the year end
        ("P12M", at(2025, 5, 5), at(2026, 5, 5)),
        ("P13M", at(2025, 1, 31), at(2026, 2, 28)),
        # years: 29 February becomes 28 February in a common year
        ("P3Y", at(2022, 6, 30), at(2025, 6, 30)),
        ("P3Y", at(2024, 2, 29), at(2027, 2, 28)),
        ("P4Y", at(2024, 2, 29), at(2028, 2, 29)),
        ("P1Y6M", at(2024, 8, 31), at(2026, 2, 28)),
        # weeks and days are exact
        ("P2W", at(2025, 12, 25), at(2026, 1, 8)),
        ("P30D", at(2025, 2, 1), at(2025, 3, 3)),
        ("P30D", at(2024, 2, 1), at(2024, 3, 2)),
        # months first, then days: 31 Jan + 1 month = 28 Feb, + 1 day = 1 Mar
        ("P1M1D", at(2025, 1, 31), at(2025, 3, 1)),
        ("P0D", at(2025, 7, 1), at(2025, 7, 1)),
    ],
)
def test_after_is_calendar_arithmetic(duration: str, start: datetime, end: datetime) -> None:
    assert Duration.parse(duration).after(start) == end


def test_after_keeps_the_time_of_day_and_the_time_zone() -> None:
    cet = timezone(timedelta(hours=1))
    start = datetime(2025, 1, 31, 23, 59, 58, tzinfo=cet)
    result = Duration.parse("P1M").after(start)
    assert result == datetime(2025, 2, 28, 23, 59, 58, tzinfo=cet)
    assert result.tzinfo is cet


@given(
    start=st.dates(min_value=date(1970, 1, 1), max_value=date(2100, 12, 31)),
    years=st.integers(0, 10),
    months=st.integers(0, 36),
    days=st.integers(0, 1000),
)
def test_after_never_goes_back_and_lands_in_the_right_month(
    start: date, years: int, months: int, days: int
) -> None:
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    months_only = Duration(years, months, 0).after(begin)
    year, month0 = divmod(begin.year * 12 + begin.month - 1 + years * 12 + months, 12)
    assert (months_only.year, months_only.month) == (year, month0 + 1)
    # the same day of the month, or the month's last day when it is shorter: never spills over
    assert months_only.day == min(begin.day, calendar.monthrange(year, month0 + 1)[1])
    assert Duration(years, months, days).after(begin) == months_only + timedelta(days=days)
    assert Duration(years, months, days).after(begin) >= begin


@pytest.mark.parametrize(
    ("text", "iso", "words"),
    [
        ("P30D", "P30D", "30 days"),
        ("P2W", "P14D", "14 days"),
        ("P1Y", "P1Y", "1 year"),
        ("P3Y", "P3Y", "3 years"),
        ("P1Y6M", "P1Y6M", "1 year, 6 months"),
        ("P1M1D", "P1M1D", "1 month, 1 day"),
        ("P0D", "P0D", "0 days"),
    ],
)
def test_iso_and_words(text: str, iso: str, words: str) -> None:
    d = Duration.parse(text)
    assert (d.iso, d.words) == (iso, words)
    assert Duration.parse(d.iso) == d  # the normal form parses back to the same duration


def test_the_schema_normalises_and_validates_periods() -> None:
    retention = Retention.model_validate({"period": " p2w ", "from": "end_of_purpose"})
    assert retention.period == "P2W"
    assert retention.duration == Duration(days=14)
    assert retention.starts == "end_of_purpose"
    rule = RetentionExceeded.model_validate(
        {
            "id": "T-1",
            "check": "retention_exceeded",
            "severity": "high",
            "title": "t",
            "citations": ["c"],
            "remediation": "r",
            "max_period": "p3y",
            "from": "last_interaction",
        }
    )
    assert (rule.max_period, rule.starts) == ("P3Y", "last_interaction")
    with pytest.raises(ValueError, match="not an ISO-8601 duration"):
        Retention.model_validate({"period": "PT12H"})
