"""The application a file belongs to, from where it sits (Frigate's face library, Double
Take's match store, DeepFace's caches …), added to evidence that does not name one yet."""

from __future__ import annotations

from dataclasses import replace

from scanner.model import Evidence, ItemResult
from scanner.reference.apps import identify_path


def with_application(result: ItemResult) -> ItemResult:
    if not result.evidence:
        return result
    match = identify_path(result.location.display)
    if match is None:
        return result
    evidence = tuple(_named(e, match.app, match.linked_store) for e in result.evidence)
    return replace(result, evidence=evidence)


def _named(e: Evidence, app: str, linked_store: str | None) -> Evidence:
    if e.detail("app"):
        return e
    details = (*e.details, ("app", app))
    if linked_store and e.detail("linked_store") is None:
        details = (*details, ("linked_store", linked_store))
    return replace(e, details=details, reasons=(*e.reasons, f"stored in {app}'s layout"))
