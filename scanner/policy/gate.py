"""The CI gate's memory: waivers (justified, owned, expiring) and baselines (known findings).

A waiver names one finding by fingerprint, or a rule over a path glob, and must give a reason,
an owner and an expiry date. A current waiver marks matching findings WAIVED; an expired one
waives nothing, is listed in the report and fails the gate whatever it waived. A baseline is
a list of fingerprints (written by `--write-baseline`, or any earlier JSON report): findings
already in it are BASELINE and do not fail. Baselines hold no times and no line numbers, so
they stay stable from run to run; their format is versioned, and older formats are upgraded
on reading (scanner.policy.baseline_upgrades). Fingerprints hash a location's identity
(relative to the scan root); those of format-1 baselines, and of waivers written then, hash
its display and are matched by a finding's `legacy_fingerprint`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scanner.model import Disposition, Finding
from scanner.policy.baseline_upgrades import (
    BASELINE_FORMAT,
    VERSION_KEY,
    BaselineFormatError,
    upgrade,
)
from scanner.policy.loader import PolicyError, PolicyErrors
from scanner.policy.stores import _path_regex
from scanner.policy.yamlsource import YamlError, parse, read_bounded

MAX_BASELINE_BYTES = 64 * 1024 * 1024


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")] | None = None
    rule: str | None = None
    path: str | None = None  # a glob over the finding's location (with `rule`)
    reason: str = Field(min_length=10)
    owner: str = Field(min_length=1)
    expires: date

    @model_validator(mode="after")
    def _target(self) -> Waiver:
        if (self.fingerprint is None) == (self.rule is None):
            raise ValueError("give exactly one of fingerprint or rule")
        if self.path is not None and self.rule is None:
            raise ValueError("path narrows a rule: give rule with it")
        return self

    def matches(self, f: Finding) -> bool:
        if self.fingerprint is not None:  # written before format 2: its legacy print
            return self.fingerprint in (f.fingerprint, f.legacy_fingerprint)
        if self.rule != f.rule_id:
            return False
        return self.path is None or _path_regex(self.path).search(f.location.display) is not None

    def describe(self) -> str:
        what = self.fingerprint or f"{self.rule}{' at ' + self.path if self.path else ''}"
        return f"{what}: {self.reason} (owner {self.owner}, expires {self.expires.isoformat()})"


class _WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = []


def load_waivers(path: Path) -> tuple[Waiver, ...]:
    try:
        doc = parse(read_bounded(path))
    except OSError as exc:
        raise PolicyErrors([PolicyError(str(path), None, None, f"cannot read: {exc}")]) from None
    except (UnicodeDecodeError, YamlError) as exc:
        line = exc.line if isinstance(exc, YamlError) else None
        column = exc.column if isinstance(exc, YamlError) else None
        raise PolicyErrors([PolicyError(str(path), line, None, str(exc), column)]) from None
    try:
        return tuple(_WaiverFile.model_validate(doc.data).waivers)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            rule = None
            if len(loc) >= 2 and isinstance(loc[1], int):
                entry = doc.data["waivers"][loc[1]]
                rule = entry.get("rule") if isinstance(entry, dict) else None
            msg = f"{'.'.join(map(str, loc))}: {err['msg'].removeprefix('Value error, ')}"
            errors.append(PolicyError(str(path), doc.line_of(loc), rule, msg))
        raise PolicyErrors(errors) from None


def apply_waivers(
    findings: Sequence[Finding], waivers: Sequence[Waiver], now: datetime
) -> tuple[tuple[Finding, ...], tuple[str, ...], tuple[str, ...]]:
    """(findings with dispositions, expired waivers, waivers that matched nothing)."""
    today = now.astimezone(timezone.utc).date()
    used: set[int] = set()
    expired: set[int] = set()
    out = []
    for finding in findings:
        current = finding
        for n, w in enumerate(waivers):
            if not w.matches(finding):
                continue
            used.add(n)
            if w.expires < today:
                expired.add(n)
                note = f"waiver expired on {w.expires.isoformat()}: {w.reason} ({w.owner})"
                current = replace(current, justification=note)
                continue
            current = replace(
                finding,
                disposition=Disposition.WAIVED,
                justification=f"{w.reason} (owner {w.owner}, until {w.expires.isoformat()})",
            )
            break
        out.append(current)
    # an expired waiver fails the gate even when nothing matches it any more: it must be
    # renewed or removed, so the waivers file does not rot
    expired |= {n for n, w in enumerate(waivers) if w.expires < today}
    unused = tuple(w.describe() for n, w in enumerate(waivers) if n not in used)
    return tuple(out), tuple(waivers[n].describe() for n in sorted(expired)), unused


@dataclass(frozen=True)
class Baseline:
    """Known findings: fingerprints of the current format, and the legacy prints of an
    upgraded format-1 baseline (matched by a finding's `legacy_fingerprint`)."""

    prints: frozenset[str]
    legacy: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.prints) + len(self.legacy)


LEGACY_NOTE = (
    "matched a baseline of format 1 by its location as displayed; write the baseline again "
    "with --write-baseline so it matches however the target is spelled"
)


def load_baseline(path: Path) -> Baseline:
    """Fingerprints from a baseline file (of this format or an older one, upgraded) or an
    earlier JSON report; a newer format is refused."""
    try:
        data: Any = json.loads(read_bounded(path, MAX_BASELINE_BYTES))
        doc = upgrade(data)
        prints = frozenset(str(f["fingerprint"]) for f in doc["findings"])
        legacy = frozenset(str(f["fingerprint"]) for f in doc.get("legacy", ()))
    except BaselineFormatError as exc:
        raise PolicyErrors([PolicyError(str(path), None, None, str(exc))]) from None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        msg = f"not a faceaudit baseline or JSON report with findings: {exc}"
        raise PolicyErrors([PolicyError(str(path), None, None, msg)]) from None
    return Baseline(prints, legacy)


def apply_baseline(
    findings: Sequence[Finding], known: Baseline | frozenset[str]
) -> tuple[Finding, ...]:
    """Open findings the baseline knows become BASELINE (a bare set: fingerprints)."""
    baseline = known if isinstance(known, Baseline) else Baseline(frozenset(known))
    out = []
    for f in findings:
        if f.disposition is not Disposition.OPEN:
            out.append(f)
        elif f.fingerprint in baseline.prints:
            out.append(replace(f, disposition=Disposition.BASELINE))
        elif f.legacy_fingerprint is not None and f.legacy_fingerprint in baseline.legacy:
            out.append(replace(f, disposition=Disposition.BASELINE, justification=LEGACY_NOTE))
        else:
            out.append(f)
    return tuple(out)


def baseline_document(findings: Sequence[Finding], policy_name: str) -> str:
    """A baseline: fingerprints with what they name, sorted, no times — stable across runs."""
    entries = sorted(
        {
            (f.fingerprint, f.rule_id, _text(f.location.display), _text(f.location.identity))
            for f in findings
            if f.disposition is not Disposition.WAIVED
        }
    )
    doc = {
        VERSION_KEY: BASELINE_FORMAT,
        "policy": policy_name,
        "findings": [
            {"fingerprint": fp, "rule_id": r, "location": loc, "identity": ident}
            for fp, r, loc, ident in entries
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _text(s: str) -> str:
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
