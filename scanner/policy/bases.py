"""Legal bases a declared store can rely on: stable ids, what each means, where it is written.

Ids are part of the policy language. An organisation's own basis can be named `x-…`
(accepted by the schema, matched literally by rules that list it).

GDPR and UK GDPR have two kinds: an Art 6(1) basis makes any processing of personal data
lawful (`gdpr-6-1-a` … `gdpr-6-1-f`); an Art 9(2) condition lifts the ban of Art 9(1) on
special-category data, biometric data processed to uniquely identify a person among them
(`gdpr-9-2-a` … `gdpr-9-2-j`). Which one a store needs follows from what it holds and its
declared `use` (scanner.policy.declarations.USES).
"""

from __future__ import annotations

_GDPR_6_1 = {
    "a": "consent",
    "b": "performance of a contract with the data subject",
    "c": "a legal obligation of the controller",
    "d": "vital interests",
    "e": "a task in the public interest or official authority",
    "f": "legitimate interests",
}

_GDPR_9_2 = {
    "a": "explicit consent",
    "b": "obligations of employment and social-security law",
    "c": "vital interests of a person unable to consent",
    "d": "a not-for-profit body's members",
    "e": "data manifestly made public by the data subject",
    "f": "legal claims or courts acting judicially",
    "g": "substantial public interest on the basis of law",
    "h": "preventive or occupational medicine",
    "i": "public health",
    "j": "archiving, research or statistics (Art 89(1))",
}

BASES: dict[str, str] = {
    **{f"gdpr-6-1-{k}": f"GDPR Art 6(1)({k}): {v}" for k, v in _GDPR_6_1.items()},
    **{f"uk-gdpr-6-1-{k}": f"UK GDPR Art 6(1)({k}): {v}" for k, v in _GDPR_6_1.items()},
    **{f"gdpr-9-2-{k}": f"GDPR Art 9(2)({k}): {v}" for k, v in _GDPR_9_2.items()},
    **{f"uk-gdpr-9-2-{k}": f"UK GDPR Art 9(2)({k}): {v}" for k, v in _GDPR_9_2.items()},
    "bipa-written-release": "740 ILCS 14/15(b): written notice and a written release",
    "texas-cubi-consent": "Tex. Bus. & Com. Code §503.001(b): informed consent before capture",
    "wa-notice-consent": "RCW 19.375.020(1): notice and consent before enrolment",
    "ccpa-notice": "Cal. Civ. Code 1798.100(a): notice at collection",
    "colorado-consent": "C.R.S. 6-1-1314: disclosure and consent before collection",
}

# Bases that rest on the subject's consent: a consent register decides, per subject.
CONSENT_BASES = frozenset(
    {
        "gdpr-6-1-a",
        "uk-gdpr-6-1-a",
        "gdpr-9-2-a",
        "uk-gdpr-9-2-a",
        "bipa-written-release",
        "texas-cubi-consent",
        "wa-notice-consent",
        "colorado-consent",
    }
)


def gdpr_article(basis: str) -> str | None:
    """`6` for a GDPR or UK GDPR Art 6(1) basis, `9` for an Art 9(2) condition, else None."""
    for prefix in ("gdpr-", "uk-gdpr-"):
        rest = basis.removeprefix(prefix)
        if rest != basis and rest[:4] in ("6-1-", "9-2-"):
            return rest[0]
    return None


def is_known(basis: str) -> bool:
    return basis in BASES or (basis.startswith("x-") and len(basis) > 2)
