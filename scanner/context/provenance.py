"""Where an item came from: download-origin metadata and platform file names.

Read in the main process, by path, for plain files with evidence: the `user.xdg.*.url`
extended attributes and a Windows Zone.Identifier stream (scanner.context.origins).
File-name patterns apply to archive members too. Source fields embedded in the bytes (XMP,
IPTC) were read by the worker and are already in the context; duplicates are dropped.
"""

from __future__ import annotations

from dataclasses import replace

from scanner.context.origins import (
    filename_provenance,
    xattr_provenance,
    zone_identifier_provenance,
)
from scanner.model import ContentType, FileLocation, ItemResult, Provenance


def with_provenance(result: ItemResult) -> ItemResult:
    if not result.evidence or result.content_type is ContentType.DB_COLUMN:
        return result
    location = result.location
    found: list[Provenance] = list(result.context.provenance)
    if isinstance(location, FileLocation):
        found += xattr_provenance(location.path)
        found += zone_identifier_provenance(location.path)
    by_name = filename_provenance(location.members[-1] if location.members else location.path)
    if by_name is not None:
        found.append(by_name)
    unique = tuple(dict.fromkeys(found))
    if unique == result.context.provenance:
        return result
    return replace(result, context=replace(result.context, provenance=unique))
