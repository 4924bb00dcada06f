"""Making untrusted strings (file names, member names, metadata) safe to show."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, the Unicode line and paragraph separators (line breaks to many
# viewers), and the bidirectional overrides that can reorder a terminal line.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def unicode_safe(text: str) -> str:
    """Valid Unicode: bytes that were not UTF-8 (kept as surrogate escapes) become `\\xNN`."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def terminal_safe(text: str) -> str:
    """For a terminal: no escape sequences, no newlines, no bidi tricks; all visible."""
    return _UNSAFE.sub(lambda m: _escape(m.group()), unicode_safe(text))


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# Markdown: backslash-escape what CommonMark or GitHub could act on anywhere in a line
# (emphasis, code, links, HTML and entities, tables, strikethrough, math, e-mail autolinks),
# and what acts only at the start of a line (headings, lists, quotes) or in a web address
# (`://`, `www.`) where it would.
_MARKDOWN_ANYWHERE = re.compile(r"([\\`*_{}\[\]<>&|~@$])")
_MARKDOWN_AT_START = re.compile(r"^([#+\-=]|\d+(?=[.)]))")
_MARKDOWN_LINKS = re.compile(r"(?i)(:(?=//)|(?<=www)\.)")


def markdown_escape(text: str) -> str:
    """Untrusted text as inert Markdown on one line: controls made visible, syntax escaped."""
    escaped = _MARKDOWN_ANYWHERE.sub(r"\\\1", terminal_safe(text))
    escaped = _MARKDOWN_LINKS.sub(r"\\\1", escaped)
    start = _MARKDOWN_AT_START.match(escaped)
    if start is None:
        return escaped
    if start.group(1)[0].isdigit():  # `1.` or `1)`: escape the delimiter after the digits
        end = start.end()
        return f"{escaped[:end]}\\{escaped[end:]}"
    return "\\" + escaped


def markdown_code(text: str, *, in_table: bool = False) -> str:
    """Untrusted text as a code span (shown literally, HTML included); `|` escaped in tables."""
    safe = terminal_safe(text)
    longest = max((len(run) for run in re.findall("`+", safe)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if safe.startswith("`") or safe.endswith("`") or not safe.strip() else ""
    span = f"{fence}{pad}{safe}{pad}{fence}"
    return span.replace("|", "\\|") if in_table else span
