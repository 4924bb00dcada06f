"""`faceaudit audit verify LOG`: check a remediation audit log (a thin typer adapter over
scanner.remediation.audit)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scanner.cli.common import usage

audit_app = typer.Typer(
    help="Check the tamper-evident audit log that remediation writes.",
    no_args_is_help=True,
)


@audit_app.command()
def verify(
    log: Annotated[Path, typer.Argument(help="The audit log (JSON lines).")],
    key: Annotated[
        Path,
        typer.Option(
            "--key",
            help=(
                "The public key that signs the checkpoints: a PEM file, or the key "
                "directory holding audit-ed25519.pub. Use a copy kept away from the log."
            ),
        ),
    ],
) -> None:
    """Check the hash chain and every signed checkpoint of an audit log. Exit 0 when sound;
    1 naming the first bad record (changed, cut, removed, added or moved records, a forged
    checkpoint); 3 when only the last line is unfinished (a crash during an append); 2 when
    the log or the key cannot be read."""
    from scanner.remediation.audit import verify as verify_log
    from scanner.remediation.audit_keys import AuditKeyError, load_public_key

    if not log.is_file():
        usage(f"no such audit log: {log}")
    try:
        public_key = load_public_key(key)
    except AuditKeyError as exc:
        usage(str(exc))
    try:
        result = verify_log(log, public_key)
    except OSError as exc:
        usage(f"{log}: cannot read: {exc.strerror}")
    if result.first_bad is not None:
        typer.echo(f"{log}: NOT SOUND at {result.first_bad}", err=True)
        typer.echo(
            f"{result.records} records before it are sound "
            f"({result.checkpoints} signed checkpoints)",
            err=True,
        )
        raise typer.Exit(int(result.exit_code))
    signed = (
        f"{result.checkpoints} signed checkpoints, the last at record {result.last_checkpoint}"
        if result.last_checkpoint is not None
        else "no signed checkpoint yet"
    )
    typer.echo(f"{log}: {result.records} records chained; {signed}; key {result.key_id}")
    if result.unsigned_tail:
        typer.echo(f"{result.unsigned_tail} records after the last checkpoint are not signed yet")
    if result.recovered:
        typer.echo(f"{result.recovered} lines torn by a crash were recorded and passed over")
    if result.torn_tail is not None:
        typer.echo(f"{log}: INCOMPLETE at {result.torn_tail}", err=True)
        typer.echo("the records before it are sound; the next append records it", err=True)
        raise typer.Exit(int(result.exit_code))
    typer.echo("sound")
