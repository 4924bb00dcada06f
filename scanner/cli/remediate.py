"""`faceaudit remediate`: plan, apply, restore, purge and list (docs/remediation.md).

Exit codes: 0 everything planned was done (or, in a dry run, would be: `manual` items, a
person's to do, and `none` items do not count); 1 never; 2 a usage
error (a bad plan or report, a vault that cannot be opened or made, nothing selected);
3 incomplete: at least one item was skipped (a precondition no longer holds), failed (rolled
back), met a conflict, or is blocked (an Object Lock retention: "blocked until DATE") —
nothing of those items was touched.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from scanner.cli.common import usage
from scanner.errors import FaceauditError
from scanner.model import ExitCode

if TYPE_CHECKING:
    from scanner.policy.declarations import Hold as PolicyHold
    from scanner.remediation import Outcome, Vault
    from scanner.remediation.plan import PlanItem

remediate_app = typer.Typer(
    help="Act on findings without losing anything: plan, review, apply into an encrypted "
    "quarantine vault, restore, purge after the grace period. Exit codes: 0 done, 2 usage "
    "error, 3 some items skipped, failed or in conflict (untouched).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

# A test hook: `quarantine:synced` makes the process SIGKILL itself once that journal state
# is durable (tests/remediation/test_crash.py). Read here, never by the library.
KILL_AFTER_ENV = "FACEAUDIT_REMEDIATE_KILL_AFTER"

VaultOption = Annotated[
    Path, typer.Option("--vault", help="The quarantine vault (a directory; made 0700).")
]
DsnOption = Annotated[
    list[str] | None,
    typer.Option(
        "--dsn",
        help="A database URI the scan used, with its credentials (repeatable): rows of that "
        "database are read and written through it. Never written to the plan or the log.",
    ),
]
LogOption = Annotated[
    Path | None,
    typer.Option(
        "--log",
        help="Append the events to this audit log (default: VAULT/audit.jsonl).",
    ),
]


def _hook(op: str, state: str) -> None:
    if os.environ.get(KILL_AFTER_ENV) == f"{op}:{state}":
        os.kill(os.getpid(), signal.SIGKILL)


def _open_vault(path: Path, *, create: bool) -> Vault:
    from scanner.remediation import Vault, VaultError

    try:
        return Vault.open(path, create=create)
    except VaultError as exc:
        usage(str(exc))


def terminal_safe(text: str) -> str:
    from scanner.reporters.text import terminal_safe as safe  # not at start-up

    return safe(text)


def _show(outcomes: list[Outcome]) -> int:
    for o in outcomes:
        who = o.item or o.vault_id or "-"
        typer.echo(f"{o.status:<9} {who:<16} {terminal_safe(o.path)}  {terminal_safe(o.detail)}")
    bad = [o for o in outcomes if not o.ok]
    return int(ExitCode.INCOMPLETE if bad else ExitCode.CLEAN)


def _recover(vault: Vault, log: Path | None, dsns: tuple[str, ...] = ()) -> None:
    from scanner.remediation import recover

    for o in recover(vault, log=log, dsns=dsns):
        typer.echo(f"recovered {o.vault_id}: {terminal_safe(o.path)}: {o.detail}", err=True)


@remediate_app.command("plan")
def plan_command(  # noqa: PLR0912 (one option each)
    report: Annotated[
        Path | None, typer.Argument(help="A JSON report (`scan --policy … --format json`).")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the plan.")] = Path(
        "remediation-plan.json"
    ),
    action: Annotated[
        str,
        typer.Option(
            "--action",
            help="What open findings get: delete (quarantine, purged after the grace period) "
            "or quarantine (kept until restored).",
        ),
    ] = "delete",
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Take the grace period from this policy's remediation and keep what its legal "
            "holds cover; --scan judges by it.",
        ),
    ] = None,
    grace_days: Annotated[
        int | None,
        typer.Option("--grace-days", help="Days in the vault before purge (default: policy, 30)."),
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option("--base", help="Resolve the report's relative paths here (default: .)."),
    ] = None,
    scan_targets: Annotated[
        list[str] | None,
        typer.Option(
            "--scan",
            help="Scan this target under --policy first (repeatable); the JSON report is "
            "written beside the plan (PLAN.report.json) and the plan made from it.",
        ),
    ] = None,
    subject: Annotated[
        Path | None,
        typer.Option(
            "--subject",
            help="Plan the erasure of every match of this `subject find --format json` report.",
        ),
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="Append the plan's event to this JSON-lines file."),
    ] = None,
    dsns: DsnOption = None,
    rows: Annotated[
        str,
        typer.Option(
            "--rows",
            help="What database rows get: clear (the face column set to NULL) or delete "
            "(the whole row).",
        ),
    ] = "clear",
) -> None:
    """Write a plan: one action per item of the report's findings, with the rules and laws
    that demand it and the preconditions (a file's size, SHA-256, mtime, inode; an object's
    ETag and version id; each database row's key and value hash). Findings inside a
    container (archive, PDF, office document, mailbox, video) are `manual` (a person removes
    the members; the container is left alone) unless the policy's `container_action: whole`
    allows acting on the container, or every member the scan examined is a finding."""
    from scanner.remediation import DEFAULT_GRACE_DAYS, PlanError, plan_from_report, write_plan
    from scanner.remediation.events import record, seal
    from scanner.remediation.plan import ContainerRule, summary

    if sum(x is not None for x in (report, subject, scan_targets)) != 1:
        usage("name a JSON report to plan from, --scan TARGET or --subject REPORT (one of them)")
    incomplete = False
    if scan_targets:
        if policy is None:
            usage("--scan needs --policy (the plan acts on a policy's findings)")
        report, incomplete = _scan_report(scan_targets, policy, output)
    days = grace_days
    holds: tuple[PolicyHold, ...] = ()
    containers: ContainerRule | None = None
    if policy is not None:
        from scanner.cli.policy import load_or_exit

        loaded = load_or_exit(policy)
        holds = loaded.holds
        days = loaded.grace_days if days is None else days
        containers = ContainerRule(
            loaded.container_action,
            tuple((s.id, s.container_action) for s in loaded.stores if s.container_action),
        )
    if days is None:
        days = DEFAULT_GRACE_DAYS
    if days < 0:
        usage("--grace-days must be 0 or more")
    if rows not in ("clear", "delete"):
        usage(f"--rows {rows!r}: clear or delete")
    try:
        if subject is not None:
            from scanner.remediation.subject_plan import plan_from_subject

            plan = plan_from_subject(
                subject, base=base or Path.cwd(), action=action, grace_days=days, holds=holds
            )
        else:
            assert report is not None
            plan = plan_from_report(
                report,
                base=base or Path.cwd(),
                action=action,
                grace_days=days,
                holds=holds,
                dsns=tuple(dsns or ()),
                rows_mode=rows,
                containers=containers,
            )
    except PlanError as exc:
        usage(str(exc))
    try:
        write_plan(plan, output)
    except OSError as exc:
        usage(f"cannot write the plan {output}: {exc.strerror}")
    counts = summary(plan)
    digest = plan.source.get("report_sha256") or plan.source.get("subject_report_sha256")
    record(log, "plan", plan=plan.plan_id, report_sha256=str(digest), **counts)
    seal(log)
    for item in plan.items:
        typer.echo(_plan_line(item))
    typer.echo(
        f"Plan {plan.plan_id} written to {output}: {counts['delete']} to delete, "
        f"{counts['quarantine']} to quarantine, {counts['manual']} for a person (members of a "
        f"container; the container is left alone), {counts['none']} left alone. Review it, "
        f"then `faceaudit remediate apply {output} --vault DIR`.",
        err=True,
    )
    if incomplete:
        typer.echo("faceaudit: the scan was incomplete: the plan covers what it saw", err=True)
        raise typer.Exit(int(ExitCode.INCOMPLETE))


def _plan_line(item: PlanItem) -> str:
    """One plan item as the review reads it: the action, the file; the rules, or why it is
    left alone; for a container, the members and whether the whole container is acted on."""
    left = item.action in ("none", "manual")
    what = (item.reason or "") if left else ", ".join(item.rule_ids)
    line = f"{item.action:<10} {item.id}  {terminal_safe(item.path)}  {terminal_safe(what)}"
    if item.container is not None:
        line += f"\n{'':<10} {'':<5}  members: {terminal_safe(', '.join(item.members))}"
        if item.container.scope == "whole":
            line += f"; {terminal_safe(item.container.why)}"
    return line


def _scan_report(targets: list[str], policy: str, output: Path) -> tuple[Path, bool]:
    """Scan `targets` under `policy`; the JSON report beside the plan, and whether the scan
    was incomplete."""
    import sys

    from scanner.cli.common import require_targets, run_with_progress
    from scanner.cli.policy import load_or_exit
    from scanner.config import ScanConfig
    from scanner.errors import ConfigError
    from scanner.policy.judgement import Judgement
    from scanner.reporters import Format, render

    require_targets(targets)
    judgement = Judgement(load_or_exit(policy))
    try:
        config = ScanConfig(targets=tuple(targets))
        result = run_with_progress(config, show=sys.stderr.isatty(), judgement=judgement)
    except ConfigError as exc:
        usage(str(exc))
    report = output.with_name(output.stem + ".report.json")
    report.write_text(render(result, Format.JSON), encoding="utf-8")
    return report, result.incomplete


@remediate_app.command("apply")
def apply_command(
    plan_file: Annotated[Path, typer.Argument(help="The plan (`remediate plan`).")],
    vault: VaultOption,
    yes: Annotated[
        bool, typer.Option("--yes", help="Act. Without it: a dry run, which touches nothing.")
    ] = False,
    log: LogOption = None,
    dsns: DsnOption = None,
) -> None:
    """Show what the plan would do (dry run), or with --yes do it: each item's
    preconditions are checked, and an item that changed is skipped, never acted on. An
    object or rows under a retention that forbids erasure are `blocked` (exit 3)."""
    from scanner.remediation import Outcome, PlanError, read_plan
    from scanner.remediation.events import LOG_NAME, record, seal
    from scanner.remediation.targets import apply_items, check_item

    uris = tuple(dsns or ())
    try:
        plan = read_plan(plan_file)
    except PlanError as exc:
        usage(str(exc))
    if not yes:
        outcomes = [check_item(i, uris) for i in plan.items]
        dry_log = log or (vault / LOG_NAME if (vault / "VAULT").is_file() else None)
        record(
            dry_log,
            "dry-run",
            plan=plan.plan_id,
            would=sum(o.status == "would" for o in outcomes),
            skipped=sum(o.status == "skipped" for o in outcomes),
            manual=sum(o.status == "manual" for o in outcomes),
        )
        seal(dry_log)
        code = _show(outcomes)
        _manual_note(outcomes)
        typer.echo("Dry run: nothing was touched (--yes acts).", err=True)
        raise typer.Exit(code)
    v = _open_vault(vault, create=True)
    with v:
        log = log or v.path / LOG_NAME
        _recover(v, log, uris)
        try:
            record(log, "apply", plan=plan.plan_id, items=len(plan.acting), manual=len(plan.manual))
        except (OSError, FaceauditError) as exc:
            typer.echo(f"faceaudit: cannot record in {log}: {exc}; nothing was done", err=True)
            raise typer.Exit(int(ExitCode.INCOMPLETE)) from None
        done = {
            str(e.get("plan_item")): str(e["id"])
            for e in v.entries()
            if e.get("plan") == plan.plan_id and e.get("state") != "restored"
        }
        # an object or rows whose erasure recovery could not finish (the store or the
        # database unreachable, no --dsn): in the vault, but not done
        pending = set(v.names("journal"))
        todo = [i for i in plan.items if i.id not in done]
        moved = iter(apply_items(v, todo, plan, log=log, on_state=_hook, dsns=uris))
        outcomes = [
            (
                Outcome(
                    "failed",
                    i.path,
                    f"in the vault as {done[i.id]}, its erasure not finished (the next run "
                    "retries; rows need --dsn)",
                    i.id,
                    done[i.id],
                )
                if done[i.id] in pending
                else Outcome(
                    "done", i.path, f"already in the vault as {done[i.id]}", i.id, done[i.id]
                )
            )
            if i.id in done
            else next(moved)
            for i in plan.items
        ]
        seal(log)
    code = _show(outcomes)
    _manual_note(outcomes)
    raise typer.Exit(code)


def _manual_note(outcomes: list[Outcome]) -> None:
    """How many items are a person's to do (they do not change the exit code)."""
    manual = sum(o.status == "manual" for o in outcomes)
    if manual:
        typer.echo(
            f"{manual} item(s) left for a person: members inside a container, which was not "
            "touched (the plan names the members and why).",
            err=True,
        )


@remediate_app.command("restore")
def restore_command(
    vault: VaultOption,
    ids: Annotated[
        list[str] | None, typer.Argument(help="Vault item ids (`remediate list`).")
    ] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Restore every item this plan quarantined.")
    ] = None,
    all_items: Annotated[
        bool, typer.Option("--all", help="Restore every quarantined item.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Quarantine whatever stands in an item's place first."),
    ] = False,
    log: LogOption = None,
    dsns: DsnOption = None,
) -> None:
    """Put quarantined items back, byte-identical with owner, group, mode, timestamps and
    extended attributes. Never overwrites: a file in the way is a conflict (exit 3). An
    object comes back as a new version of its key; rows get their values back (--dsn)."""
    from scanner.remediation import PlanError, read_plan
    from scanner.remediation.events import LOG_NAME, seal
    from scanner.remediation.targets import restore_items

    uris = tuple(dsns or ())
    v = _open_vault(vault, create=False)
    with v:
        log = log or v.path / LOG_NAME
        _recover(v, log, uris)
        entries = [e for e in v.entries() if e.get("state") == "quarantined"]
        chosen = list(ids or [])
        if plan_file is not None:
            try:
                plan_id = read_plan(plan_file).plan_id
            except PlanError as exc:
                usage(str(exc))
            chosen += [str(e["id"]) for e in entries if e.get("plan") == plan_id]
        if all_items:
            chosen += [str(e["id"]) for e in entries]
        if not chosen:
            usage("name item ids, --plan PLAN or --all")
        outcomes = restore_items(
            v, list(dict.fromkeys(chosen)), force=force, log=log, on_state=_hook, dsns=uris
        )
        seal(log)
    raise typer.Exit(_show(outcomes))


@remediate_app.command("purge")
def purge_command(
    vault: VaultOption,
    yes: Annotated[
        bool, typer.Option("--yes", help="Destroy. Without it: list what would be destroyed.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Judge the grace periods at this UTC date (ISO 8601)."),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Keep every item a legal hold of this policy covers (holds declared since "
            "the plan count too).",
        ),
    ] = None,
    log: LogOption = None,
) -> None:
    """Destroy the deleted items whose grace period has passed: the key first, then the
    data; an erasure record for each. Quarantined (not deleted) and held items are kept."""
    from scanner.remediation import due, purge
    from scanner.remediation.events import LOG_NAME, record, seal

    holds: tuple[PolicyHold, ...] = ()
    if policy is not None:
        from scanner.cli.policy import load_or_exit

        holds = load_or_exit(policy).holds

    now = datetime.now(timezone.utc)
    if as_of is not None:
        try:
            now = datetime.fromisoformat(as_of).replace(tzinfo=timezone.utc)
        except ValueError:
            usage(f"--as-of {as_of!r} is not an ISO 8601 date")
    v = _open_vault(vault, create=False)
    with v:
        log = log or v.path / LOG_NAME
        if not yes:
            from scanner.remediation import Outcome, holds_for

            outcomes = []
            for e in v.entries():
                if not due(e, now):
                    continue
                where, vid = str(e.get("location")), str(e["id"])
                hold = holds_for(where, holds, None, now)
                outcomes.append(
                    Outcome("would", where, "purge", vault_id=vid)
                    if hold is None
                    else Outcome("kept", where, f"legal hold {hold.case}: {hold.reason}", None, vid)
                )
            kept = sum(o.status == "kept" for o in outcomes)
            record(log, "purge-dry-run", due=len(outcomes) - kept, held=kept)
            seal(log)
            code = _show(outcomes)
            typer.echo(f"Dry run: {len(outcomes)} due; nothing destroyed (--yes does).", err=True)
            raise typer.Exit(code)
        _recover(v, log)
        outcomes = [
            purge(v, str(e["id"]), now=now, log=log, on_state=_hook, holds=holds)
            for e in v.entries()
            if due(e, now)
        ]
        seal(log)
        typer.echo(f"{sum(o.status == 'done' for o in outcomes)} purged.", err=True)
    raise typer.Exit(_show(outcomes))


@remediate_app.command("list")
def list_command(
    vault: VaultOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The vault's items: id, state, action, when it may be purged, where it came from."""
    v = _open_vault(vault, create=False)
    with v:
        for e in v.entries():
            if as_json:
                shown = {k: e.get(k) for k in ("id", "state", "action", "purge_after", "plan")}
                typer.echo(json.dumps({**shown, "location": e.get("location")}))
                continue
            typer.echo(
                f"{e.get('id')}  {e.get('state'):<11} {e.get('action') or '-':<10} "
                f"{e.get('purge_after') or '-':<20} {terminal_safe(str(e.get('location') or '-'))}"
            )
        pending = v.names("journal")
        if pending:
            typer.echo(
                f"{len(pending)} action(s) interrupted: the next apply recovers them", err=True
            )
