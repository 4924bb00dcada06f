"""Identity roots: the directory a file's identity is named from.

A finding's identity must not depend on how its target was spelled (`share`, `./share`,
`/srv/share`, `cd share; scan .`) nor on the command that found it (scan, watch, subject
find). So a file's identity is its path relative to a root (scanner.model.Anchor): the scan
target it was found under — a file target's own folder — or, when roots are given
(`--root DIR`, e.g. the repository root in CI; `watch` gives the watched directories), the
deepest root that holds the target. Paths are compared resolved (symbolic links followed),
then as written made absolute, so a root reached through a link still holds its files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from scanner.errors import ConfigError
from scanner.model import Anchor


def resolved_roots(roots: Sequence[Path]) -> tuple[str, ...]:
    """The roots as absolute, resolved directories (ConfigError for one that is not a
    directory)."""
    out = []
    for root in roots:
        if not os.path.isdir(root):
            raise ConfigError(f"--root {root}: not a directory")
        out.append(os.path.realpath(root))
    return tuple(dict.fromkeys(out))


def _inside(path: str, root: str) -> str | None:
    """`path` relative to `root` ('/'-separated, "" for the root itself), or None."""
    if path == root:
        return ""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


def base_of(target: str | Path, roots: Sequence[str], *, strict: bool = True) -> Anchor:
    """Where a target is: the root its identity is named from and its path inside that root
    ("" for a directory that is its own root). A target outside every root given is a
    ConfigError (its findings could not be named from the root) — or, not `strict` (a
    SQLite file named by URI), its own root."""
    forms = (os.path.realpath(target), os.path.abspath(target))
    if roots:
        for form in forms:
            for root in sorted(roots, key=len, reverse=True):  # the deepest first
                rel = _inside(form, root)
                if rel is not None:
                    return Anchor(root, rel)
            for root in sorted(roots, key=len, reverse=True):  # a root written through a link
                rel = _inside(form, os.path.abspath(root))
                if rel is not None:
                    return Anchor(root, rel)
        if not strict:
            return base_of(target, ())
        raise ConfigError(
            f"{target} is outside --root {', '.join(roots)}: findings are named relative "
            "to the root, so every target must be inside it"
        )
    real = forms[0]
    if os.path.isdir(real):
        return Anchor(real, "")
    head, name = os.path.split(real)
    return Anchor(head or "/", name)


def check_targets(targets: Sequence[str | Path], roots: Sequence[Path]) -> None:
    """ConfigError when a root is not a directory or a target lies outside every root."""
    if not roots:
        return
    resolved = resolved_roots(roots)
    for target in targets:
        base_of(target, resolved)


def under(base: Anchor, rel: str) -> Anchor:
    """The anchor of `rel` ('/'-separated, relative to the target) below the target."""
    if not rel:
        return base
    return Anchor(base.root, f"{base.path}/{rel}" if base.path else rel)
