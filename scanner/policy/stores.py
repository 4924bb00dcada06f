"""Which declared store an item belongs to, and the jurisdictions it is linked to.

Store `paths` are globs over the item's path as reported (`**` spans folders, `*` stays within
one); a pattern matches at any depth, i.e. against every suffix of the path that starts after a
`/` (a store pattern may not start with `/`: the schema refuses it, since the path is reported
as the target was typed; a waiver's `path` starting with `/` must match the whole path).
Archive members are matched as `archive.zip!/member`.
`databases` globs match database locations (`sqlite:///abs/kyc.db#customers.face_embedding`),
where `*` matches anything. The first store that matches wins (declaration order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from scanner.model import DatabaseLocation, ItemResult, Location
from scanner.policy.declarations import Store
from scanner.sources.globs import glob_body

EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
EEA = EU | {"IS", "LI", "NO"}


@cache
def _path_regex(pattern: str) -> re.Pattern[str]:
    text = pattern.strip()
    if text.startswith("/"):
        return re.compile(rf"\A{glob_body(text)}\Z", re.DOTALL)
    return re.compile(rf"(?:\A|/){glob_body(text.removeprefix('./'))}\Z", re.DOTALL)


@cache
def _db_regex(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else re.escape(c) for c in pattern.strip())
    return re.compile(rf"\A{body}\Z", re.DOTALL)


def is_database_location(location: Location) -> bool:
    """A database's column or table, matched by `databases` globs (a database inside an
    archive is matched by `paths`, as the files of the tree it sits in)."""
    return isinstance(location, DatabaseLocation) and bool(location.database.scheme)


def store_for(item: ItemResult, stores: Iterable[Store]) -> Store | None:
    display = item.location.display
    db = is_database_location(item.location)
    for store in stores:
        patterns = store.databases if db else store.paths
        regex = _db_regex if db else _path_regex
        if any(regex(p).search(display) for p in patterns):
            return store
    return None


def jurisdictions(item: ItemResult, store: Store | None) -> frozenset[str]:
    """Country and subdivision codes the item is linked to: its places and its store's region."""
    codes: set[str] = set()
    for place in item.context.places:
        codes.add(place.country)
        if place.region:
            codes.add(place.region)
    if store is not None:
        codes.update(store.region)
    return frozenset(codes)


def expand(region: str) -> frozenset[str]:
    if region == "EU":
        return EU
    if region == "EEA":
        return EEA
    return frozenset({region})


def region_matches(wanted: Iterable[str], known: frozenset[str]) -> bool:
    """True when a known code falls in a wanted region: `US` covers `US-IL`, `EU` covers `FR`."""
    known = frozenset(c for k in known for c in (k, *expand(k)))
    known_countries = {k.split("-")[0] for k in known} | set(known)
    for w in wanted:
        for code in expand(w):
            if "-" in code:
                if code in known:
                    return True
            elif code in known_countries:
                return True
        # a known EU/EEA store region matches a wanted member state, and the reverse
        if w in known:
            return True
    return False
