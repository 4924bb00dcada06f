"""Rows of database tables (PostgreSQL, MariaDB/MySQL): planned by primary key, their erased
values into the vault first, then cleared or deleted in one transaction per table.

A finding about a column (`postgresql://host:5432/db#public.faces.photo`) becomes one plan
item: the rows the finding lists (a consent rule's), or else every row whose face column is
not NULL, each named by its primary key with the SHA-256 of the column's value (its text form
on PostgreSQL, with `bytea_output=hex`; its bytes on MariaDB/MySQL). A table without a
primary key is planned `none` (its rows cannot be named). The plan holds the database as it
is displayed, never a user or password: `plan` and `apply` take the scan's URI (`--dsn`), and
a URI is matched to the plan by its display.

`--rows clear` (the default) sets the face column to NULL: the row, its other columns and
whatever refers to it stay. `--rows delete` deletes the row (foreign keys decide what follows;
a restore inserts it again).

Apply, through the vault's journal (op `rows`): intent → (in one transaction: each planned
row is locked, `SELECT … FOR UPDATE`, and its value hash compared; a row that changed or is
gone is skipped, the others go on) → the locked rows' values, encrypted into the vault and
verified → `verified` → UPDATE … SET col = NULL (or DELETE) of exactly those rows, COMMIT →
`source_removed` → done. A crash before `verified` leaves every value in its row (the
transaction never committed) and the vault's copy is destroyed; from `verified` on, the next
run with the same `--dsn` rolls forward (each row whose value still hashes as planned is
cleared), so every value is in its row or in the vault, never lost.

Restore writes the values back (or inserts the deleted rows) in one transaction, and only if
no row has been given a new value since (a conflict otherwise: nothing is written).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from scanner.errors import FaceauditError
from scanner.remediation.events import record, salted
from scanner.remediation.moves import Journal, Outcome, StateHook, no_hook, now_iso
from scanner.remediation.plan import Plan, PlanItem, RowPre, RowsPre
from scanner.remediation.stash import drop_parts, stash, unstash
from scanner.remediation.vault import Vault, VaultError

LOCK_TIMEOUT_S = 10
STATEMENT_TIMEOUT_S = 300


class RowsError(FaceauditError):
    """The database cannot be reached or read as planned (a message without credentials)."""


# -- dialects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Dialect:
    scheme: str

    def quote(self, name: str) -> str:
        if self.scheme == "postgresql":
            return '"' + name.replace('"', '""') + '"'
        return "`" + name.replace("`", "``") + "`"

    def relation(self, pre: RowsPre) -> str:
        parts = [pre.schema, pre.table] if pre.schema else [pre.table]
        return ".".join(self.quote(p) for p in parts)

    def value(self, column: str) -> str:
        """The column's value as the text the hash and the vault keep."""
        if self.scheme == "postgresql":
            return f"{self.quote(column)}::text"
        return f"HEX(CAST({self.quote(column)} AS BINARY))"  # a number's digits, not its hex

    def key_text(self, column: str) -> str:
        if self.scheme == "postgresql":
            return f"{self.quote(column)}::text"
        return f"CAST({self.quote(column)} AS CHAR)"

    def param(self) -> str:
        """A value written back from its text form."""
        return "%s" if self.scheme == "postgresql" else "UNHEX(%s)"

    def digest(self, text: str | None) -> str | None:
        if text is None:
            return None
        raw = text.encode("utf-8", "surrogateescape") if self.scheme == "postgresql" else None
        return hashlib.sha256(raw if raw is not None else bytes.fromhex(text)).hexdigest()


def _scheme(display: str) -> str:
    scheme = display.split("://", 1)[0].lower()
    return {"postgres": "postgresql", "mariadb": "mysql"}.get(scheme, scheme)


def display_of(uri: str) -> str:
    """A URI as the scan displays its database (no user, no password)."""
    scheme = _scheme(uri)
    if scheme == "postgresql":
        from scanner.sources.pg_session import display_uri

        return display_uri(uri)
    if scheme == "mysql":
        from scanner.sources.mysql_schema import display_uri as my_display

        return my_display(uri)
    return uri.split("?", 1)[0]


def _dsn_for(display: str, dsns: Sequence[str]) -> str | None:
    for dsn in dsns:
        if display_of(dsn) == display:
            return dsn
    return None


@contextlib.contextmanager
def connect(display: str, dsns: Sequence[str]) -> Iterator[Any]:
    """A connection to the database displayed as `display`, through the `--dsn` that names
    it; autocommit off. Errors are RowsError without the URI."""
    dsn = _dsn_for(display, dsns)
    if dsn is None:
        raise RowsError(f"no --dsn names {display} (give the URI the scan used)")
    scheme = _scheme(display)
    conn: Any
    try:
        if scheme == "postgresql":
            import psycopg

            options = (
                f"-c search_path= -c bytea_output=hex -c lock_timeout={LOCK_TIMEOUT_S * 1000} "
                f"-c statement_timeout={STATEMENT_TIMEOUT_S * 1000}"
            )
            conn = psycopg.connect(
                dsn,
                autocommit=False,
                connect_timeout=10,
                options=options,
                application_name="faceaudit-remediate",
            )
        elif scheme == "mysql":
            import pymysql

            from scanner.sources.mysql_schema import parse

            conn = pymysql.connect(
                **parse(dsn),
                charset="utf8mb4",
                autocommit=False,
                connect_timeout=10,
                local_infile=False,
            )
            with conn.cursor() as cur:
                cur.execute("SET SESSION innodb_lock_wait_timeout = %s", (LOCK_TIMEOUT_S,))
        else:
            raise RowsError(f"{scheme} rows are not remediated by this version")
    except RowsError:
        raise
    except Exception as exc:  # never the URI: it may hold a password
        raise RowsError(f"cannot connect to {display}: {type(exc).__name__}") from None
    try:
        yield conn
    finally:
        conn.close()


def _run(conn: Any, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        # psycopg types queries as literal strings (bytes pass); PyMySQL formats a str
        cur.execute(query.encode() if _is_pg(conn) else query, tuple(params))
        if cur.description is None:
            return []
        return [tuple(r) for r in cur.fetchall()]


def _is_pg(conn: Any) -> bool:
    return type(conn).__module__.startswith("psycopg")


def _primary_key(conn: Any, d: _Dialect, schema: str | None, table: str) -> tuple[str, ...]:
    if d.scheme == "postgresql":
        rows = _run(
            conn,
            "SELECT a.attname FROM pg_catalog.pg_index i "
            "JOIN pg_catalog.pg_class c ON c.oid = i.indrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
            "WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary "
            "ORDER BY pg_catalog.array_position(i.indkey::pg_catalog.int2[], a.attnum)",
            (schema or "public", table),
        )
    else:
        rows = _run(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY ORDINAL_POSITION",
            (table,),
        )
    return tuple(str(r[0]) for r in rows)


def _columns(conn: Any, d: _Dialect, schema: str | None, table: str) -> tuple[str, ...]:
    """The table's stored columns (generated ones left out: they are computed again)."""
    if d.scheme == "postgresql":
        rows = _run(
            conn,
            "SELECT a.attname FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 "
            "AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY a.attnum",
            (schema or "public", table),
        )
    else:
        rows = _run(
            conn,
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s "
            "AND EXTRA NOT LIKE '%%GENERATED%%' ORDER BY ORDINAL_POSITION",
            (table,),
        )
    return tuple(str(r[0]) for r in rows)


def _where(d: _Dialect, key_columns: Sequence[str]) -> str:
    return " AND ".join(f"{d.quote(c)} = %s" for c in key_columns)


# -- plan ----------------------------------------------------------------------------------


def _split(uri: str) -> tuple[str, tuple[str, ...]]:
    display, _, fragment = uri.partition("#")
    parts = tuple(urllib.parse.unquote(fragment, errors="surrogateescape").split("."))
    return display, parts


def plan_rows(
    uri: str,
    group: Sequence[Mapping[str, Any]],
    common: dict[str, Any],
    *,
    action: str,
    dsns: Sequence[str],
    mode: str = "clear",
) -> PlanItem:
    """The plan item of a finding about a database column: its rows by primary key, each
    with its value's hash; or `none` with the reason."""

    def none(reason: str) -> PlanItem:
        return PlanItem(action="none", path=uri, reason=reason, **common)

    display, parts = _split(uri)
    scheme = _scheme(display)
    if scheme not in ("postgresql", "mysql"):
        return none(
            f"database rows of a {scheme} database are not remediated by this version "
            "(PostgreSQL and MariaDB/MySQL rows are)"
        )
    wanted = 3 if scheme == "postgresql" else 2
    if len(parts) != wanted:
        return none("not a column of a table (or a name with a dot in it): rows not named")
    schema = parts[0] if scheme == "postgresql" else None
    table, column = parts[-2], parts[-1]
    d = _Dialect(scheme)
    listed: list[dict[str, str]] = []
    unlisted = 0
    for f in group:
        rows = f.get("rows")
        if isinstance(rows, Mapping):
            listed += [dict(r.get("key", {})) for r in rows.get("rows", [])]
            unlisted += int(rows.get("total", 0)) - len(rows.get("rows", []))
    try:
        with connect(display, dsns) as conn:
            keys = _primary_key(conn, d, schema, table)
            if not keys:
                return none(f"{table} has no primary key: its rows cannot be named")
            rel = d.relation(RowsPre(display, scheme, schema, table, column, keys, mode, ()))
            select = ", ".join(d.key_text(k) for k in keys)
            query = f"SELECT {select}, {d.value(column)} FROM {rel}"  # noqa: S608 - quoted identifiers, values bound
            found: list[tuple[Any, ...]]
            if listed:
                found = []
                for key in listed:
                    if set(key) != set(keys):
                        return none("the finding names rows by columns other than the key")
                    found += _run(conn, f"{query} WHERE {_where(d, keys)}", [key[k] for k in keys])
            else:
                found = _run(conn, f"{query} WHERE {d.quote(column)} IS NOT NULL")
            conn.rollback()
    except RowsError as exc:
        return none(str(exc))
    except Exception as exc:
        return none(f"cannot read {table}: {type(exc).__name__}")
    rows = tuple(
        RowPre(tuple(zip(keys, (str(v) for v in r[:-1]), strict=True)), str(d.digest(r[-1])))
        for r in found
        if r[-1] is not None
    )
    if not rows:
        return none("no row holds a value in the column")
    pre = RowsPre(display, scheme, schema, table, column, keys, mode, rows, max(0, unlisted))
    return PlanItem(action=action, path=uri, reason=None, rows=pre, **common)


# -- dry run -------------------------------------------------------------------------------


def _current(
    conn: Any, d: _Dialect, pre: RowsPre, row: RowPre, *, lock: bool, whole: bool = False
) -> tuple[str | None, str | None, list[str | None] | None]:
    """A row's value hash now (None: gone or NULL), the value as text and, when `whole`,
    every column as text."""
    cols = _columns(conn, d, pre.schema, pre.table) if whole else ()
    select = ", ".join([d.value(pre.column)] + [d.value(c) for c in cols])
    query = f"SELECT {select} FROM {d.relation(pre)} WHERE {_where(d, pre.key_columns)}"  # noqa: S608 - quoted identifiers, values bound
    if lock:
        query += " FOR UPDATE"
    found = _run(conn, query, [v for _, v in row.key])
    if not found:
        return None, None, None
    values = [None if v is None else str(v) for v in found[0]]
    return d.digest(values[0]), values[0], values[1:] if whole else None


def check_rows(item: PlanItem, dsns: Sequence[str]) -> Outcome:
    pre = item.rows
    assert pre is not None
    d = _Dialect(pre.scheme)
    try:
        with connect(pre.database, dsns) as conn:
            same = sum(_current(conn, d, pre, r, lock=False)[0] == r.sha256 for r in pre.rows)
            conn.rollback()
    except Exception as exc:
        return Outcome("skipped", item.path, f"cannot be reached: {_why(exc)}", item.id)
    verb = "clear" if pre.mode == "clear" else "delete"
    changed = len(pre.rows) - same
    detail = f"{item.action}: {verb} {same} row(s)" + (
        f"; {changed} changed since the plan (skipped)" if changed else ""
    )
    return Outcome("would" if not changed else "skipped", item.path, detail, item.id)


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, (RowsError, VaultError)) else type(exc).__name__


# -- apply ---------------------------------------------------------------------------------


def erase_rows(
    vault: Vault,
    item: PlanItem,
    plan: Plan | None,
    *,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    dsns: Sequence[str] = (),
) -> Outcome:
    """Clear (or delete) the planned rows whose values are as planned, in one transaction,
    their values in the vault first."""
    pre = item.rows
    assert pre is not None
    d = _Dialect(pre.scheme)
    vid = secrets.token_hex(8)
    ev = {"plan_item": item.id, "location": salted(vault.salt, item.path)}
    journal = Journal(
        vault,
        vid,
        {"op": "rows", "item": vid, "source": item.path, "database": pre.database, "parts": []},
        on_state,
    )
    skipped: list[str] = []
    try:
        with connect(pre.database, dsns) as conn:
            journal.state("intent")
            taken: list[dict[str, Any]] = []
            for row in pre.rows:
                digest, value, whole = _current(
                    conn, d, pre, row, lock=True, whole=pre.mode == "delete"
                )
                if digest != row.sha256:
                    skipped.append(_show_key(row))
                    continue
                taken.append(
                    {"key": [list(k) for k in row.key], "sha256": row.sha256, "value": value}
                )
                if whole is not None:
                    taken[-1]["columns"] = list(_columns(conn, d, pre.schema, pre.table))
                    taken[-1]["values"] = whole
            if not taken:
                conn.rollback()
                journal.close()
                detail = f"every row changed since the plan: {', '.join(skipped)}"
                record(log, "skip", **ev, detail=detail)
                return Outcome("skipped", item.path, detail, item.id)
            doc = {"rows": taken, "mode": pre.mode}
            part = stash(vault, f"{vid}.0", json.dumps(doc).encode())
            journal.state("copied", parts=[part])
            vault.put("manifest", vid, _entry(vid, item, plan, part, taken))
            journal.state("verified")
            _erase(conn, d, pre, taken)
            conn.commit()
            journal.state("source_removed")
        journal.state("done")
        journal.close()
    except Exception as exc:
        state = (vault.get("journal", vid) or {}).get("state")
        if state in ("intent", "copied", None):
            with contextlib.suppress(OSError):
                roll_back_rows(vault, vid)
            record(log, "fail", **ev, detail=_why(exc))
            return Outcome("failed", item.path, f"{_why(exc)}: nothing was changed", item.id)
        detail = f"values in the vault as {vid}; the rows: {_why(exc)} (the next run with --dsn)"
        record(log, "fail", **ev, vault_id=vid, detail=detail)
        return Outcome("failed", item.path, detail, item.id, vid)
    verb = "cleared" if pre.mode == "clear" else "deleted"
    record(log, "quarantine", vault_id=vid, rows=len(taken), skipped=len(skipped), **ev)
    detail = f"{item.action}: {len(taken)} row(s) {verb}, their values in the vault as {vid}"
    if skipped:
        detail += f"; skipped (changed since the plan): {', '.join(skipped)}"
        return Outcome("partial", item.path, detail, item.id, vid)
    return Outcome("done", item.path, detail, item.id, vid)


def _show_key(row: RowPre) -> str:
    return ", ".join(f"{c}={v}" for c, v in row.key)


def _erase(conn: Any, d: _Dialect, pre: RowsPre, taken: list[dict[str, Any]]) -> None:
    where = _where(d, pre.key_columns)
    if pre.mode == "delete":
        query = f"DELETE FROM {d.relation(pre)} WHERE {where}"  # noqa: S608 - quoted identifiers, values bound
    else:
        query = f"UPDATE {d.relation(pre)} SET {d.quote(pre.column)} = NULL WHERE {where}"  # noqa: S608 - quoted identifiers, values bound
    for t in taken:
        _run(conn, query, [v for _, v in t["key"]])


def _entry(
    vid: str, item: PlanItem, plan: Plan | None, part: dict[str, Any], taken: list[Any]
) -> dict[str, Any]:
    pre = item.rows
    assert pre is not None
    grace = plan.grace_days if plan is not None else None
    at = datetime.now(timezone.utc)
    return {
        "id": vid,
        "kind": "rows",
        "state": "quarantined",
        "action": item.action,
        "mode": pre.mode,
        "quarantined_at": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "purge_after": (
            (at + timedelta(days=grace)).isoformat(timespec="seconds").replace("+00:00", "Z")
            if item.action == "delete" and grace is not None
            else None
        ),
        "location": item.path,
        "database": pre.database,
        "scheme": pre.scheme,
        "schema": pre.schema,
        "table": pre.table,
        "column": pre.column,
        "key_columns": list(pre.key_columns),
        "rows": len(taken),
        "parts": [part],
        "sha256": part["sha256"],
        "size": part["size"],
        "plan": plan.plan_id if plan is not None else None,
        "plan_item": item.id,
        "rule_ids": list(item.rule_ids),
        "citations": list(item.citations),
        "fingerprints": list(item.fingerprints),
        "severity": item.severity,
    }


def roll_back_rows(vault: Vault, vid: str) -> None:
    """Before `verified`: the transaction never committed; destroy the vault's copy."""
    doc = vault.get("journal", vid) or {}
    drop_parts(vault, list(doc.get("parts") or []) or [{"part": f"{vid}.0"}])
    vault.drop("manifest", vid)
    vault.drop("journal", vid)


def _pre_of(entry: Mapping[str, Any]) -> RowsPre:
    return RowsPre(
        str(entry["database"]),
        str(entry["scheme"]),
        entry.get("schema"),
        str(entry["table"]),
        str(entry["column"]),
        tuple(entry["key_columns"]),
        str(entry["mode"]),
        (),
    )


def _row(taken: Mapping[str, Any]) -> RowPre:
    return RowPre(tuple((str(c), str(v)) for c, v in taken["key"]), str(taken["sha256"]))


def _taken(vault: Vault, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    doc = json.loads(unstash(vault, entry["parts"][0]))
    rows: list[dict[str, Any]] = doc["rows"]
    return rows


def recover_rows(vault: Vault, vid: str, doc: dict[str, Any], dsns: Sequence[str]) -> str:
    """Roll an interrupted rows action forward or back."""
    state = doc.get("state")
    if doc.get("op") == "rows-restore":
        return _recover_restore(vault, vid, doc, dsns)
    if state in ("intent", "copied", None):
        roll_back_rows(vault, vid)
        return f"rows interrupted at {state}: rolled back, every value is in its row"
    entry = vault.get("manifest", vid) or {}
    pre = _pre_of(entry)
    d = _Dialect(pre.scheme)
    taken = _taken(vault, entry)
    with connect(pre.database, dsns) as conn:
        still = [t for t in taken if _current(conn, d, pre, _row(t), lock=True)[0] == t["sha256"]]
        _erase(conn, d, pre, still)
        conn.commit()
    vault.drop("journal", vid)
    return (
        f"rows interrupted at {state}: rolled forward, {len(still)} row(s) erased now, "
        f"{len(taken) - len(still)} were already"
    )


# -- restore -------------------------------------------------------------------------------


def restore_rows(
    vault: Vault,
    vid: str,
    entry: dict[str, Any],
    *,
    log: Path | None = None,
    on_state: StateHook = no_hook,
    dsns: Sequence[str] = (),
) -> Outcome:
    """Write the erased values back (or insert the deleted rows), in one transaction, only
    if no row has a new value meanwhile."""
    path = str(entry.get("location"))
    pre = _pre_of(entry)
    d = _Dialect(pre.scheme)
    journal = Journal(
        vault,
        vid,
        {"op": "rows-restore", "item": vid, "target": path, "database": pre.database},
        on_state,
    )
    try:
        taken = _taken(vault, entry)
        with connect(pre.database, dsns) as conn:
            conflicts = _restore(conn, d, pre, taken)
            if conflicts:
                conn.rollback()
                return Outcome(
                    "conflict",
                    path,
                    f"rows with a new value or a new row since: {', '.join(conflicts)}; "
                    "nothing restored",
                    None,
                    vid,
                )
            journal.state("intent")
            conn.commit()
            journal.state("placed")
        finish_rows_restore(vault, vid)
        journal.state("done")
        journal.close()
    except Exception as exc:
        with contextlib.suppress(OSError):
            vault.drop("journal", vid)
        record(log, "fail", vault_id=vid, location=salted(vault.salt, path), detail=_why(exc))
        return Outcome("failed", path, _why(exc), vault_id=vid)
    record(log, "restore", vault_id=vid, location=salted(vault.salt, path), detail="restored")
    return Outcome("done", path, f"{len(taken)} row(s) restored", None, vid)


def _restore(conn: Any, d: _Dialect, pre: RowsPre, taken: list[dict[str, Any]]) -> list[str]:
    """Write every row back (not committed); the keys of the rows in the way."""
    conflicts = []
    rel, where = d.relation(pre), _where(d, pre.key_columns)
    for t in taken:
        key = [v for _, v in t["key"]]
        shown = ", ".join(f"{c}={v}" for c, v in t["key"])
        found = _run(conn, f"SELECT {d.value(pre.column)} FROM {rel} WHERE {where} FOR UPDATE", key)  # noqa: S608 - quoted identifiers, values bound
        if pre.mode == "delete":
            if found:
                conflicts.append(shown)
                continue
            cols = list(t["columns"])
            names = ", ".join(d.quote(c) for c in cols)
            marks = ", ".join(d.param() for _ in cols)
            over = " OVERRIDING SYSTEM VALUE" if d.scheme == "postgresql" else ""
            _run(conn, f"INSERT INTO {rel} ({names}){over} VALUES ({marks})", t["values"])  # noqa: S608 - quoted identifiers, values bound
            continue
        if not found or found[0][0] is not None:
            conflicts.append(shown)
            continue
        _run(
            conn,
            f"UPDATE {rel} SET {d.quote(pre.column)} = {d.param()} WHERE {where}",  # noqa: S608 - quoted identifiers, values bound
            [t["value"], *key],
        )
    return conflicts


def finish_rows_restore(vault: Vault, vid: str) -> None:
    entry = vault.get("manifest", vid) or {}
    drop_parts(vault, list(entry.get("parts") or []))
    vault.put("manifest", vid, {**entry, "state": "restored", "restored_at": now_iso()})


def _recover_restore(vault: Vault, vid: str, doc: dict[str, Any], dsns: Sequence[str]) -> str:
    state = doc.get("state")
    if state in ("placed", "done"):
        finish_rows_restore(vault, vid)
        vault.drop("journal", vid)
        return f"rows restore interrupted at {state}: rolled forward, the values are back"
    entry = vault.get("manifest", vid) or {}
    pre = _pre_of(entry)
    d = _Dialect(pre.scheme)
    taken = _taken(vault, entry)
    with connect(pre.database, dsns) as conn:
        back = all(_current(conn, d, pre, _row(t), lock=False)[0] == t["sha256"] for t in taken)
        conn.rollback()
    if back:
        finish_rows_restore(vault, vid)
    vault.drop("journal", vid)
    where = "back in their rows" if back else "in the vault"
    return f"rows restore interrupted at {state}: the values are {where}"
