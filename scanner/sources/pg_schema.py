"""What the PostgreSQL source learns from the catalogue before it reads anything.

Everything here reads `pg_catalog` only, with built-in functions on catalogue columns. It
answers three questions (../shared/docs/HOSTILE.md, "Databases run code on read"):

- **Which code may touch a column's value?** A column is *built in* when its type, after
  resolving domains, is an initdb type of `pg_catalog` (oid below FirstNormalObjectId):
  only a superuser can add a cast or a function for it. Any other type (a composite, an
  enum, a range, an extension's type, or a `public.vector` that merely borrows pgvector's
  name) gets no cast, operator or function but the type-blind `count(any)` and
  `pg_column_size(any)`: its value is fetched in its output form (type output functions
  are C, installed by a superuser) and decoded on the client. pgvector is recognised by
  the extension that owns the type (`pg_depend` deptype 'e' on `vector`), never by name.
- **Can planning a SELECT on a relation run user code?** The planner constant-folds index
  expressions and partial-index predicates, extended-statistics expressions and partition
  key expressions: an IMMUTABLE function with constant arguments runs while *any* SELECT
  on the table is planned (checked on PostgreSQL 15 with a plpgsql function that writes
  through dblink). PostgreSQL records every function, operator and type such an
  expression uses in `pg_depend`; a relation whose expressions (its own or, when
  partitioned, any partition's) depend on one that is not built in is *risky*.
- **What could the scanning role do?** Superuser, BYPASSRLS, write privileges on the
  relations scanned, CREATE on the database or a schema: reported, never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scanner.sources.relational import MIN_TEXT_CHARS, Column, Relation, Summary

# Objects created by initdb have oids below this (PostgreSQL's FirstNormalObjectId).
FIRST_NORMAL_OID = 16384
STATISTICS_EXPRESSIONS_SINCE = 140000  # pg_statistic_ext.stxexprs

CATALOGUE = """
WITH RECURSIVE dom(top, base, depth) AS (
    SELECT t.oid, t.typbasetype, 1 FROM pg_catalog.pg_type t WHERE t.typtype = 'd'
  UNION ALL
    SELECT d.top, t.typbasetype, d.depth + 1
    FROM dom d JOIN pg_catalog.pg_type t ON t.oid = d.base AND t.typtype = 'd'
    WHERE d.depth < 64
), resolved AS (
    SELECT DISTINCT ON (top) top, base FROM dom ORDER BY top, depth DESC
)
SELECT n.nspname, c.relname, c.relkind, c.reltuples::pg_catalog.float8, a.attname,
       pg_catalog.format_type(a.atttypid, a.atttypmod), b.typname, b.typcategory,
       COALESCE(e.typname, ''), a.atttypmod,
       b.oid < %(first)s AND bn.nspname = 'pg_catalog'
         AND (e.oid IS NULL OR e.oid < %(first)s),
       COALESCE((
         SELECT x.extname FROM pg_catalog.pg_depend d
         JOIN pg_catalog.pg_extension x ON x.oid = d.refobjid
         WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND d.objid = b.oid
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
           AND d.deptype = 'e' LIMIT 1), ''),
       a.attgenerated
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN resolved r ON r.top = t.oid
JOIN pg_catalog.pg_type b ON b.oid = COALESCE(r.base, t.oid)
JOIN pg_catalog.pg_namespace bn ON bn.oid = b.typnamespace
LEFT JOIN pg_catalog.pg_type e ON e.oid = b.typelem AND b.typcategory = 'A'
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
ORDER BY n.nspname, c.relname, a.attnum
"""

_CODE_CLASSES = (
    "'pg_catalog.pg_proc'::pg_catalog.regclass, 'pg_catalog.pg_operator'::pg_catalog.regclass,"
    " 'pg_catalog.pg_type'::pg_catalog.regclass"
)
_USES_USER_CODE = (
    "EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = {cls} AND d.objid = {obj}"
    f"{{sub}} AND d.refclassid IN ({_CODE_CLASSES}) AND d.refobjid >= %(first)s)"
)
_INDEXES = (
    "SELECT i.indrelid, 'index ' || pg_catalog.quote_ident(ic.relname) "
    "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
    "WHERE (i.indexprs IS NOT NULL OR i.indpred IS NOT NULL) AND "
    + _USES_USER_CODE.format(
        cls="'pg_catalog.pg_class'::pg_catalog.regclass", obj="i.indexrelid", sub=""
    )
)
_STATISTICS = (
    "SELECT s.stxrelid, 'statistics ' || pg_catalog.quote_ident(s.stxname) "
    "FROM pg_catalog.pg_statistic_ext s WHERE s.stxexprs IS NOT NULL AND "
    + _USES_USER_CODE.format(
        cls="'pg_catalog.pg_statistic_ext'::pg_catalog.regclass", obj="s.oid", sub=""
    )
)
_PARTITION_KEYS = (
    "SELECT p.partrelid, 'partition key of ' || pg_catalog.quote_ident(pc.relname) "
    "FROM pg_catalog.pg_partitioned_table p JOIN pg_catalog.pg_class pc ON pc.oid = p.partrelid "
    "WHERE p.partexprs IS NOT NULL AND "
    + _USES_USER_CODE.format(
        cls="'pg_catalog.pg_class'::pg_catalog.regclass",
        obj="p.partrelid",
        sub=" AND d.objsubid = 0",
    )
)
_RISKS = """
WITH risky(rel, what) AS ({parts})
SELECT n.nspname, c.relname, pg_catalog.string_agg(DISTINCT k.what, ', ')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN LATERAL (SELECT t.relid FROM pg_catalog.pg_partition_tree(c.oid) t
              UNION SELECT c.oid) m ON true
JOIN risky k ON k.rel = m.relid
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
GROUP BY n.nspname, c.relname
"""


def risks_query(server_version: int) -> str:
    """(schema, relation, what) of every relation whose planning could run user code."""
    parts = [_INDEXES, _PARTITION_KEYS]
    if server_version >= STATISTICS_EXPRESSIONS_SINCE:
        parts.append(_STATISTICS)
    return _RISKS.format(parts=" UNION ALL ".join(parts))


LEAVES = """
SELECT n.nspname, c.relname, c.relkind
FROM pg_catalog.pg_partition_tree(%s::pg_catalog.regclass) t
JOIN pg_catalog.pg_class c ON c.oid = t.relid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE t.isleaf ORDER BY t.level, n.nspname, c.relname
"""

ROLE = """
SELECT r.rolsuper, r.rolbypassrls,
       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'),
       ARRAY(SELECT n.nspname::pg_catalog.text FROM pg_catalog.pg_namespace n
             WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
               AND pg_catalog.has_schema_privilege(n.oid, 'CREATE') ORDER BY 1),
       ARRAY(SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname !~ '^pg_'
               AND n.nspname <> 'information_schema'
               AND (pg_catalog.has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
                    OR pg_catalog.pg_has_role(c.relowner, 'USAGE'))
             ORDER BY 1)
FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER
"""

SHOWN = 5  # relations named in a warning; the rest are counted


@dataclass(frozen=True)
class ColumnType:
    """What the catalogue says about a column's type, domains resolved."""

    base: str  # the base type's name
    category: str  # pg_type.typcategory
    element: str  # the element type's name for an array, else ""
    typmod: int
    builtin: bool  # an initdb type of pg_catalog (the element too, for an array)
    extension: str  # the extension that owns the base type, or ""


@dataclass(frozen=True)
class RelationMeta:
    """What the catalogue says about one relation, beyond its columns."""

    relkind: str
    types: dict[str, ColumnType]
    risk: str | None = None  # why planning a SELECT on it could run user code


KINDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}


def relations(
    catalogue: list[Any], risky: dict[tuple[str, str], str], summary: Summary
) -> tuple[list[Relation], dict[tuple[str | None, str], RelationMeta]]:
    """Relations (tables, partitioned tables, materialized views, views) from CATALOGUE's
    rows, and what else is known of each; foreign tables and virtual generated columns
    (computed on read, PostgreSQL 18: they store nothing) are counted, never read."""
    out: dict[tuple[str, str], Relation] = {}
    meta: dict[tuple[str | None, str], RelationMeta] = {}
    for row in catalogue:
        schema, name, relkind, tuples, col, declared, base, category, elem, typmod = row[:10]
        builtin, extension, generated = row[10:]
        if relkind == "f":
            summary.add("foreign_table_columns_not_read")
            continue
        rel = out.get((schema, name))
        if rel is None:
            hint = tuples if tuples is not None and tuples >= 0 else None
            rel = out[(schema, name)] = Relation(schema, name, KINDS[relkind], [], hint)
            meta[(schema, name)] = RelationMeta(relkind, {}, risky.get((schema, name)))
        if generated == "v":
            summary.add("virtual_generated_columns_not_read")
            continue
        t = ColumnType(base, category, elem, typmod, bool(builtin), extension)
        meta[(schema, name)].types[col] = t
        rel.columns.append(Column(col, declared, kind(t, MIN_TEXT_CHARS), temporal(t)))
    return list(out.values()), meta


_TEXT_TYPES = {"text", "varchar", "bpchar"}
_FLOAT_ELEMENTS = {"float4", "float8", "numeric"}
_TEMPORAL = {"date", "timestamp", "timestamptz"}
_EXTENSION_KINDS = {("vector", "vector"): "vector", ("vector", "halfvec"): "vector"}
_EXTENSION_KINDS[("citext", "citext")] = "text"


def kind(t: ColumnType, min_text_chars: int) -> str | None:
    """How a column is fetched, or None when its type cannot hold a vector or an image."""
    if not t.builtin:
        return _EXTENSION_KINDS.get((t.extension, t.base))
    if t.base == "bytea":
        return "bytes"
    if t.base in ("json", "jsonb"):
        return t.base
    if t.category == "A" and t.element in _FLOAT_ELEMENTS:
        return "array"
    if t.base in _TEXT_TYPES:
        chars = t.typmod - 4 if t.typmod > 4 else None  # varchar(n)/char(n): typmod is n + 4
        return "text" if chars is None or chars >= min_text_chars else None
    return None


def temporal(t: ColumnType) -> bool:
    return t.builtin and t.base in _TEMPORAL


def is_text(t: ColumnType) -> bool:
    """A built-in character type: `left()` applies without a cast."""
    return t.builtin and t.base in _TEXT_TYPES


def role_warning(row: tuple[Any, ...] | None, scanned: set[str]) -> str | None:
    """What the scanning role could do beyond reading, in words (None: SELECT only)."""
    if row is None:
        return None
    superuser, bypass, create_db, schemas, tables = row
    can: list[str] = []
    if superuser:
        can.append("is a superuser (may write anything, and lift the read-only transaction)")
    if bypass:
        can.append("has BYPASSRLS (row-level security does not limit it)")
    writable = [t for t in (tables or []) if isinstance(t, str) and t in scanned]
    if writable and not superuser:
        more = f" and {len(writable) - SHOWN} more" if len(writable) > SHOWN else ""
        named = ", ".join(writable[:SHOWN]) + more
        can.append(f"may write or own {len(writable)} scanned relation(s): {named}")
    if create_db and not superuser:
        can.append("has CREATE on the database")
    if schemas and not superuser:
        can.append("has CREATE on schema(s) " + ", ".join(str(s) for s in schemas))
    if not can:
        return None
    return (
        "the scanning role " + "; ".join(can) + ". The scan only reads, but a read-only "
        "transaction is no guarantee for such a role: scan with a SELECT-only role "
        "(docs/databases.md, 'A SELECT-only role')"
    )
