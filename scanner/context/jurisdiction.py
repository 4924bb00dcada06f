"""Which jurisdictions an item's subjects are linked to: `places` in its context.

EXIF/XMP GPS positions were turned into countries by the worker (the position is never
kept). Database columns: a table's country/region columns, counted over the sampled rows by
the source, reach here as `places.<column>` evidence details ("GB:3,FR:2,US-IL:4") and
become places with source "column:<column>" and their row counts.
"""

from __future__ import annotations

from dataclasses import replace

from scanner.model import ItemResult, Place
from scanner.reference.countries import parse_counts

DETAIL_PREFIX = "places."


def with_places(result: ItemResult) -> ItemResult:
    if not result.evidence:
        return result
    places: list[Place] = list(result.context.places)
    seen = {(p.country, p.region, p.source) for p in places}
    for evidence in result.evidence:  # two detectors on one column carry the same details
        for key, value in evidence.details:
            if not key.startswith(DETAIL_PREFIX) or not isinstance(value, str):
                continue
            source = "column:" + key[len(DETAIL_PREFIX) :]
            for country, region, count in parse_counts(value):
                if (country, region, source) not in seen:
                    seen.add((country, region, source))
                    places.append(Place(country, source, region, count))
    if len(places) == len(result.context.places):
        return result
    return replace(result, context=replace(result.context, places=tuple(places)))
