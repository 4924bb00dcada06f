"""Baselines written by earlier versions of faceaudit, read by this one: a baseline names its
format (`faceaudit_baseline`), and `STEPS[n]` turns a document of format n into one of format
n + 1, so an old baseline is upgraded step by step to the current format before it is used.
A format newer than this faceaudit's is refused, never guessed at.

The formats:

- **0** (unversioned): a JSON report (`--format json`) used as a baseline — any document with a
  `findings` list whose entries have a `fingerprint`, and no `faceaudit_baseline` key. Every
  finding in it is known, whatever its disposition in that report.
- **1**: `{"faceaudit_baseline": 1, "policy": NAME, "findings": [{"fingerprint": FP,
  "rule_id": ID, "location": WHERE}, …]}`, sorted, no times; written by `--write-baseline`,
  which leaves waived findings out. Only fingerprints are compared; the rule and the location
  say what each one names. A fingerprint of this format hashes the location as displayed,
  i.e. as the target was spelled: `scan share`, `scan /srv/share` and `cd share; scan .`
  gave three fingerprints for one finding.
- **2**: `{"faceaudit_baseline": 2, "policy": NAME, "findings": [{"fingerprint": FP,
  "rule_id": ID, "location": WHERE, "identity": ID}, …], "legacy": [{"fingerprint": FP,
  "rule_id": ID, "location": WHERE}, …]}`. A fingerprint hashes the location's identity
  (scanner.model.Location.identity): relative to the scan root, or to `--root`, so it is the
  same however the target is spelled and whichever command found it (scan, watch, subject
  find); `identity` says what it names. `legacy` (absent when empty) holds the fingerprints
  of an upgraded format-1 (or format-0) baseline: a finding matches them by its
  `legacy_fingerprint`, computed as format 1 computed it — so an old baseline still matches
  the findings of a scan spelled as before, until `--write-baseline` writes it again in
  format 2 (a finding it matched that way says so in its justification).

  Step 1 -> 2 moves every fingerprint to `legacy`, except those of a JSON report of this
  version (format 0, upgraded through format 1): its findings carry an `identity`, so their
  fingerprints are already of format 2 and stay in `findings`.

Changing the format: raise BASELINE_FORMAT, write the step from the previous format here, and
add it to STEPS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from scanner.errors import FaceauditError

BASELINE_FORMAT = 2
VERSION_KEY = "faceaudit_baseline"


class BaselineFormatError(FaceauditError):
    """A baseline of a format this faceaudit cannot read (newer, or not a format at all)."""


def _from_report(doc: Any) -> dict[str, Any]:
    """0 -> 1: a JSON report's findings (its `path` is the location it names; a report of
    this version also gives each finding's `identity`, kept for the next step)."""
    findings = doc["findings"]  # raises, as a baseline without findings always did
    policy = doc.get("policy")
    name = policy.get("name") if isinstance(policy, dict) else None
    return {
        VERSION_KEY: 1,
        "policy": "" if name is None else str(name),
        "findings": [_entry(f) for f in findings],
    }


def _entry(f: Any) -> dict[str, str]:
    entry = {
        "fingerprint": str(f["fingerprint"]),
        "rule_id": str(f.get("rule_id", "")),
        "location": str(f.get("path", "")),
    }
    if "identity" in f:
        entry["identity"] = str(f["identity"])
    return entry


def _relative(doc: Any) -> dict[str, Any]:
    """1 -> 2: fingerprints over the displayed location become legacy prints (see above)."""
    findings = doc["findings"]
    current = [f for f in findings if "identity" in f]
    legacy = [
        {
            "fingerprint": str(f["fingerprint"]),
            "rule_id": str(f.get("rule_id", "")),
            "location": str(f.get("location", "")),
        }
        for f in findings
        if "identity" not in f
    ]
    out = {VERSION_KEY: 2, "policy": doc.get("policy", ""), "findings": current}
    if legacy:
        out["legacy"] = legacy
    return out


Step = Callable[[Any], dict[str, Any]]

STEPS: Mapping[int, Step] = MappingProxyType({0: _from_report, 1: _relative})


def format_of(doc: Any) -> int:
    """The format a baseline document says it has (0: none, a JSON report)."""
    if not isinstance(doc, dict) or VERSION_KEY not in doc:
        return 0
    version = doc[VERSION_KEY]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BaselineFormatError(
            f"{VERSION_KEY} must be a format number, a whole number from 1 (found {version!r})"
        )
    return version


def upgrade(doc: Any) -> dict[str, Any]:
    """The document in the current format, through every step from its own."""
    version = format_of(doc)
    if version > BASELINE_FORMAT:
        raise BaselineFormatError(
            f"baseline format {version} is newer than this faceaudit reads (up to "
            f"{BASELINE_FORMAT}): use a newer faceaudit, or write the baseline again with "
            "--write-baseline"
        )
    for step in range(version, BASELINE_FORMAT):
        doc = STEPS[step](doc)
    if not isinstance(doc, dict):
        raise TypeError(f"a baseline is a JSON object, not {type(doc).__name__}")
    return doc
