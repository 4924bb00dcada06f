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
