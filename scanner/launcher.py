"""The `faceaudit` console entry point (and `python -m scanner`): answers `faceaudit --version`
without importing typer or any command, and hands every other command line to
`scanner.cli.main`, which owns the exit codes and the signal handling."""

from __future__ import annotations

import sys


def main() -> None:
    """Run `faceaudit`: `--version` alone is answered here, as `scanner.cli` would (same
    output, exit 0); anything else, even `--version` with other arguments, goes to the CLI."""
    if sys.argv[1:] == ["--version"]:
        from scanner.version import tool_version

        sys.stdout.write(f"faceaudit {tool_version()}\n")
        sys.stdout.flush()
        sys.exit(0)
    from scanner.cli import main as cli_main

    cli_main()
