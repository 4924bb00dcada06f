"""`faceaudit policy …`: validate, list, show and explain policies (a typer sub-app)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from scanner.model import ExitCode

if TYPE_CHECKING:  # the policy schema (pydantic) is imported by the commands that load one
    from scanner.policy.loader import Policy, PolicyErrors

policy_app = typer.Typer(
    help="Validate, list, show and explain policies and the built-in law packs.",
    no_args_is_help=True,
)


def _tool_version() -> str:
    from scanner.version import tool_version

    return tool_version()


def _fail(errors: PolicyErrors) -> NoReturn:
    for e in errors.errors:
        typer.echo(f"faceaudit: policy error: {e}", err=True)
    raise typer.Exit(int(ExitCode.USAGE))


def load_or_exit(ref: str) -> Policy:
    """A policy file, or a built-in pack by name; errors are printed and exit 2."""
    from scanner.policy.loader import (
        PolicyErrors,
        builtin_packs,
        is_pack_name,
        load_policy,
        unknown_pack,
    )

    packs = builtin_packs()
    if ref not in packs and is_pack_name(ref) and not Path(ref).exists():
        from scanner.cli.common import usage

        usage(unknown_pack(ref))
    path = packs[ref] if ref in packs else Path(ref)
    try:
        return load_policy(path, _tool_version())
    except PolicyErrors as exc:
        _fail(exc)


@policy_app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Policy files (or built-in pack names) to check.")
    ],
) -> None:
    """Check policy files, every pack they extend and every register they name (each is
    read: a missing file, table or column is an error); errors name file, line and rule."""
    from scanner.policy.facts import load_registers
    from scanner.policy.loader import (
        PolicyErrors,
        builtin_packs,
        is_pack_name,
        load_policy,
        unknown_pack,
    )

    failed = False
    packs = builtin_packs()
    for f in files:
        path = f
        if not f.exists() and is_pack_name(str(f)):
            if str(f) not in packs:  # `policy validate gdrp`
                typer.echo(f"{f}: {unknown_pack(str(f))}", err=True)
                failed = True
                continue
            path = packs[str(f)]
        try:
            p = load_policy(path, _tool_version())
            load_registers(p)
        except PolicyErrors as exc:
            failed = True
            for e in exc.errors:
                typer.echo(f"{e}", err=True)
            continue
        rules = len(p.enabled_rules)
        typer.echo(
            f"{f}: valid — policy {p.name!r}, packs {', '.join(p.packs)}; {rules} rules enabled, "
            f"{len(p.stores)} stores, {len(p.registers)} registers"
        )
    if failed:
        raise typer.Exit(int(ExitCode.USAGE))


@policy_app.command("list")
def list_rules(
    policy: Annotated[
        str | None,
        typer.Option("--policy", "-p", help="A policy file or pack (default: every built-in)."),
    ] = None,
) -> None:
    """List rules: id, severity, pack, check and title."""
    from scanner.policy.loader import builtin_packs

    refs = [policy] if policy else list(builtin_packs())
    seen: set[str] = set()
    for ref in refs:
        loaded = load_or_exit(ref)
        for r in loaded.rules:
            if r.id in seen or (policy is None and r.pack != loaded.name):
                continue  # every built-in rule once, as the pack that defines it has it
            seen.add(r.id)
            state = "" if r.enabled else "  (disabled)"
            typer.echo(
                f"{r.id:<34} {r.severity.label:<8} {r.pack:<15} {r.rule.check:<26} "
                f"{r.rule.title}{state}"
            )


@policy_app.command()
def show(
    policy: Annotated[str, typer.Argument(help="A policy file or a built-in pack name.")],
) -> None:
    """Show a policy as loaded: packs, stores with their basis and retention, registers,
    legal holds, rules."""
    p = load_or_exit(policy)
    typer.echo(f"policy {p.name!r} — {p.title}")
    typer.echo(f"files: {', '.join(p.files)}")
    typer.echo(f"packs: {', '.join(p.packs)}   digest: {p.digest[:16]}")
    typer.echo(f"\nstores ({len(p.stores)}):")
    for s in p.stores:
        retention = f"{s.retention.period} from {s.retention.starts}" if s.retention else "none"
        typer.echo(
            f"  {s.id}: basis {', '.join(s.legal_basis) or 'none'}; retention {retention}; "
            f"region {', '.join(s.region) or '-'}; owner {s.owner or '-'}"
        )
        if s.use:
            typer.echo(f"      use: {s.use}")
        for pattern in (*s.paths, *s.databases):
            typer.echo(f"      {pattern}")
        for ov in s.overrides:
            typer.echo(f"      override {ov.rule}: {ov.changes()}")
    typer.echo(f"\nregisters ({len(p.registers)}):")
    for reg in p.registers:
        typer.echo(
            f"  {reg.id}: {reg.kind} from {reg.source}{' ' + reg.table if reg.table else ''}"
        )
    if p.holds:
        typer.echo(f"\nlegal holds ({len(p.holds)}):")
    for h in p.holds:
        until = h.end.isoformat() if h.end is not None else "lifted"
        typer.echo(f"  {h.case}: from {h.start.isoformat()} until {until}; owner {h.owner}")
        typer.echo(f"      {h.reason}")
        for store in h.scope.stores:
            typer.echo(f"      store {store}")
        for pattern in (*h.scope.paths, *h.scope.databases):
            typer.echo(f"      {pattern}")
    typer.echo(f"\nrules ({len(p.enabled_rules)} enabled of {len(p.rules)}):")
    for r in p.rules:
        state = "" if r.enabled else " (disabled)"
        typer.echo(f"  {r.id:<34} {r.severity.label:<8} {r.rule.title}{state}")


@policy_app.command()
def explain(
    rule: Annotated[str, typer.Argument(help="A rule id, e.g. GDPR-5-1-E-RETENTION.")],
    policy: Annotated[
        str | None,
        typer.Option("--policy", "-p", help="A policy file or pack (default: every built-in)."),
    ] = None,
) -> None:
    """Explain one rule: what it checks, why (citations), and how to fix a violation."""
    from scanner.policy.loader import builtin_packs

    refs = [policy] if policy else list(builtin_packs())
    for ref in refs:
        loaded = load_or_exit(ref)
        found = loaded.rule(rule)
        if found is None or (policy is None and found.pack != loaded.name):
            continue  # without --policy: the rule as the pack that defines it has it
        r = found.rule
        params = r.parameters()
        typer.echo(f"{r.id} — {r.title}")
        typer.echo(
            f"severity: {found.severity.label}   pack: {found.pack} ({found.file}:{found.line})"
        )
        typer.echo(f"check: {r.check} {params if params else ''}".rstrip())
        typer.echo(f"evidence kinds: {', '.join(r.kinds)}")
        if r.data:
            typer.echo(f"data: {', '.join(r.data)} (by the store's use)")
        typer.echo(f"applies in: {', '.join(found.applies_in) or 'everywhere'}")
        if not found.enabled:
            typer.echo("enabled: no")
        if found.override_reason:
            typer.echo(f"changed by the organisation: {found.override_reason}")
        for store in loaded.stores:
            for ov in store.overrides:
                if ov.rule == r.id:
                    why = f" ({ov.reason})" if ov.reason else ""
                    typer.echo(f"changed for store {store.id!r}: {ov.changes()}{why}")
        typer.echo(f"citations: {'; '.join(r.citations)}")
        if r.description:
            typer.echo(f"\n{r.description.strip()}")
        typer.echo(f"\nremediation: {r.remediation.strip()}")
        if r.help_uri:
            typer.echo(f"read the law: {r.help_uri}")
        return
    typer.echo(f"faceaudit: error: no rule {rule!r} in {', '.join(refs)}", err=True)
    raise typer.Exit(int(ExitCode.USAGE))
