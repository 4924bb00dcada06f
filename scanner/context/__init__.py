"""Context: what is known about an item beyond what its detectors saw.

Enrichers are pure functions ItemResult -> ItemResult, applied by the engine after the
detectors, in the explicit order of ENRICHERS. (Age, provenance, jurisdiction and consent
lookups arrive with the policy engine.)
"""

from __future__ import annotations

from collections.abc import Callable

from scanner.context.applications import with_application
from scanner.model import ItemResult

Enricher = Callable[[ItemResult], ItemResult]

ENRICHERS: tuple[Enricher, ...] = (with_application,)


def enrich(result: ItemResult) -> ItemResult:
    for enricher in ENRICHERS:
        result = enricher(result)
    return result
