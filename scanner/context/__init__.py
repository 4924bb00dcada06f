"""Context: what is known about an item beyond what its detectors saw.

Enrichers are functions ItemResult -> ItemResult, applied by the engine (in the main
process) after the detectors, in the explicit order of ENRICHERS, to items with evidence:

- applications: the application whose layout the item sits in;
- age: `created` / `newest` (a capture date the worker read from the bytes, a database
  column's oldest and newest rows, else the mtime);
- provenance: download-origin extended attributes, Zone.Identifier streams, platform file
  names (the worker adds XMP/IPTC source fields);
- jurisdiction: places from a database's country/region columns (the worker adds EXIF GPS).

Facts that need an item's bytes are gathered once, in the worker (`exif`, with `dates`,
`geo` and `origins`); the enrichers read only metadata and the file's attributes, never the
content again.
"""

from __future__ import annotations

from collections.abc import Callable

from scanner.context.age import with_age
from scanner.context.applications import with_application
from scanner.context.jurisdiction import with_places
from scanner.context.provenance import with_provenance
from scanner.model import ItemResult

Enricher = Callable[[ItemResult], ItemResult]

ENRICHERS: tuple[Enricher, ...] = (with_application, with_age, with_provenance, with_places)


def enrich(result: ItemResult) -> ItemResult:
    for enricher in ENRICHERS:
        result = enricher(result)
    return result
