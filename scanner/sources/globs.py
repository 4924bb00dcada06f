"""Include/exclude globs over paths relative to the scan root.

A pattern without `/` matches a name at any depth (`*.jpg`, `node_modules`); a pattern with
`/` matches the whole relative path, where `**` spans directories (`photos/**/*.png`). A leading
`./` or `/` anchors a pattern at the scan root (`./*.jpg`); a trailing `/` is ignored.
Matching is case-sensitive, like the filesystems it runs on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def glob_body(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                    out.append("(?:.*/)?")  # zero or more directories
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = i + 2 if pattern[i + 1 : i + 2] == "!" else i + 1
            j = pattern.find("]", j + 1 if pattern[j : j + 1] == "]" else j)  # `[]]`, `[!]]`
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class Glob:
    pattern: str
    regex: re.Pattern[str]
    anchored: bool  # True when the pattern names a path, not just a base name

    @classmethod
    def compile(cls, pattern: str) -> Glob:
        text = pattern.strip()
        rooted = text.startswith(("./", "/"))  # `./x` and `/x` name a path from the root
        text = text.removeprefix("./").strip("/")
        if not text:
            raise ValueError("empty glob pattern")
        anchored = rooted or "/" in text
        body = glob_body(text)
        return cls(pattern, re.compile(rf"\A{body}\Z", re.DOTALL), anchored)

    def matches(self, relpath: str) -> bool:
        if self.anchored:
            return self.regex.match(relpath) is not None
        return self.regex.match(relpath.rsplit("/", 1)[-1]) is not None


@dataclass(frozen=True)
class PathFilter:
    include: tuple[Glob, ...] = ()
    exclude: tuple[Glob, ...] = ()

    @classmethod
    def build(cls, include: tuple[str, ...], exclude: tuple[str, ...]) -> PathFilter:
        return cls(tuple(Glob.compile(p) for p in include), tuple(Glob.compile(p) for p in exclude))

    def excludes(self, relpath: str) -> bool:
        """True when a file or directory is excluded (directories are then not entered)."""
        return any(g.matches(relpath) for g in self.exclude)

    def includes_file(self, relpath: str) -> bool:
        if not self.include:
            return True
        return any(g.matches(relpath) for g in self.include)
