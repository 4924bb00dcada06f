"""Markdown, for pull-request comments, wikis and tickets.

Summary tables by law (pack), severity and store; then each finding with its evidence, age,
legal basis, citations and remediation; then what was not scanned and the policy. Untrusted
text (paths, messages, metadata) is shown inert: paths as code spans, prose with Markdown
and HTML punctuation escaped, controls made visible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from scanner.model import Disposition, Finding, ItemResult, ScanResult
from scanner.reporters.findings import (
    ALL_IN_JSON,
    action_groups,
    age_days,
    count_by,
    due_of,
    evidence_text,
    fact_text,
    is_failing,
    iso,
    items_by_location,
    legal_basis,
    more_rows_text,
    owner_of,
    reported_findings,
    retention_text,
    row_text,
    shown_rows,
    web_uri,
    when_text,
    without_findings,
)
from scanner.reporters.text import markdown_code as code
from scanner.reporters.text import markdown_escape as esc

MAX_FINDINGS = 200  # a pull-request comment holds at most 65,536 characters


def render(result: ScanResult, max_findings: int = MAX_FINDINGS) -> str:
    findings = reported_findings(result)
    items = items_by_location(result)
    now = result.policy.evaluated_at if result.policy is not None else result.finished_at
    out = [*_header(result), "", *_actions(result), "## Summary", "", _totals(result, findings), ""]
    if findings:
        out += _table("Law (pack)", findings, result, lambda f: f.pack)
        out += _table("Severity", findings, result, lambda f: f.severity.label, ordered=True)
        out += _table("Store", findings, result, lambda f: f.store or "(none declared)")
        out += ["## Findings", ""]
        for number, finding in enumerate(findings[:max_findings], 1):
            out += _finding(number, finding, items.get(finding.location), result, now)
        if len(findings) > max_findings:
            rest = len(findings) - max_findings
            out += [f"… and {rest} more findings (`{ALL_IN_JSON}`).", ""]
    out += _due(result, max_findings)
    out += _without_findings(result, max_findings)
    out += _problems(result, max_findings)
    out += _policy(result)
    return "\n".join(out).rstrip("\n") + "\n"


def _actions(result: ScanResult) -> list[str]:
    """What to delete or fix, by whom and by when: by owner and store, soonest first."""
    if result.policy is None:
        return []
    out = ["## Actions", ""]
    if not result.actions:
        return [*out, "Nothing to do: no open finding, and nothing falls due.", ""]
    for owner, store, actions in action_groups(result):
        who = esc(owner) if owner is not None else "no owner declared"
        where = f"store {esc(store)}" if store is not None else "no declared store"
        out += [f"### {who}, {where}", "", "| By when | What | Where | Why |", "|---|---|---|---|"]
        for a in actions:
            known = " (in the baseline)" if a.known else ""
            why = f"{a.severity.label}: {', '.join(a.rule_ids)} ({'; '.join(a.citations)})"
            out.append(
                f"| {when_text(a)}{known} | **{esc(a.title)}**: {esc(a.remediation)} | "
                f"{code(a.location.display, in_table=True)} | {esc(why)} |"
            )
        out.append("")
    return out


def _due(result: ScanResult, limit: int) -> list[str]:
    policy = result.policy
    if policy is None or policy.due_within is None:
        return []
    out = [f"## Falling due within {esc(policy.due_within)} ({len(result.due)})", ""]
    if not result.due:
        return [*out, "Nothing falls due in this window.", ""]
    out += ["| Deadline | Location | Store | Owner | Rule | What will be broken |"]
    out.append("|---|---|---|---|---|---|")
    for d in result.due[:limit]:
        f = d.finding
        out.append(
            f"| {d.deadline.isoformat()} | {code(f.location.display, in_table=True)} | "
            f"{esc(f.store or '-')} | {esc(owner_of(f.store, result) or '-')} | "
            f"{esc(f.rule_id)} ({esc('; '.join(f.citations))}) | {esc(f.message)} |"
        )
    if len(result.due) > limit:
        out.append(f"| … | {len(result.due) - limit} more | `{ALL_IN_JSON}` | | | |")
    return [*out, ""]


def _without_findings(result: ScanResult, limit: int) -> list[str]:
    rest = without_findings(result)
    if not rest:
        return []
    assert result.policy is not None
    out = [
        f"## Face data with no finding ({len(rest)})",
        "",
        "The policy allows these items (or no rule applies to them); they are part of the "
        "inventory.",
        "",
        "| Location | Evidence | Store | Owner | Falls due |",
        "|---|---|---|---|---|",
    ]
    for item in rest[:limit]:
        store = result.policy.store_of(item.location)
        due = due_of(item, result)
        out.append(
            f"| {code(item.location.display, in_table=True)} | {esc(evidence_text(item))} | "
            f"{esc(store or '-')} | {esc(owner_of(store, result) or '-')} | "
            f"{due.isoformat() if due is not None else '-'} |"
        )
    if len(rest) > limit:
        out.append(f"| … | {len(rest) - limit} more | `{ALL_IN_JSON}` | | |")
    return [*out, ""]


def _header(result: ScanResult) -> list[str]:
    policy = result.policy
    judged = (
        f"judged against the policy {code(policy.name)} at {iso(policy.evaluated_at)}"
        if policy is not None
        else "no policy: items with face data are listed as findings of built-in rules"
    )
    stats = result.stats
    return [
        "# faceaudit report",
        "",
        f"faceaudit {code(result.tool_version)}; {stats.items_scanned} items scanned "
        f"({iso(result.started_at)} to {iso(result.finished_at)}); {judged}.",
        "",
        f"**Exit code {int(result.exit_code)}** ({result.exit_code.name.lower()}); "
        f"--fail-on {_fail_on(result)}"
        + ("; **the scan is incomplete**" if result.incomplete else "")
        + ".",
    ]


def _fail_on(result: ScanResult) -> str:
    return result.fail_on.label if result.fail_on is not None else "never"


def _totals(result: ScanResult, findings: tuple[Finding, ...]) -> str:
    if not findings:
        return "No findings."
    by = count_by(findings, "disposition")
    failing = sum(is_failing(f, result) for f in findings)
    return (
        f"{len(findings)} findings: {by['open']} open ({failing} failing at --fail-on "
        f"{_fail_on(result)}), {by['waived']} waived, {by['baseline']} in the baseline"
        + (f", {by['held']} held by a legal hold" if by["held"] else "")
        + "."
    )


def _table(
    title: str,
    findings: Iterable[Finding],
    result: ScanResult,
    key: Callable[[Finding], str],
    ordered: bool = False,
) -> list[str]:
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(key(f), []).append(f)
    names = list(groups) if ordered else sorted(groups)
    rows = [
        f"| {title} | Findings | Open | Failing | Waived | Baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        group = groups[name]
        by = count_by(group, "disposition")
        failing = sum(is_failing(f, result) for f in group)
        rows.append(
            f"| {esc(name)} | {len(group)} | {by['open']} | {failing} | {by['waived']} | "
            f"{by['baseline']} |"
        )
    return [*rows, ""]


def _finding(
    number: int, f: Finding, item: ItemResult | None, result: ScanResult, now: datetime
) -> list[str]:
    state = f.disposition.value
    if is_failing(f, result):
        state += f" (fails the gate at --fail-on {_fail_on(result)})"
    elif f.disposition is Disposition.OPEN:
        state += " (below the --fail-on threshold)"
    if f.justification:
        state += f": {esc(f.justification)}"
    lines = [
        f"### {number}\\. {f.severity.label}: {esc(f.rule_id)}, {esc(f.title)}",
        "",
        f"- **Location:** {code(f.location.display)}",
        f"- **Disposition:** {state}",
        f"- **Message:** {esc(f.message)}",
        f"- **Evidence:** {esc(evidence_text(item))}",
        f"- **Age:** {_age(f, item, now)}",
    ]
    basis = legal_basis(f, result)
    lines.append(f"- **Legal basis:** {esc(basis) if basis is not None else '-'}")
    owner = owner_of(f.store, result)
    lines.append(
        f"- **Law:** {esc(f.pack)}; **store:** {esc(f.store or '(none declared)')}; "
        f"**owner:** {esc(owner) if owner is not None else '-'}"
    )
    citation = "; ".join(esc(c) for c in f.citations) or "-"
    link = web_uri(f.help_uri)
    if link is not None:
        citation += f" ([text of the law](<{link}>))"
    lines.append(f"- **Citation:** {citation}")
    lines.append(f"- **Remediation:** {esc(f.remediation)}")
    other = [(k, v) for k, v in f.facts if k not in ("basis", "legal_basis", "age_days")]
    if other:
        lines.append(
            "- **Facts:** " + ", ".join(f"{esc(k)}: {esc(fact_text(v))}" for k, v in other)
        )
    shown, more = shown_rows(f)
    if shown:
        total = f.rows.total if f.rows is not None else len(shown)
        lines.append(f"- **Rows ({total}):**")
        lines += [f"  - {esc(row_text(r))}" for r in shown]
        if more:
            lines.append(f"  - {more_rows_text(more)}")
    lines += [f"- **Fingerprint:** `{f.fingerprint}`", ""]
    return lines


def _age(f: Finding, item: ItemResult | None, now: datetime) -> str:
    days = age_days(f, item, now)
    context = item.context if item is not None else None
    text = f"{days} days" if days is not None else "unknown"
    if context is not None and context.created is not None:
        source = f" ({esc(context.created_source)})" if context.created_source else ""
        text += f", created {iso(context.created)}{source}"
    return text


def _problems(result: ScanResult, limit: int) -> list[str]:
    incomplete = [p for p in result.problems if p.incomplete]
    noted = [p for p in result.problems if not p.incomplete]
    out: list[str] = []
    for title, problems in (
        ("Not scanned: the scan is incomplete", incomplete),
        ("Skipped by design", noted),
    ):
        if not problems:
            continue
        out += [f"## {title} ({len(problems)})", "", "| Reason | Location | Detail |"]
        out.append("|---|---|---|")
        for p in problems[:limit]:
            out.append(
                f"| {p.reason.value} | {code(p.location.display, in_table=True)} | "
                f"{esc(p.detail)} |"
            )
        if len(problems) > limit:
            out.append(f"| … | {len(problems) - limit} more | see the JSON report |")
        out.append("")
    if result.interrupted:
        out += ["**The scan was interrupted** before every item was examined.", ""]
    return out


def _policy(result: ScanResult) -> list[str]:
    policy = result.policy
    if policy is None:
        return []
    out = [
        "## Policy",
        "",
        f"- **Name:** {code(policy.name)}",
        f"- **Digest (sha256):** `{policy.digest}`",
        f"- **Files:** {', '.join(code(f) for f in policy.files)}",
        f"- **Packs:** {', '.join(esc(p) for p in policy.packs)}",
        f"- **Stores:** {', '.join(esc(s) for s in policy.stores) or '-'}",
        f"- **Rules enabled:** {len(policy.rules)}",
        f"- **Evaluated at:** {iso(policy.evaluated_at)}",
        f"- **Due within:** {esc(policy.due_within) if policy.due_within else '-'}",
        "",
    ]
    if policy.store_details:
        out += [
            "### Declared stores",
            "",
            "| Store | Owner | Purpose | Legal basis | Retention |",
            "|---|---|---|---|---|",
        ]
        for st in policy.store_details:
            basis = ", ".join(st.legal_basis) or "-"
            out.append(
                f"| {esc(st.id)} | {esc(st.owner or '-')} | {esc(st.purpose or '-')} | "
                f"{esc(basis)} | {esc(retention_text(st))} |"
            )
        out.append("")
    if policy.expired_waivers:
        out += [f"### Expired waivers ({len(policy.expired_waivers)}): they fail the gate", ""]
        out += [f"- {esc(w)}" for w in policy.expired_waivers] + [""]
    if policy.unused_waivers:
        out += [f"### Unused waivers ({len(policy.unused_waivers)})", ""]
        out += [f"- {esc(w)}" for w in policy.unused_waivers] + [""]
    return out
