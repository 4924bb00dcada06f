"""The relations of a SQLite database: tables, views and virtual tables, with columns.

SQLite types are advisory — any column may hold a BLOB — so only the rowid alias is skipped
by type; the sampled values decide for the rest. Views store nothing (their base tables are
scanned) and are read only with SampleLimits.read_views. Virtual tables cannot be queried
without their module, and no extension is ever loaded: sqlite-vec `vec0` tables are read
from their shadow tables (scanner.sources.sqlite_vec); FTS and R*Tree tables keep their rows
in shadow tables that are ordinary tables (`<name>_content`, `<name>_rowid`) and are scanned
as such, while their index structures (`_data`, `_idx`, `_node` …) are not read. Every
relation not read is a problem with its reason: a view (`view_not_read`), an index
(`index_not_read`), a virtual table of another module (`virtual_table_not_read`, which makes
the scan incomplete).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from scanner.model import DatabaseLocation, Problem, ProblemReason
from scanner.sources import sqlite_vec
from scanner.sources.database import DatabaseError
from scanner.sources.relational import Column, QueryTimeout, Relation, RelationUnreadable
from scanner.sources.sqlite_open import q

if TYPE_CHECKING:
    from scanner.sources.sqlite import SqliteSource

_TEMPORAL = re.compile(r"date|time", re.IGNORECASE)
_WITHOUT_ROWID = re.compile(r"\)\s*without\s+rowid\b", re.IGNORECASE)
_VIRTUAL = re.compile(r"^\s*create\s+virtual\s+table\s.*?\busing\s+(\w+)", re.I | re.S)
# Shadow tables that hold an index's structure, not rows (the rows are in `_content` for
# FTS, `_rowid` for R*Tree's auxiliary columns: ordinary tables, scanned as such).
_INDEX_SHADOWS = {
    "fts": ("data", "idx", "docsize", "config", "segments", "segdir", "stat"),
    "rtree": ("node", "parent"),
}
VIEW_NOT_READ_DETAIL = (
    "view not read: a view stores nothing (its base tables are scanned), and reading one "
    "runs its query; --read-views reads views"
)
VIEWS_READ_DETAIL = (
    "views were read (--read-views): a SQLite view runs only SQLite's own SQL (no extension "
    "is loaded, trusted_schema is off), but may be slow or endless (--statement-timeout)"
)


def relations(src: SqliteSource) -> tuple[list[Relation], list[Problem]]:
    """Every table (and view, when asked) to read, shadow tables of what is read through
    its virtual table left out; and a problem for every relation that is not read."""
    try:
        entries = src.q(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'view') "
            "ORDER BY name"
        )
    except (QueryTimeout, RelationUnreadable) as exc:
        raise DatabaseError(src.where, f"cannot read the schema: {exc}") from None
    modules = {name: m[1].lower() for _, name, sql in entries if (m := _VIRTUAL.match(sql or ""))}
    names = [name for _, name, _ in entries]
    vec0 = {v: sqlite_vec.relation(v, sql) for _, v, sql in entries if modules.get(v) == "vec0"}
    read_vec0 = {v for v, rel in vec0.items() if rel is not None}
    shadows = _shadow_tables(modules, names, read_vec0)
    relations: list[Relation] = []
    problems: list[Problem] = []
    if src.limits.read_views and any(kind == "view" for kind, _, _ in entries):
        problems.append(Problem(src.where, ProblemReason.VIEWS_READ, VIEWS_READ_DETAIL))
    for kind, name, sql in entries:
        if name.startswith("sqlite_") or name in shadows:
            continue
        where = DatabaseLocation(src.ref, None, name)
        if name in modules:
            rel = vec0.get(name)
            if rel is not None:
                relations.append(rel)
            else:
                problems.append(_virtual_not_read(where, name, modules[name], names))
            continue
        if kind == "view" and not src.limits.read_views:
            problems.append(Problem(where, ProblemReason.VIEW_NOT_READ, VIEW_NOT_READ_DETAIL))
            continue
        try:
            info = src.q(f"PRAGMA table_xinfo({q(name)})")
        except (QueryTimeout, RelationUnreadable) as exc:
            problems.append(
                Problem(
                    where,
                    ProblemReason.DATABASE_UNREADABLE,
                    f"cannot read the columns of {kind} {name}: {exc}",
                )
            )
            continue
        columns = [_column(row) for row in info]
        rowid = kind == "table" and not _WITHOUT_ROWID.search(sql or "")
        primary = tuple(str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        extra: dict[str, object] = {"rowid": rowid, "sql": sql}
        relations.append(Relation(None, name, kind, columns, primary_key=primary, extra=extra))
    src.summary.add("relations", len(relations))
    return relations, problems


def _virtual_not_read(where: DatabaseLocation, name: str, module: str, names: list[str]) -> Problem:
    """Why a virtual table is not read: an index whose rows are scanned elsewhere, or a
    module that is never loaded (its own shadow tables, if any, are scanned as tables)."""
    family = _family(module)
    if family == "fts":
        stored = f"{name}_content"
        where_rows = (
            f"its rows are stored in {stored}, scanned as a table"
            if stored in names
            else "it stores no rows of its own (external content: the table it indexes is "
            "scanned; contentless: only the index's tokens exist)"
        )
        detail = f"full-text index ({module}): {where_rows}; its index structures are not read"
        return Problem(where, ProblemReason.INDEX_NOT_READ, detail)
    if family == "rtree":
        detail = (
            f"R*Tree index ({module}): its auxiliary columns are stored in {name}_rowid, "
            "scanned as a table; its coordinates (the index's nodes) are not read"
        )
        return Problem(where, ProblemReason.INDEX_NOT_READ, detail)
    own = sorted(n for n in names if n.startswith(f"{name}_"))
    shadows = f"; its shadow tables are scanned as tables ({', '.join(own)})" if own else ""
    what = "with no vector column it could be read by" if module == "vec0" else "using module"
    detail = (
        f"virtual table {what} {module!r}: not read (a virtual table cannot be read without "
        f"its module, and no extension is ever loaded){shadows}"
    )
    return Problem(where, ProblemReason.VIRTUAL_TABLE_NOT_READ, detail)


def _column(row: tuple[Any, ...]) -> Column:
    _, name, declared, _, _, pk, _ = row
    declared = declared or ""
    rowid_alias = pk == 1 and declared.upper() == "INTEGER"
    return Column(name, declared, None if rowid_alias else "any", bool(_TEMPORAL.search(declared)))


def _family(module: str) -> str | None:
    return "fts" if module.startswith("fts") else "rtree" if "rtree" in module else None


def _shadow_tables(modules: dict[str, str], names: list[str], read_vec0: set[str]) -> set[str]:
    """Shadow tables left out of the plain scan: those of a vec0 table read through it, and
    the index structures of FTS and R*Tree."""
    shadows: set[str] = set()
    for vtab, module in modules.items():
        family = _family(module)
        if vtab in read_vec0:
            shadows |= sqlite_vec.shadow_tables(vtab, names)
        elif family:
            shadows |= {f"{vtab}_{s}" for s in _INDEX_SHADOWS[family]} & set(names)
    return shadows
