"""`faceaudit detectors`: the detectors, their ids and what they find."""

from __future__ import annotations

import typer


def detectors() -> None:
    """List the detectors, their ids (used by --detector and policies) and what they find."""
    from scanner.detectors import DEFAULT_DETECTORS, DETECTORS

    for d in DETECTORS:
        default = " (default)" if d.id in DEFAULT_DETECTORS else ""
        typer.echo(f"{d.id:<15} {d.kind.value:<12} {d.description}{default}")
