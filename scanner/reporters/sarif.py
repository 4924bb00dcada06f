"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

- One rule per rule id found, with help (citations, remediation) and GitHub's
  `security-severity`; one result per finding, fingerprinted by the finding's own
  fingerprint (`partialFingerprints`), never by line numbers.
- Files are physical locations named relative to the scan root (or `--root`): `uri` is the
  file's path under it, percent-encoded, with `uriBaseId` "%SRCROOT%", and
  `run.originalUriBaseIds` gives %SRCROOT%'s absolute `file:` URI (ending in '/'). GitHub
  code scanning reads a relative path as relative to the repository root and never maps an
  absolute `file:` URI it has no checkout path for, so `scan --root "$GITHUB_WORKSPACE"`
  (or scanning `.` from it) makes every file-based result land on a repository file. Several
  roots (several targets, no `--root`) are %SRCROOT%, %SRCROOT2%, … in order. A location no
  scan anchored (a library caller's) keeps its path: relative as it is, absolute as `file:`.
- An archive member is its archive file plus a logical location `archive.zip!/member`. A
  database column is a logical location `kyc.db/customers/face_embedding` (kind "member": a
  column is a member of its table) on the database as its artifact — a SQLite database's
  file, named from the root like any file; a server's URI — with no region: GitHub rejects
  a whole file when a result has no physical location.
- Waived findings, and findings a legal hold keeps, carry an accepted external suppression
  with the waiver's justification or the hold's case and reason;
  when a baseline was used, results say whether they are new or unchanged.
- An incomplete scan is an unsuccessful invocation; its problems are tool execution
  notifications. Expired and unused waivers are configuration notifications.
- GitHub code scanning's upload limits are kept: over them, the least severe results are left
  out and a notification says how many (the JSON report lists every finding).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from scanner.model import (
    Disposition,
    FileLocation,
    Finding,
    ItemResult,
    Location,
    Problem,
    ScanResult,
    Severity,
)
from scanner.reporters.findings import (
    LocationKind,
    Where,
    iso,
    items_by_location,
    path_uri,
    reported_findings,
    web_uri,
    where,
    where_of,
)
from scanner.reporters.text import markdown_escape as _md
from scanner.reporters.text import terminal_safe, unicode_safe

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI = "https://github.com/faceaudit/faceaudit"
FINGERPRINT_KEY = "faceauditFingerprint/v1"

# GitHub code scanning: at most 25,000 results and 25,000 rules per run, 20 tags per rule
# (10 shown), 1,000 locations per result (each result here has one). Notifications have no
# documented limit, but the upload must stay under 10 MB: they are capped too.
MAX_RESULTS = 25_000
MAX_RULES = 25_000
MAX_TAGS = 10
MAX_NOTIFICATIONS = 1_000

SECURITY_SEVERITY: Mapping[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}
LEVEL: Mapping[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def render(
    result: ScanResult,
    max_results: int = MAX_RESULTS,
    max_rules: int = MAX_RULES,
    max_notifications: int = MAX_NOTIFICATIONS,
) -> str:
    document = to_document(result, max_results, max_rules, max_notifications)
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_document(
    result: ScanResult,
    max_results: int = MAX_RESULTS,
    max_rules: int = MAX_RULES,
    max_notifications: int = MAX_NOTIFICATIONS,
) -> dict[str, Any]:
    findings = reported_findings(result)  # most severe first: truncation drops the least
    rule_ids = list(dict.fromkeys(f.rule_id for f in findings))
    kept_rules = set(rule_ids[:max_rules])
    kept = [f for f in findings if f.rule_id in kept_rules][:max_results]
    omitted = len(findings) - len(kept)
    index = {r: i for i, r in enumerate(dict.fromkeys(f.rule_id for f in kept))}
    rules = [_rule([f for f in kept if f.rule_id == r]) for r in index]
    items = items_by_location(result)
    baseline_used = any(f.disposition is Disposition.BASELINE for f in findings)
    bases = _bases([f.location for f in kept] + [p.location for p in result.problems])
    notes = [_problem_note(p, items, bases) for p in result.problems]
    if result.interrupted:
        notes.insert(0, _note("error", "the scan was interrupted before every item was examined"))
    if len(notes) > max_notifications:
        rest = len(notes) - max_notifications
        notes = notes[:max_notifications]
        notes.append(_note("warning", f"{rest} more problems are listed in the JSON report"))
    if omitted:
        notes.append(
            _note(
                "warning",
                f"{omitted} of {len(findings)} findings were left out (the least severe): "
                f"GitHub code scanning accepts at most {max_results} results and {max_rules} "
                "rules per run. The JSON report lists every finding.",
            )
        )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "faceaudit",
                "version": result.tool_version,
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }
        },
        "invocations": [_invocation(result, notes)],
        "results": [_result(f, index[f.rule_id], items, baseline_used, bases) for f in kept],
        "columnKind": "unicodeCodePoints",
        "properties": {"failOn": _fail_on(result), **_policy(result)},
    }
    if bases:
        run["originalUriBaseIds"] = {
            base: {
                "uri": _directory_uri(root),
                "description": {
                    "text": "The directory findings are named from: --root, or the target."
                },
            }
            for root, base in bases.items()
        }
    return {"version": SARIF_VERSION, "$schema": SARIF_SCHEMA, "runs": [run]}


def _bases(locations: list[Location]) -> dict[str, str]:
    """The roots files are named from -> their uriBaseId (%SRCROOT%, %SRCROOT2%, …)."""
    roots = sorted(
        {
            a.anchor.root
            for a in (loc.artifact for loc in locations)
            if isinstance(a, FileLocation) and a.anchor is not None
        }
    )
    return {root: f"%SRCROOT{n + 1 if n else ''}%" for n, root in enumerate(roots)}


def _directory_uri(root: str) -> str:
    """An absolute directory as a `file:` URI ending in '/' (SARIF §3.14.14)."""
    uri = path_uri(root if root.startswith("/") else "/" + root)
    return uri if uri.endswith("/") else uri + "/"


def _artifact(location: Location, place: Where, bases: Mapping[str, str]) -> dict[str, Any]:
    """The file holding a location, relative to its root (with the root's uriBaseId) when a
    scan anchored it; else as the location names it (a server's URI, a library caller's
    path)."""
    artifact = location.artifact
    if isinstance(artifact, FileLocation) and artifact.anchor is not None:
        anchor = artifact.anchor
        if anchor.root in bases and anchor.path:
            return {"uri": path_uri(anchor.path.lstrip("/")), "uriBaseId": bases[anchor.root]}
    return {"uri": place.artifact_uri}


def _fail_on(result: ScanResult) -> str:
    return result.fail_on.label if result.fail_on is not None else "never"


def _policy(result: ScanResult) -> dict[str, Any]:
    policy = result.policy
    if policy is None:
        return {}
    return {
        "policy": {
            "name": unicode_safe(policy.name),
            "digest": policy.digest,
            "packs": list(policy.packs),
            "evaluatedAt": iso(policy.evaluated_at),
        }
    }


def _rule(findings: list[Finding]) -> dict[str, Any]:
    first = findings[0]
    severity = max(f.severity for f in findings)
    title = unicode_safe(first.title)
    citations = [unicode_safe(c) for c in first.citations]
    remediation = unicode_safe(first.remediation)
    cited = f" ({'; '.join(citations)})" if citations else ""
    text = f"{title}{cited}.\n\nRemediation: {remediation}"
    markdown_lines = [f"**{_md(title)}**", ""]
    if citations:
        markdown_lines += ["Citations:", "", *(f"- {_md(c)}" for c in citations), ""]
    markdown_lines.append(f"Remediation: {_md(remediation)}")
    tags = ["privacy", "biometric", unicode_safe(first.pack), first.kind.value]
    rule: dict[str, Any] = {
        "id": first.rule_id,
        "name": _pascal(first.rule_id),
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"{title}{cited}"},
        "help": {"text": text, "markdown": "\n".join(markdown_lines)},
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {
            "tags": list(dict.fromkeys(tags))[:MAX_TAGS],
            "security-severity": SECURITY_SEVERITY[severity],
        },
    }
    help_uri = web_uri(first.help_uri)
    if help_uri is not None:
        rule["helpUri"] = help_uri
    return rule


def _result(
    f: Finding,
    rule_index: int,
    items: Mapping[Location, ItemResult],
    baseline_used: bool,
    bases: Mapping[str, str],
) -> dict[str, Any]:
    place = where_of(f, items)
    doc: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity],
        "message": {"text": terminal_safe(f.message)},
        "locations": [_location(place, _artifact(f.location, place, bases))],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
    }
    if f.disposition in (Disposition.WAIVED, Disposition.HELD):
        doc["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": terminal_safe(f.justification or "waived by the policy"),
            }
        ]
    if baseline_used and f.disposition not in (Disposition.WAIVED, Disposition.HELD):
        doc["baselineState"] = "unchanged" if f.disposition is Disposition.BASELINE else "new"
    properties: dict[str, Any] = {
        "severity": f.severity.label,
        "disposition": f.disposition.value,
        "kind": f.kind.value,
        "pack": unicode_safe(f.pack),
        "citations": [unicode_safe(c) for c in f.citations],
        "facts": {k: unicode_safe(v) if isinstance(v, str) else v for k, v in f.facts},
    }
    if f.store is not None:
        properties["store"] = unicode_safe(f.store)
    doc["properties"] = properties
    return doc


def _location(place: Where, artifact: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = {"physicalLocation": {"artifactLocation": artifact}}
    if place.kind is LocationKind.MEMBER:
        doc["logicalLocations"] = [
            {
                "name": terminal_safe(place.display.rsplit("!/", 1)[-1]),
                "fullyQualifiedName": terminal_safe(place.display),
            }
        ]
    elif place.kind is LocationKind.DATABASE:
        logical: dict[str, Any] = {"fullyQualifiedName": terminal_safe(place.qualified_name)}
        if place.parts:
            logical = {"name": terminal_safe(place.parts[-1]), **logical, "kind": "member"}
        doc["logicalLocations"] = [logical]
    return doc


def _invocation(result: ScanResult, notes: list[dict[str, Any]]) -> dict[str, Any]:
    code = result.exit_code
    doc: dict[str, Any] = {
        "executionSuccessful": not result.incomplete,
        "startTimeUtc": iso(result.started_at),
        "endTimeUtc": iso(result.finished_at),
        "exitCode": int(code),
        "exitCodeDescription": code.name.lower(),
        "toolExecutionNotifications": notes,
    }
    policy = result.policy
    if policy is not None and (policy.expired_waivers or policy.unused_waivers):
        expired = [
            _note("error", f"expired waiver: {terminal_safe(w)}") for w in policy.expired_waivers
        ]
        unused = [
            _note("note", f"unused waiver: {terminal_safe(w)}") for w in policy.unused_waivers
        ]
        doc["toolConfigurationNotifications"] = expired + unused
    return doc


def _note(level: str, text: str) -> dict[str, Any]:
    return {"level": level, "message": {"text": text}}


def _problem_note(
    problem: Problem, items: Mapping[Location, ItemResult], bases: Mapping[str, str]
) -> dict[str, Any]:
    item = items.get(problem.location)
    place = where(problem.location, item.content_type if item is not None else None)
    level = "error" if problem.incomplete else "note"
    text = f"{problem.reason.value}: {terminal_safe(problem.detail)}"
    if not problem.incomplete:
        text += " (skipped by design; the scan is still complete)"
    note = _note(level, text)
    note["locations"] = [_location(place, _artifact(problem.location, place, bases))]
    note["descriptor"] = {"id": problem.reason.value}
    return note


def _pascal(rule_id: str) -> str:
    """`GDPR-5-1-E-RETENTION` -> `Gdpr51ERetention`: a readable identifier."""
    return "".join(
        part[:1].upper() + part[1:].lower() for part in rule_id.replace(".", "-").split("-")
    )
