"""Offline reverse geocoding with real coordinates; the position never leaves the call."""

from __future__ import annotations

import pytest

from scanner.context.geo import Geocoder, Located, valid_position


@pytest.fixture(scope="module")
def geocoder() -> Geocoder:
    return Geocoder()


@pytest.mark.parametrize(
    ("lat", "lon", "country", "region"),
    [
        (51.5072, -0.1276, "GB", "GB-ENG"),  # London
        (48.8566, 2.3522, "FR", None),  # Paris
        (41.8781, -87.6298, "US", "US-IL"),  # Chicago
        (30.2672, -97.7431, "US", "US-TX"),  # Austin
        (47.6062, -122.3321, "US", "US-WA"),  # Seattle
        (53.3498, -6.2603, "IE", None),  # Dublin
        (54.5973, -5.9301, "GB", "GB-NIR"),  # Belfast: the UK, not Ireland
        (41.5834, -87.5000, "US", "US-IN"),  # Hammond, Indiana, beside Chicago
        (41.6156, -87.5295, "US", "US-IL"),  # Calumet City, Illinois, 3 km away
        (48.5734, 7.7521, "FR", None),  # Strasbourg, across the Rhine from Kehl
        (48.5725, 7.8150, "DE", None),  # Kehl
        (47.5596, 7.5886, "CH", None),  # Basel
        (-33.8688, 151.2093, "AU", None),  # Sydney: southern and eastern hemispheres
    ],
)
def test_real_places(
    geocoder: Geocoder, lat: float, lon: float, country: str, region: str | None
) -> None:
    assert geocoder.locate(lat, lon) == Located(country, region)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (30.0, -40.0),  # the mid-Atlantic: the nearest place (the Azores) is 1,500 km away
        (0.0, 0.0),  # "null island": what broken GPS writers store
        (91.0, 0.0),
        (0.0, 181.0),
        (float("nan"), 1.0),
    ],
)
def test_sea_and_invalid_positions_have_no_country(
    geocoder: Geocoder, lat: float, lon: float
) -> None:
    assert geocoder.locate(lat, lon) is None


def test_valid_position() -> None:
    assert valid_position(51.5, -0.1) and not valid_position(0.0, 0.0)
    assert not valid_position(float("inf"), 0.0)


def test_loading_the_geocoder_leaves_the_csv_field_limit_alone() -> None:
    """reverse_geocode raises csv.field_size_limit to sys.maxsize on import; the CSV bomb
    bound of the embedding parsers must survive a worker that geocoded a photo."""
    import csv

    from scanner.embeddings import textvec

    before = csv.field_size_limit()
    assert Geocoder().locate(51.5072, -0.1276) is not None  # a fresh geocoder: loads the data
    assert csv.field_size_limit() == before
    csv.field_size_limit(10**9)  # whatever another library does …
    cell = textvec.analyse_csv("a,b\n1," + "x" * 1_000_000 + "\n", ())
    assert cell.problems and "field larger than field limit" in cell.problems[0][1]
