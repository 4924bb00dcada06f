"""The vocabulary every part of the policy language shares: the strict base model, kinds,
severities, and the validators of durations, regions, legal bases and platforms.

A leaf of the policy package: the declarations (stores, registers), every check and the
schema build on it, so none of them needs another.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from scanner.policy.bases import BASES, is_known
from scanner.policy.durations import Duration
from scanner.reference.countries import ALPHA2
from scanner.reference.platforms import HOSTS, NAME_PATTERNS

Kind = Literal["face_image", "face_tagged", "face_embedding", "executable_code", "face_video"]
SeverityName = Literal["info", "low", "medium", "high", "critical"]
Start = Literal["creation", "last_interaction", "end_of_purpose"]
# what a remediation plan does with a container some of whose members are findings
ContainerAction = Literal["manual", "whole"]
BIOMETRIC: tuple[Kind, ...] = ("face_image", "face_tagged", "face_embedding")
# `face_video` is not evidence of its own: a video with faces holds face images (every rule on
# `face_image` applies to it) and is also of kind `face_video`, so that a rule or a store can
# name videos alone (CCTV kept for a short, stated period).
VIDEO_KIND: Kind = "face_video"

# What a store's faces are used for (a store's `use`). Recognition uses process faces to tell
# who a person is: the store's photos are then biometric data (GDPR Art 4(14), Recital 51)
# like the templates made from them. The other uses keep photos as photos: ordinary personal
# data, lawful on an Art 6 basis. policies/README.md documents each.
RecognitionUse = Literal["identification", "verification", "recognition"]
OtherUse = Literal[
    "event", "marketing", "publication", "directory", "surveillance", "archive", "other"
]
Use = Literal[RecognitionUse, OtherUse]
RECOGNITION_USES: frozenset[str] = frozenset(get_args(RecognitionUse))
OTHER_USES: frozenset[str] = frozenset(get_args(OtherUse))

# What an item is under the GDPR's definitions (a rule's `data` filter):
# `biometric`: face templates, face tags, and photos in a store whose use is recognition;
# `photo`: photos in a store that declares a use other than recognition (Art 6 only);
# `photo_use_undeclared`: photos whose store declares no use (or that no store covers).
DataClass = Literal["biometric", "photo", "photo_use_undeclared"]

SLUG = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
RULE_ID = r"^[A-Z0-9][A-Z0-9_.-]{1,79}$"
# "GB", "FR", "US-IL" (ISO 3166-1 alpha-2, optionally a 3166-2 subdivision), or "EU"/"EEA".
_REGION = re.compile(r"\A(?:[A-Z]{2}(?:-[A-Z0-9]{1,3})?|EU|EEA)\Z")


class Strict(BaseModel):
    """Unknown keys are errors; models are frozen; blanks around strings are dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def duration(text: str) -> str:
    Duration.parse(text)  # raises ValueError with the accepted forms
    return text.strip().upper()


PLATFORMS = frozenset({p for _, p in HOSTS} | {n.platform for n in NAME_PATTERNS})
_REGION_HINTS = {"UK": "GB", "EL": "GR"}


def regions(values: list[str]) -> list[str]:
    out = []
    for v in values:
        code = v.strip().upper()
        country = code.split("-")[0]
        if code in _REGION_HINTS:
            raise ValueError(f"{v!r} is not an ISO 3166-1 code: use {_REGION_HINTS[code]}")
        if not _REGION.match(code) or (code not in ("EU", "EEA") and country not in ALPHA2):
            raise ValueError(
                f"{v!r} is not a region: use ISO 3166-1 alpha-2 (GB, FR), a 3166-2 "
                "subdivision (US-IL, US-TX) or EU/EEA"
            )
        out.append(code)
    return out


def bases(values: list[str]) -> list[str]:
    for basis in values:
        if not is_known(basis):
            known = ", ".join(sorted(BASES))
            raise ValueError(f"unknown legal basis {basis!r} (known: {known}; or x-…)")
    return values
