"""YAML read safely, with the line of every key and item kept for error messages.

Only the safe subset (no tags that build objects); duplicate keys are errors (PyYAML would
silently keep the last one, and a policy that says two things must not mean one of them).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scanner.errors import FaceauditError

MAX_POLICY_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}

Path_ = tuple[str | int, ...]


class YamlError(FaceauditError):
    def __init__(self, line: int | None, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


# What PyYAML's problems mean, in plain words; the first matching prefix wins. `True`: the
# position to show is where the construct began (the line missing a ':', the opening quote
# or bracket), not where the parser gave up.
_PLAIN: tuple[tuple[str, str, bool], ...] = (
    (
        "expected <block end>",
        "this line is indented differently from the lines above it: keys of one mapping, "
        "and the items of one list, must start in the same column",
        False,
    ),
    (
        "mapping values are not allowed here",
        "a ': ' inside a value: put the value in quotes, or check the indentation",
        False,
    ),
    (
        "could not determine a constructor",
        "a tag that would build a program object: policy files hold plain data only",
        False,
    ),
    ("found character '\\t'", "a tab character: YAML is indented with spaces only", False),
    (
        "expected ',' or ']'",
        "the list opened with '[' here is not closed with ']' (or an item in it needs quotes)",
        True,
    ),
    (
        "expected ',' or '}'",
        "the mapping opened with '{' here is not closed with '}' (or a value needs quotes)",
        True,
    ),
    (
        "found unexpected end of stream",
        "the quoted text opened here is never closed: a closing quote is missing",
        True,
    ),
    (
        "could not find expected ':'",
        "this line is not `key: value`: a ':' is missing, or it is indented as if it "
        "continued the line above",
        True,
    ),
    (
        "found unknown escape character",
        "an unknown escape sequence in double quotes (such as \\d): write regular "
        "expressions in single quotes",
        False,
    ),
)


def _syntax_error(exc: yaml.MarkedYAMLError) -> YamlError:
    problem = exc.problem or str(exc)
    plain, at_start = "the file is not valid YAML", False
    for prefix, text, start in _PLAIN:
        if problem.startswith(prefix):
            plain, at_start = text, start
            break
    mark = (exc.context_mark if at_start else None) or exc.problem_mark or exc.context_mark
    if mark is None:
        return YamlError(None, f"invalid YAML: {plain} (parser: {problem})")
    return YamlError(mark.line + 1, f"invalid YAML: {plain} (parser: {problem})", mark.column + 1)


@dataclass
class YamlDoc:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, loc: Path_) -> int | None:
        """The line of the deepest node on `loc` that exists (validation paths may name
        union tags or missing keys: those are skipped)."""
        best = self.lines.get(())
        path: Path_ = ()
        for part in loc:
            candidate = (*path, part)
            if candidate in self.lines:
                path = candidate
                best = self.lines[path]
        return best


def read_bounded(path: Path, limit: int = MAX_POLICY_BYTES) -> str:
    """A configuration file's text, read with a bound. A FIFO or a device (`/dev/zero`)
    would block or never end: refused before any byte is read; so is a file over `limit`.
    Raises OSError (with a readable strerror) or UnicodeDecodeError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO or device is never read)")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"file larger than {limit} bytes")
    return data.decode("utf-8")


def parse(text: str) -> YamlDoc:
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise YamlError(None, f"file larger than {MAX_POLICY_BYTES} bytes")
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters: may raise a ReaderError
        node = loader.get_single_node()
        doc = YamlDoc(None)
        doc.data = {} if node is None else _build(loader, node, (), doc.lines, set())
        return doc
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc) from None
    except yaml.YAMLError as exc:
        raise YamlError(None, f"invalid YAML: {exc}") from None
    except RecursionError:  # PyYAML's parser recurses once per nesting level
        raise YamlError(None, "invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _build(
    loader: yaml.SafeLoader,
    node: yaml.Node,
    path: Path_,
    lines: dict[Path_, int],
    seen: set[int],
) -> Any:
    line = node.start_mark.line + 1
    if id(node) in seen:  # an alias: refused, so `*a` chains cannot expand exponentially
        raise YamlError(line, "YAML aliases (*name) are not allowed in policy files")
    seen.add(id(node))
    if len(seen) > MAX_NODES:
        raise YamlError(line, f"more than {MAX_NODES} YAML nodes")
    lines[path] = line
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise YamlError(line, f"YAML tag {node.tag!r} is not allowed")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int)):
                raise YamlError(key_node.start_mark.line + 1, f"key {key!r} is not a string")
            if key in out:
                raise YamlError(key_node.start_mark.line + 1, f"duplicate key {key!r}")
            key_path: Path_ = (*path, key)
            out[key] = _build(loader, value_node, key_path, lines, seen)
            lines[key_path] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, n, (*path, i), lines, seen) for i, n in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
