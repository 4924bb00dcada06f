"""`faceaudit demo`: a demo tree and organisation, scanned and judged for real."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.common import run_with_progress, usage
from scanner.cli.output import write_stdout
from scanner.config import ScanConfig
from scanner.model import ScanResult


def demo(
    directory: Annotated[
        Path, typer.Argument(help="Where to build the demo tree (replaced if it is one).")
    ] = Path("demo-data"),
    workers: Annotated[int, typer.Option("--workers", "-j", help="Worker processes.")] = -1,
) -> None:
    """Build a demo tree and a demo organisation from photos that installed packages ship;
    scan the tree, then judge the organisation against its policy."""
    from scanner.demo import DemoUnavailable, build_demo_tree
    from scanner.demo_org import AS_OF, build_demo_org
    from scanner.reporters import Format, render

    try:
        root = build_demo_tree(directory)
        policy_file = build_demo_org(root / "org")
    except DemoUnavailable as exc:
        usage(str(exc))
    jobs = (os.cpu_count() or 1) if workers < 0 else workers
    typer.echo(f"Built a demo tree in {root}; scanning it for real:\n", err=True)
    config = ScanConfig(targets=(root,), exclude=("./org",), workers=jobs)
    result = run_with_progress(config, show=sys.stderr.isatty())
    write_stdout(render(result, Format.CONSOLE), utf8=False)
    typer.echo(
        f"\n(`faceaudit scan {root}` would exit {int(result.exit_code)}: face data was found "
        "and one file is truncated on purpose.)",
        err=True,
    )
    org = root / "org"
    typer.echo(
        f"\nNow a demo organisation in {org}, judged against its policy {policy_file} "
        f"(GDPR, UK GDPR, EU AI Act packs and a rule of its own), as of {AS_OF.date()}:\n",
        err=True,
    )
    from scanner.cli.policy import load_or_exit
    from scanner.policy.judgement import Judgement

    org_config = ScanConfig(targets=(org,), workers=jobs)
    judgement = Judgement(load_or_exit(str(policy_file)), as_of=AS_OF)
    org_result = run_with_progress(org_config, show=sys.stderr.isatty(), judgement=judgement)
    write_stdout(render(org_result, Format.CONSOLE), utf8=False)
    typer.echo(
        f"\n(The demo itself exits 0. `faceaudit scan {org} --policy {policy_file} "
        f"--as-of {AS_OF.date()}` would exit {int(org_result.exit_code)}.)",
        err=True,
    )
    if not result.items or not org_result.findings:
        raise typer.Exit(1)
    _remediation_plan(root, org_result)


def _remediation_plan(root: Path, org_result: ScanResult) -> None:
    """What `faceaudit remediate` would do about the organisation's findings: a plan and
    its dry run (nothing is moved)."""
    from scanner.remediation import check, plan_from_report, write_plan
    from scanner.reporters import Format, render
    from scanner.reporters.text import terminal_safe

    report, plan_file = root / "org-report.json", root / "org-remediation-plan.json"
    report.write_text(render(org_result, Format.JSON), encoding="utf-8")
    plan = plan_from_report(report, base=Path.cwd())
    write_plan(plan, plan_file)
    typer.echo(
        f"\nA remediation plan for those findings, {plan_file}, and its dry run "
        f"(`faceaudit remediate apply {plan_file} --vault DIR`; nothing is moved "
        "without --yes; docs/remediation.md):\n",
        err=True,
    )
    for item in plan.items:
        outcome = check(item)
        why: str | None = ", ".join(item.rule_ids)
        if item.action == "manual":  # members of a container: the container stays
            why = f"a person removes {', '.join(item.members)}; the container is left alone"
        elif item.action == "none":
            why = item.reason
        typer.echo(
            f"{item.action:<7} {outcome.status:<6} {terminal_safe(item.path)}  "
            f"({terminal_safe(str(why))})"
        )
