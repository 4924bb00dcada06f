"""Dates as photos and databases write them, read into UTC datetimes.

- EXIF: `YYYY:MM:DD HH:MM:SS` local time, with its offset in OffsetTimeOriginal (`+01:00`)
  since EXIF 2.31; without one the time is read as UTC, and the caller says so.
- XMP / ISO 8601: `2024-01-01T12:00:00.5+01:00`, `…Z`, down to `2024-01` and `2024`.
- Databases: ISO text (`2024-01-01 12:00:00`, PostgreSQL's `+00` offsets), or epoch
  numbers in seconds, milliseconds or microseconds, told apart by magnitude.

Written by hand rather than with `datetime.fromisoformat`, whose accepted forms changed
between Python 3.10 and 3.11. A date before MIN_YEAR (1990: no digital photo library or face
database holds real data older; 1970-01-01 and 0000:00:00 are how software writes "unset")
is refused like an unparseable one, and so is one after MAX_YEAR (2100). A date later than
the file's own mtime is the caller's to refuse (scanner.context.exif).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from scanner.errors import FaceauditError

MIN_YEAR = 1990
MAX_YEAR = 2100  # later is a broken clock or a unit mistake, never a capture date

_EXIF = re.compile(r"^\s*(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?")
_ISO = re.compile(
    r"^\s*(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?\s*$",
    re.I,
)
_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})?\s*$")
_NUMBER = re.compile(r"^\s*\d{9,17}(?:\.\d+)?\s*$")


class BadDate(FaceauditError, ValueError):
    """A date that cannot be read, or that no real record would carry."""


def parse_offset(text: str | None) -> timezone | None:
    """`+01:00`, `-0500`, `+00` -> a timezone; None when absent or unreadable."""
    if not text:
        return None
    m = _OFFSET.match(text)
    if not m:
        return None
    minutes = int(m[2]) * 60 + int(m[3] or 0)
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=-minutes if m[1] == "-" else minutes))


def parse_exif(text: str, offset: str | None = None) -> tuple[datetime, bool]:
    """An EXIF date and whether it had an offset (without one it is read as UTC)."""
    m = _EXIF.match(text)
    if not m:
        raise BadDate("not an EXIF date")
    tz = parse_offset(offset)
    when = _build(m.groups()[:7], tz or timezone.utc)
    return when, tz is not None


def parse_iso(text: str) -> tuple[datetime, bool]:
    """An ISO 8601 date (XMP, SQL text) and whether it had an offset (else read as UTC)."""
    m = _ISO.match(text)
    if not m:
        raise BadDate("not an ISO 8601 date")
    tz: timezone | None = None
    if m[8]:
        tz = timezone.utc if m[8].upper() == "Z" else parse_offset(m[8])
        if tz is None:
            raise BadDate("unreadable time zone offset")
    when = _build(m.groups()[:7], tz or timezone.utc)
    return when, tz is not None


def parse_stored(text: str) -> tuple[datetime, bool]:
    """A timestamp as a database returned it (as text): ISO, or epoch s / ms / µs."""
    if _NUMBER.match(text):
        value = float(text)
        for scale in (1.0, 1e3, 1e6):  # seconds until 5138, then ms, then µs
            seconds = value / scale
            if seconds < 1e11:
                break
        try:
            when = datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise BadDate("epoch number out of range") from None
        _check(when)
        return when, True
    return parse_iso(text)


def _build(parts: tuple[str | None, ...], tz: timezone) -> datetime:
    """A UTC datetime from regex groups (year, month, day, hour, minute, second, fraction)."""
    year, month, day, hour, minute, second, fraction = parts
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        when = datetime(
            int(year or 0),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError as exc:
        raise BadDate(str(exc)) from None
    _check(when)
    return when.astimezone(timezone.utc)


def _check(when: datetime) -> None:
    if when.year < MIN_YEAR:
        raise BadDate(f"before {MIN_YEAR}")
    if when.year > MAX_YEAR:
        raise BadDate(f"after {MAX_YEAR}")


def shown(text: object, limit: int = 40) -> str:
    """A value quoted in a note: printable, short."""
    clean = "".join(c if c.isprintable() else "?" for c in str(text))
    return repr(clean[:limit] + ("…" if len(clean) > limit else ""))
