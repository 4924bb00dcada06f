"""Reading the organisation's registers (consent, activity, end of purpose) and the subjects of
database stores — read-only, bounded, before the rules are evaluated.

Registers are configuration: one that cannot be read is a policy error (exit 2), found before
the scan starts. A database store's subjects are read from the scanned table itself
(`subject.column`), with the same read-only recipes as the scan; a failure there is reported
as a problem of that location (the scan is then incomplete), never ignored.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scanner.errors import FaceauditError
from scanner.policy.declarations import Register

MAX_REGISTER_ROWS = 2_000_000
MAX_SUBJECTS = 1_000_000
STATEMENT_TIMEOUT_S = 30.0
REGISTER_COPY_BYTES = 1024 * 1024 * 1024  # a register with a -wal is read from a private copy


class RegisterError(FaceauditError):
    pass


@dataclass(frozen=True)
class Record:
    granted: datetime | None = None
    withdrawn: datetime | None = None
    expires: datetime | None = None
    scope: str | None = None
    time: datetime | None = None  # activity: last interaction; end_of_purpose: when it ended


@dataclass(frozen=True)
class RegisterData:
    register: Register
    records: Mapping[str, Record]  # key (subject id or file) -> the record that decides


def parse_time(value: Any) -> datetime | None:
    """ISO dates and datetimes, `YYYY-MM-DD HH:MM:SS`, epoch seconds; naive values are UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, timezone.utc)
    else:
        text = str(value).strip()
        if not text:
            return None
        if re.fullmatch(r"\d{9,13}", text):
            return parse_time(int(text))
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise RegisterError(f"{text!r} is not a date or time") from None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def _quote(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _columns(reg: Register) -> list[str]:
    cols = [reg.key_column]
    for c in (reg.granted_column, reg.withdrawn_column, reg.expires_column, reg.scope_column):
        if c:
            cols.append(c)
    if reg.time_column:
        cols.append(reg.time_column)
    return cols


def load_register(reg: Register, base: Path) -> RegisterData:
    try:
        rows = list(_rows(reg, base))
    except RegisterError:
        raise
    except FileNotFoundError as exc:
        raise RegisterError(
            f"register {reg.id!r}: {reg.source}: no such file ({exc.filename})"
        ) from None
    except (OSError, sqlite3.Error, UnicodeDecodeError, csv.Error) as exc:
        raise RegisterError(f"register {reg.id!r}: cannot read {reg.source}: {exc}") from None
    except Exception as exc:  # psycopg errors, without importing it here
        raise RegisterError(
            f"register {reg.id!r}: cannot read: {type(exc).__name__}: {exc}"
        ) from None
    records: dict[str, Record] = {}
    for row in rows:
        key = row.get(reg.key_column)
        if key is None or str(key).strip() == "":
            continue
        try:
            rec = Record(
                granted=parse_time(row.get(reg.granted_column)) if reg.granted_column else None,
                withdrawn=parse_time(row.get(reg.withdrawn_column))
                if reg.withdrawn_column
                else None,
                expires=parse_time(row.get(reg.expires_column)) if reg.expires_column else None,
                scope=str(row[reg.scope_column])
                if reg.scope_column and row.get(reg.scope_column)
                else None,
                time=parse_time(row.get(reg.time_column)) if reg.time_column else None,
            )
        except RegisterError as exc:
            raise RegisterError(f"register {reg.id!r}, key {key!r}: {exc}") from None
        k = str(key).strip()
        records[k] = _decisive(records.get(k), rec, reg.kind)
    return RegisterData(reg, records)


def _time(row: Mapping[str, Any], column: str | None) -> datetime | None:
    return parse_time(row.get(column)) if column else None


def _decisive(old: Record | None, new: Record, kind: str) -> Record:
    """Several rows for one key: the latest consent grant, the latest interaction, the
    earliest end of purpose."""
    if old is None:
        return new
    floor = datetime.min.replace(tzinfo=timezone.utc)
    if kind == "consent":
        return new if (new.granted or floor) >= (old.granted or floor) else old
    if kind == "activity":
        return new if (new.time or floor) >= (old.time or floor) else old
    return new if new.time and (old.time is None or new.time < old.time) else old


def _rows(reg: Register, base: Path) -> Iterator[dict[str, Any]]:
    cols = _columns(reg)
    if reg.source.startswith("csv:"):
        path = Path(reg.source[4:])
        path = path if path.is_absolute() else base / path
        csv.field_size_limit(1024 * 1024)  # process-wide: set, never inherited
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in cols if c not in (reader.fieldnames or [])]
            if missing:
                raise RegisterError(f"register {reg.id!r}: {path} has no column {missing[0]!r}")
            for n, row in enumerate(reader):
                if n >= MAX_REGISTER_ROWS:
                    raise RegisterError(f"register {reg.id!r}: more than {MAX_REGISTER_ROWS} rows")
                yield {c: (row[c] if row[c] != "" else None) for c in cols}
        return
    names = ", ".join(_quote(c) for c in cols)
    # identifiers are quoted; they come from the policy file, never from scanned data
    sql = f"SELECT {names} FROM {_quote(reg.table or '')} LIMIT {MAX_REGISTER_ROWS + 1}"  # noqa: S608
    for n, values in enumerate(query(reg.source, sql, base)):
        if n >= MAX_REGISTER_ROWS:
            raise RegisterError(f"register {reg.id!r}: more than {MAX_REGISTER_ROWS} rows")
        yield dict(zip(cols, values, strict=True))


def query(uri: str, sql: str, base: Path | None = None) -> Sequence[Sequence[Any]]:
    """Rows of one SELECT against the source the register's URI names (scanner.sources:
    SQLite and PostgreSQL can hold one), read-only and under a deadline."""
    from scanner.errors import ConfigError
    from scanner.sources import read_rows

    try:
        return read_rows(uri, sql, base)
    except ConfigError as exc:
        raise RegisterError(str(exc)) from None
