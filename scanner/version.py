"""The version of faceaudit and of the distributions its detectors declare, read from the
installed packaging metadata. A leaf: `faceaudit --version` imports this and nothing else of
the library."""

from __future__ import annotations

from importlib.metadata import Distribution, PackageNotFoundError


def tool_version() -> str:
    try:
        return _version("faceaudit")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"


def distribution_version(name: str) -> str:
    """An installed distribution's version, or "not installed"."""
    try:
        return _version(name)
    except PackageNotFoundError:
        return "not installed"


def _version(name: str) -> str:
    """`importlib.metadata.version(name)`, read from the metadata's `Version:` header line:
    `version()` parses the whole file (with its long description) with the email parser,
    ~5 ms a distribution, and a scan asks for several (start-up). A header it would read
    differently (folded, repeated, empty) is left to it."""
    dist = Distribution.from_name(name)
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    found: list[str] = []
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if not line.strip():
            break  # the end of the headers
        key, sep, value = line.partition(":")
        if sep and key.lower() == "version":
            folded = n + 1 < len(lines) and lines[n + 1][:1] in (" ", "\t")
            found.append("" if folded else value.strip())
    if len(found) == 1 and found[0] and found[0].isprintable() and " " not in found[0]:
        return found[0]
    return dist.version
