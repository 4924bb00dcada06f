"""`faceaudit detectors`: the detectors, their ids and what they find."""

from __future__ import annotations

import typer

from scanner.cli.common import usage


def detectors() -> None:
    """List the detectors, their ids (used by --detector and policies) and what they find;
    plug-ins (the `faceaudit.detectors` entry points) are marked with their distribution."""
    from scanner.detectors import PluginError, registry

    try:
        known = registry()
    except PluginError as exc:
        usage(str(exc))
    defaults = set(known.defaults())
    width = max((len(d.id) for d in known.detectors), default=0)
    kinds = max((len(d.kind.value) for d in known.detectors), default=0)
    for d in known.detectors:
        plugin = known.origin(d.id)
        source = f" [plug-in: {plugin.distribution}]" if plugin else ""
        default = " (default)" if d.id in defaults else ""
        typer.echo(f"{d.id:<{width}}  {d.kind.value:<{kinds}}  {d.description}{source}{default}")
