"""Country and region values as databases store them; the role of the column decides."""

from __future__ import annotations

import pytest

from scanner.reference.countries import ALPHA2, format_counts, normalise, parse_counts


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GB", ("GB", None)),
        ("gb", ("GB", None)),
        (" fr ", ("FR", None)),
        ("United Kingdom", ("GB", None)),
        ("UK", ("GB", None)),
        ("united states", ("US", None)),
        ("USA", ("US", None)),
        ("Germany", ("DE", None)),
        ("Ireland", ("IE", None)),
        ("CA", ("CA", None)),  # Canada, in a country column
        ("IL", ("IL", None)),  # Israel, in a country column
        ("Scotland", ("GB", "GB-SCT")),
        ("US-IL", ("US", "US-IL")),  # a subdivision code names its country
    ],
)
def test_country_column_values(value: str, expected: tuple[str, str | None]) -> None:
    assert normalise(value, "country") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("IL", ("US", "US-IL")),
        ("Illinois", ("US", "US-IL")),
        ("texas", ("US", "US-TX")),
        ("CA", ("US", "US-CA")),  # California, in a state column
        ("Washington", ("US", "US-WA")),
        ("US-WA", ("US", "US-WA")),
        ("DE-BY", ("DE", "DE-BY")),
        ("Northern Ireland", ("GB", "GB-NIR")),
    ],
)
def test_region_column_values(value: str, expected: tuple[str, str | None]) -> None:
    assert normalise(value, "region") == expected


@pytest.mark.parametrize(
    ("value", "role"),
    [
        ("Narnia", "country"),
        ("EU", "country"),  # not a country
        ("British", "country"),  # demonyms are not read
        ("GBR", "country"),  # nor alpha-3 codes
        ("", "country"),
        ("active", "region"),  # a workflow state
        ("eu-west-1", "region"),  # a cloud region
        ("Bavaria", "region"),  # only US states and UK nations by name
        ("ZZ-01", "region"),
        (42, "country"),
        (None, "region"),
    ],
)
def test_unrecognised_values(value: object, role: str) -> None:
    assert normalise(value, role) is None


def test_table_has_every_country_once() -> None:
    assert len(ALPHA2) >= 245 and {"GB", "US", "FR", "IE", "DE", "XK"} <= ALPHA2


def test_counts_round_trip() -> None:
    entries = [("GB", None, 3), ("FR", None, 2), ("US", "US-IL", 4)]
    assert format_counts(entries) == "GB:3,FR:2,US-IL:4"
    assert parse_counts(format_counts(entries)) == entries
    assert parse_counts("GB:x,QQ:2,:3,US-IL:1") == [("US", "US-IL", 1)]
