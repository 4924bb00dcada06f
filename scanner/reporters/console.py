"""The console report: a summary a person reads in a terminal. Every untrusted string is
made terminal-safe; the full inventory is in the JSON report."""

from __future__ import annotations

import collections

from scanner.model import Disposition, Evidence, EvidenceKind, ExitCode, ScanResult, ScanStats
from scanner.reporters.findings import (
    ALL_IN_JSON,
    count_by,
    faces_are_lower_bound,
    is_failing,
    more_rows_text,
    ordered,
    owner_of,
    row_text,
    shown_rows,
)
from scanner.reporters.text import terminal_safe

MAX_ROWS = 50

_POLICY_FINDINGS = "open findings at or above the --fail-on severity, or an expired waiver"
_EXIT_TEXT = {
    ExitCode.CLEAN: "clean: no face data at or above the --fail-on severity",
    ExitCode.FINDINGS: "face data found at or above the --fail-on severity",
    ExitCode.INCOMPLETE: "incomplete scan: some items could not be examined (see problems)",
    ExitCode.USAGE: "usage or configuration error",
}


def _count(e: Evidence) -> str:
    """Faces for images and tags; templates x dimensions for embeddings."""
    if e.kind is EvidenceKind.FACE_EMBEDDING:
        count, dims = e.detail("count"), e.detail("dims")
        return f"{count}x{dims}" if dims else str(count)
    if e.kind is EvidenceKind.EXECUTABLE_CODE:
        return "-"
    if e.detail("count_is_lower_bound") is True:
        return f">={e.faces}"  # the coarse pass stopped at the first face it found
    return str(e.faces)


def _media_line(media: dict[str, int]) -> str:
    """How much of the mail and video was examined, of how much."""
    parts = []
    if "mail_messages" in media:
        parts.append(f"mail: {media['mail_messages']} messages, {media.get('mail_parts', 0)} parts")
    if "video_files" in media:
        declared = media.get("video_frames")
        of = f" of {declared}" if declared is not None else ""
        parts.append(
            f"video: {media['video_files']} files, {media.get('video_frames_examined', 0)}{of} "
            "frames examined"
        )
    return "  " + "; ".join(parts)


def _containers_lines(stats: ScanStats) -> list[str]:
    """What was examined inside documents, mailboxes and videos, of how much."""
    lines = []
    if stats.pages_total:
        lines.append(
            f"Document pages: {stats.pages_examined} of {stats.pages_total} looked at "
            "(the pictures on them)"
        )
    media = dict(stats.media)
    if media:
        lines.append(_media_line(media))
    return lines


def render(result: ScanResult, max_rows: int = MAX_ROWS) -> str:
    lines: list[str] = []
    seconds = (result.finished_at - result.started_at).total_seconds()
    stats = result.stats
    lines.append(
        f"faceaudit {result.tool_version}: {stats.items_scanned} items scanned in "
        f"{seconds:.1f} s ({stats.directories} directories, {stats.archive_members} archive "
        f"members, {stats.excluded} excluded)"
    )
    lines.extend(_containers_lines(stats))
    lines.append("")
    if result.items:
        kinds = collections.Counter(i.primary.kind.value for i in result.items if i.primary)
        kind_text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        seen = f"at least {result.faces}" if faces_are_lower_bound(result) else str(result.faces)
        noun = "face" if result.faces == 1 else "faces"
        lines.append(f"Face data in {len(result.items)} items ({kind_text}); {seen} {noun} seen")
        lines.append(f"  {'KIND':<15} {'COUNT':>9} {'CONF':>5}  {'DETECTOR':<18} PATH")
        for item in result.items[:max_rows]:
            e = item.primary
            if e is None:
                continue
            app = e.detail("app")
            where = terminal_safe(item.location.display) + (
                f"  [{terminal_safe(str(app))}]" if app else ""
            )
            kind, count = e.kind.value, _count(e)
            lines.append(f"  {kind:<15} {count:>9} {e.confidence:>5.2f}  {e.detector:<18} {where}")
        if len(result.items) > max_rows:
            lines.append(f"  ... and {len(result.items) - max_rows} more ({ALL_IN_JSON})")
    else:
        lines.append("No face data found.")
    incomplete = [p for p in result.problems if p.incomplete]
    noted = [p for p in result.problems if not p.incomplete]
    if incomplete:
        lines.append("")
        lines.append(f"Not scanned ({len(incomplete)}): the scan is incomplete")
        for p in incomplete[:max_rows]:
            lines.append(
                f"  {p.reason.value:<22} {terminal_safe(p.location.display)}: "
                f"{terminal_safe(p.detail)}"
            )
        if len(incomplete) > max_rows:
            lines.append(f"  ... and {len(incomplete) - max_rows} more")
    if noted:
        counts = collections.Counter(p.reason.value for p in noted)
        text = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(counts.items()))
        lines.append("")
        lines.append(f"Skipped by design: {text} ({ALL_IN_JSON})")
    if not stats.atime_preserved:
        lines.append("")
        lines.append(
            "Note: access times could not be preserved for some files (O_NOATIME needs "
            "ownership or root); contents and modification times were not touched."
        )
    if result.policy is not None:
        lines += _findings(result, max_rows)
        lines += _due(result, max_rows)
    lines.append("")
    lines.append(_exit_line(result))
    return "\n".join(lines) + "\n"


def _findings(result: ScanResult, max_rows: int) -> list[str]:
    """The policy's verdict: one row per finding (most severe first), then the waivers."""
    policy = result.policy
    assert policy is not None
    findings = ordered(result.findings)
    by = count_by(findings, "disposition")
    failing = sum(is_failing(f, result) for f in findings)
    lines = [
        "",
        f"Findings against the policy {terminal_safe(policy.name)} ({len(findings)}: "
        f"{by['open']} open, {failing} failing; {by['waived']} waived, "
        f"{by['baseline']} baseline" + (f", {by['held']} held" if by["held"] else "") + ")",
    ]
    if findings:
        lines.append(f"  {'SEVERITY':<8} {'STATE':<8} {'RULE':<24} LOCATION: MESSAGE")
    for f in findings[:max_rows]:
        state = "FAIL" if is_failing(f, result) else f.disposition.value
        lines.append(
            f"  {f.severity.label:<8} {state:<8} {terminal_safe(f.rule_id):<24} "
            f"{terminal_safe(f.location.display)}: {terminal_safe(f.message)}"
        )
        if f.disposition is not Disposition.OPEN and f.justification:
            lines.append(f"  {'':<8} {'':<8} {'':<24} ({terminal_safe(f.justification)})")
        shown, more = shown_rows(f)
        for r in shown:
            lines.append(f"  {'':<8} {'':<8} {'':<24} {terminal_safe(row_text(r))}")
        if more:
            lines.append(f"  {'':<8} {'':<8} {'':<24} {more_rows_text(more)}")
    if len(findings) > max_rows:
        lines.append(f"  ... and {len(findings) - max_rows} more ({ALL_IN_JSON})")
    for waiver in policy.expired_waivers:
        lines.append(f"  expired waiver (fails the gate): {terminal_safe(waiver)}")
    if policy.unused_waivers:
        lines.append(f"  {len(policy.unused_waivers)} unused waivers ({ALL_IN_JSON})")
    return lines


def _due(result: ScanResult, max_rows: int) -> list[str]:
    """What falls due within --due-within: the last day each item may be kept, soonest first."""
    policy = result.policy
    if policy is None or policy.due_within is None:
        return []
    window = terminal_safe(policy.due_within)
    lines = ["", f"Falling due within {window} ({len(result.due)}: not yet broken)"]
    if not result.due:
        return [*lines, "  nothing"]
    lines.append(f"  {'DEADLINE':<10} {'RULE':<24} {'OWNER':<24} LOCATION: MESSAGE")
    for d in result.due[:max_rows]:
        f = d.finding
        owner = terminal_safe(owner_of(f.store, result) or "-")
        lines.append(
            f"  {d.deadline.isoformat():<10} {terminal_safe(f.rule_id):<24} {owner:<24} "
            f"{terminal_safe(f.location.display)}: {terminal_safe(f.message)}"
        )
    if len(result.due) > max_rows:
        lines.append(f"  ... and {len(result.due) - max_rows} more ({ALL_IN_JSON})")
    return lines


def _exit_line(result: ScanResult) -> str:
    code = result.exit_code
    text = _EXIT_TEXT[code]
    if code is ExitCode.FINDINGS and result.policy is not None:
        text = _POLICY_FINDINGS
    if code is ExitCode.CLEAN and result.fail_on is None and result.policy and result.findings:
        text = "findings, but --fail-on never does not fail on them"
    elif code is ExitCode.CLEAN and result.fail_on is None and result.items:
        text = "face data found, but --fail-on never does not fail on it"
    elif code is ExitCode.CLEAN and result.policy is not None and result.findings:
        text = _known_findings(result)
    elif code is ExitCode.CLEAN and result.policy is not None and result.items:
        text = f"no findings: the policy allows the face data found ({len(result.items)} items)"
    elif code is ExitCode.CLEAN and result.items:
        text = (
            f"face data found ({len(result.items)} items), none at or above the --fail-on severity"
        )
    if result.incomplete and code is not ExitCode.INCOMPLETE:
        text += " (the scan is incomplete; --allow-incomplete was given)"
    return f"Exit code {int(code)}: {text}"


def _known_findings(result: ScanResult) -> str:
    """A passing gate over findings: say what they are (never "clean" or "no face data")."""
    by = count_by(result.findings, "disposition")
    parts = []
    if by["baseline"]:
        parts.append(f"{by['baseline']} in the baseline")
    if by["waived"]:
        parts.append(f"{by['waived']} waived")
    if by["held"]:
        parts.append(f"{by['held']} held by a legal hold")
    if by["open"]:
        parts.append(f"{by['open']} open below the --fail-on severity")
    n = len(result.findings)
    remain = "1 finding remains" if n == 1 else f"{n} findings remain"
    return f"no new finding fails the gate, but {remain} ({', '.join(parts)})"
