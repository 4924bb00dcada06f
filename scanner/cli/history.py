"""`faceaudit history`: the recorded scans, filtered by target, and one scan in detail (what
was new and what went)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scanner.cli.common import DEFAULT_WAIT_LOCK
from scanner.model import ExitCode

if TYPE_CHECKING:
    from scanner.state.store import RecordedFinding, ScanRecord

SHOW_ROWS = 20  # findings listed per section of `--show` in a table; JSON lists them all


def history(
    state: Annotated[
        Path | None,
        typer.Option("--state", help="State database (default: in the user's state directory)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    limit: Annotated[int, typer.Option("--limit", help="Most recent scans shown.")] = 20,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            help="Only scans of this folder, file or database, or of places inside it, "
            "however it was typed (repeatable).",
        ),
    ] = None,
    show: Annotated[
        int | None,
        typer.Option(
            "--show",
            help="One scan in detail (its number, #): its new findings and the ones that "
            "went (gone), by location.",
        ),
    ] = None,
) -> None:
    """Show the recorded scans: counts, new and resolved findings, by kind and severity."""
    from scanner.cli.common import default_state_path, open_state, usage

    if fmt not in ("table", "json"):
        usage(f"unknown --format {fmt!r} (expected: table, json)")
    if limit < 1:
        usage("--limit must be 1 or more")
    path = state or default_state_path()
    if not path.exists():
        typer.echo(f"faceaudit: no state database at {path}: no scans recorded yet", err=True)
        raise typer.Exit(int(ExitCode.CLEAN))
    with open_state(path, DEFAULT_WAIT_LOCK) as db:
        assert db is not None
        if show is not None:
            record = db.scan(show)
            if record is None:
                usage(f"--show {show}: no scan #{show} in {path} (see `faceaudit history`)")
            before, new, gone = db.changes(record)
            _show(record, before, new, gone, fmt)
            return
        records = db.history(limit, under=_places(target or []))
    if fmt == "json":
        typer.echo(json.dumps([_plain(r) for r in records], indent=2))
        return
    _table(records, filtered=bool(target))


def _places(targets: list[str]) -> list[str]:
    """The spellings a target may have been recorded under: as reports show a database URI;
    a path absolute (what scans record) and as typed (scans recorded before they kept
    their absolute targets)."""
    from scanner.sources import display, scheme_of

    out: list[str] = []
    for t in targets:
        if scheme_of(t):
            out.append(display(t))
        else:
            out += [os.path.abspath(t), os.path.normpath(t)]
    return list(dict.fromkeys(out))


def _plain(r: ScanRecord) -> dict[str, Any]:
    out = dict(r.__dict__)
    out["roots"] = list(r.roots) if r.roots is not None else None
    return out


def _templates(r: ScanRecord) -> str:
    if r.templates is None:
        return "-"  # recorded before faceaudit counted them
    return f"~{r.templates}" if r.templates_estimated else str(r.templates)


def _table(records: list[ScanRecord], filtered: bool) -> None:
    from scanner.reporters.text import terminal_safe

    if not records:
        typer.echo("no recorded scans" + (" of these targets" if filtered else ""))
        return
    typer.echo(
        f"{'#':>4}  {'finished (UTC)':<20} {'exit':>4} {'items':>6} {'faces':>6} "
        f"{'templates':>9} {'open':>6} {'new':>5} {'gone':>5}  policy / targets"
    )
    for r in records:
        targets = terminal_safe(", ".join(json.loads(r.targets)))
        mark = "*" if r.incomplete else " "
        typer.echo(
            f"{r.id:>4}  {r.finished_at[:19]:<20} {r.exit_code:>3}{mark} "
            f"{r.items_with_evidence:>6} {r.faces:>6} {_templates(r):>9} {r.findings_open:>6} "
            f"{r.new_findings:>5} {r.resolved_findings:>5}  {r.policy or '-'} / {targets[:60]}"
        )
    if any(r.incomplete for r in records):
        typer.echo("(* the scan was incomplete)")
    if any(r.templates_estimated for r in records):
        typer.echo("(~ some template counts are estimated from sampled database rows)")
    if any(r.new_findings or r.resolved_findings for r in records):
        typer.echo("(`faceaudit history --show #` lists what was new and what went)")


def _show(
    r: ScanRecord,
    before: int | None,
    new: list[RecordedFinding],
    gone: list[RecordedFinding],
    fmt: str,
) -> None:
    from scanner.reporters.text import terminal_safe

    if fmt == "json":
        doc = {
            "scan": _plain(r),
            "compared_with": before,
            "new": [f.__dict__ for f in new],
            "resolved": [f.__dict__ for f in gone],
        }
        typer.echo(json.dumps(doc, indent=2))
        return
    state = "incomplete" if r.incomplete else "complete"
    typer.echo(
        f"scan #{r.id}, finished {r.finished_at[:19]} UTC, exit {r.exit_code} ({state}), "
        f"policy {r.policy or '-'}"
    )
    typer.echo(f"targets: {terminal_safe(', '.join(json.loads(r.targets)))}")
    templates = _templates(r)
    typer.echo(
        f"{r.items_with_evidence} items with face data, {r.faces} faces, "
        f"{templates} stored templates in {r.embeddings} store{'' if r.embeddings == 1 else 's'}, "
        f"{r.findings_open} open findings"
    )
    since = f"since scan #{before}" if before is not None else "(the first scan of its targets)"
    typer.echo(f"{len(new)} new, {len(gone)} gone {since}")
    for title, rows in (("new", new), ("gone", gone)):
        if not rows:
            continue
        typer.echo(f"\n{title}:")
        for f in rows[:SHOW_ROWS]:
            store = f"  [{terminal_safe(f.store)}]" if f.store else ""
            typer.echo(
                f"  {f.severity:<8} {terminal_safe(f.rule_id):<24} "
                f"{terminal_safe(f.location)}{store}"
            )
        if len(rows) > SHOW_ROWS:
            typer.echo(f"  … and {len(rows) - SHOW_ROWS} more (--format json lists them all)")
