"""The relations of a SQLite database: tables, views and virtual tables, with columns.

SQLite types are advisory — any column may hold a BLOB — so only the rowid alias is skipped
by type; the sampled values decide for the rest. Virtual tables cannot be queried without
their module, and no extension is ever loaded: sqlite-vec `vec0` tables are read from their
shadow tables (scanner.sources.sqlite_vec); FTS and R*Tree shadow tables are index
structures (their `_content` copies rows of a table scanned on its own) and are skipped,
counted in the source's summary.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from scanner.model import Location, Problem, ProblemReason
from scanner.sources import sqlite_vec
from scanner.sources.database import DatabaseError
from scanner.sources.relational import Column, QueryTimeout, Relation, RelationUnreadable

if TYPE_CHECKING:
    from scanner.sources.sqlite import SqliteSource

_TEMPORAL = re.compile(r"date|time", re.IGNORECASE)
_WITHOUT_ROWID = re.compile(r"\)\s*without\s+rowid\b", re.IGNORECASE)
_VIRTUAL = re.compile(r"^\s*create\s+virtual\s+table\s.*?\busing\s+(\w+)", re.I | re.S)
_INDEX_SHADOWS = {
    "fts": ("content", "data", "idx", "docsize", "config", "segments", "segdir", "stat"),
    "rtree": ("node", "rowid", "parent"),
}


def q(name: str) -> str:
    """A quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def relations(src: SqliteSource) -> tuple[list[Relation], list[Problem]]:
    """Every table, view and vec0 table (shadow tables left out), and the problems."""
    try:
        entries = src.q(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "ORDER BY name"
        )
    except (QueryTimeout, RelationUnreadable) as exc:
        raise DatabaseError(src.where, f"cannot read the schema: {exc}") from None
    modules = {name: m[1].lower() for _, name, sql in entries if (m := _VIRTUAL.match(sql or ""))}
    names = [name for _, name, _ in entries]
    shadows = _shadow_tables(modules, names)
    relations: list[Relation] = []
    problems: list[Problem] = []
    for kind, name, sql in entries:
        if name.startswith("sqlite_") or name in shadows:
            continue
        if name in modules:
            rel = sqlite_vec.relation(name, sql) if modules[name] == "vec0" else None
            if rel is None:
                src.summary.add(f"virtual_tables_skipped_{modules[name]}")
            else:
                relations.append(rel)
            continue
        try:
            info = src.q(f"PRAGMA table_xinfo({q(name)})")
        except (QueryTimeout, RelationUnreadable) as exc:
            problems.append(
                Problem(
                    Location(f"{src.where.path}#{name}", src.where.members),
                    ProblemReason.DATABASE_UNREADABLE,
                    f"cannot read the columns of {kind} {name}: {exc}",
                )
            )
            continue
        columns = [_column(row) for row in info]
        rowid = kind == "table" and not _WITHOUT_ROWID.search(sql or "")
        relations.append(Relation(None, name, kind, columns, extra={"rowid": rowid, "sql": sql}))
    src.summary.add("relations", len(relations))
    index_shadows = shadows - _shadow_tables(
        {v: m for v, m in modules.items() if m == "vec0"}, names
    )
    if index_shadows:
        src.summary.add("fts_rtree_shadow_tables_skipped", len(index_shadows))
    return relations, problems


def _column(row: tuple[Any, ...]) -> Column:
    _, name, declared, _, _, pk, _ = row
    declared = declared or ""
    rowid_alias = pk == 1 and declared.upper() == "INTEGER"
    return Column(name, declared, None if rowid_alias else "any", bool(_TEMPORAL.search(declared)))


def _shadow_tables(modules: dict[str, str], names: list[str]) -> set[str]:
    shadows: set[str] = set()
    for vtab, module in modules.items():
        family = "fts" if module.startswith("fts") else "rtree" if "rtree" in module else None
        if module == "vec0":
            shadows |= sqlite_vec.shadow_tables(vtab, names)
        elif family:
            shadows |= {f"{vtab}_{s}" for s in _INDEX_SHADOWS[family]} & set(names)
    return shadows
