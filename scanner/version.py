"""The version of faceaudit and of the distributions its detectors declare, read from the
installed packaging metadata. A leaf: `faceaudit --version` imports this and nothing else of
the library."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def tool_version() -> str:
    try:
        return version("faceaudit")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"


def distribution_version(name: str) -> str:
    """An installed distribution's version, or "not installed"."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"
